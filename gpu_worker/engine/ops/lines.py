"""Line defects: vertical film scratches (`scratch`) and wires/rigs/lines (`wire`).

**scratch.** A scratch along the film's length runs down the whole picture in a thin
line (the film slides through the gate vertically) and stays for many frames,
wandering a pixel or two as the film weaves. Detection works on column profiles: each
pixel is compared with the median of pixels a few columns to either side (a thin line
stands out, a wide object does not, since its sides are part of it), and a column is a
scratch when that difference keeps one sign over at least `min_length` of the height
(a quantile down the column, robust to the picture's texture). With `persistence` > 0
a column must also be scratched in the neighbouring frames (allowing for wander).
Masked pixels are filled row by row by linear interpolation between the nearest clean
pixels to the left and right: scratches are vertical, so the best information is
beside them, not above or below. All of it is torch on `ctx.device`.

**wire.** Wires, strings, rigs and thin straight lines at any angle, from a
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
import torch.nn.functional as F

from gpu_worker.engine.metrics import luma_torch
from gpu_worker.engine.registry import OpContext, Operator, Param, SpecError, register


# ----------------------------------------------------------------------------
# scratch
# ----------------------------------------------------------------------------
def _shift_cols(y: torch.Tensor, k: int) -> torch.Tensor:
    """y shifted by k columns (positive = take from the left), edges replicated."""
    if k == 0:
        return y
    w = y.shape[-1]
    idx = (torch.arange(w, device=y.device) - k).clamp(0, w - 1)
    return y[..., idx]


def line_residual(y: torch.Tensor, max_width: int) -> torch.Tensor:
    """(N, 1, H, W) luma -> how much each pixel stands out from *both* sides, just
    beyond `max_width` columns away: brighter (or darker) than the left and the right.
    The smaller of the two differences is kept, so the edge of a wide object (level
    with one side) scores 0 and only lines thinner than `max_width` remain."""
    off = max_width + 1
    left = 0.5 * (_shift_cols(y, off) + _shift_cols(y, off + 2))
    right = 0.5 * (_shift_cols(y, -off) + _shift_cols(y, -off - 2))
    dl, dr = y - left, y - right
    bright = torch.minimum(dl, dr).clamp(min=0)
    dark = torch.maximum(dl, dr).clamp(max=0)
    return bright + dark


def column_scores(y: torch.Tensor, max_width: int, min_length: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(bright, dark) per-column scratch strength (N, W) in luma units: the
    `min_length`-coverage quantile of the line residual down each column."""
    d = line_residual(y, max_width)[:, 0]  # (N, H, W)
    n, h, w = d.shape
    if h > 400:  # a quantile of a subsample of rows is as good and much cheaper
        d = d[:, :: math.ceil(h / 400)]
    bright = torch.quantile(d, 1.0 - min_length, dim=1)
    dark = -torch.quantile(d, min_length, dim=1)
    return bright, dark


def fill_horizontal(x: torch.Tensor, mask: torch.Tensor, *, texture: bool = False
                    ) -> torch.Tensor:
    """Fill masked pixels of (C, H, W) `x` by linear interpolation, along each row,
    between the nearest unmasked pixels to the left and right (mask (H, W) bool).

    texture: also copy the fine detail (grain) of the pixels mirrored across the
    left edge of the gap (the right edge where there is no room on the left), so a
    repaired scratch on grainy film is not a smooth, grainless streak.
    """
    c, h, w = x.shape
    cols = torch.arange(w, device=x.device).expand(h, w)
    left = torch.where(mask, torch.full_like(cols, -1), cols).cummax(1).values
    right = torch.where(mask, torch.full_like(cols, w), cols).flip(1).cummin(1).values.flip(1)
    has_l, has_r = left >= 0, right < w
    li, ri = left.clamp(0, w - 1), right.clamp(0, w - 1)
    vl = x.gather(2, li.expand(c, h, w))
    vr = x.gather(2, ri.expand(c, h, w))
    span = (right - left).clamp(min=1).float()
    t = ((cols - left).float() / span).clamp(0, 1)
    both = vl + (vr - vl) * t
    fill = torch.where(has_l & has_r, both, torch.where(has_l, vl, vr))
    if texture:
        # Detail = the pixel minus its horizontal 5-tap mean; taken from clean pixels.
        detail = x - F.avg_pool1d(F.pad(x.reshape(c * h, 1, w), (2, 2), mode="replicate"),
                                  5, stride=1).reshape(c, h, w)
        src = 2 * left - cols  # mirror across the left edge of the gap
        src = torch.where(src >= 0, src, 2 * right - cols)
        src = src.clamp(0, w - 1)
        ok = ~mask.gather(1, src)  # the mirrored pixel must itself be clean
        fill = fill + torch.where(ok, detail.gather(2, src.expand(c, h, w)),
                                  torch.zeros_like(fill))
    return torch.where(mask, fill, x)


