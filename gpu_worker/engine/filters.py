"""Small whole-frame filters several operators share: luma, blurs, unsharp masking.

Everything is written as whole-tensor torch maths (separable convolutions), so the
same code runs on the CPU and on CUDA. Frames are (N, 3, H, W) float32 RGB in [0, 1].
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

# Rec. 709 luma weights: frames are treated as display-referred (gamma-encoded) RGB.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


def luma(frames: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luma of (N, 3, H, W) RGB frames, shaped (N, 1, H, W)."""
    w = frames.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
    return (frames * w).sum(dim=1, keepdim=True)


def gaussian_kernel1d(sigma: float, *, device: torch.device | None = None,
                      truncate: float = 3.0) -> torch.Tensor:
    """Normalised 1-D Gaussian taps; radius = ceil(truncate * sigma), at least 1."""
    radius = max(1, int(math.ceil(truncate * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (x / max(sigma, 1e-6)) ** 2)
    return k / k.sum()


def separable_filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Filter every channel of (N, C, H, W) with `kernel` along H then W.

    Reflect padding keeps borders from darkening; falls back to replicate where the
    image is smaller than the kernel (reflect needs pad < size).
    """
    n, c, h, w = x.shape
    r = kernel.numel() // 2
    k = kernel.to(dtype=x.dtype, device=x.device)
    flat = x.reshape(n * c, 1, h, w)
    mode_h = "reflect" if h > r else "replicate"
    mode_w = "reflect" if w > r else "replicate"
    flat = F.pad(flat, (0, 0, r, r), mode=mode_h)
    flat = F.conv2d(flat, k.view(1, 1, -1, 1))
    flat = F.pad(flat, (r, r, 0, 0), mode=mode_w)
    flat = F.conv2d(flat, k.view(1, 1, 1, -1))
    return flat.reshape(n, c, h, w)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W); sigma in pixels (<= 0 returns x)."""
    if sigma <= 0:
        return x
    return separable_filter(x, gaussian_kernel1d(sigma, device=x.device))


def box_blur(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 square around each pixel, reflect-padded borders.

    avg_pool2d is several times faster than a convolution for this on the CPU.
    """
    if radius <= 0:
        return x
    h, w = x.shape[-2:]
    mode = "reflect" if min(h, w) > radius else "replicate"
    if (x.device.type == "cpu" and x.dtype == torch.float32 and x.ndim >= 2
            and not x.requires_grad):
        # OpenCV's box filter is a running sum: O(1) per pixel whatever the radius,
        # where avg_pool2d adds up the whole square.
        border = cv2.BORDER_REFLECT_101 if mode == "reflect" else cv2.BORDER_REPLICATE
        planes = x.detach().reshape(-1, h, w).numpy()
        k = 2 * radius + 1
        out = np.empty_like(planes)
        for i in range(planes.shape[0]):
            out[i] = cv2.boxFilter(np.ascontiguousarray(planes[i]), -1, (k, k), normalize=True, borderType=border)
        return torch.from_numpy(out).reshape(x.shape)
    xp = F.pad(x, (radius, radius, radius, radius), mode=mode)
    return F.avg_pool2d(xp, 2 * radius + 1, stride=1)


def unsharp_mask(frames: torch.Tensor, amount: float, radius: float, threshold: float,
                 luma_only: bool = True) -> torch.Tensor:
    """Unsharp mask with a soft threshold.

    Detail = image - Gaussian blur. Detail smaller than `threshold` (grain, noise) is
    left alone and the gain ramps in smoothly between threshold and 2 x threshold, so
    edges are sharpened without the hard on/off seam of a binary threshold. With
    `luma_only` the same luma detail is added to R, G and B, which sharpens without
    colour fringes and without boosting chroma noise.
    """
    if amount <= 0:
        return frames
    src = luma(frames) if luma_only else frames
    detail = src - gaussian_blur(src, radius)
    if threshold > 0:
        mag = detail.abs()
        if not luma_only:  # one gain per pixel so channels stay in step
            mag = mag.amax(dim=1, keepdim=True)
        gain = ((mag - threshold) / threshold).clamp(0.0, 1.0)
        detail = detail * gain
    return (frames + amount * detail).clamp(0.0, 1.0)
