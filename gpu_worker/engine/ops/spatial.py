"""Spatial operators: sharpening and resizing, plus the small filters other ops share.

Everything is written as whole-tensor torch maths (separable convolutions, gathers), so
the same code runs on the CPU and on CUDA. Frames are (N, 3, H, W) float32 RGB in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.engine.registry import Operator, Param, register

# Rec. 709 luma weights: frames are treated as display-referred (gamma-encoded) RGB.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)


# ----------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------
# Sharpen
# ----------------------------------------------------------------------------------
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


@register
class Sharpen(Operator):
    name = "sharpen"
    category = "detail"
    description = ("Unsharp-mask sharpening. Detail below the threshold (film grain, "
                   "noise) is not amplified, so only real edges get crisper.")
    params = (
        Param("amount", "float", 0.6, "How much edge contrast to add; 0 leaves the image "
              "untouched, 1 doubles the contrast of fine edges.", min=0.0, max=3.0,
              step=0.05),
        Param("radius", "float", 1.2, "Size of the detail that gets sharpened (the blur "
              "radius of the mask). Small values for fine detail, larger for soft scans.",
              min=0.3, max=8.0, unit="px", step=0.1),
        Param("threshold", "float", 3.0, "Edges weaker than this are left alone so grain "
              "and noise are not boosted; raise it on grainy footage.", min=0.0,
              max=40.0, unit="8-bit code values", step=0.5),
        Param("luma_only", "bool", True, "Sharpen brightness only (no colour fringes, "
              "no boosted colour noise)."),
    )

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        x = self.centre(frames, windows)
        return unsharp_mask(x, self.p["amount"], self.p["radius"],
                            self.p["threshold"] / 255.0, self.p["luma_only"])


# ----------------------------------------------------------------------------------
# Resize
# ----------------------------------------------------------------------------------
def _lanczos3(x: torch.Tensor) -> torch.Tensor:
    a = 3.0
    out = torch.sinc(x) * torch.sinc(x / a)
    return torch.where(x.abs() < a, out, torch.zeros_like(out))


def _cubic(x: torch.Tensor) -> torch.Tensor:
    # Keys cubic with a = -0.5 (Catmull-Rom), the usual "bicubic".
    a = -0.5
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (a + 2) * ax3 - (a + 3) * ax2 + 1
    far = a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a
    return torch.where(ax <= 1, near, torch.where(ax < 2, far, torch.zeros_like(ax)))


def _triangle(x: torch.Tensor) -> torch.Tensor:
    return (1 - x.abs()).clamp(min=0)


def _box(x: torch.Tensor) -> torch.Tensor:
    # Half-open so a pixel edge shared by two taps is counted once.
    return ((x >= -0.5) & (x < 0.5)).to(x.dtype)


_KERNELS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], float]] = {
    "lanczos": (_lanczos3, 3.0),
    "bicubic": (_cubic, 2.0),
    "bilinear": (_triangle, 1.0),
    "area": (_box, 0.5),
}


def _resample_taps(in_size: int, out_size: int, method: str,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and weights (out_size, taps) for resampling one axis.

    Like Pillow's resampler: when shrinking, the kernel is stretched by the scale factor
    so it low-passes before decimating (no aliasing); for `area` this gives exact
    pixel-box averaging (exact pixel areas for whole-number ratios). Taps falling outside the image are clamped to the edge pixel.
    """
    kernel, support = _KERNELS[method]
    scale = in_size / out_size
    stretch = max(scale, 1.0)
    centres = (torch.arange(out_size, dtype=torch.float64, device=device) + 0.5) * scale - 0.5
    reach = support * stretch
    # Every input pixel within `reach` of the centre; taps outside the kernel's
    # support simply get weight 0.
    taps = int(math.ceil(2 * reach)) + 2
    first = torch.floor(centres - reach)
    idx = first.unsqueeze(1) + torch.arange(taps, dtype=torch.float64, device=device)
    weights = kernel((idx - centres.unsqueeze(1)) / stretch).to(torch.float64)
    weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1e-12)
    idx = idx.clamp(0, in_size - 1).long()
    return idx, weights.to(torch.float32)


