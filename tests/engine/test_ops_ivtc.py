"""Inverse telecine: the film frames of a 3:2 pulldown come back exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from gpu_worker.engine import io, pipeline
from gpu_worker.engine.ops.ivtc import Ivtc
from gpu_worker.engine.pipeline import FrameItem, RateStage, process_frames
from gpu_worker.engine.registry import OpContext
from gpu_worker.engine.spec import expected_output_frames, output_frame_rate
from tests.media_factory import make_telecined, moving_pictures


def items(frames: list[np.ndarray]) -> list[FrameItem]:
    return [FrameItem(index=i, pts=i * 1001, duration=1001, scene=0,
                      tensor=torch.from_numpy(f.transpose(2, 0, 1).astype(np.float32) / 255))
            for i, f in enumerate(frames)]


def ivtc(frames: list[np.ndarray], offset: int, order: str = "tff") -> list[FrameItem]:
    op = Ivtc(Ivtc.validate_params({"offset": offset, "field_order": order}),
              OpContext(rate=Fraction(30000, 1001)))
    stage = RateStage(op, op.rate_ratio(op.p, Fraction(30000, 1001)), batch_size=3)
    return list(process_frames(items(frames), [stage]))


def as_uint8(item: FrameItem) -> np.ndarray:
    return (item.tensor.numpy().transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def film():
    return moving_pictures(40, width=64, height=48, step=5, seed=3)


@pytest.mark.parametrize("first_field", ["top", "bottom"])
def test_pulled_down_clip_gives_back_the_original_frames(tmp_path, film, first_field):
    # FFmpeg's telecine filter makes the pulldown; lossless, so fields are exact.
    video = list(io.read_frames(make_telecined(tmp_path / "tc.nut", film,
                                               first_field=first_field)))
    order = "tff" if first_field == "top" else "bff"
    out = ivtc(video, offset=0, order=order)
    assert len(out) == expected_output_frames({"ops": [{"op": "ivtc"}]}, len(video),
                                              "30000/1001")
    for k, item in enumerate(out):
        assert item.index == k
        assert np.array_equal(as_uint8(item), film[k]), f"film frame {k}"
    # Film frame k lasts 5/4 of a video frame: timestamps in a 4x finer time base.
    assert [o.pts for o in out[:5]] == [round(k * 1001 * 5) for k in range(5)]


def test_cadence_phase_is_followed(tmp_path, film):
    video = list(io.read_frames(make_telecined(tmp_path / "tc.nut", film)))[2:]
    out = ivtc(video, offset=3)
    # Starting on a BC frame: B is lost, film frames C, D, A', ... follow. The stream
    # ends after the last film frame: a last slot past it repeats it (clamped window).
    assert len(out) >= len(film) - 2
    for k, item in enumerate(out[:len(film) - 2]):
        assert np.array_equal(as_uint8(item), film[k + 2]), f"output {k}"


def test_rate_and_counts_before_rendering():
    spec = {"ops": [{"op": "ivtc", "params": {"offset": 1}}]}
    assert output_frame_rate(spec, "30000/1001") == Fraction(24000, 1001)
    assert expected_output_frames(spec, 50, "30000/1001") == 40
    # Segments tile: [0, 23) and [23, 50) together make the 40 of one render.
    assert (expected_output_frames(spec, 23, "30000/1001")
            + expected_output_frames(spec, 27, "30000/1001", start=23)) == 40


def test_render_writes_film_rate(tmp_path, film):
    src = make_telecined(tmp_path / "tc.nut", film)
    out = tmp_path / "film.mp4"
    result = pipeline.render(src, out, {"ops": [{"op": "ivtc"}, {"op": "denoise"}],
                                        "encode": {"codec": "h264", "crf": 12}})
    info = io.probe(out, deep=True)
    n_in = io.probe(src, deep=True).frame_count
    assert result.frames == info.frame_count == expected_output_frames(
        {"ops": [{"op": "ivtc"}]}, n_in, "30000/1001")
    assert abs(info.fps - 24000 / 1001) < 0.05
    # An excerpt equals the same frames of the full render (in numbers of frames).
    part = pipeline.render(src, tmp_path / "part.mp4", {"ops": [{"op": "ivtc"}]},
                           start=10, end=30)
    assert part.frames == expected_output_frames({"ops": [{"op": "ivtc"}]}, 20,
                                                 "30000/1001", start=10)
