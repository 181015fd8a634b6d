"""Train a super-resolution default: `python -m gpu_worker.training.sr --scale 2`.

The network is spandrel's `Compact` (SRVGGNetCompact, the architecture of Real-ESRGAN's
compact models): a few 3x3 convolutions at low resolution, a pixel shuffle, and the
nearest-neighbour upscaled input added back, so it learns only the residual. It is
saved as a plain state dict in .safetensors, which spandrel recognises like any
Real-ESRGAN compact checkpoint, and a model card is written beside it.

The loss favours fidelity (the benchmarks score PSNR/SSIM): L1 plus a small SSIM term
that keeps local structure. The weights saved are an exponential moving average of
the trained ones (steadier, and a little better, after a short run).

    nice -n 10 python -m gpu_worker.training.sr --scale 2 --minutes 60
    nice -n 10 python -m gpu_worker.training.sr --scale 4 --minutes 60 \
        --init gpu_worker/engine/weights/reel-sr-x2.safetensors

`--init` starts from another Compact checkpoint of the same width and depth (a 2x
model is a good start for a 4x one: every layer but the last carries over).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.engine.device import pick_device
from gpu_worker.engine.models import BUILTIN_DIR
from gpu_worker.training import data

ARCHITECTURE = "Compact"


def build_model(scale: int, features: int, convs: int) -> torch.nn.Module:
    from spandrel.architectures.Compact import Compact

    return Compact(num_in_ch=3, num_out_ch=3, num_feat=features, num_conv=convs,
                   upscale=scale, act_type="prelu")


def _cubic(x: float, a: float = -0.5) -> float:
    x = abs(x)
    if x <= 1:
        return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    if x < 2:
        return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
    return 0.0


def interpolation_init(model: torch.nn.Module, scale: int, carriers: int = 3) -> None:
    """Start the network as a (3-tap, truncated bicubic) interpolator instead of noise.

    Compact adds the nearest-neighbour upscaled input to what its layers produce, so
    from random weights it must first learn plain interpolation, which takes most of
    a short CPU run. Here the first `carriers` feature channels carry R, G, B through
    every layer unchanged (values are >= 0, so PReLU passes them), and the last layer
    turns them into the difference between interpolation and nearest neighbour. The
    other channels start small and learn the rest (sharpening, grain removal).
    """
    convs = [m for m in model.body if isinstance(m, torch.nn.Conv2d)]
    taps = []
    for i in range(scale):
        u = (i + 0.5) / scale - 0.5  # sub-pixel position relative to the LR pixel centre
        w = np.array([_cubic(t - u) for t in (-1, 0, 1)])
        taps.append(w / w.sum())
    with torch.no_grad():
        for conv in convs[:-1]:
            conv.weight[:carriers].zero_()
            conv.bias[:carriers].zero_()
            for c in range(3):
                conv.weight[c, c, 1, 1] = 1.0
        last = convs[-1]
        last.weight.mul_(0.01)  # the other channels start nearly silent
        last.bias.zero_()
        for c in range(3):
            for i in range(scale):
                for j in range(scale):
                    kernel = torch.tensor(np.outer(taps[i], taps[j]), dtype=torch.float32)
                    kernel[1, 1] -= 1.0  # the nearest-neighbour base is added back
                    k = c * scale * scale + i * scale + j  # PixelShuffle's channel order
                    last.weight[k, :carriers] = 0.0
                    last.weight[k, c] = kernel


def _gauss(window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(window, dtype=torch.float32) - (window - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Differentiable SSIM map (Gaussian window, valid region), per channel."""
    c = x.shape[1]
    g = _gauss(window).to(x)
    kx, ky = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kx, groups=c), ky, groups=c)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def fidelity_loss(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float = 0.1
                  ) -> torch.Tensor:
    loss = (pred - target).abs().mean()
    if ssim_weight > 0:
        loss = loss + ssim_weight * (1.0 - ssim_map(pred, target).mean())
    return loss


def psnr_db(pred: torch.Tensor, target: torch.Tensor) -> float:
    mse = float(((pred.clamp(0, 1) - target) ** 2).mean())
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def lanczos_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    from gpu_worker.engine.resample import resize_frames

    return resize_frames(lr, lr.shape[3] * scale, lr.shape[2] * scale, "lanczos")


def mean_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over the crops of each crop's PSNR (as the benchmark averages frames)."""
    return float(np.mean([psnr_db(p[None], t[None]) for p, t in zip(pred, target, strict=True)]))


@torch.no_grad()
def evaluate(model: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor, *,
             edge_pad: int = 0, chunk: int = 4) -> dict[str, float]:
    """Validation scores, the crops run as the operator runs a frame (edges reflected)."""
    from gpu_worker.engine.models import run_tiled

    model.eval()
    scale = hr.shape[2] // lr.shape[2]
    out = torch.cat([run_tiled(model, lr[i:i + chunk], scale=scale, tile=0,
                               edge_pad=edge_pad).clamp(0, 1)
                     for i in range(0, len(lr), chunk)])
    base = lanczos_upscale(lr, scale)
    return {"psnr": mean_psnr(out, hr), "ssim": float(ssim_map(out, hr, 11).mean()),
            "lanczos_psnr": mean_psnr(base, hr),
            "lanczos_ssim": float(ssim_map(base, hr, 11).mean())}


