"""Whole-file media jobs around a render: joining segments, cutting excerpts, posters,
browser proxies.

These are the jobs the site needs done on finished files. They run FFmpeg as a
program because they are stream copies and filter graphs over whole files (concat
demuxer, audio padding, H.264 + AAC re-encodes) that FFmpeg does in one pass; the
graphs are built with ffmpeg-python rather than as hand-written argument lists, so a
filter chain reads as a chain and quoting is not our problem. Probing and single
frames use PyAV (gpu_worker.engine.io), as the rest of the engine does.

Every failure is a `MediaToolError` (a `MediaError`), whose message ends with the
tail of FFmpeg's own error output, so it can be stored and shown as it is.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import ffmpeg

from gpu_worker.engine.io import MediaError, extract_frame, probe

__all__ = ["MediaToolError", "ClipAudio", "concat_segments", "cut_excerpt", "write_poster",
           "make_proxy", "has_audio", "FFMPEG", "StreamTimes", "stream_times"]

FFMPEG = "ffmpeg"
"""The FFmpeg program run for these jobs (a name looked up on PATH, or a path)."""

AUDIO_RATE = 48000
AUDIO_LAYOUT = "stereo"
STDERR_TAIL = 2000  # characters of FFmpeg's error output kept in an error message
POSTER_SUFFIXES = {".jpg": cv2.IMWRITE_JPEG_QUALITY, ".jpeg": cv2.IMWRITE_JPEG_QUALITY,
                   ".png": None}

PathLike = str | os.PathLike[str]


class MediaToolError(MediaError):
    """FFmpeg could not do a media job (or could not be run at all)."""


@dataclass(frozen=True)
class ClipAudio:
    """Where a film's clip gets its sound: the clip's source file, the length of its
    picture in the joined film (seconds), and whether the source has audio."""

    source: Path
    duration: float
    has_audio: bool


def has_audio(path: PathLike) -> bool:
    """Whether the file has at least one audio stream."""
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot open {Path(path).name}: {exc}") from None


def _run(stream: Any, what: str, timeout: float) -> None:
    """Run an ffmpeg-python graph; global options go first, where FFmpeg reads them."""
    args = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            *ffmpeg.get_args(stream)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise MediaToolError(f"{what} failed: the program {FFMPEG!r} was not found") from None
    except subprocess.TimeoutExpired:
        raise MediaToolError(f"{what} failed: ffmpeg took longer than {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise MediaToolError(f"{what} failed: {proc.stderr.strip()[-STDERR_TAIL:]}")


def _need_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise MediaError(f"{p.name}: no such file")
    return p


def _fitted_audio(stream: Any, duration: float) -> Any:
    """One clip's audio resampled to the film's format and cut or padded with silence
    to exactly `duration`, so the next clip's sound starts with its picture."""
    d = f"{duration:.6f}"
    return (stream.filter("aresample", AUDIO_RATE)
            .filter("aformat", sample_fmts="fltp", channel_layouts=AUDIO_LAYOUT)
            .filter("asetpts", "PTS-STARTPTS")
            .filter("apad", whole_dur=d)
            .filter("atrim", 0, d))


def _silence(duration: float) -> Any:
    source = ffmpeg.input(f"aevalsrc=0:d={duration:.6f}:s={AUDIO_RATE}:c={AUDIO_LAYOUT}",
                          f="lavfi")
    return source.audio.filter("aformat", sample_fmts="fltp", channel_layouts=AUDIO_LAYOUT)


