"""Quality measures: full-reference (PSNR, SSIM) and no-reference (noise, sharpness,
flicker, dust, scratches, repeats)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage

from gpu_worker.engine import metrics as M
from gpu_worker.engine.damage import DamageConfig, degrade_frame


def _image(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.5)
    return ((g - g.min()) / (g.max() - g.min()) * 0.8 + 0.1).astype(np.float32)


def test_psnr_known_values() -> None:
    a = np.full((8, 8, 3), 0.5, np.float32)
    b = a + 0.1  # MSE 0.01 -> 20 dB
    assert M.psnr(b, a) == pytest.approx(20.0, abs=1e-4)
    assert M.psnr(a, a) == float("inf")
    u8 = (a * 255).astype(np.uint8)
    assert M.psnr(u8, M.to_tensor(a)) > 45  # uint8 and tensors mix


def test_psnr_mask_scores_only_masked_pixels() -> None:
    a = np.zeros((10, 10, 3), np.float32)
    b = a.copy()
    b[0, 0] = 1.0
    mask = np.zeros((10, 10), bool)
    mask[0, :2] = True
    assert M.psnr(b, a, mask=mask) == pytest.approx(10 * np.log10(2), abs=1e-4)
    with pytest.raises(ValueError):
        M.psnr(b, a, mask=np.zeros((10, 10), bool))


def test_ssim_bounds_and_order() -> None:
    a = _image()
    assert M.ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    light = np.clip(a + np.random.default_rng(1).normal(0, 0.02, a.shape), 0, 1)
    heavy = np.clip(a + np.random.default_rng(1).normal(0, 0.1, a.shape), 0, 1)
    assert M.ssim(heavy, a) < M.ssim(light, a) < 1.0


def test_ssim_matches_scikit_image() -> None:
    skm = pytest.importorskip("skimage.metrics")
    a = _image()
    b = np.clip(a + np.random.default_rng(2).normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
    ref = skm.structural_similarity(a, b, channel_axis=2, data_range=1.0,
                                    gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
    assert M.ssim(b, a) == pytest.approx(ref, abs=2e-3)


@pytest.mark.parametrize("sigma", [0.01, 0.03])
def test_noise_sigma_recovers_added_noise(sigma: float) -> None:
    flat = np.full((128, 128, 3), 0.5, np.float32)
    noisy = flat + np.random.default_rng(3).normal(0, sigma, (128, 128, 1)).astype(np.float32)
    assert M.noise_sigma(noisy) == pytest.approx(sigma, rel=0.15)
    assert M.noise_sigma(_image()) < 0.004  # smooth content is not noise


def test_sharpness_drops_with_blur() -> None:
    a = _image(seed=4)
    blurred = cv2.GaussianBlur(a, (0, 0), 1.5)
    assert M.sharpness(blurred) < 0.5 * M.sharpness(a)


def test_colour_stats_see_sepia_and_fade() -> None:
    a = (_image() * 255).astype(np.uint8)
    sepia = degrade_frame(a, 0, DamageConfig(cast="sepia", cast_strength=1.0))
    faded = degrade_frame(a, 0, DamageConfig(fade=0.6))
    s0, s1, s2 = M.colour_stats(a), M.colour_stats(sepia), M.colour_stats(faded)
    assert s1["cast_r"] > 0.05 and s1["cast_b"] < -0.1
    assert s2["contrast"] < s0["contrast"] and s2["saturation"] < s0["saturation"]


def test_free_chroma_tells_a_toned_print_from_colour_film_under_a_cast() -> None:
    a = (_image(96, 128, seed=5) * 255).astype(np.uint8)
    grey = np.repeat(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=-1)
    cast = DamageConfig(cast="sepia", cast_strength=0.5)
    toned = M.colour_stats(degrade_frame(grey, 0, cast))
    colour = M.colour_stats(degrade_frame(a, 0, cast))
    # Both look sepia; only the colour film has hues brightness does not explain.
    assert toned["cast_r"] > 0.04 and colour["cast_r"] > 0.04
    assert toned["saturation"] > 0.03
    assert toned["free_chroma"] < 0.005 < 0.02 < colour["free_chroma"]


def test_tone_stats_levels_per_channel() -> None:
    a = _image(96, 128, seed=2)  # values 0.1..0.9 in every channel
    lifted = a * 0.5 + np.array([0.3, 0.2, 0.1], np.float32)
    t0, t1 = M.tone_stats(a), M.tone_stats((lifted * 255 + 0.5).astype(np.uint8))
    for ch, off in enumerate((0.3, 0.2, 0.1)):
        assert t1["lo"][ch] == pytest.approx(0.5 * t0["lo"][ch] + off, abs=0.01)
        assert t1["hi"][ch] == pytest.approx(0.5 * t0["hi"][ch] + off, abs=0.01)
        assert t0["lo"][ch] < 0.3 and t0["hi"][ch] > 0.7


def test_tone_stats_tell_a_cast_on_neutrals_from_a_scene_warm_in_its_midtones() -> None:
    rng = np.random.default_rng(7)
    y = cv2.GaussianBlur(rng.random((96, 128)).astype(np.float32), (0, 0), 4)
    y = (y - y.min()) / (y.max() - y.min()) * 0.9 + 0.05
    grey = np.repeat(y[..., None], 3, axis=-1)
    cast = M.tone_stats(grey * np.array([1.1, 1.0, 0.85], np.float32))
    assert cast["neutral_r"] == pytest.approx([0.1] * M.NEUTRAL_BANDS, abs=0.01)
    assert cast["neutral_b"] == pytest.approx([-0.15] * M.NEUTRAL_BANDS, abs=0.01)
    k = 0.3 * np.sin(np.pi * y)  # warm midtones, neutral shadows and highlights
    warm = M.tone_stats(np.clip(np.stack([y * (1 + k), y, y * (1 - k)], -1), 0, 1))
    assert max(warm["neutral_r"]) - min(warm["neutral_r"]) > 0.1
    assert M.tone_stats(grey)["neutral_r"] == pytest.approx([0.0] * M.NEUTRAL_BANDS, abs=1e-3)


def _daylight(seed: int = 5, shadow_share: float = 0.015) -> np.ndarray:
    """A bright textured scene (luma 0.4..1) with a few small real shadows (about
    `shadow_share` of the frame) at 0.06..0.12, as RGB float in [0, 1]."""
    rng = np.random.default_rng(seed)
    h, w = 120, 160
    y = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 5)
    y = 0.4 + 0.6 * (y - y.min()) / (y.max() - y.min())
    n = int(shadow_share * h * w)
    mask = np.zeros((h, w), np.uint8)
    while int(mask.sum()) < n:
        cv2.circle(mask, (int(rng.integers(5, w - 5)), int(rng.integers(5, h - 5))), 2, 1, -1)
    y = np.where(mask > 0, 0.06 + 0.06 * rng.random((h, w)), y).astype(np.float32)
    return np.repeat(y[..., None], 3, axis=-1)


def test_tone_stats_shadow_mass_tells_deep_shadows_from_a_sliver() -> None:
    day = _daylight()
    # The same picture with a third of it in deep shadow (a dark doorway).
    low_key = day.copy()
    low_key[:, :50] = 0.03 + 0.1 * day[:, 50:100] ** 2
    s_day, s_low = M.tone_stats(day)["shadow"][0], M.tone_stats(low_key)["shadow"][0]
    assert s_day < 0.03 < 0.08 < s_low
    # A fade or an exposure change (any gain and offset) leaves it where it was.
    for gain, offset in ((0.8, 0.12), (1.2, -0.05), (0.7, 0.2)):
        moved = M.tone_stats(np.clip(day * gain + offset, 0, 1))["shadow"][0]
        assert moved == pytest.approx(s_day, abs=0.004)
        moved = M.tone_stats(np.clip(low_key * gain + offset, 0, 1))["shadow"][0]
        assert moved == pytest.approx(s_low, abs=0.01)


def test_tone_stats_need_unclipped_pixels() -> None:
    black = np.zeros((40, 60, 3), np.uint8)
    t = M.tone_stats(black)
    assert t["neutral_r"] == [] and t["neutral_b"] == [] and t["lo"] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("grain", [0.01, 0.03])
def test_temporal_noise_sigma_sees_correlated_grain_under_motion(grain: float) -> None:
    base = (_image(160, 200, seed=6) * 255).astype(np.uint8)
    cfg = DamageConfig(grain=grain, grain_size=1.2)
    # Two film frames of a panning shot, each with its own grain, the second brighter.
    f0 = degrade_frame(base[:, 4:164], 0, cfg, seed=2).astype(np.float32) / 255
    f1 = degrade_frame(base[:, 7:167], 1, cfg, seed=2).astype(np.float32) / 255 * 1.1
    true_sigma = float(np.std(f0 - base[:, 4:164].astype(np.float32) / 255))
    est = M.temporal_noise_sigma(f0, f1)
    assert est == pytest.approx(true_sigma, rel=0.15), (est, true_sigma)
    # The single-frame estimate misses much of grain this coarse.
    assert M.noise_sigma(f0) < 0.3 * est
    # A clean pair of the same pan reads (almost) no noise.
    clean0 = base[:, 4:164].astype(np.float32) / 255
    clean1 = base[:, 7:167].astype(np.float32) / 255
    assert M.temporal_noise_sigma(clean0, clean1) < 0.25 * true_sigma


def test_flicker_index_ignores_slow_change_and_cuts() -> None:
    ramp = np.linspace(0.3, 0.6, 30)
    assert M.flicker_index(ramp) < 0.002
    jumpy = ramp * (1 + 0.1 * np.tile([1, -1], 15))
    assert M.flicker_index(jumpy) > 0.05
    step = np.r_[np.full(15, 0.2), np.full(15, 0.7)]
    assert M.flicker_index(step, cuts=[15]) == 0.0
    # A lasting change is content (the median follows it), a one-frame flash is not.
    assert M.flicker_index(step) == 0.0
    flash = np.full(30, 0.4)
    flash[10] = 0.6
    assert M.flicker_index(flash) > 0.01
    assert M.flicker_index(flash, cuts=[10, 11]) == 0.0  # a one-frame shot cannot be judged


def test_dust_count_sees_one_frame_specks_despite_motion() -> None:
    base = _image(96, 128, seed=5)
    frames = [np.roll(base, 2 * t, axis=1) for t in range(3)]
    u8 = [(f * 255).astype(np.uint8) for f in frames]
    assert M.dust_count(*u8) <= 1
    dusty = degrade_frame(u8[1], 1, DamageConfig(dust=2500, dust_size=2.0), seed=1)
    assert M.dust_count(u8[0], dusty, u8[2]) >= 8


def test_warp_follows_flow() -> None:
    a = _image(48, 64, seed=6)[..., 0]
    shifted = np.roll(a, 3, axis=1)
    flow = M.estimate_flow(a, shifted)
    inner = flow[8:-8, 8:-8, 0]
    assert np.median(inner) == pytest.approx(3.0, abs=0.5)
    back = M.warp_numpy(shifted, flow)
    assert np.abs(back - a)[8:-8, 8:-8].mean() < 0.02
    t = M.warp_torch(torch.from_numpy(shifted)[None], flow)[0].numpy()
    # The torch warp is exact bilinear sampling (border replicated).
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    exact = ndimage.map_coordinates(shifted.astype(np.float64),
                                    [ys + flow[..., 1], xs + flow[..., 0]], order=1,
                                    mode="nearest")
    assert np.abs(t - exact)[8:-8, 8:-8].max() < 1e-5
    # OpenCV 4's remap samples at positions rounded to 1/32 px: an error of at most
    # (|d/dx| + |d/dy|) / 64, about 5e-3 for this image (measured 1.2e-3).
    assert np.abs(t - back)[8:-8, 8:-8].max() < 2e-3


def test_scratch_count_and_line_score() -> None:
    a = (_image(64, 96, seed=7) * 255).astype(np.uint8)
    assert M.scratch_count(a) == 0
    b = a.copy()
    b[:, 30] = 250
    b[:, 70:72] = 5
    assert M.scratch_count(b) == 2
    score = M.vertical_line_score(b)
    assert score[30] > 0.2 and score[70] < -0.2


def test_repeat_flags_find_telecine_repeats_but_not_a_still_shot() -> None:
    moving = [0.0] + [0.08 if t % 3 == 0 else 0.001 for t in range(1, 30)]
    flags = M.repeat_flags(moving)
    assert flags[1] and flags[2] and not flags[3]
    still = [0.0] + [0.002] * 29  # every frame as different as the others
    assert not any(M.repeat_flags(still))