def _resample_matrix(in_size: int, out_size: int, method: str,
                     device: torch.device) -> torch.Tensor:
    """Dense (out_size, in_size) resampling matrix for one axis.

    Taps clamped to the same edge pixel are summed. A dense matmul is far faster than
    gathers on both CPU (BLAS) and GPU, and the matrices are small (a few MB at 4K).
    """
    idx, w = _resample_taps(in_size, out_size, method, device)
    mat = torch.zeros(out_size, in_size, dtype=torch.float32, device=device)
    mat.scatter_add_(1, idx, w)
    return mat


def _resample_axis(x: torch.Tensor, out_size: int, method: str, dim: int) -> torch.Tensor:
    in_size = x.shape[dim]
    if in_size == out_size and method != "area":
        return x
    mat = _resample_matrix(in_size, out_size, method, x.device)
    if dim == x.dim() - 1:
        return x @ mat.t()
    return torch.matmul(mat, x)  # dim == -2: (out, in) @ (..., in, W)


def resize_frames(frames: torch.Tensor, width: int, height: int,
                  method: str = "lanczos") -> torch.Tensor:
    """Resize (N, C, H, W) to (N, C, height, width) with an anti-aliased separable kernel.

    `method` is one of lanczos (sharpest, Lanczos-3), bicubic (Catmull-Rom), bilinear or
    area (box average; best for large reductions). Output is clamped to [0, 1] because
    lanczos and bicubic overshoot a little at hard edges.
    """
    if method not in _KERNELS:
        raise ValueError(f"unknown resize method {method!r}; use one of {', '.join(_KERNELS)}")
    out = _resample_axis(frames, height, method, dim=2)
    out = _resample_axis(out, width, method, dim=3)
    return out.clamp(0.0, 1.0)


def _even(v: float) -> int:
    return max(2, int(round(v / 2.0)) * 2)


def target_size(width: int, height: int, *, out_width: int = 0, out_height: int = 0,
                scale: float = 1.0, keep_aspect: bool = True, even: bool = True
                ) -> tuple[int, int]:
    """Output size for a resize request.

    Both out_width and out_height 0: scale both axes by `scale`. One of them given:
    the other follows the aspect ratio. Both given: fit inside that box when
    `keep_aspect`, else stretch to exactly that size. `even` rounds to even numbers,
    which 4:2:0 video encoders need.
    """
    if out_width <= 0 and out_height <= 0:
        w, h = width * scale, height * scale
    elif out_height <= 0:
        w, h = out_width, height * out_width / width
    elif out_width <= 0:
        w, h = width * out_height / height, out_height
    elif keep_aspect:
        f = min(out_width / width, out_height / height)
        w, h = width * f, height * f
    else:
        w, h = out_width, out_height
    if even:
        return _even(w), _even(h)
    return max(1, int(round(w))), max(1, int(round(h)))


@register
class Resize(Operator):
    name = "resize"
    category = "size"
    description = ("Change the frame size by a scale factor or to a width and/or height, "
                   "keeping the aspect ratio; anti-aliased when shrinking.")
    changes_size = True
    params = (
        Param("width", "int", 0, "Target width. 0 = follow the height (or the scale factor "
              "when the height is 0 too).", min=0, max=16384, unit="px"),
        Param("height", "int", 0, "Target height. 0 = follow the width (or the scale factor "
              "when the width is 0 too).", min=0, max=16384, unit="px"),
        Param("scale", "float", 1.0, "Scale factor, used only when width and height are "
              "both 0 (0.5 halves, 2 doubles).", min=0.05, max=8.0, unit="x", step=0.05),
        Param("method", "choice", "lanczos", "Resampling filter: lanczos is the sharpest, "
              "bicubic a little softer, bilinear soft, area best for big reductions.",
              choices=("lanczos", "bicubic", "bilinear", "area")),
        Param("keep_aspect", "bool", True, "When both width and height are set, fit inside "
              "that box instead of stretching the picture."),
        Param("even", "bool", True, "Round the size to even numbers (needed by most video "
              "encoders)."),
    )

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return target_size(width, height, out_width=self.p["width"],
                           out_height=self.p["height"], scale=self.p["scale"],
                           keep_aspect=self.p["keep_aspect"], even=self.p["even"])

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        x = self.centre(frames, windows)
        w, h = self.output_size(x.shape[3], x.shape[2])
        return resize_frames(x, w, h, self.p["method"])
