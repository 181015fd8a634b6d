"""Image-sequence uploads: a zip of scanned frames (DPX, TIFF, EXR, PNG) becomes a clip.

The zip is unpacked into a temporary folder (member names are flattened to their
last part, so no path in the archive can point outside it; only image files are
taken), checked with the engine's sequence reader (natural numeric order; a gap in
the numbering is refused with the missing numbers named) and encoded, at the frame
rate the technician states, into a lossless FFV1 master in Matroska: planar RGB at the
depth of the scans (8, 10, 12 or 16 bits; float EXR is stored as 16-bit). Frames of
different sizes are refused, naming the first file that differs. The master then
goes through the ordinary upload checks and probe like any uploaded video.

A master rather than the loose frames: every later step (probe, render, excerpts,
players) reads one seekable file, and FFV1 keeps every bit of the scan.

Loose frames (several image files uploaded at once instead of a zip) arrive one after
another in one staging file, with their names and sizes (`members`); they are cut
apart into the same temporary folder and go the same way.

The names are checked in the upload request (`check_names`: image files, one
sequence, no gap, no name twice), so those refusals come at once; decoding and
encoding run on a default-queue worker (restoration.services.uploads.
encode_sequence_clip), which reports frames of different sizes on the clip.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path, PurePosixPath

import av
from django.utils.translation import gettext as _

from gpu_worker.engine.io import MediaError, open_input
from gpu_worker.engine.sequence import IMAGE_SUFFIXES, ImageSequence, SequenceError, find_sequence

__all__ = ["SequenceRejected", "is_zip", "parse_frame_rate", "master_from_zip",
           "master_from_files", "zip_frame_names", "check_names", "check_members",
           "Progress", "MAX_LOOSE_FILES", "natural_key"]

Progress = Callable[[int, int], None]
"""progress(frames_encoded, frames_total)"""

MAX_LOOSE_FILES = 200_000  # frames in one upload of loose files (over two hours at 24 fps)

ZIP_MAGIC = b"PK\x03\x04"


class SequenceRejected(ValueError):
    """The archive is not a usable image sequence; the message says why."""


def is_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        if handle.read(4) != ZIP_MAGIC:
            return False
    return zipfile.is_zipfile(path)


def parse_frame_rate(text: str | None) -> Fraction:
    """ "24", "25", "23.976", "24000/1001" → a positive Fraction; 24 when empty.
    The usual decimal NTSC rates (23.976, 29.97, 59.94) mean their exact x000/1001."""
    value = (text or "").strip()
    if not value:
        return Fraction(24)
    ntsc = {
        "23.976": Fraction(24000, 1001),
        "23.98": Fraction(24000, 1001),
        "29.97": Fraction(30000, 1001),
        "59.94": Fraction(60000, 1001),
        "47.952": Fraction(48000, 1001),
    }
    try:
        rate = ntsc.get(value) or Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise SequenceRejected(
            _("frame rate %(value)r is not a number (e.g. 24, 25, 24000/1001)") % {"value": value}
        ) from None
    if not 1 <= rate <= 300:
        raise SequenceRejected(_("frame rate %(value)s is outside 1..300 frames per second")
                               % {"value": value})
    return rate


def natural_key(name: str) -> list[object]:
    """Sort key putting scan_2 before scan_10 (numbers compared as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _frame_name(member_name: str) -> str | None:
    """A zip member's file name, flattened, if it is an image frame (else None)."""
    name = PurePosixPath(member_name.replace("\\", "/")).name
    if (
        not name
        or name.startswith(".")
        or name.startswith("__MACOSX")
        or PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES
        or "/__MACOSX/" in f"/{member_name}"
    ):
        return None
    return name


def zip_frame_names(archive: Path, max_bytes: int) -> list[str]:
    """The image frames a zip holds, flattened, from its directory alone (nothing is
    unpacked). Raises SequenceRejected for a damaged zip, a name twice, or frames
    unpacking past `max_bytes`."""
    names: list[str] = []
    seen: set[str] = set()
    total = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                name = None if member.is_dir() else _frame_name(member.filename)
                if name is None:
                    continue
                total += member.file_size
                if total > max_bytes:
                    raise SequenceRejected(
                        _("the frames in the zip unpack to more than the upload limit"))
                if name in seen:
                    raise SequenceRejected(_("the zip holds two frames named %(name)s")
                                           % {"name": name})
                seen.add(name)
                names.append(name)
    except zipfile.BadZipFile as exc:
        raise SequenceRejected(_("the zip archive is damaged: %(error)s") % {"error": exc}) from None
    return names


def check_names(names: Sequence[str], rate: Fraction, *, where: str = "the zip") -> int:
    """Check that `names` make one gapless sequence (natural numeric order, the
    engine's rules) without reading a frame; return the frame count. Raises
    SequenceRejected with the engine's message (missing numbers named)."""
    if not names:
        raise SequenceRejected(_("the zip holds no DPX, TIFF, EXR or PNG frames")
                               if where == "the zip" else
                               _("no DPX, TIFF, EXR or PNG frames among the files"))
    with tempfile.TemporaryDirectory(prefix="sequence-names-") as tmp:
        folder = Path(tmp)
        for name in names:
            (folder / name).touch()  # empty stand-ins: the reader looks at names only
        return _find(folder, rate, where).count


def check_members(members: Sequence[Sequence[object]], rate: Fraction) -> list[tuple[str, int]]:
    """Loose frames as [[name, size], ...]: each an image file name (taken without any
    folder), of a positive size, no name twice, at most MAX_LOOSE_FILES; checked as a
    sequence by name. Returns them as (name, size) pairs. Raises SequenceRejected."""
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    if len(members) > MAX_LOOSE_FILES:
        raise SequenceRejected(_("more than %(n)s files in one upload; send a zip or split "
                                 "the reel") % {"n": MAX_LOOSE_FILES})
    for member in members:
        try:
            raw, size = str(member[0]), int(member[1])  # type: ignore[call-overload]
        except (TypeError, ValueError, IndexError):
            raise SequenceRejected(_("each file needs a name and a size")) from None
        name = PurePosixPath(raw.replace("\\", "/")).name
        if _frame_name(name) is None:
            raise SequenceRejected(_("%(name)s is not a DPX, TIFF, EXR or PNG frame")
                                   % {"name": raw[:200]})
        if size <= 0:
            raise SequenceRejected(_("%(name)s is empty (0 bytes)") % {"name": name})
        if name in seen:
            raise SequenceRejected(_("two files are named %(name)s") % {"name": name})
        seen.add(name)
        out.append((name, size))
    check_names([n for n, _size in out], rate, where="the files")
    return out


def _find(folder: Path, rate: Fraction, where: str) -> ImageSequence:
    try:
        return find_sequence(folder, rate)
    except SequenceError as exc:
        raise SequenceRejected(
            str(exc).replace(str(folder) + "/", "").replace(str(folder), where)
        ) from None


def _unpack(archive: Path, folder: Path, max_bytes: int) -> int:
    """Extract the image members, flattened; return how many."""
    count, total = 0, 0
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                if member.is_dir():
                    continue
                name = _frame_name(member.filename)
                if name is None:
                    continue
                total += member.file_size
                if total > max_bytes:
                    raise SequenceRejected(
                        _("the frames in the zip unpack to more than the upload limit")
                    )
                target = folder / name
                if target.exists():
                    raise SequenceRejected(_("the zip holds two frames named %(name)s") % {"name": name})
                with zf.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, length=1024 * 1024)
                count += 1
    except zipfile.BadZipFile as exc:
        raise SequenceRejected(_("the zip archive is damaged: %(error)s") % {"error": exc}) from None
    return count


