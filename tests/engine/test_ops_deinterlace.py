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
    assert result.frames == io.probe(src).frame_count
    combs = [interlace.comb_ratio(M.gray(f))[0] for f in io.read_frames(out)]
    assert max(combs[1:-1]) < 0.9