def concat_segments(segments: Sequence[PathLike], output: PathLike, *,
                    clips: Sequence[ClipAudio] = (), audio_bitrate: str = "192k",
                    timeout: float = 6 * 3600) -> Path:
    """Join rendered segments without re-encoding and lay the clips' audio under them.

    segments: video files in film order, all encoded with the same settings (the
        segments of one render), joined with FFmpeg's concat demuxer (stream copy).
    clips: the film's clips in order. No clip with audio: the result is silent. One
        clip in all: its audio is copied as it is, cut to its picture length. Several:
        each clip's audio is cut or padded to its picture length (silence for a clip
        without audio), joined and encoded to AAC, so every clip's sound starts with
        its picture.
    The output's container follows its suffix (the segments' own: MP4, or MOV/Matroska
    for ProRes/FFV1 masters). An MP4 or MOV is written with faststart, so it plays
    while it downloads. Joined audio is AAC in an MP4, 24-bit PCM in a master's MOV or
    Matroska (lossless, as the picture is).
    """
    if not segments:
        raise ValueError("concat_segments needs at least one segment")
    paths = [_need_file(s).resolve() for s in segments]
    out = Path(output)
    with tempfile.TemporaryDirectory(prefix="concat-") as tmp:
        listing = Path(tmp) / "segments.txt"
        listing.write_text("".join(f"file '{p.as_posix()}'\n" for p in paths))
        joined = ffmpeg.input(str(listing), f="concat", safe=0)
        video = joined["v:0"]
        # bitexact: Matroska otherwise writes random segment and track UIDs (and every
        # container the muxer's version), so joining the same segments twice would give
        # different files; renders are repeatable byte for byte up to here.
        options: dict[str, Any] = {"c:v": "copy", "fflags": "+bitexact"}
        if out.suffix.lower() in (".mp4", ".m4v", ".mov"):
            options["movflags"] = "+faststart"
        master = out.suffix.lower() in (".mov", ".mkv")
        if not any(c.has_audio for c in clips):
            graph = ffmpeg.output(video, str(out), an=None, **options)
        elif len(clips) == 1:
            clip = clips[0]
            audio = ffmpeg.input(str(_need_file(clip.source)))["a:0"]
            graph = ffmpeg.output(video, audio, str(out), **{"c:a": "copy"},
                                  t=f"{clip.duration:.6f}", **options)
        else:
            parts = [_fitted_audio(ffmpeg.input(str(_need_file(c.source)))["a:0"], c.duration)
                     if c.has_audio else _silence(c.duration) for c in clips]
            audio = ffmpeg.concat(*parts, v=0, a=1)
            codec = ({"c:a": "pcm_s24le"} if master
                     else {"c:a": "aac", "b:a": audio_bitrate})
            graph = ffmpeg.output(video, audio, str(out), **codec, **options)
        _run(graph, "joining the segments", timeout)
    return out


def cut_excerpt(source: PathLike, output: PathLike, *, fps: float, start: int, frames: int,
                audio: bool = True, crf: int = 16, preset: str = "veryfast",
                timeout: float = 600) -> Path:
    """Frames [start, start + frames) of `source`, re-encoded to H.264 (+ AAC) in `output`.

    Seeking on the input side with a re-encode is frame-accurate in FFmpeg, so two
    files cut this way (a source and its restoration) start on the same picture and
    have the same length: what a before/after comparison needs. `fps` is the rate of
    `source` (a restoration that raised the rate has its own). With `audio` the first
    audio stream, if any, is cut to the same duration.
    """
    if frames <= 0:
        raise ValueError(f"cut_excerpt needs at least one frame, got {frames}")
    if fps <= 0:
        raise ValueError(f"cut_excerpt needs a positive frame rate, got {fps}")
    src = ffmpeg.input(str(_need_file(source)), **({"ss": f"{start / fps:.6f}"} if start else {}))
    streams = [src["v:0"]]
    options: dict[str, Any] = {"frames:v": frames}
    if audio:
        streams.append(src["a:0?"])
        options.update({"c:a": "aac", "b:a": "160k", "t": f"{frames / fps:.6f}"})
    else:
        options["an"] = None
    options.update({"c:v": "libx264", "preset": preset, "crf": crf, "pix_fmt": "yuv420p",
                    "movflags": "+faststart"})
    out = Path(output)
    _run(ffmpeg.output(*streams, str(out), **options), "cutting the excerpt", timeout)
    return out


