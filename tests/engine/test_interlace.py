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


def spliced(order: str, cut: int, skip: int) -> list[np.ndarray]:
    a = pulldown(moving_pictures(32, step=5, seed=1), order)[:cut]
    b = pulldown(moving_pictures(32, step=-4, seed=2), order)[skip:]
    return a + b


@pytest.mark.parametrize("order", ["tff", "bff"])
@pytest.mark.parametrize(("cut", "skip"), [(12, 0), (13, 4), (14, 1), (11, 2)])
def test_a_cadence_break_is_reported_with_its_new_phase(order, cut, skip):
    tc = summary_of(spliced(order, cut, skip))["telecine"]
    assert tc is not None and tc["field_order"] == order and tc["offset"] == 0
    assert len(tc["breaks"]) == 1
    brk = tc["breaks"][0]
    # The first frames after a splice can often be read in either phase (whole film
    # frames either way); the break lands within two frames and the phase after it is
    # the spliced stream's.
    assert abs(brk["frame"] - cut) <= 2
    assert brk["offset"] == (cut - skip) % 5


def test_a_splice_that_keeps_the_phase_is_a_break_where_fields_would_mix():
    # Cut after a BC frame, spliced on a CD frame: the phase runs on, but weaving the
    # CD frame with the BC frame before would pair two shots' fields.
    tc = summary_of(spliced("tff", 13, 3))["telecine"]
    assert tc["breaks"] == [{"frame": 13, "offset": 0}]


def test_no_breaks_in_an_unbroken_pulldown():
    assert summary_of(pulldown(moving_pictures(48, step=5), "tff"))["telecine"]["breaks"] == []


@pytest.mark.parametrize("breaks", [(), ((7, 4),), ((3, 1), (9, 0), (10, 3))])
@pytest.mark.parametrize("offset", range(5))
def test_cadence_map_counts_the_film_frames_each_frame_makes(offset, breaks):
    cmap = interlace.CadenceMap(offset, breaks)
    made = [cmap.makes_film(n) for n in range(40)]
    for n in range(41):
        assert cmap.films_before(n) == sum(made[:n])
    starts = {0} | {f for f, _ in breaks}
    for n in range(40):
        if cmap.phase(n) == 2 or (cmap.phase(n) == 3 and n in starts):
            assert not made[n]  # a BC frame, or a CD frame that lost its BC frame
        else:
            assert made[n]
    if not breaks:  # four film frames in every five video frames
        assert cmap.films_before(offset + 35) - cmap.films_before(offset) == 28


def test_breaks_text_round_trip_and_errors():
    assert interlace.parse_breaks(" 12:3, 40:0 ") == [(12, 3), (40, 0)]
    assert interlace.format_breaks([{"frame": 12, "offset": 3}]) == "12:3"
    assert interlace.parse_breaks("") == []
    for bad in ("12", "12:5", "0:1", "12:1,12:2", "a:b"):
        with pytest.raises(ValueError):
            interlace.parse_breaks(bad)
