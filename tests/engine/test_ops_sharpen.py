"""sharpen: restores blurred edges, leaves grain alone, keeps hue."""

from __future__ import annotations

import torch

from gpu_worker.engine.filters import gaussian_blur, unsharp_mask
from tests.engine.operator_harness import clean_photo_u8, make_operator, run_per_frame, to_tensor


# -- resize ------------------------------------------------------------------------
def test_sharpen_restores_some_of_a_blur() -> None:
    sharp = to_tensor(clean_photo_u8()[80:208, 160:320])
    soft = gaussian_blur(sharp, 1.0)
    out = unsharp_mask(soft, amount=1.0, radius=1.0, threshold=0.0)

    def psnr(a: torch.Tensor) -> float:
        return float(10 * torch.log10(1 / ((a - sharp) ** 2).mean()))

    assert psnr(out) > psnr(soft) + 1.0


def test_sharpen_threshold_leaves_grain_alone() -> None:
    gen = torch.Generator().manual_seed(0)
    flat = 0.5 + torch.randn(1, 3, 64, 64, generator=gen) * (1.0 / 255)  # 1 code value
    op = make_operator("sharpen", amount=2.0, threshold=4.0)
    kept = run_per_frame(op, flat)
    boosted = run_per_frame(make_operator("sharpen", amount=2.0, threshold=0.0), flat)
    assert (kept - flat).abs().max() < 1e-6
    assert (boosted - 0.5).std() > 1.5 * (flat - 0.5).std()


def test_sharpen_luma_only_keeps_hue() -> None:
    # Adding the same luma detail to R, G and B never changes the R-G difference.
    x = to_tensor(clean_photo_u8()[80:144, 160:240])
    out = unsharp_mask(x, amount=1.5, radius=1.0, threshold=0.0, luma_only=True)
    inside = (out > 0.01) & (out < 0.99)
    ok = inside.all(dim=1, keepdim=True)
    diff_in = (x[:, 0] - x[:, 1])[ok[:, 0]]
    diff_out = (out[:, 0] - out[:, 1])[ok[:, 0]]
    assert torch.allclose(diff_in, diff_out, atol=1e-5)
    assert (out - x).abs().max() > 0.05  # and it did sharpen


def test_sharpen_amount_zero_is_identity() -> None:
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(run_per_frame(make_operator("sharpen", amount=0.0), x), x)
