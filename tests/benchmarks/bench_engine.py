"""Engine benchmark: restoration quality, speed and memory, against plain ffmpeg.

    .venv/bin/python tests/benchmarks/bench_engine.py [--quick] [--frames N]
        [--out docs/benchmarks-engine.md] [--workdir DIR]

Not a pytest test (it takes minutes). It prints the results and writes them as
Markdown to docs/benchmarks-engine.md.

(a) Quality. Clean footage (the cockatoo clip and the Sintel frames from
    ../shared/media/clean) is aged with the project's damage model
    (gpu_worker.engine.damage, preset "moderate": grain, dust, blotches, scratches,
    flicker, blur, fade, sepia cast), written losslessly, then restored two ways from
    the same file in the same run: the engine's "auto" preset (analysis →
    suggest_spec) and a set of plain ffmpeg filter chains (deflicker, tmedian,
    hqdn3d, atadenoise, nlmeans, normalize), of which the best-scoring one is kept.
    Both outputs are encoded losslessly, so the scores measure the restoration, not
    the encoder. PSNR and SSIM against the clean original (gpu_worker.engine.metrics).

(b) Speed. The "faithful" preset on the CPU, as frames per second, next to the
    best ffmpeg chain and a plain ffmpeg decode→encode of the same file with the
    same encoder settings (libx264, same crf and preset), and next to the engine
    with an empty spec (its own decode→encode).

(c) Memory. Peak resident memory of `python -m gpu_worker restore` on a 10 s and a
    60 s clip with the same temporal spec: streaming means the peak does not grow
    with the length.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from gpu_worker.engine import analysis, damage, encoding, io, metrics, pipeline, presets  # noqa: E402
from gpu_worker.engine.device import render_threads  # noqa: E402

MEDIA = Path(os.environ.get("REEL_ARENA_SHARED_MEDIA", REPO.parent / "shared" / "media"))
FFMPEG = os.environ.get("FFMPEG", "/usr/bin/ffmpeg")
LOSSLESS = {"codec": "h264", "crf": 0, "preset": "ultrafast", "pix_fmt": "yuv444p"}
FF_LOSSLESS = ["-c:v", "libx264", "-crf", "0", "-preset", "ultrafast", "-pix_fmt", "yuv444p"]

# Plain ffmpeg chains for old-film repair; the best on each clip is reported.
FFMPEG_CHAINS = {
    "deflicker+hqdn3d": "deflicker=size=5:mode=am,hqdn3d=4:3:6:4.5",
    "deflicker+tmedian+hqdn3d": "deflicker=size=5:mode=am,tmedian=radius=1,hqdn3d=3:2:4:3",
    "deflicker+tmedian+atadenoise": "deflicker=size=5:mode=am,tmedian=radius=1,atadenoise",
    "deflicker+tmedian+nlmeans": "deflicker=size=5:mode=am,tmedian=radius=1,nlmeans=s=3:p=5:r=9",
    "deflicker+tmedian+hqdn3d+normalize": (
        "deflicker=size=5:mode=am,tmedian=radius=1,hqdn3d=3:2:4:3,"
        "normalize=blackpt=black:whitept=white:smoothing=24:independence=0:strength=1"),
    "deflicker+tmedian+nlmeans+normalize": (
        "deflicker=size=5:mode=am,tmedian=radius=1,nlmeans=s=3:p=5:r=9,"
        "normalize=blackpt=black:whitept=white:smoothing=24:independence=0:strength=1"),
    # Stronger denoisers without the temporal median (which costs PSNR on moving
    # pictures), so heavy grain gets a fair chance.
    "deflicker+hqdn3d strong": "deflicker=size=5:mode=am,hqdn3d=8:6:12:9",
    "deflicker+nlmeans": "deflicker=size=5:mode=am,nlmeans=s=4:p=7:r=15",
    "deflicker+nlmeans strong": "deflicker=size=5:mode=am,nlmeans=s=6:p=7:r=15",
    "deflicker+atadenoise": "deflicker=size=5:mode=am,atadenoise=s=9",
    "deflicker+nlmeans+normalize": (
        "deflicker=size=5:mode=am,nlmeans=s=4:p=7:r=15,"
        "normalize=blackpt=black:whitept=white:smoothing=24:independence=0:strength=0.5"),
}


@dataclass
class Clip:
    name: str
    frames: list[np.ndarray]  # clean RGB uint8
    fps: float


def _even(n: float) -> int:
    return max(2, int(round(n / 2)) * 2)


def load_clips(n_frames: int, width: int) -> list[Clip]:
    clips = []
    cockatoo = MEDIA / "clean" / "cockatoo_720p.mp4"
    if cockatoo.is_file():
        frames = []
        for f in io.read_frames(cockatoo, end=n_frames):
            h, w = f.shape[:2]
            frames.append(cv2.resize(f, (width, _even(h * width / w)),
                                     interpolation=cv2.INTER_AREA))
        clips.append(Clip("cockatoo", frames, io.probe(cockatoo).fps))
    sintel = sorted((MEDIA / "clean" / "sintel_frames").glob("*.png"))
    if sintel:
        frames = []
        for p in sintel:
            img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
            h, w = img.shape[:2]
            frames.append(cv2.resize(img, (width, _even(h * width / w)),
                                     interpolation=cv2.INTER_AREA))
        clips.append(Clip("sintel", frames, 24.0))
    if not clips:
        raise SystemExit(f"no clean media under {MEDIA}")
    return clips


def write_frames(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    from fractions import Fraction

    rate = Fraction(fps).limit_denominator(1001)
    tb = Fraction(rate.denominator, rate.numerator)
    h, w = frames[0].shape[:2]
    settings = encoding.EncodeSettings.from_dict(LOSSLESS)
    with io.VideoWriter(path, width=w, height=h, time_base=tb, rate=rate,
                        settings=settings) as writer:
        for i, f in enumerate(frames):
            writer.write(f, i, 1)
    return path


def score(restored: Path, clean: list[np.ndarray]) -> tuple[float, float, int]:
    frames = list(io.read_frames(restored))
    n = min(len(frames), len(clean))
    p = [metrics.psnr(frames[i], clean[i]) for i in range(n)]
    s = [metrics.ssim(frames[i], clean[i]) for i in range(n)]
    return float(np.mean(p)), float(np.mean(s)), n


def run_ffmpeg(src: Path, dst: Path, chain: str | None, codec_args: list[str]) -> float:
    cmd = [FFMPEG, "-v", "error", "-y", "-i", str(src)]
    if chain:
        cmd += ["-vf", chain]
    cmd += codec_args + ["-an", str(dst)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


# -- (a) quality ---------------------------------------------------------------------

def bench_quality(clips: list[Clip], work: Path) -> list[dict]:
    rows = []
    for clip in clips:
        cfg = damage.DamageConfig.preset("moderate", fps=clip.fps)
        degraded_frames = list(damage.degrade_frames(clip.frames, cfg, seed=11))
        degraded = write_frames(work / f"{clip.name}_degraded.mkv", degraded_frames, clip.fps)
        base_p, base_s, _ = score(degraded, clip.frames)

        t = time.perf_counter()
        report = analysis.analyze(degraded)
        spec = presets.get_preset("auto", analysis=report)
        spec["encode"] = dict(LOSSLESS)
        t_an = time.perf_counter() - t
        out = work / f"{clip.name}_auto.mkv"
        result = pipeline.render(degraded, out, spec)
        eng_p, eng_s, n = score(out, clip.frames)

        others = {}
        for name in ("faithful", "clean"):
            static = presets.get_preset(name)
            static["encode"] = dict(LOSSLESS)
            out = work / f"{clip.name}_{name}.mkv"
            r = pipeline.render(degraded, out, static)
            p, s, _ = score(out, clip.frames)
            others[name] = {"psnr": p, "ssim": s, "seconds": r.seconds}

        chains = {}
        for name, chain in FFMPEG_CHAINS.items():
            dst = work / f"{clip.name}_ff_{name}.mkv"
            secs = run_ffmpeg(degraded, dst, chain, FF_LOSSLESS)
            p, s, _ = score(dst, clip.frames)
            chains[name] = {"psnr": p, "ssim": s, "seconds": secs}
        best = max(chains, key=lambda k: chains[k]["psnr"])
        best_ssim = max(chains, key=lambda k: chains[k]["ssim"])
        rows.append({
            "clip": clip.name, "frames": n,
            "size": f"{clip.frames[0].shape[1]}x{clip.frames[0].shape[0]}",
            "degraded": {"psnr": base_p, "ssim": base_s},
            "engine_auto": {"psnr": eng_p, "ssim": eng_s, "seconds": result.seconds,
                            "analysis_seconds": t_an,
                            "ops": [o["op"] for o in spec["ops"]]},
            "engine_presets": others,
            "ffmpeg_best": {"chain": best, **chains[best]},
            "ffmpeg_best_ssim": {"chain": best_ssim, **chains[best_ssim]},
            "ffmpeg_all": chains,
        })
        print(json.dumps(rows[-1], indent=1, default=float), flush=True)
    return rows


# -- (b) speed -----------------------------------------------------------------------

def bench_speed(src: Path, frames: int, best_chain: str, work: Path) -> dict:
    spec = presets.get_preset("faithful")
    crf, x264_preset = spec["encode"].get("crf") or 16, "medium"
    spec["encode"]["preset"] = x264_preset
    codec = ["-c:v", "libx264", "-crf", str(crf), "-preset", x264_preset,
             "-pix_fmt", "yuv420p", "-threads", "4"]
    out = {}
    r = pipeline.render(src, work / "speed_faithful.mp4", spec, device="cpu")
    out["engine_faithful_fps"] = r.frames / r.seconds
    r = pipeline.render(src, work / "speed_empty.mp4",
                        {"ops": [], "encode": spec["encode"]}, device="cpu")
    out["engine_empty_fps"] = r.frames / r.seconds
    secs = run_ffmpeg(src, work / "speed_ff_chain.mp4", FFMPEG_CHAINS[best_chain], codec)
    out["ffmpeg_chain_fps"] = frames / secs
    secs = run_ffmpeg(src, work / "speed_ff_plain.mp4", None, codec)
    out["ffmpeg_plain_fps"] = frames / secs
    out["ffmpeg_chain"] = best_chain
    out["frames"] = frames
    out["faithful_vs_chain"] = out["engine_faithful_fps"] / out["ffmpeg_chain_fps"]
    out["faithful_vs_plain"] = out["engine_faithful_fps"] / out["ffmpeg_plain_fps"]
    print(json.dumps(out, indent=1), flush=True)
    return out


# -- (c) memory ----------------------------------------------------------------------

MEMORY_SPEC = {"ops": [{"op": "deflicker", "params": {"radius": 3}},
                       {"op": "sharpen", "params": {}}],
               "encode": {"preset": "veryfast"}}


def _watch_peak_rss(proc: subprocess.Popen) -> int:
    """Peak resident set (kB) of a running child, from /proc/PID/status VmHWM.

    Not getrusage: a child's ru_maxrss also counts the pages it shared with this
    (large) process between fork and exec, which would hide the child's own peak.
    """
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.1)
    return peak


def bench_memory(work: Path, seconds_list: tuple[int, ...], size: str) -> list[dict]:
    spec_path = work / "memory_spec.json"
    spec_path.write_text(json.dumps(MEMORY_SPEC))
    rows = []
    for seconds in seconds_list:
        src = work / f"synthetic_{seconds}s.mp4"
        subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=s={size}:r=24:d={seconds}", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(src)], check=True)
        dst = work / f"synthetic_{seconds}s_out.mp4"
        proc = subprocess.Popen([sys.executable, "-m", "gpu_worker", "restore", str(src),
                                 str(dst), "--spec", str(spec_path), "--quiet",
                                 "--overwrite", "--device", "cpu"], cwd=REPO)
        t = time.perf_counter()
        peak_kb = _watch_peak_rss(proc)
        if proc.returncode != 0:
            raise SystemExit(f"memory run failed for {seconds}s (status {proc.returncode})")
        rows.append({"seconds": seconds, "frames": io.probe(dst).frame_count, "size": size,
                     "peak_rss_mb": peak_kb / 1024.0,
                     "wall_seconds": time.perf_counter() - t})
        print(json.dumps(rows[-1]), flush=True)
    return rows


# -- report --------------------------------------------------------------------------

def _target_met(row: dict) -> bool:
    e, f = row["engine_auto"], row["ffmpeg_best"]
    fs = row.get("ffmpeg_best_ssim", f)
    return e["psnr"] - f["psnr"] >= 3 and e["ssim"] - fs["ssim"] >= 0.08


def markdown(quality: list[dict], speed: dict, memory: list[dict], meta: dict) -> str:
    when = ", ".join(f"{part} {meta.get(part + '_date', '?')} (load "
                     f"{float(meta.get(part + '_load', 0)):.0f})"
                     for part in ("quality", "speed", "memory"))
    lines = ["# Engine benchmarks", "",
             f"Generated by `tests/benchmarks/bench_engine.py` ({meta['machine']}; torch "
             f"{meta['torch']}, {meta['threads']} torch thread(s) per render, CPU only; {when}). The "
             "two CPUs were shared with other work during the runs (load averages in "
             "brackets), so absolute speeds are noisy; each ratio compares runs made one after the other in the same "
             "part. Run the script again to reproduce.", "",
             "Target (a): " + "; ".join(
                 f"{r['clip']} {'met' if _target_met(r) else 'not met'}"
                 for r in quality) + " (at least +3 dB PSNR over the best-PSNR ffmpeg chain "
             "and +0.08 SSIM over the best-SSIM ffmpeg chain).", "",
             "## (a) Restoration quality vs plain ffmpeg", "",
             "Clean footage aged with `gpu_worker.engine.damage` preset `moderate` "
             "(grain, dust, blotches, scratches, flicker, blur, fade, sepia cast; seed 11), "
             "restored from the same lossless file by the engine's `auto` preset and by "
             "each ffmpeg chain below; outputs lossless; mean PSNR (dB) and SSIM against "
             "the clean frames. The ffmpeg columns are the best chain on that clip for "
             "each metric, chosen after scoring (which favours ffmpeg); Δ PSNR compares "
             "with the best-PSNR chain, Δ SSIM with the best-SSIM chain.", "",
             "| clip | frames | size | degraded PSNR / SSIM | engine auto PSNR / SSIM | "
             "best ffmpeg PSNR (chain) | best ffmpeg SSIM (chain) | Δ PSNR | Δ SSIM |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in quality:
        d, e, f = r["degraded"], r["engine_auto"], r["ffmpeg_best"]
        fs = r.get("ffmpeg_best_ssim", f)
        lines.append(f"| {r['clip']} | {r['frames']} | {r['size']} | {d['psnr']:.2f} / "
                     f"{d['ssim']:.3f} | {e['psnr']:.2f} / {e['ssim']:.3f} | "
                     f"{f['psnr']:.2f} ({f['chain']}) | {fs['ssim']:.3f} ({fs['chain']}) | "
                     f"{e['psnr'] - f['psnr']:+.2f} dB | {e['ssim'] - fs['ssim']:+.3f} |")
    with_presets = [r for r in quality if "engine_presets" in r]
    lines += [] if not with_presets else ["", "The static presets on the same degraded input (PSNR / SSIM; `faithful` "
              "keeps grain and toning on purpose, so it is not expected to score high):", "",
              "| clip | faithful | clean |", "|---|---|---|"]
    for r in with_presets:
        f, c = r["engine_presets"]["faithful"], r["engine_presets"]["clean"]
        lines.append(f"| {r['clip']} | {f['psnr']:.2f} / {f['ssim']:.3f} | "
                     f"{c['psnr']:.2f} / {c['ssim']:.3f} |")
    lines += ["", "Operators chosen by the analysis (`auto`): " + "; ".join(
        f"{r['clip']}: {', '.join(r['engine_auto']['ops']) or 'none'}" for r in quality), "",
        "All ffmpeg chains tried (PSNR / SSIM):", ""]
    for r in quality:
        for name, v in r["ffmpeg_all"].items():
            lines.append(f"- {r['clip']}, `{FFMPEG_CHAINS[name]}`: {v['psnr']:.2f} / "
                         f"{v['ssim']:.3f}")
    lines += [""]
    lines += ["## (b) Speed on the CPU", "",
              f"Input: the degraded cockatoo clip ({speed['frames']} frames, "
              f"{quality[0]['size']}), encoded with libx264 crf 16 preset medium, 4 threads "
              "in every case.", "",
              "| pipeline | fps | engine faithful as a ratio |", "|---|---|---|",
              f"| engine, `faithful` preset | {speed['engine_faithful_fps']:.2f} | 1 |",
              f"| ffmpeg best chain (`{speed['ffmpeg_chain']}`) | "
              f"{speed['ffmpeg_chain_fps']:.2f} | {speed['faithful_vs_chain']:.3f} |",
              f"| ffmpeg plain decode→encode | {speed['ffmpeg_plain_fps']:.2f} | "
              f"{speed['faithful_vs_plain']:.3f} |",
              f"| engine, empty spec (decode→encode through the pipeline) | "
              f"{speed['engine_empty_fps']:.2f} | "
              f"{speed['engine_faithful_fps'] / speed['engine_empty_fps']:.3f} |", ""]
    lines += ["## (c) Peak memory", "",
              "`python -m gpu_worker restore` with a temporal spec (deflicker radius 3, "
              "sharpen) on synthetic clips (ffmpeg testsrc2, 24 fps) of two lengths; peak "
              "resident set size (VmHWM) of the process, which includes the Python "
              "interpreter, torch and the codecs.", "",
              "| clip | frames | size | peak RSS (MB) | wall (s) |", "|---|---|---|---|---|"]
    for m in memory:
        lines.append(f"| {m['seconds']} s | {m['frames']} | {m['size']} | "
                     f"{m['peak_rss_mb']:.0f} | {m['wall_seconds']:.0f} |")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=48, help="cockatoo frames to use")
    ap.add_argument("--width", type=int, default=640, help="width the clean clips are "
                    "scaled to")
    ap.add_argument("--quick", action="store_true", help="tiny run to check the script")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks-engine.md")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--parts", default="quality,speed,memory",
                    help="comma-separated subset of quality,speed,memory; results of "
                    "earlier parts are kept in WORKDIR/results.json and merged")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.width = 8, 160
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_engine_"))
    work.mkdir(parents=True, exist_ok=True)
    store = work / "results.json"
    results = json.loads(store.read_text()) if store.is_file() else {}
    clips = load_clips(args.frames, args.width)
    if "quality" in parts:
        results["quality"] = bench_quality(clips, work)
    if "speed" in parts:
        best_chain = results["quality"][0]["ffmpeg_best"]["chain"]
        results["speed"] = bench_speed(work / f"{clips[0].name}_degraded.mkv",
                                       len(clips[0].frames), best_chain, work)
    if "memory" in parts:
        results["memory"] = bench_memory(
            work, (2, 4) if args.quick else (10, 60), "160x120")
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    meta = results.setdefault("meta", {})
    for part in parts & {"quality", "speed", "memory"}:
        meta[f"{part}_date"] = now
        meta[f"{part}_load"] = os.getloadavg()[0]
    meta.update({
        "date": now,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "torch": torch.__version__,
        "threads": render_threads(torch.device("cpu")) or torch.get_num_threads()})
    store.write_text(json.dumps(results, indent=1, default=float))
    if not all(k in results for k in ("quality", "speed", "memory")):
        print(f"partial results in {store}; run the other parts with the same --workdir")
        return 0
    text = markdown(results["quality"], results["speed"], results["memory"], results["meta"])
    print(text)
    if not args.quick:
        args.out.write_text(text)
        print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
