"""Media I/O with PyAV: probing, frame-accurate streaming decode, encoding.

Files are identified by opening them with FFmpeg (through PyAV), never by their
extension. Every failure a technician can cause by uploading the wrong file is
reported as a `MediaError` whose message can be shown as it is.

Frame numbers are positions in presentation order (0 = first frame shown). Old films
are often variable-frame-rate files (a transfer with dropped or repeated frames, a
HandBrake encode of a scan), so a frame number is never turned into a time by
multiplying with the frame rate: seeking uses the real presentation timestamps read
from the packet index.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from gpu_worker.engine.encoding import EncodeError, EncodeSettings, container_format
from gpu_worker.engine.sequence import (
    ImageSequence,
    SequenceError,
    find_sequence,
    is_sequence_path,
)

__all__ = [
    "MediaError",
    "MediaInfo",
    "DecodedFrame",
    "probe",
    "read_frames",
    "iter_decoded",
    "extract_frame",
    "frame_pts_table",
    "open_input",
    "ImageSequence",
    "VideoWriter",
    "encoder_options",
    "x264_asm",
]

MIN_SIDE = 16
"""Smallest width or height accepted: below this there is nothing to restore, and
such files are almost always a broken or malicious header."""

# FFmpeg enum values (AVColorRange, AVColorSpace, AVColorPrimaries,
# AVColorTransferCharacteristic) to the names ffprobe prints. Kept here rather than
# taken from PyAV enums because PyAV exposes only some of them.
COLOR_RANGE_NAMES = {0: "unknown", 1: "tv", 2: "pc"}
COLOR_SPACE_NAMES = {0: "gbr", 1: "bt709", 2: "unknown", 4: "fcc", 5: "bt470bg",
                     6: "smpte170m", 7: "smpte240m", 8: "ycgco", 9: "bt2020nc",
                     10: "bt2020c", 14: "ictcp"}
COLOR_PRIMARIES_NAMES = {1: "bt709", 2: "unknown", 4: "bt470m", 5: "bt470bg",
                         6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
                         10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
COLOR_TRC_NAMES = {1: "bt709", 2: "unknown", 4: "gamma22", 5: "gamma28", 6: "smpte170m",
                   7: "smpte240m", 8: "linear", 9: "log100", 10: "log316",
                   11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
                   14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428",
                   18: "arib-std-b67"}


# Decoders that FFmpeg prefers over its own, reported by the format's name.
DECODER_CODEC_NAMES = {"libdav1d": "av1", "libaom-av1": "av1", "libvpx": "vp8",
                       "libvpx-vp9": "vp9"}


def _name_to_code(table: dict[int, str], name: str | None, default: int) -> int:
    for code, n in table.items():
        if n == name:
            return code
    return default


class MediaError(Exception):
    """A media file cannot be used; the message says why in plain words."""


@dataclass
class MediaInfo:
    """What a technician (and the pipeline) needs to know about a video file."""

    path: str
    container: str
    video_codec: str
    width: int
    height: int
    fps: float
    fps_fraction: str
    frame_count: int
    duration: float
    has_audio: bool
    audio_codec: str | None
    pix_fmt: str
    color_range: str
    color_space: str
    color_primaries: str
    color_trc: str
    sample_aspect_ratio: str
    bit_rate: int | None
    frame_count_exact: bool = False  # True when every frame was decoded and counted
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    field_order: str = "unknown"  # progressive, tff, bff, interlaced, unknown
    bit_depth: int = 8  # bits per component of the decoded pictures
    timecode: str | None = None  # of the first frame ("01:00:00:00"; ";" drop-frame)
    video_bit_rate: int | None = None  # of the video stream alone, where the file says

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def fps_rational(self) -> Fraction:
        return Fraction(self.fps_fraction)


@dataclass
class DecodedFrame:
    """One decoded frame: its number in presentation order, its timestamp and pixels."""

    index: int
    pts: int
    time: float  # seconds from the start of the stream
    image: np.ndarray  # (H, W, 3) RGB: uint8, or uint16 when decoded with high_bit_depth


# ---------------------------------------------------------------------------------
# opening


def open_input(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open a video file or an image sequence (a pattern, a folder or an
    ImageSequence with its frame rate) for reading; MediaError when it cannot be."""
    return _open(path)


