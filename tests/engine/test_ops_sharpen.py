"""sharpen: restores blurred edges, leaves grain alone, keeps hue."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from gpu_worker.engine.filters import gaussian_blur, unsharp_mask
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import OpContext
from tests.conftest import media_file


def _photo(name: str = "coffee.png") -> np.ndarray:
    img = cv2.imread(str(media_file(f"clean/{name}")), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img[..., ::-1])  # RGB uint8


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0


def _run(op, x: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    n = x.shape[0]
    return op.process(x, torch.arange(n)[:, None], torch.arange(n))


def _make(name: str, **params):  # type: ignore[no-untyped-def]
    cls = get_operator(name)
    return cls(cls.validate_params(params), OpContext())


# -- resize ------------------------------------------------------------------------
def test_sharpen_restores_some_of_a_blur() -> None:
    sharp = _tensor(_photo()[80:208, 160:320])
    soft = gaussian_blur(sharp, 1.0)
    out = unsharp_mask(soft, amount=1.0, radius=1.0, threshold=0.0)

    def psnr(a: torch.Tensor) -> float:
        return float(10 * torch.log10(1 / ((a - sharp) ** 2).mean()))

    assert psnr(out) > psnr(soft) + 1.0


def test_sharpen_threshold_leaves_grain_alone() -> None:
    gen = torch.Generator().manual_seed(0)
    flat = 0.5 + torch.randn(1, 3, 64, 64, generator=gen) * (1.0 / 255)  # 1 code value
    op = _make("sharpen", amount=2.0, threshold=4.0)
    kept = _run(op, flat)
    boosted = _run(_make("sharpen", amount=2.0, threshold=0.0), flat)
    assert (kept - flat).abs().max() < 1e-6
    assert (boosted - 0.5).std() > 1.5 * (flat - 0.5).std()


def test_sharpen_luma_only_keeps_hue() -> None:
    # Adding the same luma detail to R, G and B never changes the R-G difference.
    x = _tensor(_photo()[80:144, 160:240])
    out = unsharp_mask(x, amount=1.5, radius=1.0, threshold=0.0, luma_only=True)
    inside = (out > 0.01) & (out < 0.99)
    ok = inside.all(dim=1, keepdim=True)
    diff_in = (x[:, 0] - x[:, 1])[ok[:, 0]]
    diff_out = (out[:, 0] - out[:, 1])[ok[:, 0]]
    assert torch.allclose(diff_in, diff_out, atol=1e-5)
    assert (out - x).abs().max() > 0.05  # and it did sharpen


def test_sharpen_amount_zero_is_identity() -> None:
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(_run(_make("sharpen", amount=0.0), x), x)