def _master_failed(name: str, exc: Exception) -> str:
    return _("the lossless master could not be written at %(name)s: %(error)s") % {
        "name": name, "error": exc}


def _master_pix_fmt(fmt: av.VideoFormat) -> str:
    bits = max((c.bits for c in fmt.components), default=8)
    if bits <= 8:
        return "bgr0"  # FFmpeg's FFV1 has no 8-bit planar RGB (gbrp)
    if bits <= 10:
        return "gbrp10le"
    if bits <= 12:
        return "gbrp12le"
    return "gbrp16le"


def master_from_zip(archive: Path, output: Path, rate: Fraction, *, max_bytes: int,
                    progress: Progress | None = None) -> int:
    """Encode the sequence in `archive` to an FFV1 Matroska master at `output`;
    return the frame count. Raises SequenceRejected."""
    with tempfile.TemporaryDirectory(prefix="sequence-") as tmp:
        folder = Path(tmp)
        if _unpack(archive, folder, max_bytes) == 0:
            raise SequenceRejected(_("the zip holds no DPX, TIFF, EXR or PNG frames"))
        return _master_from_folder(folder, output, rate, "the zip", progress)


def master_from_files(blob: Path, members: Sequence[Sequence[object]], output: Path,
                      rate: Fraction, *, progress: Progress | None = None) -> int:
    """Encode loose frames, stored one after another in `blob` as `members` lists them
    ([[name, size], ...]), to an FFV1 Matroska master at `output`; return the frame
    count. Raises SequenceRejected."""
    pairs = check_members(members, rate)
    if blob.stat().st_size != sum(size for _name, size in pairs):
        raise SequenceRejected(_("the files add up to %(got)s bytes, not the %(want)s announced")
                               % {"got": blob.stat().st_size,
                                  "want": sum(size for _name, size in pairs)})
    with tempfile.TemporaryDirectory(prefix="sequence-") as tmp:
        folder = Path(tmp)
        with open(blob, "rb") as src:
            for name, size in pairs:
                with open(folder / name, "wb") as out:
                    left = size
                    while left:
                        chunk = src.read(min(left, 1024 * 1024))
                        if not chunk:  # pragma: no cover - the size was checked
                            raise SequenceRejected(_("the upload ended inside %(name)s")
                                                   % {"name": name})
                        out.write(chunk)
                        left -= len(chunk)
        return _master_from_folder(folder, output, rate, "the files", progress)


