"""deflicker: per-frame exposure/tone flicker removal that keeps real changes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine import metrics as M
from gpu_worker.engine.damage import DamageConfig, degrade_frames
from gpu_worker.engine.io import read_frames
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import OpContext, SpecError
from tests.conftest import media_file
from tests.engine.operator_harness import make_operator, run_in_windows


def _run(frames: torch.Tensor, cuts: tuple[int, ...] = (), **params: object) -> torch.Tensor:
    return run_in_windows(make_operator("deflicker", OpContext(), **params), frames, cuts)


def _flicker(x: torch.Tensor, keep: list[int] | None = None) -> float:
    means = M.luma_torch(x).mean((1, 2, 3))
    if keep is not None:
        means = means[keep]
    return M.flicker_index(means.tolist())


def _scene(n: int = 16, h: int = 48, w: int = 64) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return [(np.stack([0.5 + 0.35 * np.sin((xx + t) / 7) * np.cos(yy / 5)] * 3, -1) * 255
             ).astype(np.uint8) for t in range(n)]


def test_schema_and_radius() -> None:
    cls = get_operator("deflicker")
    assert {p.name for p in cls.params} == {"radius", "strength", "mode", "tiles"}
    assert cls(cls.validate_params({"radius": 7}), OpContext()).temporal_radius() == 7
    with pytest.raises(SpecError):
        cls.validate_params({"mode": "magic"})


@pytest.mark.parametrize("params", [{}, {"mode": "exposure"}, {"tiles": 4}])
def test_synthetic_flicker_removed(params: dict[str, object]) -> None:
    clean = _scene()
    x = M.to_tensor(np.stack(list(degrade_frames(clean, DamageConfig(flicker=0.1), seed=4))))
    c = M.to_tensor(np.stack(clean))
    y = _run(x, **params)
    assert _flicker(x) > 0.03
    assert _flicker(y) < 0.35 * _flicker(x)
    assert M.psnr(y, c) > M.psnr(x, c) + 3


def test_strength_zero_is_identity() -> None:
    x = M.to_tensor(np.stack(list(degrade_frames(_scene(6), DamageConfig(flicker=0.1), seed=1))))
    assert torch.allclose(_run(x, strength=0.0), x)


def test_scene_cut_keeps_a_real_exposure_change() -> None:
    bright = _scene(8)
    dark = [(f * 0.4).astype(np.uint8) for f in _scene(8)]
    x = M.to_tensor(np.stack(bright + dark))
    y = _run(x, cuts=(8,), radius=4)
    # Steady shots on either side of the cut: nothing to correct, nothing blended.
    assert torch.allclose(y[:8].mean(), x[:8].mean(), atol=2e-3)
    assert torch.allclose(y[8:].mean(), x[8:].mean(), atol=2e-3)
    # Without the cut the exposures would be averaged across it.
    z = _run(x, radius=4)
    assert abs(float(z[8].mean() - x[8].mean())) > 0.02


@pytest.mark.media
def test_cockatoo_ground_truth() -> None:
    clean = [cv2.resize(f, (160, 90), interpolation=cv2.INTER_AREA)
             for f in read_frames(media_file("clean/cockatoo_720p.mp4"), end=20)]
    x = M.to_tensor(np.stack(list(degrade_frames(clean, DamageConfig(flicker=0.08), seed=1))))
    c = M.to_tensor(np.stack(clean))
    y = _run(x)
    assert M.psnr(y, c) > M.psnr(x, c) + 5
    assert M.ssim(y, c) > M.ssim(x, c)


@pytest.mark.media
@pytest.mark.parametrize("name", ["old_film/roundhay_garden_scene.mp4",
                                  "old_film/muybridge_buffalo.mp4"])
def test_real_film_flicker_index_drops(name: str) -> None:
    frames = list(read_frames(media_file(name), end=48))
    x = M.to_tensor(np.stack(frames))
    # Both transfers repeat frames: measure on distinct film frames only.
    diffs = [0.0] + [float(np.abs(M.gray(frames[i]) - M.gray(frames[i - 1])).mean())
                     for i in range(1, len(frames))]
    keep = [i for i, rep in enumerate(M.repeat_flags(diffs)) if not rep]
    y = _run(x, radius=6)
    before, after = _flicker(x, keep), _flicker(y, keep)
    assert before > 0.01
    assert after < 0.4 * before, (before, after)
