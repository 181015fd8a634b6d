"""Field-rate deinterlacing benchmark: how close one frame per field comes to the truth.

    nice -n 10 .venv/bin/python tests/benchmarks/bench_fields.py [--frames 24] [--width 480]

Every clean clip of the shared media (tests/benchmarks/clean_media.py, all 20) is
turned into interlaced video the way a camera makes it: consecutive frames 2k and
2k+1 are the two fields of video frame k (top field first), so each field has its
true full picture. Each method then makes one frame per field and is scored by PSNR
(RGB, dB) against the frames the fields came from, the first and last output left
out (no field before or after them):

* ours: the `deinterlace` operator with `rate: field` (bwdif's interpolation in torch);
* FFmpeg bwdif and yadif in send_field mode (`bwdif=mode=send_field:parity=tff`),
  the references the operator follows, run in the same process on the same frames;
* bob: each field's lines doubled by linear interpolation (no temporal information).

Stills are shown for several frames (a locked-off shot): there every method should
give back the picture. Prints a table per clip and the mean over all clips.
"""

from __future__ import annotations

import argparse
import subprocess
from fractions import Fraction

import numpy as np
import torch

from gpu_worker.engine.metrics import psnr
from gpu_worker.engine.ops.deinterlace import Deinterlace
from gpu_worker.engine.pipeline import FrameItem, RateStage, process_frames
from gpu_worker.engine.registry import OpContext
from tests.benchmarks.clean_media import load_all


def weave(frames: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for k in range(len(frames) // 2):
        frame = frames[2 * k + 1].copy()
        frame[0::2] = frames[2 * k][0::2]
        out.append(frame)
    return out


def ours(woven: list[np.ndarray]) -> list[np.ndarray]:
    op = Deinterlace(Deinterlace.validate_params({"field_order": "tff", "rate": "field"}),
                     OpContext(rate=Fraction(25)))
    stage = RateStage(op, Fraction(2), batch_size=8)
    items = [FrameItem(index=i, pts=i, duration=1, scene=0,
                       tensor=torch.from_numpy(f.transpose(2, 0, 1).astype(np.float32) / 255))
             for i, f in enumerate(woven)]
    return [(o.tensor.numpy().transpose(1, 2, 0) * 255 + 0.5).clip(0, 255).astype(np.uint8)
            for o in process_frames(items, [stage])]


def ffmpeg_filter(woven: list[np.ndarray], vf: str) -> list[np.ndarray]:
    h, w = woven[0].shape[:2]
    cmd = ["ffmpeg", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", "25", "-i", "-", "-vf", f"setfield=tff,{vf}",
           "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]
    raw = subprocess.run(cmd, input=b"".join(f.tobytes() for f in woven),
                         capture_output=True, check=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3))


def bob(woven: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for frame in woven:
        f = frame.astype(np.float32)
        for keep in (0, 1):
            img = f.copy()
            for y in range(1 - keep, f.shape[0], 2):
                above = f[y - 1] if y - 1 >= 0 else f[y + 1]
                below = f[y + 1] if y + 1 < f.shape[0] else f[y - 1]
                img[y] = (above + below) / 2
            out.append((img + 0.5).astype(np.uint8))
    return out


def score(outputs: list[np.ndarray], truth: list[np.ndarray]) -> float | None:
    """Mean PSNR of outputs 1..n-2 (inf when exact); None when there are none."""
    n = min(len(outputs), len(truth))
    if n < 3:
        return None
    values = [psnr(outputs[m], truth[m]) for m in range(1, n - 1)]
    return float("inf") if all(np.isinf(values)) else float(np.mean(
        [v for v in values if np.isfinite(v)]))


def cell(value: float | None) -> str:
    if value is None:
        return f"{'n/a':>13}"
    return f"{'exact':>13}" if np.isinf(value) else f"{value:>13.2f}"


METHODS = {
    "ours": ours,
    "ffmpeg bwdif": lambda w: ffmpeg_filter(w, "bwdif=mode=send_field:parity=tff:deint=all"),
    "ffmpeg yadif": lambda w: ffmpeg_filter(w, "yadif=mode=send_field:parity=tff:deint=all"),
    "bob": bob,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--width", type=int, default=480)
    args = ap.parse_args()
    clips = load_all(frames=args.frames, width=args.width)
    moving: dict[str, list[float]] = {name: [] for name in METHODS}
    print(f"{'clip':<42} {'kind':<6} " + " ".join(f"{m:>13}" for m in METHODS))
    for clip in clips:
        truth = clip.frames[: len(clip.frames) // 2 * 2]
        woven = weave(truth)
        row = {name: score(method(woven), truth) for name, method in METHODS.items()}
        if clip.kind != "still" and all(v is not None for v in row.values()):
            for name, value in row.items():
                moving[name].append(value)  # type: ignore[arg-type]
        print(f"{clip.name[:42]:<42} {clip.kind:<6} " + " ".join(cell(v) for v in row.values()))
    count = len(next(iter(moving.values())))
    print(f"{'mean over the ' + str(count) + ' moving clips':<49} " + " ".join(
        f"{np.mean(moving[m]):>13.2f}" for m in METHODS))

if __name__ == "__main__":
    main()