def _master_from_folder(folder: Path, output: Path, rate: Fraction, where: str,
                        progress: Progress | None) -> int:
    seq = _find(folder, rate, where)
    files = seq.files
    try:
        source = open_input(seq)
    except MediaError as exc:
        raise SequenceRejected(str(exc)) from None
    written = 0
    frame_time_base = Fraction(rate.denominator, rate.numerator)
    try:
        with av.open(str(output), mode="w", format="matroska") as out:
            stream = None
            size: tuple[int, int] | None = None
            frames = source.decode(video=0)
            while True:
                # A frame the decoder refuses is the scan's fault; an encoder refusal
                # is the master's, and the message says which it was.
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:
                    name = files[written].name if written < len(files) else "a frame"
                    raise SequenceRejected(_("%(name)s cannot be decoded: %(error)s")
                                           % {"name": name, "error": exc}) from None
                if size is None:
                    size = (frame.width, frame.height)
                    stream = out.add_stream("ffv1", rate=rate)
                    stream.width, stream.height = size
                    stream.pix_fmt = _master_pix_fmt(frame.format)
                    # The muxer changes stream.time_base once the header is
                    # written (Matroska: 1/1000); frames keep the rate's.
                    stream.time_base = frame_time_base
                    stream.codec_context.time_base = frame_time_base
                    stream.options = {"level": "3", "slicecrc": "1"}
                elif (frame.width, frame.height) != size:
                    raise SequenceRejected(
                        _("frames of different sizes: %(name)s is %(size)s, the first "
                          "frame %(first)s; a sequence has one frame size") % {
                            "name": files[written].name,
                            "size": f"{frame.width}x{frame.height}",
                            "first": f"{size[0]}x{size[1]}"})
                assert stream is not None
                try:
                    image = frame.reformat(format=stream.pix_fmt)
                    image.pts = written
                    image.time_base = frame_time_base
                    for packet in stream.encode(image):
                        out.mux(packet)
                except av.error.FFmpegError as exc:
                    raise SequenceRejected(_master_failed(files[written].name, exc)) from None
                written += 1
                if progress is not None:
                    progress(written, seq.count)
            if stream is not None:
                try:
                    for packet in stream.encode(None):
                        out.mux(packet)
                except av.error.FFmpegError as exc:
                    raise SequenceRejected(_master_failed(files[-1].name, exc)) from None
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    if written != seq.count:
        output.unlink(missing_ok=True)
        raise SequenceRejected(_("only %(written)s of %(count)s frames could be decoded")
                               % {"written": written, "count": seq.count})
    return written
