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


# --- cadence breaks ---------------------------------------------------------------------

def ivtc_with(frames: list[np.ndarray], params: dict, scenes: list[int] | None = None
              ) -> list[FrameItem]:
    op = Ivtc(Ivtc.validate_params(params), OpContext(rate=Fraction(30000, 1001)))
    stage = RateStage(op, op.rate_ratio(op.p, Fraction(30000, 1001)), batch_size=4)
    its = items(frames)
    for item, scene in zip(its, scenes or [0] * len(its), strict=True):
        item.scene = scene
    return list(process_frames(its, [stage]))


@pytest.mark.parametrize("first_field", ["top", "bottom"])
@pytest.mark.parametrize(("cut", "skip"), [(12, 0), (13, 1), (11, 3), (14, 2), (13, 3),
                                           (10, 4)])
def test_a_spliced_pulldown_gives_back_every_whole_film_frame_once(tmp_path, first_field,
                                                                   cut, skip):
    from gpu_worker.engine.analysis import analyze, suggest_spec
    from tests.media_factory import make_spliced_telecine, pulldown_film_frames

    film_a = moving_pictures(24, width=64, height=48, step=5, seed=11)
    film_b = moving_pictures(24, width=64, height=48, step=-4, seed=12)
    src = make_spliced_telecine(tmp_path / "edit.nut", film_a, film_b, cut=cut, skip=skip,
                                first_field=first_field)
    expected = ([film_a[k] for k in pulldown_film_frames(30, end=cut)]
                + [film_b[k] for k in pulldown_film_frames(30, start=skip)])
    report = analyze(src, faces=False)
    tc = report["interlace"]["telecine"]
    assert tc is not None and tc["offset"] == 0
    assert tc["field_order"] == ("tff" if first_field == "top" else "bff")
    if (cut - skip) % 5:  # the phase changed: reported as a break near the splice
        assert len(tc["breaks"]) == 1 and abs(tc["breaks"][0]["frame"] - cut) <= 2
    spec = suggest_spec(report)
    ivtc_op = spec["ops"][0]
    assert ivtc_op["op"] == "ivtc"
    out = tmp_path / "film.mkv"
    job = {"ops": [ivtc_op], "encode": {"codec": "ffv1", "pix_fmt": "gbrp10le"}}
    result = pipeline.render(src, out, job)
    got = list(io.read_frames(out))
    n_in = io.probe(src, deep=True).frame_count
    assert result.frames == len(got) == expected_output_frames(job, n_in, "30000/1001")
    # Every film frame whose two fields survived the edit, once, in order, exact up
    # to the 10-bit master's rounding (one level); no blends, no repeats (orphan
    # fields are dropped). Neighbouring film frames differ by far more.
    assert len(got) == len(expected)
    for k, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1, f"film frame {k}"
    steps = [np.abs(a.astype(int) - b.astype(int)).mean()
             for a, b in zip(expected, expected[1:], strict=False)]
    assert min(steps) > 5


def test_breaks_change_the_count_and_segments_still_tile():
    spec = {"ops": [{"op": "ivtc", "params": {"offset": 0, "breaks": "13:1"}}]}
    # Frames 0-12 at offset 0: AA BB BC CD DD x2, AA BB BC -> 8 + 2; from 13 at
    # offset 1: frame 13 is a CD frame whose BC frame was cut away (dropped), then
    # 4 per cycle: 14..48 -> 28.
    assert expected_output_frames(spec, 49, "30000/1001") == 10 + 28
    total = expected_output_frames(spec, 49, "30000/1001")
    for split in range(1, 49):
        assert (expected_output_frames(spec, split, "30000/1001")
                + expected_output_frames(spec, 49 - split, "30000/1001", start=split)
                ) == total


def test_film_frames_keep_their_time_across_a_break(film):
    frames = film[:20]  # stand-ins: only the timing is checked here
    out = ivtc_with(frames, {"offset": 0, "breaks": "7:4"})
    pts = [o.pts for o in out]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    # Before the break: film frame k at k * 5/4 video frames (4x time base).
    assert pts[:5] == [k * 5 * 1001 for k in range(5)]
    # Frame 7 at offset 4 is a CD frame after a break: an orphan, no output; frames 8
    # (DD, -1/4) and 9 (AA) follow.
    assert [o.source for o in out[5:8]] == [6, 8, 9]
    assert pts[6:8] == [8 * 4 * 1001 - 1001, 9 * 4 * 1001]


@pytest.mark.parametrize("bad", ["0:1", "5:7", "x", "9:1,4:2", "3"])
def test_bad_breaks_are_refused_with_the_parameter_named(bad):
    from gpu_worker.engine.schema import SpecError

    with pytest.raises(SpecError) as err:
        Ivtc.validate_params({"breaks": bad})
    assert err.value.param == "breaks"


def test_a_film_cut_inside_a_cycle_keeps_both_fields_of_its_film_frame(film):
    # Film frames 0-9 from one shot, 10 on from another: film frame 10 is the C of a
    # cycle, its fields in the BC frame (12) and the CD frame (13). The scene detector
    # may put the cut at 13; C must still take its second field from frame 12.
    other = [255 - p for p in film]
    pictures = film[:10] + other[10:20]
    fields = []
    for k, picture in enumerate(pictures):
        fields += [picture] * (2 if k % 2 == 0 else 3)
    video = []
    for j in range(len(fields) // 2):
        frame = fields[2 * j + 1].copy()
        frame[0::2] = fields[2 * j][0::2]
        video.append(frame)
    out = ivtc_with(video, {"offset": 0}, scenes=[0 if i < 13 else 1 for i in range(len(video))])
    assert len(out) == len(pictures)
    for k, item in enumerate(out):
        assert np.array_equal(as_uint8(item), pictures[k]), f"film frame {k}"
