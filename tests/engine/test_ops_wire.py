"""wire: thin straight lines, automatic or from a technician's mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine import metrics as M
from gpu_worker.engine.io import read_frames
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import OpContext, SpecError
from tests.conftest import media_file
from tests.engine.operator_harness import drifting_texture, make_operator, run_in_windows, to_u8


# -- scratch -------------------------------------------------------------------------
def _wired(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = frame.copy()
    mask = np.zeros(frame.shape[:2], np.uint8)
    h, w = mask.shape
    cv2.line(out, (5, h // 5), (w - 5, h - 10), (20, 20, 20), 1, cv2.LINE_AA)
    cv2.line(mask, (5, h // 5), (w - 5, h - 10), 255, 3)
    return out, mask > 0


def test_wire_schema() -> None:
    cls = get_operator("wire")
    assert {"mask", "auto", "min_length", "max_width", "sensitivity", "grow",
            "method"} == {p.name for p in cls.params}
    assert cls.validate_params({})["mask"] == ""


def test_wire_auto_removes_a_diagonal_wire() -> None:
    clean = drifting_texture(1)[0]
    wired, where = _wired(clean)
    x = M.to_tensor(wired)
    y = run_in_windows(make_operator("wire"), x)
    assert M.psnr(y, clean, mask=where) > M.psnr(x, clean, mask=where) + 6
    # Away from the wire nothing changed.
    far = ~cv2.dilate(where.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert torch.equal(y[0][:, torch.from_numpy(far)], x[0][:, torch.from_numpy(far)])


def test_wire_from_technician_mask(tmp_path) -> None:  # noqa: ANN001
    clean = drifting_texture(1)[0]
    damaged = clean.copy()
    damaged[40:44, 20:90] = 250  # a bright rig, too short and thick for auto mode
    mask = np.zeros((48, 64), np.uint8)  # any size: it is scaled to the frame
    mask[19:23, 9:46] = 255
    cv2.imwrite(str(tmp_path / "rig.png"), mask)
    where = np.zeros(clean.shape[:2], bool)
    where[40:44, 20:90] = True
    x = M.to_tensor(damaged)
    op = make_operator("wire", OpContext(assets_dir=tmp_path), mask="rig.png", auto=False)
    y = run_in_windows(op, x)
    assert M.psnr(y, clean, mask=where) > M.psnr(x, clean, mask=where) + 10


def test_wire_missing_mask_is_a_spec_error(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(SpecError, match="cannot read"):
        make_operator("wire", OpContext(assets_dir=tmp_path), mask="nope.png")


@pytest.mark.media
def test_wire_on_real_film_reduces_thin_line_pixels() -> None:
    from gpu_worker.engine.ops.wire import thin_line_mask

    frames = list(read_frames(media_file("old_film/muybridge_buffalo.mp4"), end=3))
    x = M.to_tensor(np.stack(frames))
    y = run_in_windows(make_operator("wire"), x)

    def line_pixels(f: np.ndarray) -> int:
        g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        return int((thin_line_mask(g, max_width=3, min_length=0.2, sensitivity=0.5) > 0).sum())

    before = sum(line_pixels(f) for f in frames)
    after = sum(line_pixels(to_u8(f)) for f in y)
    assert before > 200
    assert after < 0.3 * before, (before, after)