def _open(path: str | os.PathLike[str]) -> av.container.InputContainer:
    if is_sequence_path(path):
        try:
            seq = find_sequence(path)
        except SequenceError as exc:
            raise MediaError(str(exc)) from None
        try:
            return av.open(seq.pattern, mode="r", format="image2",
                           options=seq.ffmpeg_options())
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot open the image sequence: {exc}") from None
    p = Path(path)
    if not p.exists():
        raise MediaError(f"file not found: {p}")
    if p.is_dir():
        raise MediaError(f"{p} is a folder, not a video file")
    if p.stat().st_size == 0:
        raise MediaError("the file is empty")
    try:
        return av.open(str(p), mode="r")
    except av.error.InvalidDataError:
        if _looks_like_mp4(p):
            # An MP4/MOV written without "faststart" keeps its index at the end, so an
            # interrupted copy has the header box but no index.
            raise MediaError("the file is truncated or incomplete: it starts like an "
                             "MP4/MOV but its index (moov atom) is missing") from None
        raise MediaError("not a media file: FFmpeg does not recognise its contents") from None
    except PermissionError:
        raise MediaError(f"cannot read {p}: permission denied") from None
    except av.error.FFmpegError as exc:
        text = str(exc)
        if "moov atom not found" in text:
            raise MediaError("the file is truncated or incomplete: its index (moov atom) "
                             "is missing") from None
        raise MediaError(f"cannot open the file: {text}") from None


def _looks_like_mp4(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(12)
    return len(head) == 12 and head[4:8] in (b"ftyp", b"mdat", b"wide", b"free")


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        if container.streams.audio:
            raise MediaError("not a video: no video stream found (audio only)")
        raise MediaError("not a video: no video stream found")
    # A cover picture (attached_pic) is a one-frame "video" stream: skip it.
    for stream in container.streams.video:
        if not (stream.disposition & av.stream.Disposition.attached_pic):
            return stream
    raise MediaError("not a video: the only picture is a cover image")


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """The average frame rate, which for a variable-rate file is what players show.

    A raw DV file has no index, and FFmpeg's average for it is the tick rate of its
    time base (60000 for NTSC DV at 30000/1001): an average more than twice the
    stream's own base rate cannot be a real average, so the base rate is used then.
    """
    guessed = next((Fraction(r.numerator, r.denominator)
                    for r in (stream.guessed_rate, stream.base_rate) if r and r > 0), None)
    average = stream.average_rate
    if average and average > 0:
        avg = Fraction(average.numerator, average.denominator)
        if guessed is None or avg <= 2 * guessed:
            return avg
    if guessed is not None:
        return guessed
    return Fraction(24, 1)  # nothing declared: assume film speed


# AVFieldOrder values to the names the report uses.
FIELD_ORDER_NAMES = {1: "progressive", 2: "tff", 3: "bff", 4: "tff", 5: "bff"}


def _field_order(cc: Any, codec: str | None, interlaced_frame: bool) -> str:
    """How the stream says its frames were scanned: progressive, tff (top field
    first), bff, or interlaced (the frames are flagged interlaced but the order is not
    declared), or unknown. DV is bottom field first by its specification (NTSC and
    PAL), and its decoder does not fill the field order in."""
    declared = FIELD_ORDER_NAMES.get(int(getattr(cc, "field_order", 0) or 0))
    if declared is not None:
        return declared
    if interlaced_frame:
        return "bff" if codec == "dvvideo" else "interlaced"
    return "unknown"


def _stream_duration(stream: av.stream.Stream, container: av.container.InputContainer
                     ) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tagged = _tag_duration(stream)
    if tagged is not None:
        return tagged
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _rgb_colorspace(cc: Any, height: int) -> Colorspace:
    """The YUV→RGB matrix to decode with: the tagged one, else the usual guess by size
    (SD → BT.601, HD → BT.709), as players do."""
    code = int(cc.colorspace or 2)
    if code == 1:
        return Colorspace.ITU709
    if code in (5, 6):
        return Colorspace.ITU601
    if code == 7:
        return Colorspace.SMPTE240M
    if code in (9, 10):
        return Colorspace.BT2020
    if code == 4:
        return Colorspace.FCC
    return Colorspace.ITU709 if height >= 720 else Colorspace.ITU601


def _rgb_range(cc: Any, pix_fmt: str) -> ColorRange:
    if int(cc.color_range or 0) == 2 or pix_fmt.startswith("yuvj"):
        return ColorRange.JPEG
    return ColorRange.MPEG


def _format_bits(pix_fmt: str | None) -> int:
    """Bits per component of a decoded pixel format (8 when unknown)."""
    if not pix_fmt:
        return 8
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.error.FFmpegError):
        return 8


