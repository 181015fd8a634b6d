"""resize: sizes, filter quality against OpenCV, anti-aliasing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.resize import target_size
from gpu_worker.engine.registry import SpecError
from gpu_worker.engine.resample import resize_frames
from tests.engine.operator_harness import clean_photo_u8, make_operator, run_per_frame, to_tensor


# -- resize ------------------------------------------------------------------------
def test_target_size_rules() -> None:
    assert target_size(1280, 720, scale=0.5) == (640, 360)
    assert target_size(1280, 720, out_width=1920) == (1920, 1080)
    assert target_size(1280, 720, out_height=480) == (854, 480)  # 853.3 -> even 854
    # Box smaller in height: fit inside, keep aspect.
    assert target_size(1280, 720, out_width=1000, out_height=400) == (712, 400)
    assert target_size(1280, 720, out_width=1000, out_height=400, keep_aspect=False) == (1000, 400)
    assert target_size(101, 51, scale=1.0, even=False) == (101, 51)
    assert target_size(101, 51, scale=1.0) == (100, 52)


def test_resize_operator_declares_and_produces_its_size() -> None:
    cls = get_operator("resize")
    assert cls.changes_size is True
    op = make_operator("resize", height=90)
    assert op.output_size(320, 180) == (160, 90)
    out = run_per_frame(op, torch.rand(2, 3, 180, 320))
    assert out.shape == (2, 3, 90, 160)
    assert out.dtype == torch.float32 and 0.0 <= out.min() and out.max() <= 1.0


def test_resize_same_size_is_identity() -> None:
    x = to_tensor(clean_photo_u8()[:64, :96])
    assert torch.equal(resize_frames(x, 96, 64, "lanczos"), x)


@pytest.mark.parametrize("method,cv_flag,tol", [
    ("bicubic", cv2.INTER_CUBIC, 0.6),
    ("lanczos", cv2.INTER_LANCZOS4, 0.6),
    ("bilinear", cv2.INTER_LINEAR, 0.4),
])
def test_upscale_matches_opencv(method: str, cv_flag: int, tol: float) -> None:
    # Upscaling needs no anti-aliasing, so our kernels must agree with OpenCV's
    # (Lanczos-4 vs our Lanczos-3 differ slightly, hence the tolerance in code values).
    img = clean_photo_u8()[100:180, 200:300]
    ours = resize_frames(to_tensor(img), 250, 200, method)[0].permute(1, 2, 0).numpy() * 255
    ref = cv2.resize(img, (250, 200), interpolation=cv_flag).astype(np.float32)
    assert np.abs(ours - ref).mean() < tol


def test_area_halving_is_exact_block_mean() -> None:
    x = to_tensor(clean_photo_u8()[:64, :64])
    out = resize_frames(x, 32, 32, "area")
    assert torch.allclose(out, F.avg_pool2d(x, 2), atol=1e-6)


@pytest.mark.parametrize("method", ["lanczos", "bicubic"])
def test_downscale_is_anti_aliased(method: str) -> None:
    # One-pixel stripes shrunk 3x must become flat grey; plain interpolation without
    # a low-pass (what a naive resize does) aliases them into strong false stripes.
    stripes = (torch.arange(240) % 2).float().view(1, 1, 1, 240).expand(1, 3, 60, 240)
    ours = resize_frames(stripes.contiguous(), 80, 20, method)
    naive = F.interpolate(stripes, size=(20, 80), mode="bilinear", align_corners=False,
                          antialias=False)
    assert ours.std() < 0.05
    assert naive.std() > 0.2
    assert abs(float(ours.mean()) - 0.5) < 0.02


def test_resize_rejects_bad_params() -> None:
    with pytest.raises(SpecError, match="resize.method"):
        get_operator("resize").validate_params({"method": "nearest"})
    with pytest.raises(SpecError, match="outside the allowed range"):
        get_operator("resize").validate_params({"scale": 0.0})


# -- sharpen -------------------------------------------------------------------------
