"""scratch: vertical film scratches are found and filled; wide verticals stay."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpu_worker.engine import metrics as M
from gpu_worker.engine.io import read_frames
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import SpecError
from tests.conftest import media_file
from tests.engine.operator_harness import (
    drifting_texture,
    make_operator,
    run_in_windows,
    scratched,
    to_u8,
)


# -- scratch -------------------------------------------------------------------------
def test_scratch_schema() -> None:
    cls = get_operator("scratch")
    assert [p.name for p in cls.params] == ["sensitivity", "max_width", "min_length",
                                            "persistence", "texture"]
    assert make_operator("scratch", persistence=2).temporal_radius() == 2
    with pytest.raises(SpecError):
        cls.validate_params({"min_length": 0.0})


def test_scratch_removed_synthetic() -> None:
    clean = drifting_texture()
    damaged = scratched(clean)
    assert all(d.scratches.any() for d in damaged)
    x = M.to_tensor(np.stack([d.frame for d in damaged]))
    c = M.to_tensor(np.stack(clean))
    mask = np.stack([d.scratches for d in damaged])
    # Requiring persistence misses scratches in their first and last frame: less gain.
    for params, gain in (({}, 6), ({"persistence": 1}, 4)):
        y = run_in_windows(make_operator("scratch", **params), x)
        assert M.psnr(y, c, mask=mask) > M.psnr(x, c, mask=mask) + gain, params
        assert M.psnr(y, c) > M.psnr(x, c) + 3, params


def test_scratch_leaves_wide_vertical_objects() -> None:
    frame = drifting_texture(1)[0].copy()
    frame[:, 60:72] = 30  # a post 12 px wide: an object, not a scratch
    x = M.to_tensor(frame)
    assert torch.equal(run_in_windows(make_operator("scratch"), x), x)


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

    smooth = run_in_windows(make_operator("scratch"), x)
    textured = run_in_windows(make_operator("scratch", texture=True), x)
    assert grain_in_repair(smooth) < 0.7 * 0.04  # interpolation averages the grain away
    assert grain_in_repair(textured) > 0.8 * 0.04
    assert abs(float(textured[0, :, :, 40:42].mean()) - 0.5) < 0.02  # and the line is gone


@pytest.mark.media
@pytest.mark.parametrize("name", ["old_film/roundhay_garden_scene.mp4",
                                  "old_film/muybridge_buffalo.mp4"])
def test_scratch_on_real_film(name: str) -> None:
    frames = list(read_frames(media_file(name), end=4))
    x = M.to_tensor(np.stack(frames))
    op = make_operator("scratch")
    # The real frames' verticals (a house's pillars, legs) are not scratches.
    assert M.psnr(run_in_windows(op, x), x) > 40
    # Scratches on real film texture: the no-reference scratch count goes down.
    damaged = scratched(frames, seed=2)
    xd = M.to_tensor(np.stack([d.frame for d in damaged]))
    y = run_in_windows(op, xd)
    before = sum(M.scratch_count(d.frame) for d in damaged)
    after = sum(M.scratch_count(to_u8(f)) for f in y)
    assert before >= 4
    assert after <= 0.25 * before, (before, after)


# -- wire ----------------------------------------------------------------------------
