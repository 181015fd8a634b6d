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

__all__ = ["comb_ratio", "InterlaceDetector", "COMBED_RATIO",
           "CADENCE", "FILM_PER_CYCLE", "CadenceMap", "parse_breaks", "format_breaks"]

COMBED_RATIO = 1.0  # adjacent-line / same-field-line difference above this: combed
MIN_LINE_DIFF = 1.0 / 255  # flatter frames say nothing about combing
REPEAT_RATIO = 0.25  # a repeated field differs by under this share of a moving one
MIN_MOTION = 0.5 / 255  # below this a clip has too little motion to show a cadence
CADENCE = 5  # video frames per 3:2 cycle
FILM_PER_CYCLE = 4  # film frames per cycle
SPLICE_COMB = 2.0  # a weave combing this much pairs fields of two different shots
BREAK_COST = 2.5  # price of a change of phase, in mismatched observations
MOVING_RATIO = 0.6  # a field differing by over this share of the local motion moved
LOCAL = 7  # frames either side giving the local motion a field difference is judged by


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
    # Comb ratio of frame n's top field woven with frame n-1's bottom one (tff), and
    # of its bottom field with the previous top (bff): how a CD frame's first field
    # pairs with the BC frame's second one. n >= 1.
    weave_tff: list[float] = field(default_factory=list)
    weave_bff: list[float] = field(default_factory=list)
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
            woven = g.copy()
            woven[1::2] = self._prev[1::2]
            self.weave_tff.append(self._weave_comb(woven))
            woven = g.copy()
            woven[0::2] = self._prev[0::2]
            self.weave_bff.append(self._weave_comb(woven))
        self._prev = g
        return ratio

    @staticmethod
    def _weave_comb(woven: np.ndarray) -> float:
        ratio, adjacent = comb_ratio(woven)
        return ratio if adjacent >= MIN_LINE_DIFF else 0.0

    def combed(self) -> list[bool]:
        return [r > COMBED_RATIO and d >= MIN_LINE_DIFF
                for r, d in zip(self.combs, self.line_diffs, strict=True)]

    def cadence(self) -> dict[str, Any] | None:
        """The 3:2 pulldown found in the repeated fields, or None.

        {"pattern": "3:2", "offset": o, "field_order": "tff"|"bff", "confidence",
        "breaks": [{"frame": f, "offset": o'}, ...]}: frames n with (n - o) % 5 == 0
        are the AA frames of a cycle, until the first break, from whose frame f on
        those with (n - o') % 5 == 0 are.
        """
        if len(self.top_diffs) < 2 * CADENCE:
            return None
        best: dict[str, Any] | None = None
        for order in ("tff", "bff"):
            found = self._cadence_for(order)
            if found is not None and (best is None or found["_cost"] < best["_cost"]):
                best = found
        if best is None:
            return None
        best.pop("_cost")
        return best

    def _observations(self, order: str) -> tuple[np.ndarray, np.ndarray]:
        """Per frame n >= 1 and per field (first, second): +1 when the field repeats
        the previous frame's field of its parity, -1 when it clearly moved, 0 when the
        picture is too still to say. Index n - 1."""
        first = np.asarray(self.top_diffs if order == "tff" else self.bottom_diffs)
        second = np.asarray(self.bottom_diffs if order == "tff" else self.top_diffs)
        n = len(first)
        out = []
        for diffs in (first, second):
            obs = np.zeros(n, dtype=np.int8)
            for k in range(n):
                lo, hi = max(0, k - LOCAL), min(n, k + LOCAL + 1)
                local = float(np.median(np.concatenate([first[lo:hi], second[lo:hi]])))
                if local < MIN_MOTION:
                    continue
                if diffs[k] <= REPEAT_RATIO * local:
                    obs[k] = 1
                elif diffs[k] >= MOVING_RATIO * local:
                    obs[k] = -1
            out.append(obs)
        return out[0], out[1]

    def _cadence_for(self, order: str) -> dict[str, Any] | None:
        first_obs, second_obs = self._observations(order)
        combed = self.combed()
        weave = self.weave_tff if order == "tff" else self.weave_bff
        frames = len(self.combs)
        informative = int(np.count_nonzero(first_obs) + np.count_nonzero(second_obs))
        if informative < 2 * CADENCE:
            return None

        def cost(n: int, phase: int, cont: bool) -> float:
            c = 0.0
            if n >= 1:
                o1, o2 = int(first_obs[n - 1]), int(second_obs[n - 1])
                want1 = cont and phase == 2
                want2 = cont and phase == 4
                c += float(o1 == (-1 if want1 else 1)) + float(o2 == (-1 if want2 else 1))
            if phase in (0, 1, 4) and combed[n]:
                c += 0.5
            if phase == 3 and cont and weave[n - 1] > COMBED_RATIO:
                # A CD frame's first field must weave cleanly with the field before;
                # strong combing there is a splice that kept the phase: a break.
                c += BREAK_COST + 0.5 if weave[n - 1] > SPLICE_COMB else 0.5
            return c

        # Viterbi over the phase of every frame.
        inf = float("inf")
        total = [cost(0, ph, False) for ph in range(CADENCE)]
        back: list[list[tuple[int, bool]]] = []
        for n in range(1, frames):
            new, links = [], []
            for ph in range(CADENCE):
                prev = (ph - 1) % CADENCE
                options = [(total[prev] + cost(n, ph, True), prev, False)]
                jump = min(range(CADENCE), key=lambda q: total[q])
                options.append((total[jump] + BREAK_COST + cost(n, ph, False), jump, True))
                value, src, broke = min(options, key=lambda o: o[0])
                new.append(value if value < inf else inf)
                links.append((src, broke))
            total = new
            back.append(links)
        phase = int(np.argmin(total))
        path_cost = float(total[phase])
        phases = [phase]
        starts: list[int] = []
        for n in range(frames - 1, 0, -1):
            src, broke = back[n - 1][phase]
            if broke:
                starts.append(n)
            phase = src
            phases.append(phase)
        phases.reverse()
        starts.reverse()
        # The repeats the path explains must be there, in numbers, and few others.
        segment_start = set(starts)
        hits = misses = wrong = 0
        for n in range(1, frames):
            cont = n not in segment_start
            for obs, want in ((first_obs[n - 1], cont and phases[n] == 2),
                              (second_obs[n - 1], cont and phases[n] == 4)):
                if want:
                    hits += int(obs == 1)
                    misses += int(obs == -1)
                elif obs == 1:
                    wrong += 1
        if hits < 2 or hits < 4 * (misses + wrong) or len(starts) > frames / (4 * CADENCE):
            return None
        expected = hits + misses
        return {"pattern": "3:2", "offset": int((-phases[0]) % CADENCE), "field_order": order,
                "confidence": round(float(hits / max(1, expected + wrong)), 3),
                "breaks": [{"frame": int(n), "offset": int((n - phases[n]) % CADENCE)}
                           for n in starts],
                "_cost": path_cost}

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


