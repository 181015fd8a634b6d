"""Image sequences (DPX, TIFF, EXR, PNG scans): finding the frames, checking the numbering.

Film archives scan to one image file per frame. A sequence is named either by a
pattern (`frames/%06d.tif`, `scan_%d.dpx`: FFmpeg's printf-style numbering) or by its
folder (the files in it that end in a number and share one prefix and extension).
FFmpeg's image2 demuxer and muxer (through PyAV, in io.py) then read and write it, so
DPX, 8/16-bit TIFF and PNG, and half/float EXR all decode like any video, at the
depth they have.

Numbering is natural (numeric, not alphabetical: 9 before 10, with or without zero
padding). A gap in the numbering is an error that names the missing frames: FFmpeg
would stop at the first gap, and skipping silently would shorten shots and move every
later frame. A sequence has no frame rate of its own: the caller states it (default 24,
film speed).

Standard library only: the web process validates uploaded sequences with it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "ImageSequence", "SequenceError", "is_sequence_path",
           "find_sequence", "output_pattern_folder"]

IMAGE_SUFFIXES = {".dpx": "dpx", ".tif": "tiff", ".tiff": "tiff", ".exr": "exr",
                  ".png": "png"}
"""Suffix → FFmpeg codec of the image formats read and written as sequences."""

_PATTERN = re.compile(r"%(0?)(\d*)d")
_NUMBERED = re.compile(r"^(.*?)(\d+)(\.[A-Za-z0-9]+)$")


class SequenceError(ValueError):
    """The files do not form a usable sequence; the message says why."""


def is_sequence_path(path: str | os.PathLike[str]) -> bool:
    """A printf-style pattern with an image suffix, or a folder."""
    if isinstance(path, ImageSequence):
        return True
    text = os.fspath(path)
    if _PATTERN.search(Path(text).name) and Path(text).suffix.lower() in IMAGE_SUFFIXES:
        return True
    return Path(text).is_dir()


def output_pattern_folder(path: str | os.PathLike[str]) -> Path | None:
    """The folder of an image-sequence output pattern, or None for a video file."""
    text = os.fspath(path)
    if _PATTERN.search(Path(text).name) and Path(text).suffix.lower() in IMAGE_SUFFIXES:
        return Path(text).parent
    return None


@dataclass
class ImageSequence(os.PathLike):
    """A numbered image sequence and its frame rate; usable wherever the engine takes
    a media path (io.probe, io.read_frames, pipeline.render).

    pattern: printf-style (`dir/%06d.tif`); start: the first number; count: frames;
    numbers: every frame number found, in order.
    """

    pattern: str
    rate: Fraction = Fraction(24)
    start: int = 0
    count: int = 0
    codec: str = ""
    numbers: list[int] = field(default_factory=list)

    def __fspath__(self) -> str:
        return self.pattern

    def __str__(self) -> str:
        return self.pattern

    @property
    def files(self) -> list[Path]:
        return [Path(self.pattern % n) for n in self.numbers]

    def ffmpeg_options(self) -> dict[str, str]:
        return {"framerate": f"{self.rate.numerator}/{self.rate.denominator}",
                "start_number": str(self.start)}


def _natural_key(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def find_sequence(path: str | os.PathLike[str], rate: Fraction | int | str = 24
                  ) -> ImageSequence:
    """The sequence a pattern or folder names, checked: at least one frame, one image
    format, no gap in the numbering. Raises SequenceError."""
    if isinstance(path, ImageSequence):
        return path
    rate = Fraction(rate)
    if rate <= 0:
        raise SequenceError(f"frame rate {rate} is not positive")
    text = os.fspath(path)
    p = Path(text)
    if p.is_dir():
        pattern = _pattern_of_folder(p)
    else:
        pattern = text
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise SequenceError(f"{p.name}: not an image sequence pattern (use one of "
                                f"{', '.join(sorted(IMAGE_SUFFIXES))})")
    folder, name = Path(pattern).parent, Path(pattern).name
    match = _PATTERN.search(name)
    if match is None:
        raise SequenceError(f"{name}: no frame number in the pattern (e.g. %06d)")
    padded, width = match.group(1) == "0", int(match.group(2) or 0)
    digits = rf"\d{{{width}}}" if padded and width else r"\d+"
    regex = re.compile("^" + re.escape(name[:match.start()]) + f"({digits})"
                       + re.escape(name[match.end():]) + "$")
    if not folder.is_dir():
        raise SequenceError(f"folder {folder} does not exist")
    numbers = []
    for entry in os.listdir(folder):
        m = regex.match(entry)
        if m and (padded or not (len(m.group(1)) > 1 and m.group(1).startswith("0"))):
            numbers.append(int(m.group(1)))
    numbers.sort()
    if not numbers:
        raise SequenceError(f"no file matches {pattern}")
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise SequenceError(f"gaps in the numbering: {len(missing)} frame(s) missing "
                            f"between {numbers[0]} and {numbers[-1]} ({shown}); supply "
                            "them or split the sequence there")
    return ImageSequence(pattern=str(folder / name), rate=rate, start=numbers[0],
                         count=len(numbers), codec=IMAGE_SUFFIXES[Path(name).suffix.lower()],
                         numbers=numbers)


def _pattern_of_folder(folder: Path) -> str:
    """The printf pattern of the numbered images in a folder."""
    groups: dict[tuple[str, str], list[str]] = {}
    for entry in sorted(os.listdir(folder), key=_natural_key):
        m = _NUMBERED.match(entry)
        if m and m.group(3).lower() in IMAGE_SUFFIXES and not entry.startswith("."):
            groups.setdefault((m.group(1), m.group(3)), []).append(m.group(2))
    if not groups:
        raise SequenceError(f"{folder}: no numbered DPX, TIFF, EXR or PNG images")
    if len(groups) > 1:
        names = ", ".join(f"{a}#{b}" for a, b in groups)
        raise SequenceError(f"{folder}: more than one sequence ({names}); give a pattern")
    (prefix, suffix), numbers = next(iter(groups.items()))
    widths = {len(n) for n in numbers}
    if len(widths) == 1:  # one width: %0Nd matches exactly these (padded or not)
        spec = f"%0{widths.pop()}d"
    elif any(n.startswith("0") and len(n) > 1 for n in numbers):
        raise SequenceError(f"{folder}: the frame numbers are padded to different widths")
    else:
        spec = "%d"  # 1, 2, ... 10, 11: unpadded
    return str(folder / f"{prefix.replace('%', '%%')}{spec}{suffix}")
