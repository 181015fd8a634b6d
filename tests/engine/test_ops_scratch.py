"""scratch: vertical film scratches are found and filled; wide verticals stay."""

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
def test_scratch_schema() -> None:
    cls = get_operator("scratch")
    assert [p.name for p in cls.params] == ["sensitivity", "max_width", "min_length",
                                            "persistence", "texture"]
    assert _op("scratch", persistence=2).temporal_radius() == 2
    with pytest.raises(SpecError):
        cls.validate_params({"min_length": 0.0})


def test_scratch_removed_synthetic() -> None:
    clean = _texture()
    damaged = _scratched(clean)
    assert all(d.scratches.any() for d in damaged)
    x = M.to_tensor(np.stack([d.frame for d in damaged]))
    c = M.to_tensor(np.stack(clean))
    mask = np.stack([d.scratches for d in damaged])
    # Requiring persistence misses scratches in their first and last frame: less gain.
    for params, gain in (({}, 6), ({"persistence": 1}, 4)):
        y = _run(_op("scratch", **params), x)
        assert M.psnr(y, c, mask=mask) > M.psnr(x, c, mask=mask) + gain, params
        assert M.psnr(y, c) > M.psnr(x, c) + 3, params


def test_scratch_leaves_wide_vertical_objects() -> None:
    frame = _texture(1)[0].copy()
    frame[:, 60:72] = 30  # a post 12 px wide: an object, not a scratch
    x = M.to_tensor(frame)
    assert torch.equal(_run(_op("scratch"), x), x)


def test_fill_horizontal_interpolates_between_sides() -> None:
    from gpu_worker.engine.ops.scratch import fill_horizontal

    x = torch.linspace(0, 1, 11).expand(3, 4, 11).clone()
    mask = torch.zeros(4, 11, dtype=torch.bool)
    mask[:, 4:7] = True
    damaged = torch.where(mask, torch.zeros_like(x), x)
    assert torch.allclose(fill_horizontal(damaged, mask), x, atol=1e-6)


def test_scratch_texture_keeps_the_grain_in_the_repair() -> None:
    rng = np.random.default_rng(3)
    grainy = np.clip(0.5 + 0.04 * rng.standard_normal((64, 96, 1)), 0, 1).repeat(3, -1)
    scratched = grainy.copy()
    scratched[:, 40:42] = 0.95
    x = M.to_tensor(scratched.astype(np.float32))

    def grain_in_repair(t: torch.Tensor) -> float:
        cols = t[0, 0, :, 40:42]
        return float((cols - cols.mean()).std())

    smooth = _run(_op("scratch"), x)
    textured = _run(_op("scratch", texture=True), x)
    assert grain_in_repair(smooth) < 0.7 * 0.04  # interpolation averages the grain away
    assert grain_in_repair(textured) > 0.8 * 0.04
    assert abs(float(textured[0, :, :, 40:42].mean()) - 0.5) < 0.02  # and the line is gone


@pytest.mark.media
@pytest.mark.parametrize("name", ["old_film/roundhay_garden_scene.mp4",
                                  "old_film/muybridge_buffalo.mp4"])
def test_scratch_on_real_film(name: str) -> None:
    frames = list(read_frames(media_file(name), end=4))
    x = M.to_tensor(np.stack(frames))
    op = _op("scratch")
    # The real frames' verticals (a house's pillars, legs) are not scratches.
    assert M.psnr(_run(op, x), x) > 40
    # Scratches on real film texture: the no-reference scratch count goes down.
    damaged = _scratched(frames, seed=2)
    xd = M.to_tensor(np.stack([d.frame for d in damaged]))
    y = _run(op, xd)
    before = sum(M.scratch_count(d.frame) for d in damaged)
    after = sum(M.scratch_count(_to_u8(f)) for f in y)
    assert before >= 4
    assert after <= 0.25 * before, (before, after)


# -- wire ----------------------------------------------------------------------------
