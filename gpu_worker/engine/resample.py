"""Anti-aliased separable resampling of frames (lanczos, bicubic, bilinear, area).

Used by the resize and super_resolution operators and by the SR trainer's data
preparation, so it is an engine module rather than part of one operator.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


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