def load_init(model: torch.nn.Module, path: Path) -> list[str]:
    """Copy every tensor of a checkpoint whose name and shape match; return their names."""
    from safetensors.torch import load_file

    src = load_file(str(path))
    own = model.state_dict()
    taken = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(taken, strict=False)
    return sorted(taken)


def save_checkpoint(model: torch.nn.Module, path: Path, meta: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={k: str(v) for k, v in meta.items()})
    os.chmod(tmp, 0o644)  # weights are read by every worker, whoever runs it
    os.replace(tmp, path)


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU only ({cpu}), {torch.get_num_threads()} torch threads, shared machine"


def write_card(path: Path, facts: dict[str, Any]) -> None:
    """A model card (markdown) beside the weights: data, steps, wall time, metrics."""
    v = facts["validation"]
    lines = [
        f"# {facts['name']}: {facts['scale']}x super-resolution (project default)",
        "",
        f"- **Architecture**: spandrel `Compact` (SRVGGNetCompact, PReLU), "
        f"{facts['features']} features, {facts['convs']} body convolutions, "
        f"{facts['parameters']:,} parameters; loads through spandrel like any Real-ESRGAN "
        "compact checkpoint.",
        f"- **File**: `{facts['file']}` ({facts['file_bytes'] / 1e6:.2f} MB, float32 "
        "state dict in safetensors).",
        f"- **Trained**: {facts['steps']} steps (best validation; {facts['steps_run']} run) of "
        f"{facts['batch']} patches ({facts['patch']}x{facts['patch']} LR pixels scored, "
        f"with {facts['context']} more pixels of context on each side), Adam, lr "
        f"{facts['lr']:g} with warm-up and cosine decay, EMA {facts['ema']}; "
        f"{facts['wall_minutes']:.0f} min wall time on {facts['hardware']}. Initialised "
        f"from: {facts['init'] or 'a 3-tap bicubic interpolator (sr.interpolation_init)'}.",
        "  Trained small on a CPU: a GPU would allow a wider/deeper model and far more "
        "steps.",
        f"- **Loss**: L1 + {facts['ssim_weight']} x (1 - SSIM) against the clean original "
        "(fidelity first: no perceptual or adversarial term, so it invents no texture).",
        f"- **Reproduce**: `{facts['command']}`",
        "",
        "## Data",
        "",
        "Trained on (clean sources, degraded on the fly):",
        f"- stills shipped by installed packages: {', '.join(facts['train_stills'])};",
        "- three frames (title card, landscape, town square) of the project's drawn demo "
        "film (`gpu_worker.engine.demo`);",
        f"- {facts['train_video_frames']} frames of `../shared/media/clean/cockatoo_720p.mp4` "
        "(frames 0-177, every third)." if facts['train_video_frames'] else
        "- (../shared/media absent: no video frames).",
        "",
        "Degradation (random per patch): the project's damage model "
        "(`gpu_worker.engine.damage`) with area downscaling (30 % bicubic/bilinear "
        "instead), Gaussian blur 0-1 LR px (80 %), film grain std 0.004-0.05 (80 %, "
        "grain size 0.3-1.2 px), monochrome (25 %), JPEG quality 55-95 (25 %).",
        "",
        "Validation (model selection only, never trained on): scikit-image `rocket`, "
        "matplotlib's Grace Hopper photograph, cockatoo frames 195 and 205, with the "
        "benchmark's degradation.",
        "",
        "Held out (scored by tests/benchmarks/bench_sr.py, never seen in training or "
        "validation): ../shared/media/clean astronaut, chelsea, coffee, "
        "hubble_deep_field (scikit-image's copies of these four are excluded from "
        "training too), all ten Sintel frames, cockatoo frames 220-279.",
        "",
        "## Metrics",
        "",
        "Validation crops, benchmark degradation (area downscale, blur 0.5 LR px, grain "
        "0.02), against the clean original (mean PSNR over crops):",
        "",
        "| | PSNR dB | SSIM |",
        "|---|---|---|",
        f"| Lanczos | {v['lanczos_psnr']:.2f} | {v['lanczos_ssim']:.4f} |",
        f"| {facts['name']} | {v['psnr']:.2f} | {v['ssim']:.4f} |",
        "",
        "Held-out figures and speed: docs/benchmarks-sr.md.",
        "",
        "## Limits",
        "",
        "Fidelity-trained and small: it sharpens and removes grain but does not invent "
        "detail that the low-resolution frame lacks. It was not trained to remove dust, "
        "scratches or flicker (other operators do that, before it). Licence: as the "
        "project (MIT); the training images are public domain / CC0 / shipped with "
        "BSD-licensed packages.",
        "",
    ]
    path.write_text("\n".join(lines))


