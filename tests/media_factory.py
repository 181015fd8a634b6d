"""Small synthetic media files for tests, made with PyAV in a temporary folder."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_video(path: Path, *, frames: int = 12, width: int = 64, height: int = 48, fps: int | Fraction = 24,
               codec: str = "libx264", pix_fmt: str = "yuv420p", audio: bool = False,
               container_format: str | None = None) -> Path:
    """A moving gradient; optionally with a sine-tone AAC audio track."""
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        audio_stream = None
        if audio:
            audio_stream = out.add_stream("aac", rate=48000)
            audio_stream.layout = "mono"
        yy, xx = np.mgrid[0:height, 0:width]
        for i in range(frames):
            rgb = np.stack([(xx * 4 + i * 8) % 256, (yy * 4) % 256, np.full_like(xx, (i * 20) % 256)], -1)
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if audio_stream is not None:
            seconds = frames / float(fps)
            samples = int(48000 * seconds)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start:start + 1024]
                aframe = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                aframe.sample_rate = 48000
                aframe.pts = start
                for packet in audio_stream.encode(aframe):
                    out.mux(packet)
            for packet in audio_stream.encode():
                out.mux(packet)
    return path


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "mono"
        samples = int(48000 * seconds)
        tone = (0.2 * np.sin(2 * np.pi * 220 * np.arange(samples) / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 48000
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def truncate(source: Path, target: Path, keep_fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep_fraction)])
    return target