def parse_breaks(text: str) -> list[tuple[int, int]]:
    """The cadence breaks of an `ivtc` spec, "frame:offset, frame:offset" (frames
    increasing, above 0; offsets 0-4), as [(frame, offset)]. Raises ValueError."""
    out: list[tuple[int, int]] = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        frame_text, sep, offset_text = part.partition(":")
        try:
            frame, offset = int(frame_text), int(offset_text)
        except ValueError:
            raise ValueError(f"{part!r} is not frame:offset (e.g. 1234:2)") from None
        if not sep or frame <= 0 or not 0 <= offset < CADENCE:
            raise ValueError(f"{part!r}: the frame must be above 0 and the offset 0-4")
        if out and frame <= out[-1][0]:
            raise ValueError(f"{part!r}: breaks must be in increasing frame order")
        out.append((frame, offset))
    return out


def format_breaks(breaks: list[dict[str, int]] | list[tuple[int, int]]) -> str:
    """The `ivtc` breaks parameter for the analysis's breaks (or (frame, offset) pairs)."""
    pairs = [(b["frame"], b["offset"]) if isinstance(b, dict) else tuple(b) for b in breaks]
    return ",".join(f"{int(f)}:{int(o)}" for f, o in pairs)


# Where in time a film frame sits, in quarters of a video frame from the frame that
# makes it, by that frame's phase: the film frames of a cycle starting at video frame
# c start at c, c + 5/4, c + 10/4 and c + 15/4 (made by the frames c, c+1, c+3, c+4).
FILM_TIME = {0: 0, 1: 1, 3: -2, 4: -1}


@dataclass(frozen=True)
class CadenceMap:
    """The phase of every video frame of a pulled-down clip: `offset` from frame 0,
    and a new offset from each break's frame on.

    Video frame n makes one film frame unless it is a BC frame (phase 2) or a CD
    frame whose BC frame lies before a break (its film frame's other field was cut
    away: an orphan field, dropped rather than shown combed or doubled). AA, BB and DD
    frames make their own film frame; a CD frame makes C from its first field and the
    previous frame's second one. Without breaks that is four film frames per five.
    """

    offset: int = 0
    breaks: tuple[tuple[int, int], ...] = ()

    def _segment(self, n: int) -> tuple[int, int]:
        """(first frame, offset) of the stretch that frame n lies in."""
        start, offset = 0, self.offset
        for frame, o in self.breaks:
            if frame > n:
                break
            start, offset = frame, o
        return start, offset

    def phase(self, n: int) -> int:
        _, offset = self._segment(n)
        return (n - offset) % CADENCE

    def makes_film(self, n: int) -> bool:
        start, offset = self._segment(n)
        ph = (n - offset) % CADENCE
        return ph in (0, 1, 4) or (ph == 3 and n > start)

    def films_before(self, n: int) -> int:
        """How many film frames video frames [0, n) make."""
        if n <= 0:
            return 0
        bounds = [0] + [f for f, _ in self.breaks] + [None]
        offsets = [self.offset] + [o for _, o in self.breaks]
        total = 0
        for k, offset in enumerate(offsets):
            lo, hi = bounds[k], bounds[k + 1]
            if lo >= n:
                break
            hi = n if hi is None else min(hi, n)
            for ph in (0, 1, 3, 4):
                total += _count_residue(lo, hi, (offset + ph) % CADENCE)
            if (lo - offset) % CADENCE == 3:
                total -= 1  # the stretch's first frame is an orphan CD frame
        return total

    def output_range(self, start: int, end: int) -> tuple[int, int]:
        return self.films_before(start), self.films_before(end)


def _count_residue(lo: int, hi: int, residue: int) -> int:
    """How many n in [lo, hi) have n % CADENCE == residue."""
    if hi <= lo:
        return 0
    return (hi - residue + CADENCE - 1) // CADENCE - (lo - residue + CADENCE - 1) // CADENCE
