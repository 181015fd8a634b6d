"""Frame-rate arithmetic for rate-changing operators (frame interpolation).

A rate-changing operator multiplies the frame rate by a ratio r = p/q (a Fraction:
r >= 1 for interpolation, 4/5 for inverse telecine, where input frames with no m
make no output). Output frame m sits at position m / r on the input's frame axis
(input frame i occupies positions [i, i+1)), so it is made from input frame i = floor(m / r) and
the next one, at phase m / r - i in [0, 1). This numbering depends on nothing but m,
so:

* the outputs of input frames [start, end) are m in [ceil(start·r), ceil(end·r));
* a film rendered in segments has exactly the frames of one render in one piece
  (the ranges tile), and the count is known before anything is rendered, which the
  site needs to check rendered frame counts;
* an output frame's timestamp is input i's timestamp plus the phase times input i's
  duration, exact in a time base p times finer than the input's, so 24000/1001
  sources and variable frame rates keep their timing and the audio stays in sync.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

__all__ = ["as_rate", "target_rate", "output_range", "output_count", "output_rate_ratio",
           "MAX_TIME_BASE_DEN"]

# MP4's media time scale is a 32-bit number; finer time bases are rounded instead.
MAX_TIME_BASE_DEN = 2**31 - 1

# Broadcast rates written as decimals (59.94) mean n·1000/1001 exactly.
_NTSC_BASES = (24, 30, 48, 60, 72, 96, 120, 144, 240)


def as_rate(value: Any) -> Fraction:
    """A frame rate as an exact Fraction, from a Fraction, "24000/1001", 23.976 or 24.

    Decimal forms of the 1000/1001 broadcast rates (23.976, 29.97, 59.94, ...) are
    read as the exact fractions they stand for.
    """
    if isinstance(value, Fraction):
        rate = value
    elif isinstance(value, str):
        rate = Fraction(value.strip())
    elif isinstance(value, int):
        rate = Fraction(value)
    else:
        x = float(value)
        if not math.isfinite(x) or x <= 0:
            raise ValueError(f"frame rate {value!r} is not a positive number")
        rate = None
        for base in _NTSC_BASES:
            ntsc = Fraction(base * 1000, 1001)
            if abs(x - float(ntsc)) < 0.0051:
                rate = ntsc
                break
        if rate is None:
            rate = Fraction(x).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"frame rate {value!r} is not positive")
    return rate


def target_rate(fps: float) -> Fraction:
    """The exact rate a target-fps parameter stands for (59.94 -> 60000/1001)."""
    return as_rate(fps)


def output_range(start: int, end: int, ratio: Fraction) -> tuple[int, int]:
    """Output frames [m0, m1) made from input frames [start, end) at rate ratio r."""
    return math.ceil(start * ratio), math.ceil(end * ratio)


def output_count(start: int, end: int, ratio: Fraction) -> int:
    m0, m1 = output_range(start, end, ratio)
    return m1 - m0


def output_rate_ratio(ratios: Iterable[Fraction]) -> Fraction:
    out = Fraction(1)
    for r in ratios:
        out *= r
    return out
