"""Interlacing and telecine: detection from the pictures, and the field arithmetic the
`deinterlace` and `ivtc` operators share. numpy only (no torch), so the analysis can
use it.

A video frame of a tape transfer holds two fields, the even lines (top field) and the
odd lines (bottom field), captured 1/50 or 1/59.94 s apart; the first one in time is
the top field for "tff" material, the bottom one for "bff" (all DV). Film transferred
to NTSC video by 3:2 pulldown shows film frames A B C D as the fields
AA BB BC CD DD: five video frames per four film frames, two of them mixing two film
frames, and one field of each parity repeated per cycle.

Detection, per frame, on the full vertical resolution (fields live in adjacent lines,
so any vertical scaling destroys them):

* combing: the mean difference between adjacent lines (which belong to different
  fields) over the mean difference between lines two apart (same field). A
  progressive picture changes smoothly, so adjacent lines differ less (about half);
  a frame whose fields show different moments differs more between adjacent lines.
* field order: in time order the fields of tff material run T0 B0 T1 B1, so B(n-1)
  and T(n) are half a frame apart while T(n-1) and B(n) are one and a half frames
  apart; the smaller of the two summed differences gives the order.
* 3:2 cadence: a repeated field is (nearly) identical to the field of the same parity
  in the previous frame. Over a 5-frame cycle the first field repeats at position 2
  and the second field at position 4 (counted from the AA frame), so the positions of
  the two repeats give both the phase of the cadence and which field comes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["comb_ratio", "InterlaceDetector", "film_source", "COMBED_RATIO",
           "CADENCE", "FILM_PER_CYCLE"]

COMBED_RATIO = 1.0  # adjacent-line / same-field-line difference above this: combed
MIN_LINE_DIFF = 1.0 / 255  # flatter frames say nothing about combing
REPEAT_RATIO = 0.25  # a repeated field differs by under this share of a moving one
MIN_MOTION = 0.5 / 255  # below this a clip has too little motion to show a cadence
CADENCE = 5  # video frames per 3:2 cycle
FILM_PER_CYCLE = 4  # film frames per cycle


def comb_ratio(gray: np.ndarray) -> tuple[float, float]:
    """(ratio, adjacent-line difference) of a (H, W) float frame in [0, 1]."""
    g = gray.astype(np.float32, copy=False)
    adjacent = float(np.abs(g[1:] - g[:-1]).mean())
    same_field = float(np.abs(g[2:] - g[:-2]).mean())
    return adjacent / max(same_field, 1e-6), adjacent


@dataclass
class InterlaceDetector:
    """Push grey frames (full height) one at a time; `summary()` says what was found."""

    combs: list[float] = field(default_factory=list)
    line_diffs: list[float] = field(default_factory=list)
    top_diffs: list[float] = field(default_factory=list)  # |T(n) - T(n-1)|, n >= 1
    bottom_diffs: list[float] = field(default_factory=list)
    cross_tff: float = 0.0  # sum |B(n-1) - T(n)|
    cross_bff: float = 0.0  # sum |T(n-1) - B(n)|
    _prev: np.ndarray | None = None

    def push(self, gray: np.ndarray) -> float:
        """Measure one frame; returns its comb ratio."""
        g = gray.astype(np.float32, copy=False)
        ratio, adjacent = comb_ratio(g)
        self.combs.append(ratio)
        self.line_diffs.append(adjacent)
        top, bottom = g[0::2], g[1::2]
        rows = min(top.shape[0], bottom.shape[0])
        if self._prev is not None:
            ptop, pbottom = self._prev[0::2], self._prev[1::2]
            self.top_diffs.append(float(np.abs(top - ptop).mean()))
            self.bottom_diffs.append(float(np.abs(bottom - pbottom).mean()))
            self.cross_tff += float(np.abs(pbottom[:rows] - top[:rows]).mean())
            self.cross_bff += float(np.abs(ptop[:rows] - bottom[:rows]).mean())
        self._prev = g
        return ratio

    def combed(self) -> list[bool]:
        return [r > COMBED_RATIO and d >= MIN_LINE_DIFF
                for r, d in zip(self.combs, self.line_diffs, strict=True)]

    def cadence(self) -> dict[str, Any] | None:
        """The 3:2 pulldown found in the repeated fields, or None.

        {"pattern": "3:2", "offset": o, "field_order": "tff"|"bff", "confidence"}:
        frames n with (n - o) % 5 == 0 are the AA frames of a cycle.
        """
        if len(self.top_diffs) < 2 * CADENCE:
            return None
        # top_diffs[k] compares frame k+1 with frame k.
        frames = np.arange(1, len(self.top_diffs) + 1)
        found = {}
        for name, diffs in (("top", np.asarray(self.top_diffs)),
                            ("bottom", np.asarray(self.bottom_diffs))):
            medians = np.array([np.median(diffs[frames % CADENCE == k])
                                for k in range(CADENCE)])
            k = int(np.argmin(medians))
            others = float(np.median(np.delete(medians, k)))
            if others < MIN_MOTION or medians[k] > REPEAT_RATIO * others:
                return None
            found[name] = (k, 1.0 - float(medians[k]) / others)
        (kt, ct), (kb, cb) = found["top"], found["bottom"]
        if (kb - kt) % CADENCE == 2:
            order, first = "tff", kt
        elif (kt - kb) % CADENCE == 2:
            order, first = "bff", kb
        else:
            return None  # whole frames repeated (or something else): not pulldown
        return {"pattern": "3:2", "offset": (first - 2) % CADENCE, "field_order": order,
                "confidence": round(min(ct, cb), 3)}

    def picture_field_order(self) -> str:
        """tff or bff as the pictures show it, or unknown (too little motion)."""
        lo, hi = sorted((self.cross_tff, self.cross_bff))
        n = max(1, len(self.top_diffs))
        if hi / n < MIN_MOTION or lo > 0.9 * hi:
            return "unknown"
        return "tff" if self.cross_tff < self.cross_bff else "bff"

    def summary(self, stream_field_order: str = "unknown") -> dict[str, Any]:
        """The report's "interlace" section.

        field_order is what the operators should use: the pictures' when they show
        it (stream flags of old transfers are often wrong), else the stream's.
        """
        combed = self.combed()
        fraction = sum(combed) / max(1, len(combed))
        telecine = self.cadence()
        if telecine:
            picture = telecine["field_order"]
        elif fraction >= 0.05:
            picture = self.picture_field_order()
        else:
            picture = "progressive"  # no combing: nothing to tell the order by
        interlaced = telecine is None and (
            fraction >= 0.2 or stream_field_order in ("tff", "bff", "interlaced")
            and fraction >= 0.05)
        order = picture if picture in ("tff", "bff") else (
            stream_field_order if stream_field_order in ("tff", "bff") else "tff")
        return {
            "stream_field_order": stream_field_order,
            "picture_field_order": picture,
            "field_order": order,
            "combed_fraction": round(fraction, 4),
            "interlaced": bool(interlaced),
            "telecine": telecine,
        }


def film_source(index: int, offset: int) -> tuple[int, int]:
    """Which video frames the inverse telecine takes the film frame of output slot
    `index` from: (frame giving the first field, frame giving the second field).

    The rate stage (4/5, see rate.py) lets every input frame i with i % 5 != 4 make
    one output; the n-th of those makes the n-th film frame. Film frames in a cycle
    starting at c (c % 5 == offset) are AA = c, BB = c + 1, C = first field of c + 3
    with second field of c + 2, DD = c + 4 (the BC frame, c + 2, makes none by itself).
    Both sequences have four members per five frames from frame 0 on, so the film
    frame of slot i is at most one frame later than i.
    """
    n = FILM_PER_CYCLE * (index // CADENCE) + index % CADENCE
    residues = [k for k in range(CADENCE) if (k - offset) % CADENCE != 2]
    ref = CADENCE * (n // FILM_PER_CYCLE) + residues[n % FILM_PER_CYCLE]
    if (ref - offset) % CADENCE == 3:
        return ref, ref - 1
    return ref, ref