@register
class Scratch(Operator):
    """Remove thin vertical scratches that persist over frames."""

    name = "scratch"
    category = "cleanup"
    description = ("Finds thin vertical lines running down most of the frame (scratches "
                   "along the film) and paints them out from the pixels beside them.")
    params = (
        Param("sensitivity", "float", 0.5,
              "How faint a line may be and still be removed; higher also risks thin "
              "vertical objects such as poles and ropes.", min=0.0, max=1.0, step=0.05),
        Param("max_width", "int", 3, "Widest scratch to remove.", min=1, max=12, unit="px"),
        Param("min_length", "float", 0.5,
              "Fraction of the frame height a line must cover to count as a scratch.",
              min=0.1, max=1.0, step=0.05),
        Param("persistence", "int", 0,
              "Frames before and after in which the scratch must also be found "
              "(0 = judge each frame alone). Raise when real thin verticals are hit.",
              min=0, max=6, unit="frames"),
        Param("texture", "bool", False,
              "Carry the film grain beside the scratch into the repair, so it does not "
              "leave a smooth streak on grainy film (slightly less faithful pixel for "
              "pixel, more natural to the eye)."),
    )

    def temporal_radius(self) -> int:
        return int(self.p["persistence"])

    def threshold(self) -> float:
        return 0.012 + 0.06 * (1.0 - float(self.p["sensitivity"]))

    def detect(self, y: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) luma -> (N, W) per-column signed decision: +1 bright, -1 dark, 0."""
        mw = int(self.p["max_width"])
        bright, dark = column_scores(y, mw, float(self.p["min_length"]))
        thr = self.threshold()
        def spread(s: torch.Tensor) -> torch.Tensor:
            """Robust spread (1.4826 x MAD) of each frame's column scores: a frame full
            of fine vertical texture must show lines well above its own spread."""
            dev = (s - s.median(1, keepdim=True).values).abs()
            return 1.4826 * dev.median(1, keepdim=True).values

        out = torch.zeros_like(bright, dtype=torch.int8)
        for sign, s in ((1, bright), (-1, dark)):
            hit = (s > thr) & (s > 5.0 * spread(s))
            out = torch.where(hit & (out == 0), torch.full_like(out, sign), out)
        return self._width_filter(out, mw)

    @staticmethod
    def _width_filter(dec: torch.Tensor, max_width: int) -> torch.Tensor:
        """Drop runs of detected columns wider than max_width + 1 (a real object)."""
        hit = (dec != 0).float()[:, None]  # (N, 1, W)
        k = max_width + 2
        # A column belongs to a run of >= k hits when some window of k columns covering
        # it is all hits.
        full = (F.avg_pool1d(hit, k, stride=1) > 0.999).float()
        wide = F.max_pool1d(F.pad(full, (k - 1, k - 1)), k, stride=1)[:, :, : hit.shape[-1]] > 0
        return torch.where(wide[:, 0], torch.zeros_like(dec), dec)

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        frames = frames.to(self.ctx.device)
        windows = windows.to(frames.device)
        r = windows.shape[1] // 2
        y = luma_torch(frames)
        dec = self.detect(y)  # (K, W)
        mw = int(self.p["max_width"])
        thr = self.threshold()
        out = []
        for row in windows:
            c = int(row[r])
            cols = dec[c]
            if r > 0:
                # Persistent: the same sign within +-2 columns (wander) in every other
                # distinct frame of the window.
                others = [int(j) for j in row if int(j) != c]
                for j in others:
                    near = F.max_pool1d(dec[j].abs().float()[None, None], 5, 1, 2)[0, 0] > 0
                    cols = torch.where(near, cols, torch.zeros_like(cols))
            if not bool((cols != 0).any()):
                out.append(frames[c])
                continue
            res = line_residual(y[c:c + 1], mw)[0, 0]  # (H, W)
            sign = cols.float()[None, :]
            on = (res * sign) > 0.4 * thr  # the rows where the line actually is
            colmask = (cols != 0)[None, :].expand_as(on)
            mask = on & colmask
            # Anti-aliased edges of the line sit in the adjacent columns.
            mask = F.max_pool2d(mask.float()[None, None], (1, 3), 1, (0, 1))[0, 0] > 0
            out.append(fill_horizontal(frames[c], mask, texture=bool(self.p["texture"])))
        return torch.stack(out).clamp_(0, 1)


# ----------------------------------------------------------------------------
# wire
# ----------------------------------------------------------------------------
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


@register
class Wire(Operator):
    """Remove wires and thin straight lines, auto-detected or from a mask."""

    name = "wire"
    category = "cleanup"
    description = ("Paints out wires, strings and thin straight lines: those painted white "
                   "on a technician's mask image, and/or long thin lines found "
                   "automatically.")
    params = (
        Param("mask", "path", "",
              "Mask image (PNG, any size; white = remove), relative to the project's "
              "assets. Empty for automatic detection only."),
        Param("auto", "bool", True, "Also detect long thin straight lines automatically."),
        Param("min_length", "float", 0.2,
              "Shortest line to remove automatically, as a fraction of the frame "
              "diagonal.", min=0.05, max=1.0, step=0.05),
        Param("max_width", "int", 3, "Widest line to detect automatically.", min=1, max=15,
              unit="px"),
        Param("sensitivity", "float", 0.5,
              "How faint a line may be and still be found automatically.", min=0.0,
              max=1.0, step=0.05),
        Param("grow", "int", 1, "Extra pixels painted out around every line.", min=0,
              max=10, unit="px"),
        Param("method", "choice", "telea",
              "telea: fast marching (sharp, good for thin lines); ns: Navier-Stokes "
              "(smoother, for wider masks).", choices=("telea", "ns")),
    )

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
