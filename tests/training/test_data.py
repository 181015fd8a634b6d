"""Training data: the fixed split, crops and the degradation."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.training import data


def test_split_keeps_held_out_material_out_of_training():
    held_out_stills = {p.rsplit("/", 1)[-1].split(".")[0] for p in data.HELD_OUT_STILLS}
    assert held_out_stills == {"astronaut", "chelsea", "coffee", "hubble_deep_field"}
    # scikit-image ships the same pictures (chelsea also as "cat"): none is trained on
    assert not (set(data.TRAIN_STILLS) & (held_out_stills | {"cat"}))
    assert not (set(data.TRAIN_STILLS) & set(data.VALIDATION_STILLS))
    train, val, held = (set(data.COCKATOO_TRAIN_FRAMES), set(data.COCKATOO_VALIDATION_FRAMES),
                        set(data.COCKATOO_HELD_OUT_FRAMES))
    assert not (train & val) and not (train & held) and not (val & held)
    assert max(train) < min(val) < max(val) < min(held)  # gaps between the parts


def test_training_stills_load_as_rgb_uint8():
    images = data.training_images(shared_media=data.REPO_ROOT / "no-such-folder")
    assert {im.group for im in images} == {"stills", "demo"}  # no video without ../shared
    for im in images:
        assert im.image.dtype == np.uint8 and im.image.ndim == 3 and im.image.shape[2] == 3
    assert len(images) == len(data.TRAIN_STILLS) + len(data.DEMO_FRAMES)


def test_held_out_refuses_training_frames():
    with pytest.raises(ValueError, match="held-out range"):
        data.held_out_images(cockatoo_frames=(30,))


@pytest.mark.media
def test_held_out_material(shared_media):
    names = [im.name for im in data.held_out_images(shared_media)]
    assert names[:4] == ["astronaut", "chelsea", "coffee", "hubble_deep_field"]
    assert sum(n.startswith("sintel_") for n in names) == 10
    assert names[-3:] == ["cockatoo_230", "cockatoo_250", "cockatoo_270"]


def _stills() -> list[data.CleanImage]:
    return [data.CleanImage(n, "stills", data.as_rgb(data.TRAIN_STILLS[n]()))
            for n in ("camera", "motorcycle_left")]


@pytest.mark.parametrize("scale, context", [(2, 0), (4, 0), (2, 6)])
def test_sampler_gives_aligned_pairs(scale, context):
    sampler = data.PatchSampler(_stills(), scale=scale, patch=24, context=context, seed=1)
    lr, hr = sampler.batch(6)
    size = 24 + 2 * context
    assert lr.shape == (6, 3, size, size) and hr.shape == (6, 3, 24 * scale, 24 * scale)
    assert float(lr.min()) >= 0 and float(lr.max()) <= 1
    # the LR patch's centre is a degraded copy of the HR patch: downscaled HR matches it
    small = hr.reshape(6, 3, 24, scale, 24, scale).mean(dim=(3, 5))
    centre = lr[..., context:context + 24, context:context + 24]
    assert float((small - centre).abs().mean()) < 0.06
    shifted = lr[..., context + 1:context + 25, context:context + 24] if context else centre
    if context:  # and it is aligned: one pixel off matches worse
        assert float((small - shifted).abs().mean()) > float((small - centre).abs().mean())
    again = data.PatchSampler(_stills(), scale=scale, patch=24, context=context,
                              seed=1).batch(6)
    assert np.array_equal(again[0].numpy(), lr.numpy())  # seeded


def test_sampler_refuses_images_too_small():
    with pytest.raises(ValueError, match="large enough"):
        data.PatchSampler(_stills(), scale=4, patch=200)


def test_benchmark_degradation_is_fixed_and_adds_grain():
    hr = data.as_rgb(data.TRAIN_STILLS["camera"]())[:128, :128]
    a = data.benchmark_degrade(hr, 2, index=5)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, data.benchmark_degrade(hr, 2, index=5))
    assert not np.array_equal(a, data.benchmark_degrade(hr, 2, index=6))  # fresh grain
    with pytest.raises(ValueError, match="multiple of 4"):
        data.benchmark_degrade(hr[:126], 4)


def test_validation_pairs_are_fixed():
    ims = _stills()
    lr1, hr1 = data.fixed_validation_pairs(ims, 2, size=32, per_image=2)
    lr2, _ = data.fixed_validation_pairs(ims, 2, size=32, per_image=2)
    assert lr1.shape == (4, 3, 32, 32) and hr1.shape == (4, 3, 64, 64)
    assert np.array_equal(lr1.numpy(), lr2.numpy())
