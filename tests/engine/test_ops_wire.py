"""wire: thin straight lines, automatic or from a technician's mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine import metrics as M
from gpu_worker.engine.damage import DamageConfig, damage_stream
from gpu_worker.engine.io import read_frames
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import OpContext, SpecError
from tests.conftest import media_file


def _op(name: str, ctx: OpContext | None = None, **params: object):  # noqa: ANN202
    cls = get_operator(name)
    return cls(cls.validate_params(params), ctx or OpContext())


def _run(op, frames: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    n, r = len(frames), op.temporal_radius()
    rows = [[min(max(i + k, 0), n - 1) for k in range(-r, r + 1)] for i in range(n)]
    return op.process(frames, torch.tensor(rows), torch.arange(n))


def _to_u8(t: torch.Tensor) -> np.ndarray:
    return (t.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _texture(n: int = 4, h: int = 96, w: int = 128, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    g = cv2.GaussianBlur(rng.random((h, w + 8)).astype(np.float32), (0, 0), 4)
    g = 0.2 + 0.6 * (g - g.min()) / (g.max() - g.min())
    return [(np.stack([g[:, t:t + w]] * 3, -1) * 255).astype(np.uint8) for t in range(n)]


def _scratched(clean: list[np.ndarray], seed: int = 1):  # noqa: ANN202
    cfg = DamageConfig(scratches=40, scratch_max_frames=24, grain=0.005)
    return list(damage_stream(clean, cfg, seed=seed))


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
    clean = _texture(1)[0]
    wired, where = _wired(clean)
    x = M.to_tensor(wired)
    y = _run(_op("wire"), x)
    assert M.psnr(y, clean, mask=where) > M.psnr(x, clean, mask=where) + 6
    # Away from the wire nothing changed.
    far = ~cv2.dilate(where.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert torch.equal(y[0][:, torch.from_numpy(far)], x[0][:, torch.from_numpy(far)])


def test_wire_from_technician_mask(tmp_path) -> None:  # noqa: ANN001
    clean = _texture(1)[0]
    damaged = clean.copy()
    damaged[40:44, 20:90] = 250  # a bright rig, too short and thick for auto mode
    mask = np.zeros((48, 64), np.uint8)  # any size: it is scaled to the frame
    mask[19:23, 9:46] = 255
    cv2.imwrite(str(tmp_path / "rig.png"), mask)
    where = np.zeros(clean.shape[:2], bool)
    where[40:44, 20:90] = True
    x = M.to_tensor(damaged)
    op = _op("wire", OpContext(assets_dir=tmp_path), mask="rig.png", auto=False)
    y = _run(op, x)
    assert M.psnr(y, clean, mask=where) > M.psnr(x, clean, mask=where) + 10


def test_wire_missing_mask_is_a_spec_error(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(SpecError, match="cannot read"):
        _op("wire", OpContext(assets_dir=tmp_path), mask="nope.png")


@pytest.mark.media
def test_wire_on_real_film_reduces_thin_line_pixels() -> None:
    from gpu_worker.engine.ops.wire import thin_line_mask

    frames = list(read_frames(media_file("old_film/muybridge_buffalo.mp4"), end=3))
    x = M.to_tensor(np.stack(frames))
    y = _run(_op("wire"), x)

    def line_pixels(f: np.ndarray) -> int:
        g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        return int((thin_line_mask(g, max_width=3, min_length=0.2, sensitivity=0.5) > 0).sum())

    before = sum(line_pixels(f) for f in frames)
    after = sum(line_pixels(_to_u8(f)) for f in y)
    assert before > 200
    assert after < 0.3 * before, (before, after)
