"""Real-ESRGAN's second-order degradation, as an independent benchmark degradation.

From X. Wang, L. Xie, C. Dong, Y. Shan, "Real-ESRGAN: Training Real-World Blind
Super-Resolution with Pure Synthetic Data", ICCV Workshops 2021 (arXiv:2107.10833),
section 3 and the released training configuration (options/train_realesrgan_x4plus.yml
of xinntao/Real-ESRGAN). The clean image goes through the classic degradation twice:

1. blur with a random kernel (isotropic / anisotropic Gaussian, generalised Gaussian,
   plateau; 7x7 to 21x21; a 2-D sinc kernel with probability 0.1);
2. resize up, down or keep (probabilities 0.2 / 0.7 / 0.1) by a random factor with a
   random mode (area, bilinear, bicubic);
3. additive Gaussian noise (probability 0.5, else Poisson noise), grey noise with
   probability 0.4;
4. JPEG compression at a random quality (30 to 95);

with the second pass's ranges narrower (blur probability 0.8, sigma 0.2-1.5, resize
0.3-1.2, noise sigma 1-25, Poisson scale 0.05-2.5). Finally the image is resized to
the low-resolution size and the last two steps, [resize + sinc filter] and JPEG, are
applied in random order (the sinc with probability 0.8).

Written here with numpy and OpenCV (the paper's code is in torch and basicsr, which the
project does not depend on); every draw comes from one seeded numpy generator, so a
(frame, seed) pair always gives the same low-resolution image. Deviations from the
paper's code: JPEG is OpenCV's encoder (the paper uses DiffJPEG, a differentiable
approximation of the same codec), and the second pass's resize is relative to the
original size over the benchmark's scale (2 or 4) rather than the training scale 4.
The paper's degradation has no video codec; H.264 is not simulated here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Stage", "FIRST", "SECOND", "random_kernel", "realesrgan_degrade"]

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso",
                "plateau_aniso")
KERNEL_PROBS = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
RESIZE_MODES = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)


@dataclass(frozen=True)
class Stage:
    blur_prob: float
    sigma: tuple[float, float]
    betag: tuple[float, float]
    betap: tuple[float, float]
    sinc_prob: float
    resize_prob: tuple[float, float, float]  # up, down, keep
    resize_range: tuple[float, float]
    gaussian_noise_prob: float
    noise_range: tuple[float, float]
    poisson_scale: tuple[float, float]
    gray_noise_prob: float
    jpeg_range: tuple[int, int]


FIRST = Stage(1.0, (0.2, 3.0), (0.5, 4.0), (1.0, 2.0), 0.1, (0.2, 0.7, 0.1), (0.15, 1.5),
              0.5, (1.0, 30.0), (0.05, 3.0), 0.4, (30, 95))
SECOND = Stage(0.8, (0.2, 1.5), (0.5, 4.0), (1.0, 2.0), 0.1, (0.3, 0.4, 0.3), (0.3, 1.2),
               0.5, (1.0, 25.0), (0.05, 2.5), 0.4, (30, 95))
FINAL_SINC_PROB = 0.8


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    return np.meshgrid(r, r)


def _anisotropic(size: int, sx: float, sy: float, theta: float, beta: float,
                 kind: str) -> np.ndarray:
    xx, yy = _grid(size)
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([sx * sx, sy * sy]) @ rot.T
    inv = np.linalg.inv(cov)
    pts = np.stack([xx, yy], -1)
    d = np.einsum("...i,ij,...j->...", pts, inv, pts)
    if kind == "gaussian":
        k = np.exp(-0.5 * d)
    elif kind == "generalized":
        k = np.exp(-0.5 * np.power(d, beta))
    else:  # plateau
        k = 1.0 / (np.power(d, beta) + 1.0)
    return k / k.sum()


def sinc_kernel(size: int, omega: float) -> np.ndarray:
    """2-D circular low-pass (sinc) kernel with cutoff `omega` (radians)."""
    xx, yy = _grid(size)
    r = np.sqrt(xx ** 2 + yy ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega * _bessel_j1(omega * r) / (2 * np.pi * r)
    k[size // 2, size // 2] = omega ** 2 / (4 * np.pi)
    return k / k.sum()


def _bessel_j1(x: np.ndarray) -> np.ndarray:
    from scipy.special import j1

    return j1(x)


def random_kernel(rng: np.random.Generator, stage: Stage) -> np.ndarray:
    """One blur kernel drawn as the paper does (odd size 7-21)."""
    size = int(rng.choice(np.arange(7, 22, 2)))
    if rng.random() < stage.sinc_prob:
        omega = rng.uniform(np.pi / 3, np.pi) if size < 13 else rng.uniform(np.pi / 5, np.pi)
        return sinc_kernel(size, float(omega))
    kind = KERNEL_TYPES[int(rng.choice(len(KERNEL_TYPES), p=KERNEL_PROBS))]
    sx = float(rng.uniform(*stage.sigma))
    iso = kind.endswith("iso") and not kind.endswith("aniso")
    sy = sx if iso else float(rng.uniform(*stage.sigma))
    theta = 0.0 if iso else float(rng.uniform(-np.pi, np.pi))
    if kind.startswith("generalized"):
        return _anisotropic(size, sx, sy, theta, float(rng.uniform(*stage.betag)),
                            "generalized")
    if kind.startswith("plateau"):
        return _anisotropic(size, sx, sy, theta, float(rng.uniform(*stage.betap)), "plateau")
    return _anisotropic(size, sx, sy, theta, 1.0, "gaussian")


def _filter(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(img, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


def _noise(img: np.ndarray, rng: np.random.Generator, stage: Stage) -> np.ndarray:
    gray = rng.random() < stage.gray_noise_prob
    h, w, _ = img.shape
    if rng.random() < stage.gaussian_noise_prob:
        sigma = rng.uniform(*stage.noise_range) / 255.0
        shape = (h, w, 1) if gray else (h, w, 3)
        return img + rng.normal(0.0, sigma, shape).astype(np.float32)
    scale = rng.uniform(*stage.poisson_scale)
    src = img.clip(0, 1)
    if gray:
        src = np.repeat(cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    vals = 2 ** np.ceil(np.log2(max(len(np.unique((src * 255).round())), 2)))
    noisy = rng.poisson(src * vals) / vals
    noise = (noisy - src).astype(np.float32)
    if gray:
        noise = noise[..., :1]
    return img + noise * scale


def _jpeg(img: np.ndarray, rng: np.random.Generator, stage: Stage) -> np.ndarray:
    quality = int(rng.integers(stage.jpeg_range[0], stage.jpeg_range[1] + 1))
    u8 = (img.clip(0, 1) * 255 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out.astype(np.float32) / 255.0


def _resize(img: np.ndarray, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    return cv2.resize(img, (max(1, w), max(1, h)), interpolation=mode)


def _stage(img: np.ndarray, rng: np.random.Generator, stage: Stage, base: tuple[int, int]
           ) -> np.ndarray:
    """One pass; the resize factor applies to `base` (w, h), as in the paper's code
    (the original size in the first pass, the original over the scale in the second)."""
    if rng.random() < stage.blur_prob:
        img = _filter(img, random_kernel(rng, stage))
    kind = int(rng.choice(3, p=stage.resize_prob))
    factor = (rng.uniform(1, stage.resize_range[1]) if kind == 0
              else rng.uniform(stage.resize_range[0], 1) if kind == 1 else 1.0)
    w, h = base
    if factor != 1.0 or img.shape[:2] != (h, w):
        img = _resize(img, round(w * factor), round(h * factor), rng)
    img = _noise(img, rng, stage).clip(0, 1)
    return _jpeg(img, rng, stage)


def realesrgan_degrade(hr: np.ndarray, scale: int, seed: int = 0) -> np.ndarray:
    """The low-resolution (H/scale, W/scale) uint8 RGB image of a clean uint8 RGB image.

    H and W must be multiples of `scale`. Deterministic for a given `seed`.
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"{w}x{h} is not a multiple of {scale}")
    rng = np.random.default_rng(seed)
    img = hr.astype(np.float32) / 255.0
    img = _stage(img, rng, FIRST, (w, h))
    img = _stage(img, rng, SECOND, (w // scale, h // scale))
    lw, lh = w // scale, h // scale
    final_sinc = rng.random() < FINAL_SINC_PROB
    size = int(rng.choice(np.arange(7, 22, 2)))
    sinc = sinc_kernel(size, float(rng.uniform(np.pi / 3, np.pi))) if final_sinc else None
    if rng.random() < 0.5:
        img = _resize(img, lw, lh, rng)
        if sinc is not None:
            img = _filter(img, sinc)
        img = _jpeg(img.clip(0, 1), rng, SECOND)
    else:
        img = _jpeg(img.clip(0, 1), rng, SECOND)
        img = _resize(img, lw, lh, rng)
        if sinc is not None:
            img = _filter(img, sinc)
    return (img.clip(0, 1) * 255 + 0.5).astype(np.uint8)
