"""The deinterlace operator on woven pictures, alone and in a render."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpu_worker.engine import interlace, io, pipeline
from gpu_worker.engine import metrics as M
from gpu_worker.engine.ops.deinterlace import Deinterlace
from gpu_worker.engine.registry import OpContext
from tests.media_factory import make_interlaced, moving_pictures, weave


def as_tensor(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32) / 255)


def run(frames: list[np.ndarray], order: str) -> np.ndarray:
    op = Deinterlace(Deinterlace.validate_params({"field_order": order}), OpContext())
    n = len(frames)
    windows = torch.tensor([[max(0, i - 1), i, min(n - 1, i + 1)] for i in range(n)])
    out = op.process(as_tensor(frames), windows, torch.arange(n))
    return (out.numpy().transpose(0, 2, 3, 1) * 255 + 0.5).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_removes_combing_and_comes_close_to_the_first_fields_moment(order):
    pictures = moving_pictures(24)
    woven = weave(pictures, order)
    out = run(woven, order)
    first = 0 if order == "tff" else 1
    for k in range(1, len(woven) - 1):
        truth = pictures[2 * k].astype(np.float32)  # the moment of the first field
        assert np.array_equal(out[k][first::2], woven[k][first::2])  # kept as is
        assert interlace.comb_ratio(M.gray(out[k]))[0] < 0.8
        err_woven = np.abs(woven[k].astype(np.float32) - truth).mean()
        err_out = np.abs(out[k].astype(np.float32) - truth).mean()
        assert err_out < 0.35 * err_woven


def test_wrong_field_order_keeps_the_other_field():
    woven = weave(moving_pictures(8), "tff")
    out = run(woven, "bff")
    assert np.array_equal(out[2][1::2], woven[2][1::2])


def test_still_picture_keeps_its_full_vertical_detail():
    still = moving_pictures(1)[0]
    out = run([still] * 3, "tff")
    # Both fields show the same moment: the temporal prediction is the line itself.
    assert np.abs(out[1].astype(int) - still.astype(int)).max() <= 1


def test_render_of_an_interlaced_tape(tmp_path):
    src = make_interlaced(tmp_path / "tape.mpg", frames=12, field_order="tff")
    out = tmp_path / "out.mp4"
    result = pipeline.render(src, out, {"ops": [{"op": "deinterlace",
                                                  "params": {"field_order": "tff"}}],
                                        "encode": {"codec": "h264", "crf": 10}})
    # MPEG-PS has no index: the quick probe estimates the length, a whole render
    # still goes to the end of the stream.
    assert result.frames == io.probe(src, deep=True).frame_count == 12
    combs = [interlace.comb_ratio(M.gray(f))[0] for f in io.read_frames(out)]
    assert max(combs[1:-1]) < 0.9


# --- double rate (one frame per field) ------------------------------------------------

def run_field_rate(frames: list[np.ndarray], order: str) -> list:
    from fractions import Fraction

    from gpu_worker.engine.pipeline import FrameItem, RateStage, process_frames

    op = Deinterlace(Deinterlace.validate_params({"field_order": order, "rate": "field"}),
                     OpContext(rate=Fraction(25)))
    stage = RateStage(op, op.rate_ratio(op.p, Fraction(25)), batch_size=3)
    items = [FrameItem(index=i, pts=i * 2, duration=2, scene=0,
                       tensor=as_tensor([f])[0]) for i, f in enumerate(frames)]
    return list(process_frames(items, [stage]))


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_field_rate_gives_each_field_its_own_frame_in_time_order(order):
    pictures = moving_pictures(24)  # picture 2k: frame k's first field, 2k+1: second
    woven = weave(pictures, order)
    out = run_field_rate(woven, order)
    assert [o.index for o in out] == list(range(2 * len(woven)))
    assert [o.pts for o in out] == [k * 2 for k in range(2 * len(woven))]  # half frames
    first = 0 if order == "tff" else 1
    got = [(o.tensor.numpy().transpose(1, 2, 0) * 255 + 0.5).clip(0, 255).astype(np.uint8)
           for o in out]
    for m in range(2, len(got) - 2):
        k, is_second = divmod(m, 2)
        kept = first if not is_second else 1 - first
        # The field of this moment is kept as it is, the other rebuilt.
        assert np.array_equal(got[m][kept::2], woven[k][kept::2])
        assert interlace.comb_ratio(M.gray(got[m]))[0] < 0.8
        truth = pictures[m].astype(np.float32)
        err_woven = np.abs(woven[k].astype(np.float32) - truth).mean()
        err_out = np.abs(got[m].astype(np.float32) - truth).mean()
        assert err_out < 0.35 * err_woven, f"output {m}"


def test_field_rate_of_a_still_picture_is_the_picture_twice():
    # Fine texture (noise): the spatial interpolation alone would soften it; where
    # nothing moves the fields of the other parity give it back exactly (as bwdif).
    still = np.random.default_rng(4).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = run_field_rate([still] * 3, "tff")
    assert len(out) == 6
    for o in out:
        got = (o.tensor.numpy().transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
        assert np.array_equal(got, still)


def test_field_rate_doubles_rate_count_and_timecode(tmp_path):
    from fractions import Fraction

    from gpu_worker.engine.spec import expected_output_frames, output_frame_rate

    spec = {"ops": [{"op": "deinterlace", "params": {"field_order": "tff", "rate": "field"}}],
            "encode": {"codec": "ffv1"}}
    assert output_frame_rate(spec, 25) == 50
    assert output_frame_rate(spec, "30000/1001") == Fraction(60000, 1001)
    assert expected_output_frames(spec, 12, 25) == 24
    assert expected_output_frames({"ops": [{"op": "deinterlace"}]}, 12, 25) == 12
    src = make_interlaced(tmp_path / "tape.mkv", frames=12, field_order="tff", flag=False)
    out = tmp_path / "out.mkv"
    result = pipeline.render(src, out, spec)
    info = io.probe(out, deep=True)
    assert result.frames == info.frame_count == 24
    assert abs(info.fps - 50) < 0.01
    assert abs(info.duration - io.probe(src, deep=True).duration) < 0.05
    combs = [interlace.comb_ratio(M.gray(f))[0] for f in io.read_frames(out)]
    assert max(combs[2:-2]) < 0.9
    # An excerpt is the same frames as the whole render, counted at the double rate.
    part = pipeline.render(src, tmp_path / "part.mkv", spec, start=3, end=7)
    assert part.frames == expected_output_frames(spec, 4, 25, start=3) == 8


def test_field_rate_timecode_counts_at_the_double_rate(tmp_path):
    import subprocess

    src = tmp_path / "tc.mov"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x48:rate=25", "-frames:v", "10", "-timecode",
                    "01:00:00:00", str(src)], check=True)
    spec = {"ops": [{"op": "deinterlace", "params": {"rate": "field"}}],
            "encode": {"codec": "prores", "prores_profile": 0}}
    pipeline.render(src, tmp_path / "part.mov", spec, start=3, end=8)
    # Frame 3 at 25 fps starts at 0.12 s: frame 6 when counted at 50 fps.
    out = io.probe(tmp_path / "part.mov", deep=True)
    assert out.timecode == "01:00:00:06" and out.frame_count == 10
    assert abs(out.fps - 50) < 0.01
