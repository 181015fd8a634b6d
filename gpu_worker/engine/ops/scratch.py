"""scratch: remove vertical film scratches.

A scratch along the film's length runs down the whole picture in a thin
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
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gpu_worker.engine.metrics import luma_torch
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import ScratchSchema


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


class Scratch(ScratchSchema, Operator):
    """Remove thin vertical scratches that persist over frames."""

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
