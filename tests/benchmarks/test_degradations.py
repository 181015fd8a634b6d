"""degradations: Real-ESRGAN's second-order degradation is seeded, sized and damaging."""

from __future__ import annotations

import numpy as np
import pytest

from tests.benchmarks.degradations import (
    FIRST,
    SECOND,
    random_kernel,
    realesrgan_degrade,
    sinc_kernel,
)


def _image(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.stack([(xx * 4) % 256, (yy * 4) % 256, ((xx + yy) * 2) % 256], -1)
    return img.astype(np.uint8)


@pytest.mark.parametrize("scale", [2, 4])
def test_output_is_the_low_resolution_size_and_seeded(scale):
    hr = _image()
    a, b = realesrgan_degrade(hr, scale, seed=3), realesrgan_degrade(hr, scale, seed=3)
    assert a.shape == (64 // scale, 64 // scale, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    outs = {realesrgan_degrade(hr, scale, seed=s).tobytes() for s in range(6)}
    assert len(outs) == 6


def test_it_damages_more_than_a_plain_downscale():
    import cv2

    hr = _image(128)
    plain = cv2.resize(hr, (64, 64), interpolation=cv2.INTER_AREA).astype(float)
    errors = [np.abs(realesrgan_degrade(hr, 2, seed=s).astype(float) - plain).mean()
              for s in range(8)]
    assert np.mean(errors) > 3.0


def test_kernels_are_normalised_and_odd_sized():
    rng = np.random.default_rng(0)
    for stage in (FIRST, SECOND):
        for _ in range(30):
            k = random_kernel(rng, stage)
            assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
            assert 7 <= k.shape[0] <= 21 and k.sum() == pytest.approx(1.0, abs=1e-6)
    s = sinc_kernel(11, np.pi / 2)
    assert s.sum() == pytest.approx(1.0) and np.allclose(s, s.T)


def test_sizes_not_divisible_by_the_scale_are_refused():
    with pytest.raises(ValueError, match="not a multiple"):
        realesrgan_degrade(_image(63), 2)
