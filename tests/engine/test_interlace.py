"""Interlace, field order and 3:2 cadence detection on generated pictures."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.engine import interlace
from gpu_worker.engine import metrics as M
from tests.media_factory import moving_pictures, weave


def summary_of(frames: list[np.ndarray], stream: str = "unknown") -> dict:
    det = interlace.InterlaceDetector()
    for f in frames:
        det.push(M.gray(f))
    return det.summary(stream)


def pulldown(film: list[np.ndarray], first: str = "tff") -> list[np.ndarray]:
    """3:2 pulldown by hand: fields A A B B B C C D D D, woven in pairs."""
    fields = []
    for k, picture in enumerate(film):
        fields += [picture] * (2 if k % 2 == 0 else 3)
    first_rows = 0 if first == "tff" else 1
    frames = []
    for j in range(len(fields) // 2):
        frame = fields[2 * j + 1].copy()
        frame[first_rows::2] = fields[2 * j][first_rows::2]
        frames.append(frame)
    return frames


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_interlaced_pictures_and_their_field_order(order):
    report = summary_of(weave(moving_pictures(24), order))
    assert report["interlaced"] and report["combed_fraction"] == 1.0
    assert report["picture_field_order"] == order == report["field_order"]
    assert report["telecine"] is None


def test_progressive_pictures_are_not_interlaced():
    report = summary_of(moving_pictures(12))
    assert not report["interlaced"] and report["combed_fraction"] == 0.0
    assert report["picture_field_order"] == "progressive"
    assert report["telecine"] is None


def test_stream_order_is_used_when_the_pictures_cannot_tell():
    still = [moving_pictures(1)[0]] * 12
    report = summary_of(still, "bff")
    assert report["picture_field_order"] == "progressive"
    assert report["field_order"] == "bff" and report["stream_field_order"] == "bff"


@pytest.mark.parametrize("order", ["tff", "bff"])
@pytest.mark.parametrize("skip", [0, 1, 2, 3, 4])
def test_pulldown_cadence_phase_and_order(order, skip):
    frames = pulldown(moving_pictures(32, step=5), order)[skip:]
    tc = summary_of(frames)["telecine"]
    assert tc is not None and tc["pattern"] == "3:2"
    assert tc["field_order"] == order
    assert tc["offset"] == (-skip) % 5
    # The AA frame of a cycle is a whole film frame, the BC frame is combed.
    assert interlace.comb_ratio(M.gray(frames[tc["offset"]]))[0] < 1.0
    assert interlace.comb_ratio(M.gray(frames[tc["offset"] + 2]))[0] > 1.0


def test_repeated_whole_frames_are_not_pulldown():
    pictures = moving_pictures(16, step=5)
    frames = [pictures[k // 5 * 4 + min(k % 5, 3)] for k in range(20)]  # A B C D D
    assert summary_of(frames)["telecine"] is None


@pytest.mark.parametrize("offset", range(5))
def test_film_source_gives_every_film_frame_once_in_order(offset):
    film = pulldown_labels(offset, 60)
    got = [film_of(film, interlace.film_source(i, offset)) for i in range(60) if i % 5 != 4]
    got = [g for g in got if g is not None]
    assert got == sorted(set(got)) and got == list(range(got[0], got[0] + len(got)))
    for i in range(60):
        if i % 5 != 4:
            a, b = interlace.film_source(i, offset)
            assert i - 1 <= min(a, b) and max(a, b) <= i + 1


def pulldown_labels(offset: int, n: int) -> list[tuple[int, int]]:
    """(first field's film frame, second field's) of video frames 0..n-1 whose AA
    frames are at offset (mod 5); film frames numbered from the cycle at offset - 5."""
    out = []
    for i in range(n):
        cycle, pos = divmod(i - offset + 5, 5)
        a = 4 * cycle
        out.append([(a, a), (a + 1, a + 1), (a + 1, a + 2), (a + 2, a + 3), (a + 3, a + 3)][pos])
    return out


def film_of(labels: list[tuple[int, int]], src: tuple[int, int]) -> int | None:
    first, second = src
    if min(first, second) < 0 or max(first, second) >= len(labels):
        return None
    a, b = labels[first][0], labels[second][1]
    assert a == b, f"fields of two film frames: {src}"
    return a
