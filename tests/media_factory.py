"""Small synthetic media files for tests, made with PyAV in a temporary folder."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
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


def moving_pictures(count: int, *, width: int = 96, height: int = 64, step: float = 3.0,
                    seed: int = 0) -> list[np.ndarray]:
    """Smooth RGB pictures drifting right by `step` pixels per picture: soft enough that
    a progressive picture changes gently from line to line, moving enough that two
    moments woven together comb."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    waves = [(rng.uniform(0.05, 0.2), rng.uniform(0.03, 0.12), rng.uniform(0, 6.28))
             for _ in range(4)]
    out = []
    for t in range(count):
        x = xx - step * t
        img = sum(np.sin(fx * x + fy * yy + ph) for fx, fy, ph in waves) / 4
        bar = (np.abs((x % 40) - 20) < 4).astype(np.float64)  # a sharp moving edge
        luma = np.clip(0.5 + 0.3 * img + 0.25 * bar, 0, 1)
        rgb = np.stack([luma, luma * 0.9 + 0.05, 1 - luma * 0.8], -1)
        out.append((rgb * 255 + 0.5).astype(np.uint8))
    return out


def weave(pictures: list[np.ndarray], field_order: str = "tff") -> list[np.ndarray]:
    """Interlaced frames from progressive pictures at the field rate: frame k takes its
    first field (even lines for tff, odd for bff) from picture 2k, the other from 2k+1."""
    first = 0 if field_order == "tff" else 1
    frames = []
    for k in range(len(pictures) // 2):
        frame = pictures[2 * k + 1].copy()
        frame[first::2] = pictures[2 * k][first::2]
        frames.append(frame)
    return frames


def _ffmpeg_encode(path: Path, frames: list[np.ndarray], rate: str, args: list[str]) -> Path:
    height, width = frames[0].shape[:2]
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{width}x{height}", "-r", rate, "-i", "-", *args, str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return path


def make_interlaced(path: Path, *, frames: int = 20, field_order: str = "tff",
                    width: int = 96, height: int = 64, flag: bool = True) -> Path:
    """Interlaced 25 fps video of moving pictures (50 moments a second). With `flag`
    an MPEG-2 stream that declares its field order; without, lossless FFV1 that
    declares nothing, so only the pictures tell."""
    woven = weave(moving_pictures(2 * frames, width=width, height=height), field_order)
    if flag:
        top = "1" if field_order == "tff" else "0"
        args = ["-vf", f"setfield={field_order}", "-flags", "+ilme+ildct", "-top", top,
                "-c:v", "mpeg2video", "-q:v", "2", "-pix_fmt", "yuv422p"]
    else:
        args = ["-c:v", "ffv1", "-pix_fmt", "gbrp"]
    return _ffmpeg_encode(path, woven, "25", args)


def make_telecined(path: Path, film: list[np.ndarray], *, first_field: str = "top") -> Path:
    """Film pictures at 24000/1001 through FFmpeg's 3:2 pulldown (telecine filter,
    AA BB BC CD DD) to 30000/1001, lossless (FFV1, RGB planes) in NUT."""
    return _ffmpeg_encode(path, film, "24000/1001",
                          ["-vf", f"telecine=first_field={first_field}:pattern=23",
                           "-c:v", "ffv1", "-pix_fmt", "gbrp", "-f", "nut"])


def make_spliced_telecine(path: Path, film_a: list[np.ndarray], film_b: list[np.ndarray],
                          *, cut: int, skip: int, first_field: str = "top") -> Path:
    """An edit made after the transfer: the pulldown of `film_a` cut after video frame
    `cut` - 1, then the pulldown of `film_b` from its video frame `skip` on (both
    through FFmpeg's telecine filter), lossless in NUT at 30000/1001. A cut or a skip
    that is not a multiple of 5 breaks the cadence mid-cycle."""
    parts = []
    for k, film in enumerate((film_a, film_b)):
        tc = make_telecined(path.with_name(f"{path.stem}.part{k}.nut"), film,
                            first_field=first_field)
        with av.open(str(tc)) as container:
            parts.append([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        tc.unlink()
    frames = parts[0][:cut] + parts[1][skip:]
    return _ffmpeg_encode(path, frames, "30000/1001",
                          ["-c:v", "ffv1", "-pix_fmt", "gbrp", "-f", "nut"])


def pulldown_film_frames(video_frames: int, *, start: int = 0, end: int | None = None
                         ) -> list[int]:
    """The film frames (numbers) whose both fields lie in video frames [start, end) of
    a 3:2 pulldown (AA BB BC CD DD) starting on an AA frame."""
    fields: list[int] = []
    k = 0
    while len(fields) < 2 * video_frames:
        fields += [k] * (2 if k % 2 == 0 else 3)
        k += 1
    end = video_frames if end is None else end
    first = {fields[2 * j] for j in range(start, end)}
    second = {fields[2 * j + 1] for j in range(start, end)}
    return sorted(first & second)


def make_dv(path: Path, *, frames: int = 60) -> Path:
    """Raw NTSC DV (720x480, 30000/1001, bottom field first), as a tape deck writes it."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=720x480:rate=30000/1001", "-frames:v", str(frames),
                    "-target", "ntsc-dv", str(path)], check=True)
    return path


def make_gradient(path: Path, *, frames: int = 4, width: int = 1024, height: int = 32,
                  codec: str = "ffv1", pix_fmt: str = "yuv444p10le", fps: int = 24,
                  colour: dict[str, int] | None = None) -> Path:
    """A smooth horizontal grey ramp, black to white, encoded at the pixel format's
    depth (made from 16-bit RGB, so a 10-bit file holds about 880 distinct levels)."""
    ramp = np.linspace(0, 65535, width)[None, :, None] * np.ones((height, 1, 3))
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for key, value in (colour or {}).items():
            setattr(stream.codec_context, key, value)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(ramp.astype(np.uint16), format="rgb48le")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def luma_levels(path: Path) -> tuple[str, int]:
    """(pixel format, distinct luma codes in the first frame) of a YUV video, read from
    the decoded plane itself (no conversion that could add or remove levels)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        plane = frame.planes[0]
        dtype = np.uint16 if plane.line_size >= 2 * frame.width and "p1" in frame.format.name \
            else np.uint8
        rows = np.frombuffer(plane, dtype=dtype).reshape(frame.height, -1)[:, :frame.width]
        return frame.format.name, len(np.unique(rows))


def make_image_sequence(folder: Path, *, kind: str = "tiff16", frames: int = 6,
                        width: int = 96, height: int = 64, start: int = 0,
                        name: str = "%06d", skip: tuple[int, ...] = ()) -> str:
    """A numbered sequence of moving-ramp scans written by OpenCV (TIFF 8/16-bit, PNG,
    EXR half/float) or FFmpeg (10-bit DPX), so the engine reads what another program
    wrote. Returns the printf pattern."""
    import os

    os.environ["OPENCV_IO_ENABLE_OPENEXR"] = "1"  # read when OpenCV first needs EXR
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    suffix = {"tiff8": ".tif", "tiff16": ".tif", "png": ".png", "exr_half": ".exr",
              "exr_float": ".exr", "dpx": ".dpx"}[kind]
    pattern = str(folder / f"{name}{suffix}")
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    for i in range(start, start + frames):
        if i in skip:
            continue
        rgb = np.stack([(xx + 4 * i) / (width + 4 * frames), yy / height,
                        np.full_like(xx, 0.25 + 0.5 * (i % 2))], -1) % 1.0
        if kind == "dpx":
            frame = av.VideoFrame.from_ndarray((rgb * 65535).astype(np.uint16), format="rgb48le")
            with av.open(pattern % i, "w", format="image2", options={"update": "1"}) as out:
                stream = out.add_stream("dpx", rate=24)
                stream.width, stream.height, stream.pix_fmt = width, height, "gbrp10le"
                for packet in stream.encode(frame.reformat(format="gbrp10le")):
                    out.mux(packet)
                for packet in stream.encode():
                    out.mux(packet)
            continue
        bgr = rgb[:, :, ::-1]
        if kind == "tiff8":
            data = (bgr * 255 + 0.5).astype(np.uint8)
            params: list[int] = []
        elif kind in ("tiff16", "png"):
            data = (bgr * 65535 + 0.5).astype(np.uint16)
            params = []
        else:
            data = bgr.astype(np.float32)
            params = [cv2.IMWRITE_EXR_TYPE, cv2.IMWRITE_EXR_TYPE_HALF if kind == "exr_half"
                      else cv2.IMWRITE_EXR_TYPE_FLOAT]
        assert cv2.imwrite(pattern % i, data, params)
    return pattern


def encode_image(codec: str, image: np.ndarray, bits: int = 16) -> bytes:
    """One (H, W, 3) uint16 RGB image as a TIFF ("tiff") or PNG ("png") file of 16 bits
    per channel, or of 8 (the image's top 8 bits)."""
    if bits == 8:
        pix_fmt, source = "rgb24", av.VideoFrame.from_ndarray(
            np.ascontiguousarray(image >> 8, dtype=np.uint8), format="rgb24")
    else:
        pix_fmt = {"tiff": "rgb48le", "png": "rgb48be"}[codec]
        source = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint16),
                                            format="rgb48le")
    cc = av.CodecContext.create(codec, "w")
    cc.height, cc.width = image.shape[:2]
    cc.pix_fmt = pix_fmt
    cc.time_base = Fraction(1, 24)
    frame = source.reformat(format=pix_fmt)
    return b"".join(bytes(p) for p in [*cc.encode(frame), *cc.encode(None)])


def sequence_frame(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    """A 16-bit frame whose values use the bits below 8 (so an 8-bit path would show)."""
    image = np.zeros((height, width, 3), dtype=np.uint16)
    image[..., 0] = 1000 + index * 257 + np.arange(width, dtype=np.uint16)[None, :]
    image[..., 1] = 30001 + np.arange(height, dtype=np.uint16)[:, None] * 3
    image[..., 2] = 65535 - index
    return image


def make_frame_zip(path: Path, *, codec: str = "tiff", numbers: Iterable[int] = range(1, 13),
                   name: str = "scan_{n}", folder: str = "reel1/",
                   sizes: dict[int, tuple[int, int]] | None = None, bits: int = 16) -> Path:
    """A zip of numbered 16-bit (or 8-bit) frames, e.g. reel1/scan_1.tif ... scan_12.tif (unpadded,
    so alphabetical order would be wrong), written in a shuffled member order."""
    import random
    import zipfile

    suffix = {"tiff": ".tif", "png": ".png"}[codec]
    numbers = list(numbers)
    random.Random(7).shuffle(numbers)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n in numbers:
            w, h = (sizes or {}).get(n, (64, 48))
            zf.writestr(folder + name.format(n=n) + suffix,
                        encode_image(codec, sequence_frame(n, w, h), bits))
    return path
