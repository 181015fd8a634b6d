"""The synthetic damage model: reproducible, composable, with truthful defect masks."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.engine.damage import (
    PRESETS,
    DamageConfig,
    damage_frame,
    damage_stream,
    degrade_frame,
    degrade_frames,
)


def _clean(n: int = 6, h: int = 72, w: int = 96) -> list[np.ndarray]:
    """A smooth moving gradient: clean, textured enough to notice any damage."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for t in range(n):
        r = 0.5 + 0.3 * np.sin((xx + 2 * t) / 13.0)
        g = 0.5 + 0.3 * np.cos(yy / 9.0)
        b = 0.4 + 0.2 * np.sin((xx + yy) / 17.0)
        out.append((np.stack([r, g, b], -1) * 255).astype(np.uint8))
    return out


def test_same_seed_same_damage_and_other_seed_differs() -> None:
    frame = _clean(1)[0]
    cfg = DamageConfig.preset("heavy")
    a = degrade_frame(frame, 5, cfg, seed=7)
    b = degrade_frame(frame, 5, cfg, seed=7)
    c = degrade_frame(frame, 5, cfg, seed=8)
    assert a.dtype == np.uint8 and a.shape == frame.shape
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_zero_config_is_identity() -> None:
    frame = _clean(1)[0]
    assert np.array_equal(degrade_frame(frame, 0, DamageConfig(), seed=1), frame)


def test_float_input_keeps_dtype_and_range() -> None:
    frame = _clean(1)[0].astype(np.float32) / 255
    out = degrade_frame(frame, 0, DamageConfig.preset("moderate"), seed=0)
    assert out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_stream_is_independent_of_chunking() -> None:
    frames = _clean(8)
    cfg = DamageConfig.preset("moderate")
    whole = list(degrade_frames(frames, cfg, seed=3))
    # Frame 6 degraded on its own equals frame 6 of the stream (no drops configured).
    alone = degrade_frame(frames[6], 6, cfg, seed=3)
    assert np.array_equal(whole[6], alone)


def test_dust_mask_marks_changed_pixels_only() -> None:
    frame = _clean(1)[0]
    d = damage_frame(frame, 0, DamageConfig(dust=2000, dust_size=2.5), seed=4)
    assert d.dust.any() and not d.scratches.any() and not d.blotches.any()
    diff = np.abs(d.frame.astype(int) - frame.astype(int)).max(-1)
    # Outside the (slightly dilated) mask nothing changed; inside, a lot did.
    import cv2

    near = cv2.dilate(d.dust.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert diff[~near].max() <= 60
    assert np.median(diff[d.dust]) > 40


def test_scratches_persist_and_wander_a_little() -> None:
    frame = _clean(1, h=96, w=160)[0]
    cfg = DamageConfig(scratches=24.0, scratch_max_frames=12, fps=24)
    xs = [damage_frame(frame, i, cfg, seed=11).scratch_x for i in range(6)]
    assert all(xs), "with 1 new scratch per frame some are always alive"
    # A scratch alive in frame 3 is still there, within a few pixels, in frame 4.
    moved = [min(abs(x - y) for y in xs[4]) for x in xs[3]]
    assert min(moved) < 3.0
    d = damage_frame(frame, 3, cfg, seed=11)
    cols = d.scratches.sum(0)
    assert cols.max() >= 0.5 * frame.shape[0]  # a long vertical run of pixels


def test_flicker_changes_exposure_per_frame() -> None:
    frames = _clean(10)
    cfg = DamageConfig(flicker=0.1)
    means = [float(f.mean()) for f in degrade_frames(frames, cfg, seed=2)]
    clean_means = [float(f.mean()) for f in frames]
    assert np.std(np.diff(means)) > 5 * (np.std(np.diff(clean_means)) + 0.1)


def test_fade_and_sepia_reduce_contrast_and_saturation() -> None:
    frame = _clean(1)[0]
    def sat(im: np.ndarray) -> float:
        return float((im.max(-1).astype(int) - im.min(-1)).mean())

    faded = degrade_frame(frame, 0, DamageConfig(fade=0.5))
    assert faded.std() < 0.8 * frame.std()
    assert sat(faded) < 0.7 * sat(frame)
    out = degrade_frame(frame, 0, DamageConfig(fade=0.5, cast="sepia", cast_strength=0.8))
    m = out.reshape(-1, 3).mean(0)
    assert m[0] > m[2] + 10  # warm: red above blue


def test_downscale_without_keep_size_shrinks() -> None:
    frame = _clean(1)[0]
    out = degrade_frame(frame, 0, DamageConfig(downscale=2.0, keep_size=False))
    assert out.shape == (36, 48, 3)
    same = degrade_frame(frame, 0, DamageConfig(downscale=2.0))
    assert same.shape == frame.shape and not np.array_equal(same, frame)


def test_drops_and_duplicates_are_recorded() -> None:
    frames = _clean(40, h=16, w=16)
    cfg = DamageConfig(drop=0.2, duplicate=0.2)
    out = list(damage_stream(frames, cfg, seed=5))
    src = [d.source_index for d in out]
    assert len(set(src)) < 40  # some dropped
    dups = [d for d in out if d.duplicated]
    assert dups
    for d in dups:
        first = next(o for o in out if o.source_index == d.source_index and not o.duplicated)
        assert np.array_equal(first.frame, d.frame)
    assert any(d.after_drop for d in out)
    assert src == sorted(src)


def test_unknown_cast_and_preset_are_rejected() -> None:
    with pytest.raises(ValueError):
        DamageConfig(cast="purple")
    with pytest.raises(ValueError):
        DamageConfig.preset("ruined")
    assert set(PRESETS) == {"light", "moderate", "heavy"}
