"""Scene cuts and review notes for editing and grading systems: OpenTimelineIO and
CMX 3600 EDL.

A restored clip's shots become one video track of clips, each the source range of a
scene (`scenes.scene_ranges`), timed in the clip's own timecode when it has one
(`io.MediaInfo.timecode`), so an editor can conform the restored master against the
original. Frame-anchored notes (a review's notes) become markers. OpenTimelineIO
(the Academy Software Foundation's library) builds the timeline and writes both
formats: `.otio` natively, `.edl` through its CMX 3600 adapter (markers become
`* LOC:` comment lines, which Resolve and Avid read as markers).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
from opentimelineio import opentime

from gpu_worker.engine.scenes import scene_ranges

__all__ = ["scene_timeline", "write_timeline", "read_timeline", "InterchangeError"]

FORMATS = {".otio": "otio_json", ".edl": "cmx_3600"}


class InterchangeError(ValueError):
    """A timeline cannot be written or read as asked; the message says why."""


def scene_timeline(cuts: Sequence[int], frame_count: int, rate: Fraction | float, *,
                   name: str = "restored", media_path: str | os.PathLike[str] | None = None,
                   reel: str = "AX", start_timecode: str | None = None,
                   notes: Iterable[Mapping[str, Any]] = ()) -> otio.schema.Timeline:
    """A timeline with one clip per scene of a `frame_count`-frame clip at `rate`.

    cuts: frame numbers starting new scenes (the first frame never is one).
    start_timecode: the source timecode of frame 0 (default 00:00:00:00): the source
        side of every event counts from it, so the shots line up with the original;
        the EDL's record side counts from 00:00:00:00 (what the CMX adapter writes).
    notes: {"frame": n, "text": "...", optional "author"/"colour"} markers.
    """
    if frame_count <= 0:
        raise InterchangeError("the clip has no frames")
    fps = float(rate)
    if start_timecode:
        try:
            origin = opentime.from_timecode(start_timecode, fps).value
        except (ValueError, RuntimeError) as exc:
            raise InterchangeError(f"timecode {start_timecode!r}: {exc}") from None
    else:
        origin = 0.0
    timeline = otio.schema.Timeline(name=name)
    timeline.global_start_time = opentime.RationalTime(origin, fps)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    ref = (otio.schema.ExternalReference(target_url=Path(media_path).resolve().as_uri())
           if media_path else otio.schema.MissingReference())
    clips = []
    for k, (a, b) in enumerate(scene_ranges(sorted(set(int(c) for c in cuts)), frame_count)):
        clip = otio.schema.Clip(
            name=f"{reel} shot {k + 1:03d}",
            media_reference=ref.clone() if hasattr(ref, "clone") else ref,
            source_range=opentime.TimeRange(opentime.RationalTime(origin + a, fps),
                                            opentime.RationalTime(b - a, fps)))
        clip.metadata["cmx_3600"] = {"reel": reel}
        track.append(clip)
        clips.append((a, b, clip))
    for note in notes:
        frame = int(note["frame"])
        owner = next((c for a, b, c in clips if a <= frame < b), None)
        if owner is None:
            raise InterchangeError(f"note at frame {frame} is outside the clip "
                                   f"(0..{frame_count - 1})")
        owner.markers.append(otio.schema.Marker(
            name=str(note.get("text", "")).replace("\n", " ").strip(),
            marked_range=opentime.TimeRange(opentime.RationalTime(origin + frame, fps),
                                            opentime.RationalTime(0, fps)),
            color=str(note.get("colour", otio.schema.MarkerColor.RED)).upper(),
            metadata={"author": note["author"]} if note.get("author") else {}))
    return timeline


def write_timeline(timeline: otio.schema.Timeline, path: str | os.PathLike[str]) -> Path:
    """Write `.otio` (OpenTimelineIO JSON) or `.edl` (CMX 3600) by the suffix."""
    path = Path(path)
    adapter = FORMATS.get(path.suffix.lower())
    if adapter is None:
        raise InterchangeError(f"unsupported timeline file {path.suffix or '(none)'!r}; "
                               f"use {', '.join(FORMATS)}")
    otio.adapters.write_to_file(timeline, str(path), adapter_name=adapter)
    return path


def read_timeline(path: str | os.PathLike[str], rate: float | None = None
                  ) -> otio.schema.Timeline:
    """Read a `.otio` or `.edl` back (an EDL needs the frame rate it was cut at)."""
    path = Path(path)
    adapter = FORMATS.get(path.suffix.lower())
    if adapter is None:
        raise InterchangeError(f"unsupported timeline file {path.suffix!r}")
    extra = {"rate": rate} if adapter == "cmx_3600" and rate else {}
    return otio.adapters.read_from_file(str(path), adapter_name=adapter, **extra)
