"""Every clean clip of the shared media, loaded the same way for every benchmark.

The quality benchmarks score restorations against clean originals. They use all of
`../shared/media/clean` and `../shared/media/clean_more` (none of it was used to
train or tune a method of the project, see docs/models.md), each clip as a short run
of RGB frames at a modest width so that a CPU run of every method stays within
minutes:

- videos: `frames` consecutive frames from 10 % into the clip (past fades-in);
- folders of PNG frames: their first `frames` frames, in natural order;
- a pair of film frames (`15_film_pair…`): both frames;
- stills: the picture shown for `still_frames` frames (a static shot; temporal
  operators therefore see the same picture several times, as they would on a
  locked-off shot of a film).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gpu_worker.engine import io

REPO = Path(__file__).resolve().parents[2]
MEDIA = Path(os.environ.get("REEL_ARENA_SHARED_MEDIA", REPO.parent / "shared" / "media"))
VIDEO_SUFFIXES = {".mp4", ".mkv", ".mpg", ".mov", ".webm", ".avi"}
STILL_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


@dataclass
class CleanClip:
    name: str
    frames: list[np.ndarray]
    fps: float
    kind: str  # "video", "frames" or "still"

    @property
    def size(self) -> str:
        h, w = self.frames[0].shape[:2]
        return f"{w}x{h}"


def _even(n: float) -> int:
    return max(2, int(round(n / 2)) * 2)


def fit_width(img: np.ndarray, width: int) -> np.ndarray:
    """`img` scaled down (area) to at most `width` pixels wide, even dimensions."""
    h, w = img.shape[:2]
    if w <= width:
        return img[: h - h % 2, : w - w % 2]
    return cv2.resize(img, (_even(width), _even(h * width / w)), interpolation=cv2.INTER_AREA)


def _natural_key(p: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _video(path: Path, frames: int, width: int) -> CleanClip:
    info = io.probe(path)
    start = int(info.frame_count * 0.1) if info.frame_count > frames * 2 else 0
    out = [fit_width(f, width) for f in io.read_frames(path, start=start, end=start + frames)]
    return CleanClip(path.stem, out, float(info.fps), "video")


def clip_paths(media: Path = MEDIA) -> list[Path]:
    """The clean clips in a fixed order: `clean` first, then `clean_more`."""
    paths: list[Path] = []
    for folder in (media / "clean", media / "clean_more"):
        if folder.is_dir():
            paths += sorted(p for p in folder.iterdir()
                            if p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES | STILL_SUFFIXES)
    return paths


def load(path: Path, *, frames: int, width: int, still_frames: int = 6) -> CleanClip:
    if path.is_dir():
        images = sorted((p for p in path.iterdir() if p.suffix.lower() in STILL_SUFFIXES),
                        key=_natural_key)[:frames]
        return CleanClip(path.name, [fit_width(_read_rgb(p), width) for p in images], 24.0,
                         "frames")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _video(path, frames, width)
    still = fit_width(_read_rgb(path), width)
    return CleanClip(path.stem, [still.copy() for _ in range(still_frames)], 24.0, "still")


def load_all(*, frames: int = 12, width: int = 480, names: list[str] | None = None,
             media: Path = MEDIA) -> list[CleanClip]:
    """Every clean clip (or those whose name contains one of `names`)."""
    paths = clip_paths(media)
    if names:
        paths = [p for p in paths if any(n in p.name for n in names)]
    if not paths:
        raise SystemExit(f"no clean media under {media}")
    return [load(p, frames=frames, width=width) for p in paths]
