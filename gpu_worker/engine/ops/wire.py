"""wire: remove wires, rigs and thin straight lines.

Wires, strings, rigs and thin straight lines at any angle, from a
technician's mask (white = remove) and/or automatic detection: thin bright and dark
structures (morphological top-hat / black-hat narrower than `max_width`) that lie on a
long straight segment (probabilistic Hough transform). The hole is filled with
OpenCV's inpainting (Telea's fast marching or Navier-Stokes): both are CPU OpenCV
and clearly better at arbitrary-shaped holes than anything cheap in torch, so this
operator runs per frame on a CPU copy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import torch

from gpu_worker.engine.registry import OpContext, Operator
from gpu_worker.engine.schema import SpecError, WireSchema

_ANGLES = 36  # orientations tried by the line detector (5 degree steps)
_DETECT_SIDE = 480  # automatic detection runs at most at this size


def _line_kernels(length: int) -> list[np.ndarray]:
    """Normalised 1-px line kernels, `length` long, at _ANGLES orientations."""
    size = length | 1
    out = []
    for i in range(_ANGLES):
        a = math.pi * i / _ANGLES
        k = np.zeros((size, size), np.float32)
        c = size // 2
        dx, dy = math.cos(a) * c, math.sin(a) * c
        cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
        out.append(k / k.sum())
    return out


def thin_line_mask(gray_u8: np.ndarray, *, max_width: int, min_length: float,
                   sensitivity: float) -> np.ndarray:
    """(H, W) uint8 0/255: pixels of thin straight lines at any angle.

    Top-hat and black-hat with a kernel wider than `max_width` keep only structures
    thinner than it. A pixel is on a line when, along some direction, most pixels of
    a `min_length` stretch through it are such thin structures *and* the area around
    is not full of them (foliage, grain and textiles have thin structures in every
    direction, a wire has them along one line only).
    """
    h, w = gray_u8.shape
    s = min(1.0, _DETECT_SIDE / max(h, w))
    g = gray_u8 if s == 1.0 else cv2.resize(gray_u8, (round(w * s), round(h * s)),
                                            interpolation=cv2.INTER_AREA)
    mw = max(1, round(max_width * s))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * mw + 3, 2 * mw + 3))
    resp = np.maximum(cv2.morphologyEx(g, cv2.MORPH_TOPHAT, k),
                      cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, k))
    level = 8.0 + 40.0 * (1.0 - sensitivity)  # 8-bit levels above the surroundings
    thin = (resp > level).astype(np.float32)
    # Lines may be a pixel off straight: test a slightly thickened map.
    thin3 = cv2.dilate(thin, np.ones((3, 3), np.uint8))
    length = max(9, int(min_length * math.hypot(*g.shape)))
    density = cv2.blur(thin, (length, length))
    sparse = density < 0.15
    support = np.zeros(g.shape, np.uint8)
    for kk in _line_kernels(length):
        along = cv2.filter2D(thin3, -1, kk, borderType=cv2.BORDER_CONSTANT)
        centres = ((along > 0.85) & sparse).astype(np.uint8)
        if centres.any():
            # Every pixel of the stretch that qualified its centre is on the line.
            support |= cv2.dilate(centres, (kk > 0).astype(np.uint8))
    mask = ((support > 0) & (thin > 0)).astype(np.uint8) * 255
    if s < 1.0:
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.dilate(mask, np.ones((3, 3), np.uint8))


class Wire(WireSchema, Operator):
    """Remove wires and thin straight lines, auto-detected or from a mask."""

    def __init__(self, params: Mapping[str, Any], ctx: OpContext) -> None:
        super().__init__(params, ctx)
        self._user_mask: np.ndarray | None = None
        if self.p["mask"]:
            path = ctx.resolve_path(self.p["mask"])
            m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if m is None:
                raise SpecError(f"wire.mask: cannot read mask image {str(path)!r}",
                                op=self.name, param="mask")
            if m.ndim == 3:
                # An RGBA mask painted on transparency: use alpha; otherwise brightness.
                m = m[..., 3] if m.shape[2] == 4 and m[..., 3].min() < 255 else m[..., :3].max(-1)
            self._user_mask = m.astype(np.uint8) if m.dtype == np.uint8 else (m > 0).astype(np.uint8) * 255

    def frame_mask(self, rgb_u8: np.ndarray) -> np.ndarray:
        """(H, W) uint8 0/255: everything to paint out in this frame."""
        h, w = rgb_u8.shape[:2]
        mask = np.zeros((h, w), np.uint8)
        if self._user_mask is not None:
            um = cv2.resize(self._user_mask, (w, h), interpolation=cv2.INTER_NEAREST)
            mask |= np.where(um > 127, 255, 0).astype(np.uint8)
        if self.p["auto"]:
            g = cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2GRAY)
            mask |= thin_line_mask(g, max_width=int(self.p["max_width"]),
                                   min_length=float(self.p["min_length"]),
                                   sensitivity=float(self.p["sensitivity"]))
        g = int(self.p["grow"])
        if g > 0 and mask.any():
            mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                              (2 * g + 1, 2 * g + 1)))
        return mask

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        x = self.centre(frames, windows)
        flag = cv2.INPAINT_TELEA if self.p["method"] == "telea" else cv2.INPAINT_NS
        radius = max(3, int(self.p["max_width"]) + int(self.p["grow"]) + 1)
        out = []
        for f in x:
            rgb = (f.permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).byte().cpu().numpy()
            mask = self.frame_mask(rgb)
            if not mask.any():
                out.append(f)
                continue
            fixed = cv2.inpaint(rgb, mask, radius, flag)
            # Only masked pixels change: the rest keeps its full float precision.
            m = torch.from_numpy(mask > 0).to(f.device)
            new = torch.from_numpy(fixed).to(f.device).permute(2, 0, 1).float() / 255
            out.append(torch.where(m, new, f))
        return torch.stack(out)
