"""High-bit-depth benchmark: 8-bit throughput must not drop, 10-bit costs what it costs.

    .venv/bin/python tests/benchmarks/bench_bitdepth.py [--frames 96] [--reps 3]
        [--only8]

Renders a generated 640x360 clip with the deflicker operator (a light op, so the
frame conversions the bit depth changes weigh as much as they can) on the CPU:
8-bit H.264 in → H.264 out, and, unless --only8, 10-bit FFV1 in → ProRes 422 HQ out.
Prints frames per second, best of `reps`. Run it from two checkouts (PYTHONPATH) to
compare the 8-bit path before and after a change on the same machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from gpu_worker.engine import pipeline


def make_clip(path: Path, frames: int, pix_fmt: str, codec: str) -> Path:
    h, w = 360, 640
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        for i in range(frames):
            img = 0.5 + 0.4 * np.sin((xx + 3 * i) / 40.0) * np.cos(yy / 30.0)
            rgb = np.stack([img, img * 0.9, 1 - img], -1)
            frame = av.VideoFrame.from_ndarray((rgb * 65535).astype(np.uint16), format="rgb48le")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def best_fps(src: Path, out: Path, spec: dict, reps: int) -> float:
    best = 0.0
    for _ in range(reps):
        out.unlink(missing_ok=True)
        t0 = time.perf_counter()
        result = pipeline.render(src, out, spec, device="cpu")
        best = max(best, result.frames / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only8", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src8 = make_clip(d / "in8.mp4", args.frames, "yuv420p", "libx264")
        ops = [{"op": "deflicker"}]
        fps8 = best_fps(src8, d / "o8.mp4", {"ops": ops, "encode": {
            "codec": "h264", "preset": "ultrafast"}}, args.reps)
        print(f"8-bit h264 -> h264: {fps8:.1f} fps")
        if not args.only8:
            src10 = make_clip(d / "in10.mkv", args.frames, "yuv422p10le", "ffv1")
            fps10 = best_fps(src10, d / "o10.mov", {"ops": ops, "encode": {
                "codec": "prores"}}, args.reps)
            print(f"10-bit ffv1 -> prores hq (10-bit end to end): {fps10:.1f} fps")


if __name__ == "__main__":
    main()
