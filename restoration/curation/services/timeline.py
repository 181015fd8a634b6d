"""A review in editing-system terms: SMPTE timecode of frames and notes, and the
review's notes with the clip's scene cuts as an EDL (CMX 3600) or OpenTimelineIO file.

Timecode counts from the source's own start timecode (`Clip.timecode`, read by the
probe from the file's timecode track or tag), at the clip's exact frame rate. Drop-frame
follows the source: a start timecode written with ";" is drop-frame, one with ":" is
not; a source without timecode at 29.97 or 59.94 fps counts drop-frame (SMPTE's usual
choice at those rates). The arithmetic is OpenTimelineIO's (`opentime`), the library the
engine's interchange module already builds timelines with.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from opentimelineio import opentime

from gpu_worker.engine.interchange import InterchangeError, scene_timeline, write_timeline
from restoration.curation.models import Review
from restoration.models import Clip

__all__ = ["Timecode", "clip_timecode", "review_timeline_file", "TIMELINE_FORMATS"]

TIMELINE_FORMATS = {
    "edl": ("application/octet-stream", ".edl"),
    "otio": ("application/json", ".otio"),
}
DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))


@dataclass(frozen=True)
class Timecode:
    """How a clip counts timecode: its exact rate, the frame number of its frame 0
    on the timecode clock, and whether the count drops frames."""

    rate: Fraction
    origin: int
    drop_frame: bool

    @property
    def nominal_fps(self) -> int:
        return round(self.rate)

    def of(self, frame: int) -> str:
        """The SMPTE timecode of clip frame `frame`."""
        rate = float(self.rate)
        return opentime.to_timecode(
            opentime.RationalTime(self.origin + frame, rate), rate, self.drop_frame
        )


def _rate(clip: Clip) -> Fraction:
    num, _, den = (clip.fps_fraction or "").partition("/")
    if num.isdigit() and den.isdigit() and int(num) and int(den):
        return Fraction(int(num), int(den))
    return Fraction(clip.fps or 24).limit_denominator(1001)


def clip_timecode(clip: Clip) -> Timecode | None:
    """How the clip counts timecode, or None at a rate SMPTE timecode has no count for
    (a hand-cranked film transferred at, say, 28.47 fps): no timecode then, rather than
    a wrong one."""
    rate = _rate(clip)
    if not opentime.RationalTime.is_valid_timecode_rate(float(rate)):
        return None
    start = clip.timecode or ""
    drop = ";" in start if start else rate in DROP_FRAME_RATES
    drop = drop and rate in DROP_FRAME_RATES  # opentime does drop-frame at these rates only
    origin = 0
    if start:
        try:
            origin = round(opentime.from_timecode(start, float(rate)).value)
        except (ValueError, RuntimeError):
            origin = 0  # an unreadable tag: count from zero rather than fail the page
    return Timecode(rate=rate, origin=origin, drop_frame=drop)


def review_notes(review: Review) -> list[dict[str, object]]:
    """The review's notes as markers, in the excerpt clip's frame numbering."""
    start = review.excerpt_start or 0
    return [
        {
            "frame": start + note.frame,
            "text": note.text,
            "author": str(note.author) if note.author else "",
            "colour": "GREEN" if note.resolved else "RED",
        }
        for note in review.notes.select_related("author")
    ]


def review_timeline_file(review: Review, fmt: str) -> tuple[bytes, str]:
    """(file contents, file name) of the review's excerpt clip as a timeline: one event
    per scene of the clip (its analysis's cuts), the notes as markers. Raises
    InterchangeError when the review has no clip or the format is unknown."""
    if fmt not in TIMELINE_FORMATS:
        raise InterchangeError(f"unknown timeline format {fmt!r}; use edl or otio")
    # The excerpt's clip; before the excerpt is cut, a variant's own clip.
    clip = review.excerpt_clip or (review.variant.clip if review.variant_id else None)
    if clip is None or not clip.frame_count:
        raise InterchangeError("this review has no excerpt yet, so no clip to describe")
    cuts = ((clip.analysis or {}).get("scenes") or {}).get("cuts") or []
    tc = clip_timecode(clip)
    if tc is None:
        raise InterchangeError(f"{clip} runs at {float(_rate(clip)):.3f} fps, a rate SMPTE "
                               "timecode (and so an EDL) cannot count")
    reel = "".join(ch for ch in (clip.title or f"CLIP{clip.pk}").upper() if ch.isalnum())[:8]
    timeline = scene_timeline(
        [c for c in cuts if 0 < int(c) < clip.frame_count],
        clip.frame_count,
        tc.rate,
        name=f"review {review.pk}: {clip}",
        reel=reel or "AX",
        start_timecode=tc.of(0),
        notes=review_notes(review),
    )
    suffix = TIMELINE_FORMATS[fmt][1]
    with tempfile.TemporaryDirectory(prefix="timeline-") as tmp:
        path = write_timeline(timeline, Path(tmp) / f"review{suffix}")
        return path.read_bytes(), f"review-{review.pk}{suffix}"