_FLOAT_PLANAR = {"gbrpf32le": np.float32, "gbrapf32le": np.float32,
                 "gbrpf16le": np.float16, "gbrapf16le": np.float16}


def _float_planes_to_rgb16(frame: av.VideoFrame) -> np.ndarray:
    """EXR pictures (float or half planes, G B R order) to uint16 RGB, read from the
    planes themselves: swscale's float conversions are a few codes off and dither.
    Values are taken as they are (no transfer curve applied); below 0 and above 1
    clip."""
    dtype = _FLOAT_PLANAR[frame.format.name]
    item = np.dtype(dtype).itemsize
    h, w = frame.height, frame.width
    planes = [np.frombuffer(frame.planes[i], dtype=dtype)
              .reshape(h, frame.planes[i].line_size // item)[:, :w] for i in (2, 0, 1)]
    rgb = np.stack(planes, -1).astype(np.float32)
    return (np.clip(rgb, 0.0, 1.0) * np.float32(65535.0) + np.float32(0.5)).astype(np.uint16)


def _to_rgb(frame: av.VideoFrame, colorspace: Colorspace, color_range: ColorRange,
            deep: bool = False) -> np.ndarray:
    """(H, W, 3) RGB: uint8, or uint16 (0..65535) with `deep` for a source of more
    than 8 bits, converted once by swscale from the decoded planes."""
    if deep:
        if frame.format.name in _FLOAT_PLANAR:
            return _float_planes_to_rgb16(frame)
        if frame.format.name.startswith(("yuv", "nv", "p0", "p2", "p4")):
            return frame.to_ndarray(format="rgb48le", src_colorspace=colorspace,
                                    src_color_range=color_range,
                                    dst_color_range=ColorRange.JPEG)
        return frame.to_ndarray(format="rgb48le")
    if frame.format.name in ("rgb24",):
        return frame.to_ndarray()
    if frame.format.name.startswith(("yuv", "nv")):
        return frame.to_ndarray(format="rgb24", src_colorspace=colorspace,
                                src_color_range=color_range,
                                dst_color_range=ColorRange.JPEG)
    return frame.to_ndarray(format="rgb24")


# ---------------------------------------------------------------------------------
# packet index: presentation timestamps of every frame, without decoding


def frame_pts_table(path: str | os.PathLike[str], upto: int | None = None) -> list[int]:
    """Presentation timestamps of the video frames in display order.

    Reads packets only (no decoding), so it is fast even for a long film. With
    `upto`, stops once enough packets were read to know the first `upto + 1`
    timestamps for sure (B-frames reorder at most a few packets).
    """
    container = _open(path)
    try:
        stream = _video_stream(container)
        stamps: list[int] = []
        margin = 64  # far above any real decoder reorder depth
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                continue
            stamps.append(ts)
            if upto is not None and len(stamps) > upto + margin:
                break
        stamps.sort()
        return stamps
    except av.error.FFmpegError:
        stamps.sort()
        return stamps
    finally:
        container.close()


# ---------------------------------------------------------------------------------
# probe


def probe(path: str | os.PathLike[str], *, deep: bool = False,
          max_pixels: int = 8192 * 8192) -> MediaInfo:
    """Identify a video file and check it can be restored.

    Raises MediaError for an empty file, something that is not media, an audio-only
    file, absurd dimensions, a codec FFmpeg cannot decode, and a truncated file (the
    first frame and a frame near the declared end are both decoded). With
    `deep=True` every frame is decoded (streaming, nothing kept) and `frame_count`
    is the exact number of decodable frames.
    """
    container = _open(path)
    try:
        stream = _video_stream(container)
        cc = stream.codec_context
        codec = cc.name if cc is not None else None
        codec = DECODER_CODEC_NAMES.get(codec, codec)
        if codec is None or codec == "none":
            raise MediaError(f"unsupported video codec '{stream.codec_context.codec_tag}'")
        width, height = int(cc.width or 0), int(cc.height or 0)
        if width < MIN_SIDE or height < MIN_SIDE or width * height > max_pixels:
            raise MediaError(f"absurd dimensions {width}x{height} (allowed: at least "
                             f"{MIN_SIDE} pixels a side, at most {max_pixels} pixels)")
        rate = _frame_rate(stream)
        duration = _stream_duration(stream, container)
        declared = int(stream.frames or 0)
        frame_count = declared if declared > 0 else int(round(duration * rate))
        audio = container.streams.audio[0] if container.streams.audio else None
        sar = cc.sample_aspect_ratio
        info = MediaInfo(
            path=str(path),
            container=container.format.name,
            video_codec=codec,
            width=width,
            height=height,
            fps=float(rate),
            fps_fraction=f"{rate.numerator}/{rate.denominator}",
            frame_count=frame_count,
            duration=duration,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            pix_fmt=cc.pix_fmt or "unknown",
            color_range=COLOR_RANGE_NAMES.get(int(cc.color_range or 0), "unknown"),
            color_space=COLOR_SPACE_NAMES.get(int(cc.colorspace or 2), "unknown"),
            color_primaries=COLOR_PRIMARIES_NAMES.get(int(cc.color_primaries or 2),
                                                      "unknown"),
            color_trc=COLOR_TRC_NAMES.get(int(cc.color_trc or 2), "unknown"),
            sample_aspect_ratio=(f"{sar.numerator}:{sar.denominator}" if sar else "1:1"),
            bit_rate=int(container.bit_rate) if container.bit_rate else None,
            audio_sample_rate=int(audio.codec_context.sample_rate) if audio else None,
            audio_channels=int(audio.codec_context.channels) if audio else None,
            bit_depth=_format_bits(cc.pix_fmt),
            timecode=_timecode(container, stream),
            video_bit_rate=int(stream.bit_rate) if stream.bit_rate else None,
        )
        if is_sequence_path(path):
            seq = find_sequence(path)
            info.path, info.container = seq.pattern, "image2"
            info.frame_count = seq.count  # one file per frame, all present
            info.duration = float(seq.count / seq.rate)
        if deep:
            info.frame_count = _count_frames(container, stream, frame_count, info)
            info.frame_count_exact = True
        else:
            _check_decodes(container, stream, info)
        return info
    finally:
        container.close()


def _decode_error(exc: Exception, stream: av.video.stream.VideoStream) -> MediaError:
    name = stream.codec_context.name if stream.codec_context else "?"
    why = getattr(exc, "strerror", None) or str(exc)
    return MediaError(f"cannot decode the video ({name}): {why}")


def _count_frames(container: av.container.InputContainer,
                  stream: av.video.stream.VideoStream, expected: int,
                  info: MediaInfo) -> int:
    count = 0
    try:
        for frame in container.decode(stream):
            if count == 0:
                info.field_order = _field_order(stream.codec_context, info.video_codec,
                                                bool(frame.interlaced_frame))
            count += 1
    except av.error.FFmpegError as exc:
        if count == 0:
            raise _decode_error(exc, stream) from None
        raise MediaError(f"the file is truncated or damaged: decoding stopped at frame "
                         f"{count} of ~{expected}") from None
    if count == 0:
        raise MediaError("no frame could be decoded: the video stream is empty or damaged")
    if expected > 0 and count < expected * 0.9 - 2:
        raise MediaError(f"the file is truncated: decoding stopped at frame {count} "
                         f"of ~{expected}")
    return count


def _check_decodes(container: av.container.InputContainer,
                   stream: av.video.stream.VideoStream, info: MediaInfo) -> None:
    """Decode the first frame, then seek near the declared end and decode there.

    A file cut short (an interrupted upload) keeps its header, which still declares
    the full length; its data ends early, so nothing near the declared end can be read.
    All streams are read near the end because a container may declare only its overall
    duration, which an audio track can make longer than the video.
    """
    first_pts: int | None = None
    try:
        for frame in container.decode(stream):
            first_pts = frame.pts if frame.pts is not None else 0
            info.field_order = _field_order(stream.codec_context, info.video_codec,
                                            bool(frame.interlaced_frame))
            break
    except av.error.FFmpegError as exc:
        raise _decode_error(exc, stream) from None
    if first_pts is None:
        raise MediaError("no frame could be decoded: the video stream is empty or damaged")
    if info.frame_count <= 1 or stream.time_base is None:
        return
    own_duration = stream.duration is not None or _tag_duration(stream) is not None
    declared_end = (float((stream.start_time or 0) * stream.time_base) + info.duration
                    if own_duration else (container.duration or 0) / av.time_base)
    reached = 0.0
    video_frames_near_end = 0
    try:
        container.seek(int(max(0.0, declared_end - 2.0) * av.time_base), backward=True)
        for packet in container.demux():
            if packet.pts is None or packet.size == 0:
                continue
            if own_duration and packet.stream.index != stream.index:
                continue
            end = float((packet.pts + (packet.duration or 0)) * packet.stream.time_base)
            reached = max(reached, end)
            if packet.stream.index == stream.index:
                video_frames_near_end += len(packet.decode())
        if video_frames_near_end == 0:
            # A decoder with delay (H.264 with B-frames) hands its last frames out
            # only when flushed: a two-frame clip gives nothing before that.
            video_frames_near_end += len(stream.codec_context.decode(None))
    except av.error.FFmpegError:
        pass  # decoding stopped early: measured below
    tolerance = 1.5 / info.fps + 0.05
    if reached < declared_end - tolerance or video_frames_near_end == 0:
        decodable = _decodable_frames(info.path)
        raise MediaError(f"the file is truncated: decoding stopped at frame {decodable} "
                         f"of ~{info.frame_count}")


def _timecode(container: av.container.InputContainer,
              stream: av.video.stream.VideoStream) -> str | None:
    """The source timecode of the first frame: the video stream's tag, a timecode
    track's (MOV tmcd, MXF), or the container's (DV, MPEG-2 GOP headers)."""
    tags = [stream.metadata or {}] + [s.metadata or {} for s in container.streams
                                      if s.type == "data"] + [container.metadata or {}]
    for tag in tags:
        value = tag.get("timecode") or tag.get("TIMECODE")  # Matroska: upper case
        if value and len(value.replace(";", ":").split(":")) == 4:
            return value
    return None


def _tag_duration(stream: av.stream.Stream) -> float | None:
    """Matroska keeps a per-stream duration as a "DURATION" tag (HH:MM:SS.fraction)."""
    text = (stream.metadata or {}).get("DURATION") or (stream.metadata or {}).get("duration")
    if not text:
        return None
    try:
        h, m, sec = text.split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


def _decodable_frames(path: str) -> int:
    """How many frames can really be read (packets are counted, not decoded)."""
    try:
        return len(frame_pts_table(path))
    except MediaError:
        return 0


# ---------------------------------------------------------------------------------
# reading


def iter_decoded(path: str | os.PathLike[str], *, start: int = 0, end: int | None = None,
                 high_bit_depth: bool = False) -> Iterator[DecodedFrame]:
    """Decode frames `start` (inclusive) to `end` (exclusive) in presentation order.

    high_bit_depth: a source of more than 8 bits comes as uint16 RGB (0..65535) instead
    of uint8, so its extra precision reaches the operators (8-bit sources stay uint8:
    16 bits would add nothing but cost).

    Streaming: one frame at a time. Frame-accurate: the presentation timestamp of
    frame `start` is looked up in the packet index, the demuxer seeks to the keyframe
    before it, and frames are decoded forward and skipped until that timestamp.
    """
    if start < 0:
        raise ValueError("start must be >= 0")
    if end is not None and end <= start:
        return
    target_pts: int | None = None
    if start > 0:
        table = frame_pts_table(path, upto=start)
        if start >= len(table):
            return
        target_pts = table[start]
    container = _open(path)
    try:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"  # frame threads: decode speed, same pixels
        cc = stream.codec_context
        colorspace = _rgb_colorspace(cc, int(cc.height or 0))
        crange = _rgb_range(cc, cc.pix_fmt or "")
        deep = high_bit_depth and _format_bits(cc.pix_fmt) > 8
        tb = float(stream.time_base) if stream.time_base else 0.0
        origin = stream.start_time or 0
        index = start
        if target_pts is not None:
            container.seek(target_pts, stream=stream, backward=True, any_frame=False)
        try:
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else 0
                if target_pts is not None and pts < target_pts:
                    continue
                if end is not None and index >= end:
                    break
                yield DecodedFrame(index=index, pts=pts, time=(pts - origin) * tb,
                                   image=_to_rgb(frame, colorspace, crange, deep))
                index += 1
        except av.error.FFmpegError as exc:
            raise MediaError(f"the file is truncated or damaged: decoding stopped at "
                             f"frame {index} ({exc})") from None
    finally:
        container.close()


def read_frames(path: str | os.PathLike[str], *, start: int = 0, end: int | None = None
                ) -> Iterator[np.ndarray]:
    """Frames `start`..`end-1` as (H, W, 3) uint8 RGB arrays, one at a time."""
    for decoded in iter_decoded(path, start=start, end=end):
        yield decoded.image


def extract_frame(path: str | os.PathLike[str], frame_number: int) -> np.ndarray:
    """One frame as (H, W, 3) uint8 RGB, e.g. a poster frame."""
    for image in read_frames(path, start=frame_number, end=frame_number + 1):
        return image
    raise MediaError(f"frame {frame_number} does not exist in this file")


# ---------------------------------------------------------------------------------
# writing (the settings themselves are in gpu_worker.engine.encoding)


@dataclass
class ColourTags:
    """Colour description carried from the source to the restored file."""

    color_range: str = "tv"
    color_space: str = "unknown"
    color_primaries: str = "unknown"
    color_trc: str = "unknown"

    @classmethod
    def from_info(cls, info: MediaInfo) -> ColourTags:
        rng = info.color_range if info.color_range in ("tv", "pc") else "tv"
        return cls(rng, info.color_space, info.color_primaries, info.color_trc)

    def matrix(self, height: int) -> Colorspace:
        code = _name_to_code(COLOR_SPACE_NAMES, self.color_space, 2)

        class _CC:  # the same choice the decoder made for this tag
            colorspace = code
        return _rgb_colorspace(_CC, height)


class AudioCarrier:
    """Copies the source's first audio stream packet by packet (never re-encoded),
    interleaved with the video as it is written, trimmed to a time range."""

    def __init__(self, source: str | os.PathLike[str], out: av.container.OutputContainer,
                 t_start: float, t_end: float | None) -> None:
        self._in = av.open(str(source))
        self._src = self._in.streams.audio[0]
        self.stream = out.add_stream_from_template(self._src)
        self._out = out
        self._tb = self._src.time_base
        self._offset = int(round(t_start / self._tb)) if t_start > 0 else 0
        self._t_start = t_start
        self._t_end = t_end
        if t_start > 0:
            self._in.seek(int(t_start * av.time_base), backward=True)
        self._packets = self._in.demux(self._src)
        self._pending: av.Packet | None = None
        self._done = False
        self.packets_written = 0

    def pump(self, until: float | None) -> None:
        """Write audio packets that start before `until` seconds (None: all)."""
        if self._done:
            return
        while True:
            if self._pending is not None:
                packet = self._pending
                self._pending = None
            else:
                try:
                    packet = next(self._packets)
                except (StopIteration, av.error.FFmpegError):
                    self._done = True
                    return
            if packet.size == 0 or packet.pts is None:
                continue
            t = float(packet.pts * self._tb)
            if self._t_end is not None and t >= self._t_end:
                self._done = True
                return
            if until is not None and t >= until:
                self._pending = packet
                return
            if self._t_start > 0 and t < self._t_start - 1e-6:
                continue  # starts before the excerpt: dropped whole, never cut
            packet.pts -= self._offset
            if packet.dts is not None:
                packet.dts -= self._offset
            packet.stream = self.stream
            self._out.mux(packet)
            self.packets_written += 1

    def close(self) -> None:
        self._in.close()


X264_ASM_ENV = "REEL_ARENA_X264_ASM"
X264_SAFE_ASM = "AVX2"
"""The x264 instruction sets a render uses on a CPU with AVX-512: everything up to
AVX2 (with FMA3 and BMI2), which every AVX-512 CPU has."""


def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


@functools.lru_cache(maxsize=1)
def x264_asm() -> str | None:
    """The `asm` setting x264 gets (None: its own CPU detection).

    x264's AVX-512 code (core 165, as bundled with PyAV) reads memory it never
    initialised in the lookahead's macroblock-tree pass when B-frames are on (the
    default): the same frames then encode to different bytes, and different pictures,
    from one run to the next, depending on what that memory held (other allocations,
    thread timing). Its SSE to AVX2 code gives identical bytes on every run and at
    every level, so on a CPU with AVX-512 x264 is held to AVX2; renders are then also
    the same bytes on AVX2 and AVX-512 workers. `REEL_ARENA_X264_ASM` overrides the
    choice: "auto" for x264's own detection, or x264's `asm` value as it is (a level
    such as "AVX2"; x264 only warns about a name it does not know).
    """
    raw = os.environ.get(X264_ASM_ENV, "").strip()
    if raw:
        return None if raw.lower() == "auto" else raw
    if any(flag.startswith("avx512") for flag in _cpu_flags()):
        return X264_SAFE_ASM
    return None


def encoder_options(settings: EncodeSettings) -> dict[str, str]:
    """The encoder's private options: the spec's (`EncodeSettings.codec_options`) plus
    what this machine needs for repeatable output (x264's `asm`, see `x264_asm`),
    unless the spec's own x264-params already set it."""
    opts = settings.codec_options()
    asm = x264_asm() if settings.codec == "h264" else None
    if asm is not None:
        params = opts.get("x264-params", "")
        keys = {item.partition("=")[0].strip() for item in params.split(":") if item}
        if "asm" not in keys:
            opts["x264-params"] = f"{params}:asm={asm}" if params else f"asm={asm}"
    return opts


class VideoWriter:
    """Encodes RGB frames with their original timestamps, plus the source audio.

    Frames are given with their presentation timestamp and duration in the source's
    time base, so variable frame rates, 24000/1001 and other odd rates survive exactly.
    """

    def __init__(self, path: str | os.PathLike[str], *, width: int, height: int,
                 time_base: Fraction, rate: Fraction, settings: EncodeSettings,
                 colour: ColourTags | None = None, sample_aspect_ratio: str = "1:1",
                 audio_source: str | os.PathLike[str] | None = None,
                 audio_range: tuple[float, float | None] = (0.0, None),
                 container_fmt: str | None = None, timecode: str | None = None) -> None:
        self.settings = settings
        fmt = container_fmt or container_format(path)
        settings.check_container(fmt)
        if settings.effective_pix_fmt.startswith("yuv420") and (width % 2 or height % 2):
            raise EncodeError(f"{width}x{height}: 4:2:0 video needs even width and height")
        self.colour = colour or ColourTags()
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        # No random or version-dependent header fields: Matroska otherwise writes
        # random segment and track UIDs (every .mkv render differed in ~40 header
        # bytes), and every muxer its libavformat version.
        options["fflags"] = "+bitexact"
        if fmt == "image2":
            from gpu_worker.engine.encoding import image_codec_for

            if image_codec_for(path) != settings.codec:
                raise EncodeError(f"codec {settings.codec} cannot write "
                                  f"{Path(path).suffix} files")
            # File n is frame n of the output, as the engine numbers frames.
            options = {"start_number": "0"}
        # SVT-AV1 prints its whole configuration at info level; keep errors only.
        os.environ.setdefault("SVT_LOG", "1")
        self.container = av.open(str(path), mode="w", format=fmt, options=options)
        self.time_base = time_base
        try:
            stream = self.container.add_stream(settings.encoder, rate=rate)
            cc = stream.codec_context
            stream.width, stream.height = width, height
            stream.pix_fmt = settings.effective_pix_fmt
            stream.time_base = time_base
            cc.time_base = time_base
            cc.thread_count = settings.threads
            cc.thread_type = "FRAME" if settings.codec != "prores" else "SLICE"
            if settings.bit_rate:
                cc.bit_rate = settings.bit_rate
            num, _, den = sample_aspect_ratio.partition(":")
            if num.isdigit() and den.isdigit() and int(num) > 0 and int(den) > 0:
                cc.sample_aspect_ratio = Fraction(int(num), int(den))
            cc.color_range = 2 if self.colour.color_range == "pc" else 1
            cc.colorspace = _name_to_code(COLOR_SPACE_NAMES, self.colour.color_space, 2)
            cc.color_primaries = _name_to_code(COLOR_PRIMARIES_NAMES,
                                               self.colour.color_primaries, 2)
            cc.color_trc = _name_to_code(COLOR_TRC_NAMES, self.colour.color_trc, 2)
            stream.options = encoder_options(settings)
            if timecode and fmt in ("mov", "mp4", "matroska"):
                # MOV/MP4 muxers write it as a timecode track, Matroska as a tag.
                stream.metadata["timecode"] = timecode
            self.stream = stream
            self._matrix = self.colour.matrix(height)
            self._range = ColorRange.JPEG if self.colour.color_range == "pc" else ColorRange.MPEG
            self.audio: AudioCarrier | None = None
            if audio_source is not None:
                self.audio = AudioCarrier(audio_source, self.container, *audio_range)
        except Exception:
            self.container.close()
            raise
        self.frames_written = 0
        self._durations: dict[int, int] = {}
        self._closed = False

    def write(self, image: np.ndarray, pts: int, duration: int | None = None) -> None:
        """Encode one (H, W, 3) RGB frame shown at `pts` (source time base): uint8, or
        uint16 (0..65535) for an output of more than 8 bits, which then never passes
        through 8 bits."""
        fmt = "rgb48le" if image.dtype == np.uint16 else "rgb24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=fmt)
        frame = frame.reformat(format=self.settings.effective_pix_fmt,
                               dst_colorspace=self._matrix,
                               src_color_range=ColorRange.JPEG,
                               dst_color_range=self._range)
        frame.pts = pts
        frame.time_base = self.time_base
        if duration:
            # Encoders with a delay do not always pass durations on; the muxer needs
            # them for the last frame, so the rate survives exactly.
            self._durations[pts] = duration
        self._mux(self.stream.encode(frame))
        self.frames_written += 1

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.pts is not None and packet.pts in self._durations:
                packet.duration = self._durations.pop(packet.pts)
            self.container.mux(packet)
            if self.audio is not None and packet.pts is not None:
                # Keep audio up to the video written so far, so neither the muxer's
                # interleaving queue nor this process holds more than a few packets.
                self.audio.pump(float(packet.pts * self.stream.time_base))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._mux(self.stream.encode(None))
            if self.audio is not None:
                self.audio.pump(None)
        finally:
            if self.audio is not None:
                self.audio.close()
            self.container.close()

    def abort(self) -> None:
        """Stop without finishing the file (the caller deletes it)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.audio is not None:
                self.audio.close()
            self.container.close()
        except Exception:  # noqa: BLE001 - an aborted file is discarded anyway
            pass

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
