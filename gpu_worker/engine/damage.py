"""Synthetic old-film damage: turn clean frames into plausibly old ones, reproducibly.

Restoration operators are scored by degrading clean footage with known damage,
restoring it and comparing with the clean original; the demo film is drawn clean and
aged with the same model. Everything here is therefore:

* **seeded and stateless per frame**: the damage of frame `i` depends only on
  (`seed`, `i`, the config, the frame), never on which frames were processed before,
  so a clip can be degraded in any order or in pieces and come out identical;
* **composable**: every degradation has its own strength in `DamageConfig` and is off
  at 0;
* **honest about ground truth**: `damage_frame` returns the masks of the defects it
  drew (dust, blotches, scratches), so detectors can be scored for precision/recall.

Persistent damage (vertical scratches) is still stateless: scratch "births" are a
seeded Poisson process over frame numbers, and the scratches alive at frame `i` are
found by replaying the births of the preceding `scratch_max_frames` frames.

The order of the degradations follows the life of a print: the scene is captured at
low resolution and slightly out of focus, the dyes fade and shift colour, the
exposure varies per frame, the emulsion grain is printed in, and dust, dirt and
scratches land on top of everything.

Frames are numpy (H, W, 3) RGB, uint8 or float in [0, 1]; the output has the input's
dtype. OpenCV is used for the resampling and blurs (CPU numpy is what feeds and
leaves this module; it is not on the GPU path).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

# Tags keep the random streams of the different degradations independent, so that
# switching one on does not change the damage drawn by another.
_TAG_GRAIN = 1
_TAG_DUST = 2
_TAG_BLOTCH = 3
_TAG_SCRATCH = 4
_TAG_FLICKER = 5
_TAG_TEMPORAL = 6
_TAG_GRAIN_POOL = 7

CASTS: dict[str, tuple[float, float, float]] = {
    # Multipliers applied after converting towards a monochrome tint: what the
    # picture drifts to when the dyes fade or the print was toned.
    "none": (1.0, 1.0, 1.0),
    "sepia": (1.10, 0.93, 0.70),
    "magenta": (1.08, 0.82, 1.02),
    "cyan": (0.80, 1.00, 1.08),
    "yellow": (1.06, 1.02, 0.72),
}


@dataclass(frozen=True)
class DamageConfig:
    """Strength of every degradation; 0 switches one off.

    Units are chosen so that a value means the same at any resolution where that is
    physical (dust counts per megapixel, sizes in pixels of the output frame).
    """

    grain: float = 0.0  # std-dev of film grain in [0, 1] units at mid-grey (0.03 = visible)
    grain_size: float = 0.8  # grain clump size: gaussian sigma in pixels (0 = per pixel)
    dust: float = 0.0  # expected one-frame specks per megapixel per frame (300 = dusty)
    dust_size: float = 3.0  # largest speck radius in pixels
    blotches: float = 0.0  # expected blotches (large soft dirt/emulsion loss) per frame
    blotch_size: float = 12.0  # largest blotch radius in pixels
    scratches: float = 0.0  # expected new vertical scratches per second of film
    scratch_max_frames: int = 36  # longest lifetime of one scratch in frames
    scratch_width: float = 1.5  # scratch width in pixels
    flicker: float = 0.0  # std-dev of the per-frame exposure gain (0.08 = strong)
    blur: float = 0.0  # gaussian blur sigma in pixels (soft focus, generation loss)
    fade: float = 0.0  # 0..1: loss of contrast and saturation
    cast: str = "none"  # colour cast: one of CASTS
    cast_strength: float = 0.0  # 0..1 blend towards the cast
    downscale: float = 1.0  # >= 1: resolution lost (down, then back up unless keep_size=False)
    keep_size: bool = True
    drop: float = 0.0  # probability a frame is missing from the stream
    duplicate: float = 0.0  # probability a frame is repeated
    fps: float = 24.0  # frames per second, converts scratch rates to per-frame ones

    def __post_init__(self) -> None:
        if self.cast not in CASTS:
            raise ValueError(f"unknown cast {self.cast!r}; known: {', '.join(CASTS)}")
        if self.downscale < 1.0:
            raise ValueError("downscale must be >= 1")
        for name in ("grain", "grain_size", "dust", "dust_size", "blotches", "blotch_size",
                     "scratches", "scratch_width", "flicker", "blur", "fade",
                     "cast_strength", "drop", "duplicate"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.drop + self.duplicate > 1.0:
            raise ValueError("drop + duplicate must be <= 1")

    def replace(self, **changes: Any) -> DamageConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> DamageConfig:
        """A named damage level ("light", "moderate", "heavy"), optionally overridden."""
        try:
            base = PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown damage preset {name!r}; known: {', '.join(PRESETS)}") from None
        return dataclasses.replace(base, **overrides)


PRESETS: dict[str, DamageConfig] = {
    "light": DamageConfig(grain=0.015, dust=80, blotches=0.1, scratches=0.3, flicker=0.03,
                          fade=0.1, cast="sepia", cast_strength=0.2),
    "moderate": DamageConfig(grain=0.03, dust=250, blotches=0.4, scratches=0.8, flicker=0.06,
                             blur=0.6, fade=0.25, cast="sepia", cast_strength=0.45),
    "heavy": DamageConfig(grain=0.05, dust=600, blotches=1.2, scratches=1.5, flicker=0.10,
                          blur=1.2, fade=0.4, cast="sepia", cast_strength=0.7, downscale=2.0,
                          drop=0.02, duplicate=0.03),
}


@dataclass
class DamagedFrame:
    """One degraded frame and the ground truth of what was done to it."""

    frame: np.ndarray  # (H, W, 3), the input's dtype
    source_index: int  # index of the clean frame it was made from
    dust: np.ndarray  # (H, W) bool: one-frame specks
    blotches: np.ndarray  # (H, W) bool: large dirt / emulsion loss
    scratches: np.ndarray  # (H, W) bool: vertical scratch pixels
    gain: float = 1.0  # exposure gain applied by the flicker model
    duplicated: bool = False  # True for the second copy of a repeated frame
    after_drop: bool = False  # True when the frame before it in the source was dropped
    scratch_x: list[float] = field(default_factory=list)  # centre column of each scratch (top row)

    @property
    def defects(self) -> np.ndarray:
        """Union of the local-defect masks."""
        return self.dust | self.blotches | self.scratches


def _rng(seed: int, index: int, tag: int) -> np.random.Generator:
    # SeedSequence mixes the integers properly: neighbouring seeds or frames give
    # unrelated streams, unlike seed + index.
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, index & 0xFFFFFFFF, tag]))


def _to_float(frame: np.ndarray) -> np.ndarray:
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {frame.shape}")
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    return np.asarray(frame, dtype=np.float32)


def _from_float(img: np.ndarray, like: np.ndarray) -> np.ndarray:
    if like.dtype == np.uint8:
        # OpenCV's saturating conversion rounds and clips in one pass.
        return cv2.convertScaleAbs(np.maximum(img, 0.0, out=img), alpha=255.0)
    return np.clip(img, 0.0, 1.0).astype(like.dtype, copy=False)


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _downscale(img: np.ndarray, factor: float, keep_size: bool) -> np.ndarray:
    if factor <= 1.0:
        return img
    h, w = img.shape[:2]
    sw, sh = max(1, round(w / factor)), max(1, round(h / factor))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    if not keep_size:
        return small
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _colour_matrix(fade: float, cast: str, cast_strength: float) -> np.ndarray | None:
    """Fading and toning as one 3x4 affine colour transform (None when both are off).

    Fading pulls every pixel towards its own luma (saturation loss), then towards
    mid-grey with lifted blacks (contrast loss); toning blends in a one-hue image of
    the luma. All three are linear in RGB, so they compose into a single matrix that
    OpenCV applies in one pass.
    """
    lw = np.array([0.299, 0.587, 0.114], dtype=np.float64)
    to_luma = np.tile(lw, (3, 1))  # every channel := luma
    m = np.eye(3)
    off = np.zeros(3)
    if fade > 0:
        fade = min(fade, 1.0)
        m = to_luma + (np.eye(3) - to_luma) * (1.0 - fade)
        k = 1.0 - 0.6 * fade
        m = m * k
        off = np.full(3, 0.5 * (1.0 - k) + 0.08 * fade)
    if cast != "none" and cast_strength > 0:
        st = min(cast_strength, 1.0)
        tone = np.diag(CASTS[cast]) @ to_luma
        m = (1.0 - st) * m + st * (tone @ m)
        off = (1.0 - st) * off + st * (tone @ off)
    if fade <= 0 and (cast == "none" or cast_strength <= 0):
        return None
    return np.hstack([m, off[:, None]]).astype(np.float32)


_GRAIN_POOL: dict[tuple[int, int, int, float], list[np.ndarray]] = {}
_GRAIN_FIELDS = 4  # distinct grain fields per clip; frames take random windows of them
_GRAIN_PAD = 64


def _grain_fields(seed: int, h: int, w: int, size: float) -> list[np.ndarray]:
    """A few large normalised grain fields for a clip, made once and reused.

    Drawing ~1M gaussian samples per frame dominated the cost of the damage model;
    instead every frame takes a random window (offset and flips drawn from its own
    seeded stream) of one of a few larger fields. Windows of a static random field are
    as random as fresh noise to the eye and to every measure used here, and the
    result still depends only on (seed, frame index).
    """
    key = (seed, h, w, size)
    fields = _GRAIN_POOL.get(key)
    if fields is None:
        rng = _rng(seed, 0, _TAG_GRAIN_POOL)
        fields = []
        for _ in range(_GRAIN_FIELDS):
            hh, ww = h + _GRAIN_PAD, w + _GRAIN_PAD
            mono = rng.standard_normal((hh, ww), dtype=np.float32)
            chroma = rng.standard_normal((hh, ww, 3), dtype=np.float32)
            noise = mono[..., None] + 0.25 * chroma
            if size > 0:
                noise = cv2.GaussianBlur(noise, (0, 0), size)
            noise /= max(float(noise.std()), 1e-6)  # keep the std at `grain` whatever the size
            fields.append(noise)
        if len(_GRAIN_POOL) > 8:
            _GRAIN_POOL.clear()
        _GRAIN_POOL[key] = fields
    return fields


def _grain(img: np.ndarray, cfg: DamageConfig, seed: int, index: int) -> np.ndarray:
    h, w = img.shape[:2]
    # Mostly monochrome grain with a little per-channel variation, as on a colour
    # print of black-and-white stock; stronger in the mid-tones where silver grains
    # are half developed.
    rng = _rng(seed, index, _TAG_GRAIN)
    fields = _grain_fields(seed, h, w, cfg.grain_size)
    f = fields[int(rng.integers(len(fields)))]
    y0, x0 = int(rng.integers(_GRAIN_PAD + 1)), int(rng.integers(_GRAIN_PAD + 1))
    noise = f[y0:y0 + h, x0:x0 + w]
    if rng.random() < 0.5:
        noise = noise[::-1]
    if rng.random() < 0.5:
        noise = noise[:, ::-1]
    y = _luma(img)[..., None]
    response = 0.35 + 2.6 * y * (1.0 - y)  # 1.0 at mid-grey, 0.35 at black/white
    return img + cfg.grain * response * noise


def _blob(h: int, w: int, cx: float, cy: float, radius: float, rng: np.random.Generator,
          soft: float) -> tuple[np.ndarray, tuple[slice, slice]]:
    """An irregular blob's opacity (0..1) in a small box around (cx, cy)."""
    pad = int(math.ceil(radius * 1.6)) + 2
    x0, x1 = max(0, int(cx) - pad), min(w, int(cx) + pad + 1)
    y0, y1 = max(0, int(cy) - pad), min(h, int(cy) + pad + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    ang = np.arctan2(dy, dx)
    # Radius modulated by a few random harmonics: specks are not circles.
    r = np.full_like(ang, radius)
    for k in (2, 3, 5):
        r = r * (1.0 + 0.22 * rng.uniform(-1, 1) * np.cos(k * ang + rng.uniform(0, 2 * np.pi)))
    ecc = rng.uniform(0.6, 1.0)
    d = np.sqrt(dx * dx + (dy / ecc) ** 2) / np.maximum(r, 0.5)
    alpha = np.clip((1.0 - d) / max(soft, 1e-3) + 0.5, 0.0, 1.0) if soft > 0 else (d <= 1.0).astype(np.float32)
    return alpha, (slice(y0, y1), slice(x0, x1))


def _spots(img: np.ndarray, mask: np.ndarray, count: int, max_radius: float, min_radius: float,
           soft: float, rng: np.random.Generator, dark_prob: float) -> None:
    h, w = img.shape[:2]
    for _ in range(count):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        radius = rng.uniform(min_radius, max(min_radius, max_radius))
        alpha, box = _blob(h, w, cx, cy, radius, rng, soft)
        dark = rng.random() < dark_prob
        level = rng.uniform(0.0, 0.12) if dark else rng.uniform(0.85, 1.0)
        opacity = rng.uniform(0.75, 1.0)
        a = (alpha * opacity)[..., None]
        img[box] = img[box] * (1.0 - a) + level * a
        mask[box] |= alpha > 0.25


def _scratches_alive(index: int, cfg: DamageConfig, seed: int, w: int) -> list[dict[str, float]]:
    """Scratches present at frame `index`: replay the births of the frames before it."""
    rate = cfg.scratches / max(cfg.fps, 1e-6)
    out: list[dict[str, float]] = []
    lifetime_max = max(1, cfg.scratch_max_frames)
    for born in range(index - lifetime_max + 1, index + 1):
        rng = _rng(seed, born, _TAG_SCRATCH)
        for _ in range(rng.poisson(rate)):
            life = int(rng.integers(max(2, lifetime_max // 4), lifetime_max + 1))
            x0 = rng.uniform(0.03, 0.97) * w
            drift = rng.normal(0.0, 0.25)  # pixels per frame: the film weaves in the gate
            wobble_amp = rng.uniform(0.0, 1.5)
            wobble_phase = rng.uniform(0, 2 * np.pi)
            tilt = rng.normal(0.0, 0.01)  # pixels of x per pixel of y
            dark = rng.random() < 0.4  # scratches on the base print bright, on the emulsion dark
            top = rng.uniform(0.0, 0.3) if rng.random() < 0.3 else 0.0
            bottom = rng.uniform(0.7, 1.0) if rng.random() < 0.3 else 1.0
            strength = rng.uniform(0.35, 0.8)
            age = index - born
            if age >= life:
                continue
            x = x0 + drift * age + wobble_amp * math.sin(0.7 * age + wobble_phase)
            # Intensity breathes a little from frame to frame.
            s = strength * (0.8 + 0.2 * math.sin(1.3 * age + wobble_phase))
            out.append({"x": x, "tilt": tilt, "dark": float(dark), "top": top,
                        "bottom": bottom, "strength": s})
    return out


def _draw_scratches(img: np.ndarray, mask: np.ndarray, scratches: list[dict[str, float]],
                    width: float) -> None:
    h, w = img.shape[:2]
    ys = np.arange(h, dtype=np.float32)
    xs = np.arange(w, dtype=np.float32)
    half = max(width, 0.5) / 2.0
    for s in scratches:
        y0, y1 = int(s["top"] * h), int(math.ceil(s["bottom"] * h))
        centre = s["x"] + s["tilt"] * (ys[y0:y1] - h / 2)
        lo = int(max(0, math.floor(centre.min() - half - 2)))
        hi = int(min(w, math.ceil(centre.max() + half + 3)))
        if hi <= lo:
            continue
        d = np.abs(xs[None, lo:hi] - centre[:, None])
        alpha = np.clip(half + 0.5 - d, 0.0, 1.0) * s["strength"]  # anti-aliased line
        level = 0.05 if s["dark"] else 0.97
        a = alpha[..., None]
        region = img[y0:y1, lo:hi]
        img[y0:y1, lo:hi] = region * (1.0 - a) + level * a
        mask[y0:y1, lo:hi] |= alpha > 0.15


def damage_frame(frame: np.ndarray, index: int, config: DamageConfig, seed: int = 0
                 ) -> DamagedFrame:
    """Degrade one clean frame (frame number `index` of its clip) and report the defects.

    Drop/duplicate decisions are not taken here (they concern the stream); see
    `damage_stream`.
    """
    cfg = config
    img = _to_float(frame)
    img = _downscale(img, cfg.downscale, cfg.keep_size)
    if cfg.blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), cfg.blur)
    colour = _colour_matrix(cfg.fade, cfg.cast, cfg.cast_strength)
    if colour is not None:
        img = cv2.transform(img, colour)
    gain = 1.0
    if cfg.flicker > 0:
        rng = _rng(seed, index, _TAG_FLICKER)
        gain = float(np.clip(1.0 + cfg.flicker * rng.standard_normal(), 0.5, 1.6))
        offset = cfg.flicker * 0.3 * float(rng.standard_normal())
        img = img * gain + offset
    if cfg.grain > 0:
        img = _grain(img, cfg, seed, index)
    img = np.clip(img, 0.0, 1.0)
    h, w = img.shape[:2]
    img = np.ascontiguousarray(img)
    scratch_mask = np.zeros((h, w), dtype=bool)
    scratch_x: list[float] = []
    if cfg.scratches > 0:
        alive = _scratches_alive(index, cfg, seed, w)
        _draw_scratches(img, scratch_mask, alive, cfg.scratch_width)
        scratch_x = [s["x"] for s in alive]
    blotch_mask = np.zeros((h, w), dtype=bool)
    if cfg.blotches > 0:
        rng = _rng(seed, index, _TAG_BLOTCH)
        _spots(img, blotch_mask, int(rng.poisson(cfg.blotches)), cfg.blotch_size,
               min_radius=cfg.blotch_size * 0.4, soft=0.6, rng=rng, dark_prob=0.6)
    dust_mask = np.zeros((h, w), dtype=bool)
    if cfg.dust > 0:
        rng = _rng(seed, index, _TAG_DUST)
        count = int(rng.poisson(cfg.dust * h * w / 1e6))
        _spots(img, dust_mask, count, cfg.dust_size, min_radius=0.8, soft=0.3, rng=rng,
               dark_prob=0.65)
    return DamagedFrame(frame=_from_float(img, frame), source_index=index, dust=dust_mask,
                        blotches=blotch_mask, scratches=scratch_mask, gain=gain,
                        scratch_x=scratch_x)


def degrade_frame(frame: np.ndarray, index: int, config: DamageConfig, seed: int = 0
                  ) -> np.ndarray:
    """Degrade one clean frame; same (frame, index, config, seed) -> same result."""
    return damage_frame(frame, index, config, seed).frame


def damage_stream(frames: Iterable[np.ndarray], config: DamageConfig, seed: int = 0
                  ) -> Iterator[DamagedFrame]:
    """Degrade a stream of clean frames lazily, with drops and duplicates.

    A dropped source frame is simply not emitted; a duplicated one is emitted twice,
    identical (as a telecine repeat would be). `source_index` tells which clean frame
    each output came from, for scoring against the original.
    """
    dropped_before = False
    for i, frame in enumerate(frames):
        u = float(_rng(seed, i, _TAG_TEMPORAL).random()) if (config.drop or config.duplicate) else 1.0
        if u < config.drop:
            dropped_before = True
            continue
        out = damage_frame(frame, i, config, seed)
        out.after_drop = dropped_before
        dropped_before = False
        yield out
        if u < config.drop + config.duplicate:
            yield dataclasses.replace(out, duplicated=True, after_drop=False)


def degrade_frames(frames: Iterable[np.ndarray], config: DamageConfig, seed: int = 0
                   ) -> Iterator[np.ndarray]:
    """Degrade a stream of clean frames lazily; yields the damaged frames only."""
    for d in damage_stream(frames, config, seed):
        yield d.frame
