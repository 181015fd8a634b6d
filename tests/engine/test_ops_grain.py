"""grain: seeded per frame number (batching-independent), level and spectrum follow
strength and size, colour, luminance response and temporal correlation."""

from __future__ import annotations

import math

import pytest
import torch

from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.grain import add_grain, luminance_response
from gpu_worker.engine.registry import OpContext

GREY = 0.5


def _op(render_seed: int = 0, **params):  # type: ignore[no-untyped-def]
    cls = get_operator("grain")
    return cls(cls.validate_params(params), OpContext(seed=render_seed))


def _grain_of(op, n: int = 1, size: int = 128, first: int = 0) -> torch.Tensor:  # type: ignore[no-untyped-def]
    x = torch.full((n, 3, size, size), GREY)
    return op.process(x, torch.arange(n)[:, None], torch.arange(first, first + n)) - GREY


def test_same_frame_number_same_grain_whatever_the_batching() -> None:
    op = _op(render_seed=11, strength=8.0)
    gen = torch.Generator().manual_seed(0)
    frames = torch.rand(6, 3, 48, 64, generator=gen)
    numbers = torch.arange(100, 106)
    batch = op.process(frames, torch.arange(6)[:, None], numbers)
    # One at a time, in reverse order, and as a differently composed batch.
    for i in reversed(range(6)):
        single = op.process(frames[i:i + 1], torch.zeros(1, 1, dtype=torch.long),
                            numbers[i:i + 1])
        assert torch.equal(single[0], batch[i])
    mixed = op.process(frames[[4, 1]], torch.tensor([[0], [1]]), numbers[[4, 1]])
    assert torch.equal(mixed[0], batch[4]) and torch.equal(mixed[1], batch[1])
    # A fresh operator instance (another segment of the render) agrees too.
    again = _op(render_seed=11, strength=8.0).process(frames[2:3], torch.zeros(1, 1, dtype=torch.long),
                                               numbers[2:3])
    assert torch.equal(again[0], batch[2])


def test_grain_differs_between_frames_and_seeds() -> None:
    a = _grain_of(_op(render_seed=1), n=2)
    assert (a[0] - a[1]).abs().mean() > 0.01  # frame 0 vs frame 1
    b = _grain_of(_op(render_seed=2), n=2)
    assert (a[0] - b[0]).abs().mean() > 0.01  # another render seed
    c = _grain_of(_op(render_seed=1, seed=5), n=1)
    assert (a[0] - c[0]).abs().mean() > 0.01  # the operator's own seed parameter


@pytest.mark.parametrize("strength", [2.0, 6.0, 12.0])
def test_noise_level_follows_strength(strength: float) -> None:
    # At the response peak (mid-grey) the RMS is the strength in code values.
    g = _grain_of(_op(strength=strength, size=1.5, chroma=0.3), n=2, size=192)
    rms = float(g.pow(2).mean().sqrt()) * 255
    assert rms == pytest.approx(strength, rel=0.05)


def _lag1_correlation(g: torch.Tensor) -> float:
    return float((g[..., 1:] * g[..., :-1]).mean() / (g * g).mean())


def _high_frequency_share(g: torch.Tensor) -> float:
    spec = torch.fft.rfft2(g[:, 0]).abs().pow(2).mean(dim=0)
    fy = torch.fft.fftfreq(g.shape[-2]).abs().view(-1, 1)
    fx = torch.fft.rfftfreq(g.shape[-1]).view(1, -1)
    high = (fx.pow(2) + fy.pow(2)).sqrt() > 0.25
    return float(spec[high].sum() / spec.sum())


def test_spectrum_follows_size_and_rms_does_not() -> None:
    sizes = [0.5, 1.0, 2.0, 4.0]
    grains = [_grain_of(_op(strength=6.0, size=s, chroma=0.0), n=2, size=192) for s in sizes]
    rms = [float(g.pow(2).mean().sqrt()) * 255 for g in grains]
    lag1 = [_lag1_correlation(g) for g in grains]
    high = [_high_frequency_share(g) for g in grains]
    assert all(r == pytest.approx(6.0, rel=0.06) for r in rms)
    assert lag1 == sorted(lag1) and high == sorted(high, reverse=True)
    assert abs(lag1[0]) < 0.03 and high[0] > 0.5  # size 0.5: white noise
    # Gaussian-filtered white noise with sigma = size / 2 has lag-1 autocorrelation
    # exp(-1 / (4 sigma^2)).
    for s, r in zip(sizes[2:], lag1[2:], strict=True):
        assert r == pytest.approx(math.exp(-1 / (4 * (s / 2) ** 2)), abs=0.04)


def test_chroma_controls_colour_of_the_grain() -> None:
    mono = _grain_of(_op(chroma=0.0))
    assert torch.allclose(mono[:, 0], mono[:, 1]) and torch.allclose(mono[:, 1], mono[:, 2])
    colour = _grain_of(_op(chroma=1.0, size=1.0), size=192)
    r, g = colour[:, 0].flatten(), colour[:, 1].flatten()
    assert abs(float(torch.corrcoef(torch.stack([r, g]))[0, 1])) < 0.05
    half = _grain_of(_op(chroma=0.5, size=1.0), size=192)
    corr = float(torch.corrcoef(torch.stack([half[:, 0].flatten(), half[:, 1].flatten()]))[0, 1])
    assert corr == pytest.approx(0.5, abs=0.05)


def test_luminance_response_favours_midtones() -> None:
    ramp = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95])
    film = luminance_response(ramp, 1.0, 0.5)
    assert float(film[2]) == pytest.approx(1.0)
    assert film[0] < 0.25 and film[4] < 0.25 and film[1] < 1 and film[3] < 1
    assert torch.allclose(luminance_response(ramp, 0.0, 0.5), torch.ones(5))
    shadows = luminance_response(ramp, 1.0, 0.3)
    assert int(shadows.argmax()) == 1  # peak moved towards the shadows

    frames = torch.cat([torch.full((1, 3, 96, 96), v) for v in (0.05, 0.5)])
    op = _op(strength=10.0, response=1.0)
    out = op.process(frames, torch.arange(2)[:, None], torch.arange(2)) - frames
    dark, mid = (float(o.pow(2).mean().sqrt()) for o in out)
    assert dark < 0.3 * mid


def test_temporal_correlation_matches_parameter() -> None:
    for t in (0.0, 0.6):
        g = _grain_of(_op(temporal=t, size=1.0), n=2, size=160)
        corr = float(torch.corrcoef(torch.stack([g[0].flatten(), g[1].flatten()]))[0, 1])
        assert corr == pytest.approx(t, abs=0.04)


def test_strength_zero_is_identity_and_output_in_range() -> None:
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(add_grain(x, torch.arange(2), seed=1, strength=0.0, size=1.0,
                                 chroma=0.0, response=1.0), x)
    out = _op(strength=40.0, response=0.0).process(x, torch.arange(2)[:, None], torch.arange(2))
    assert out.dtype == torch.float32 and 0.0 <= float(out.min()) and float(out.max()) <= 1.0