def train(args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else BUILTIN_DIR / f"reel-sr-x{args.scale}.safetensors"
    device = pick_device(args.device)
    model = build_model(args.scale, args.features, args.convs)
    init_names: list[str] = []
    if not args.init:
        interpolation_init(model, args.scale)
    else:
        init_names = load_init(model, Path(args.init))
        print(f"initialised {len(init_names)} tensors from {args.init}", flush=True)
    # Samples are drawn on the CPU (numpy); the model, its average and each batch live
    # on the training device. Checkpoints are written from CPU copies.
    model.to(device)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)

    train_images = data.training_images()
    sampler = data.PatchSampler(train_images, scale=args.scale, patch=args.patch,
                                context=args.context, seed=args.seed)
    crop = args.context * args.scale
    val_images = data.validation_images()
    val_lr, val_hr = data.fixed_validation_pairs(val_images, args.scale,
                                                 size=192 // args.scale)
    val_lr, val_hr = val_lr.to(device), val_hr.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    budget = args.minutes * 60.0 if args.minutes else math.inf
    start = time.monotonic()
    best: dict[str, float] | None = None
    history: list[dict[str, float]] = []
    step = 0
    while step < args.steps:
        elapsed = time.monotonic() - start
        progress = max(step / args.steps, elapsed / budget)
        if progress >= 1.0:
            break
        # Linear warm-up, then cosine decay over steps or time, whichever ends first.
        lr = args.lr * min(1.0, (step + 1) / 200) * (
            args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        lr_batch, hr_batch = (t.to(device, non_blocking=True) for t in sampler.batch(args.batch))
        pred = model(lr_batch)
        if crop:
            pred = pred[..., crop:-crop, crop:-crop]
        loss = fidelity_loss(pred, hr_batch, args.ssim_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1 - decay)
        if step % args.log_every == 0:
            print(f"step {step} loss {loss.item():.4f} lr {lr:.2e} "
                  f"{(time.monotonic() - start) / 60:.1f} min", flush=True)
        if step % args.val_every == 0:
            metrics = evaluate(ema, val_lr, val_hr, edge_pad=args.context)
            metrics["step"] = step
            history.append(metrics)
            print(f"  val step {step}: {metrics['psnr']:.2f} dB (Lanczos "
                  f"{metrics['lanczos_psnr']:.2f}), SSIM {metrics['ssim']:.4f}", flush=True)
            if best is None or metrics["psnr"] > best["psnr"]:
                best = metrics
                save_checkpoint(ema, out, {"architecture": ARCHITECTURE, "scale": args.scale,
                                           "step": step})
    final = evaluate(ema, val_lr, val_hr, edge_pad=args.context)
    final["step"] = step
    history.append(final)
    if best is None or final["psnr"] >= best["psnr"]:
        best = final
        save_checkpoint(ema, out, {"architecture": ARCHITECTURE, "scale": args.scale,
                                   "step": step})
    wall = (time.monotonic() - start) / 60.0
    facts = {
        "name": out.stem, "file": out.name, "file_bytes": out.stat().st_size,
        "scale": args.scale, "features": args.features, "convs": args.convs,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": int(best["step"]), "steps_run": step, "batch": args.batch,
        "patch": args.patch, "context": args.context, "lr": args.lr, "ema": args.ema, "ssim_weight": args.ssim_weight,
        "wall_minutes": wall, "hardware": _hardware(device),
        "init": Path(args.init).name if args.init else "",
        "command": "nice -n 10 python -m gpu_worker.training.sr " + " ".join(args.argv),
        "train_stills": list(data.TRAIN_STILLS),
        "train_video_frames": sum(1 for im in train_images if im.group == "video"),
        "validation": best, "history": history,
    }
    if not args.no_card:
        write_card(out.with_suffix(".md"), facts)
    print(json.dumps({k: v for k, v in facts.items() if k != "history"}, indent=2,
                     default=str))
    return facts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gpu_worker.training.sr",
                                description="Train a Compact super-resolution default.")
    p.add_argument("--scale", type=int, choices=(2, 4), required=True)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--convs", type=int, default=8)
    p.add_argument("--steps", type=int, default=100_000, help="upper bound on steps")
    p.add_argument("--minutes", type=float, default=60.0, help="wall-time budget (0 = none)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=40, help="LR patch size in pixels")
    p.add_argument("--context", type=int, default=8,
                   help="LR pixels of real picture around each patch, outside the loss")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.02)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--ssim-weight", type=float, default=0.1)
    p.add_argument("--init", default="", help="a Compact .safetensors to start from")
    p.add_argument("--out", default="", help="default: the shipped weights folder")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--device", default="cpu",
                   help="cpu, cuda, cuda:N or auto (the first GPU when there is one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--no-card", action="store_true", help="do not write the model card")
    args = p.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