def write_poster(source: PathLike, output: PathLike, *, frame_number: int | None = None,
                 quality: int = 88) -> Path:
    """One frame of a video as a JPEG (quality 0-100) or PNG picked by `output`'s suffix.

    frame_number: which frame (0 = first shown); None takes the middle frame. Decoding
    goes through gpu_worker.engine.io, so the frame is the one the engine numbers so.
    """
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix not in POSTER_SUFFIXES:
        raise ValueError(f"a poster is a .jpg or .png file, not {out.name!r}")
    if frame_number is None:
        frame_number = max(0, (probe(source).frame_count or 1) // 2)
    frame = extract_frame(source, frame_number)
    flag = POSTER_SUFFIXES[suffix]
    params = [flag, int(quality)] if flag is not None else []
    if not cv2.imwrite(str(out), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params):
        raise MediaError(f"cannot write the poster {out.name}")
    return out


@dataclass
class StreamTimes:
    frames: int
    video_start: float
    video_duration: float
    audio_start: float | None
    audio_duration: float | None
    fps: float


def stream_times(path: Path) -> StreamTimes:
    """Frame count and stream start/length read from the packets (not container tags):
    what checking an assembled file needs."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        vtb = float(video.time_base)
        pts, last_end = [], None
        for packet in container.demux(video):
            if packet.pts is None:
                continue
            pts.append(packet.pts)
            end = packet.pts + (packet.duration or 0)
            last_end = end if last_end is None else max(last_end, end)
        audio_start = audio_duration = None
        if container.streams.audio:
            container.seek(0)
            audio = container.streams.audio[0]
            atb = float(audio.time_base)
            first, a_end = None, None
            for packet in container.demux(audio):
                if packet.pts is None:
                    continue
                first = packet.pts if first is None else min(first, packet.pts)
                end = packet.pts + (packet.duration or 0)
                a_end = end if a_end is None else max(a_end, end)
            if first is not None:
                audio_start = first * atb
                audio_duration = (a_end - first) * atb
        fps = float(video.average_rate or video.guessed_rate or 0) or 0.0
    start = min(pts) * vtb if pts else 0.0
    return StreamTimes(len(pts), start, ((last_end or 0) * vtb) - start, audio_start,
                       audio_duration, fps)


def make_proxy(source: PathLike, output: PathLike, *, max_height: int | None = None,
               crf: int = 20, preset: str = "veryfast", audio: bool = True,
               timeout: float = 3600) -> Path:
    """A copy of any video that every browser plays: H.264 High, yuv420p, even
    dimensions (4:2:0 needs them), AAC audio, MP4 with faststart.

    max_height: scale down (never up) to at most this height, keeping the aspect
    ratio. Every source frame is kept once, at its own time (needs FFmpeg 5.1+).
    """
    if max_height is not None and max_height < 2:
        raise ValueError(f"max_height must be at least 2, got {max_height}")
    src = ffmpeg.input(str(_need_file(source)))
    if max_height is None:
        video = src["v:0"].filter("scale", "trunc(iw/2)*2", "trunc(ih/2)*2")
    else:
        video = src["v:0"].filter("scale", "-2", f"trunc(min(ih,{int(max_height)})/2)*2")
    streams = [video.filter("setsar", 1)]
    # passthrough: every source frame once, at its own time (the default for MP4 would
    # make the rate constant by repeating or dropping frames of a variable-rate source).
    options: dict[str, Any] = {"c:v": "libx264", "profile:v": "high", "preset": preset,
                               "crf": crf, "pix_fmt": "yuv420p", "fps_mode": "passthrough",
                               "movflags": "+faststart"}
    if audio:
        streams.append(src["a:0?"])
        options.update({"c:a": "aac", "b:a": "160k", "ac": 2})
    else:
        options["an"] = None
    out = Path(output)
    _run(ffmpeg.output(*streams, str(out), **options), "making the browser copy", timeout)
    return out
