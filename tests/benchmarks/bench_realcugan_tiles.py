"""Real-CUGAN tiling: tiled output against whole-frame output, SE means shared or not.

    nice -n 10 .venv/bin/python tests/benchmarks/bench_realcugan_tiles.py
        [--models realcugan-x2-conservative,realcugan-x4-conservative] [--tiles 512,256]
        [--size 640x360] [--repeat 3] [--recompute]

Not a pytest test. Frame 250 of ../shared/media/clean/cockatoo_720p.mp4, resized to
`--size` (Lanczos), upscaled through the `super_resolution` operator (temporal
stabilisation off, default overlap 48) with `tile: 0` (the whole frame: the
reference), then with each tile size twice: with the SE means shared between tiles
(the operator's path for Real-CUGAN) and without (each tile's own means, as
`models.run_tiled` gives). Prints, per model and tile size, the max and mean absolute
difference from the whole frame in 8-bit levels, PSNR against it, and the seconds per
frame (best of `--repeat`, the two alternated, all in the same run), with the load average.
With `--recompute`, a third variant shares the means but recomputes the stages instead
of keeping the tiles' tensors (the path taken above the memory limit).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gpu_worker.engine import io, realcugan
from gpu_worker.engine.metrics import to_tensor
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import OpContext
from gpu_worker.engine.resample import resize_frames
from gpu_worker.training.data import shared_media_dir


def _operator(model: str, scale: int, tile: int, models_dir: str | None):  # type: ignore[no-untyped-def]
    cls = get_operator("super_resolution")
    params = cls.validate_params({"model": model, "scale": scale, "tile": tile,
                                  "temporal": 0})
    return cls(params, OpContext(models_dir=models_dir))


def _timed(op, x: torch.Tensor, repeat: int) -> tuple[torch.Tensor, float]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), x
    for _ in range(repeat):
        t = time.perf_counter()
        out = op.upscale(x)
        best = min(best, time.perf_counter() - t)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="realcugan-x2-conservative,realcugan-x4-conservative")
    ap.add_argument("--tiles", default="512,256")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("--recompute", action="store_true")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    clip = shared_media_dir() / "clean" / "cockatoo_720p.mp4"
    frame = next(io.read_frames(Path(clip), start=250, end=251))
    x = resize_frames(to_tensor(np.ascontiguousarray(frame)), width, height, "lanczos")
    x = x.clamp(0.0, 1.0)
    print(f"{platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, load {os.getloadavg()}")
    print(f"cockatoo frame 250 at {width}x{height}")
    for name in args.models.split(","):
        scale = int(name.split("-x")[1][0])
        whole, t_whole = _timed(_operator(name, scale, 0, args.models_dir), x, 1)
        print(f"{name}: whole frame {t_whole:.1f} s")
        for tile in (int(v) for v in args.tiles.split(",")):
            op = _operator(name, scale, tile, args.models_dir)
            variants = ["own", "shared"] + (["recomputed"] if args.recompute else [])
            outs: dict[str, torch.Tensor] = {}
            times = dict.fromkeys(variants, float("inf"))
            keep_limit = realcugan.KEEP_LIMIT_CPU
            for _ in range(args.repeat):  # alternated, so a change of load hits all
                for variant in variants:
                    op.share_se_means = variant != "own"
                    realcugan.KEEP_LIMIT_CPU = 0 if variant == "recomputed" else keep_limit
                    outs[variant], secs = _timed(op, x, 1)
                    times[variant] = min(times[variant], secs)
            realcugan.KEEP_LIMIT_CPU = keep_limit
            for variant in variants:
                diff = (outs[variant] - whole).abs() * 255.0
                mse = float(((outs[variant] - whole) ** 2).mean())
                psnr = 10 * np.log10(1.0 / mse) if mse > 0 else float("inf")
                print(f"  tile {tile} {variant:>10} means: max "
                      f"{float(diff.max()):.4f} mean {float(diff.mean()):.5f} levels, "
                      f"PSNR {psnr:.1f} dB, {times[variant]:.2f} s/frame (best of "
                      f"{args.repeat})")
            for variant in variants[1:]:
                print(f"  tile {tile}: {variant}/own time "
                      f"{times[variant] / times['own']:.2f}")
    print(f"load at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
