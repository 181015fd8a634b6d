"""Streaming scene-cut detection (gpu_worker.engine.scenes)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gpu_worker.engine import io, scenes
from tests.conftest import media_file


def _frames(relative: str, n: int, size=(160, 120)) -> list[np.ndarray]:
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA)
            for f in io.read_frames(media_file(relative), end=n)]


def test_finds_cuts_between_different_real_clips():
    a = _frames("clean/cockatoo_720p.mp4", 30)
    b = _frames("old_film/muybridge_buffalo.mp4", 30)
    c = _frames("old_film/roundhay_garden_scene.mp4", 30)
    assert scenes.detect_cuts(a + b + c) == [30, 60]


@pytest.mark.parametrize("relative", ["old_film/muybridge_buffalo.mp4",
                                      "old_film/roundhay_garden_scene.mp4"])
def test_no_false_cuts_on_flickery_old_film(relative):
    assert scenes.detect_cuts(_frames(relative, 120)) == []


def test_strong_exposure_flicker_is_not_a_cut():
    # Exaggerate the film's own flicker: random gain and offset on every frame.
    rng = np.random.default_rng(3)
    frames = [np.clip(f * rng.uniform(0.55, 1.45) + rng.uniform(-40, 40), 0, 255)
              .astype(np.uint8) for f in _frames("old_film/muybridge_buffalo.mp4", 90)]
    detector = scenes.SceneCutDetector()
    assert [detector.push(f) for f in frames].count(True) == 0
    assert max(detector.scores) < detector.threshold


def test_plain_pixel_difference_would_have_cut_the_flicker():
    # The same flicker that the detector ignores is large in raw pixel terms.
    rng = np.random.default_rng(3)
    frames = [np.clip(f * rng.uniform(0.55, 1.45) + rng.uniform(-40, 40), 0, 255)
              for f in _frames("old_film/muybridge_buffalo.mp4", 30)]
    jumps = [np.abs(frames[i] - frames[i - 1]).mean() for i in range(1, 30)]
    assert max(jumps) > 30


def test_push_reports_cut_on_first_frame_of_new_scene_and_respects_min_length():
    rng = np.random.default_rng(0)
    shots = [rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for _ in range(3)]
    stream = [shots[0]] * 10 + [shots[1]] * 2 + [shots[2]] * 10
    detector = scenes.SceneCutDetector(min_scene_len=4)
    flags = [detector.push(cv2.resize(f, (64, 48), interpolation=cv2.INTER_NEAREST))
             for f in stream]
    # Cut at 10; the cut at 12 comes only 2 frames later and is ignored.
    assert [i for i, f in enumerate(flags) if f] == [10]
    assert flags[0] is False


def test_black_frames_are_not_cuts_among_themselves():
    black = np.zeros((48, 64, 3), np.uint8)
    assert scenes.detect_cuts([black] * 10) == []


def test_scene_ranges():
    assert list(scenes.scene_ranges([30, 10, 0, 50], 40)) == [(0, 10), (10, 30), (30, 40)]
    assert list(scenes.scene_ranges([], 5)) == [(0, 5)]


def test_plan_segments_follows_cuts_merges_short_scenes_and_splits_long_ones():
    plan = scenes.plan_segments([100, 150, 700, 3700], 4000, min_frames=200,
                                max_frames=1000)
    assert plan[0] == (0, 700)  # 0-100 and 100-150 are too short alone: merged
    assert plan[1:4] == [(700, 1700), (1700, 2700), (2700, 3700)]  # 3000 frames in 3
    assert plan[-1] == (3700, 4000)
    # Contiguous, complete, within bounds.
    assert all(a[1] == b[0] for a, b in zip(plan, plan[1:], strict=False))
    assert plan[0][0] == 0 and plan[-1][1] == 4000
    assert all(e - s <= 1000 for s, e in plan)


def test_plan_segments_short_tail_joins_previous():
    assert scenes.plan_segments([300], 350, min_frames=200, max_frames=1000) == [(0, 350)]
    assert scenes.plan_segments([], 0) == []
