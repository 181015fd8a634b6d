"""Deflicker: remove frame-to-frame exposure and tone fluctuation.

Hand-cranked cameras and projectors, uneven development and fading make every frame
of an old film a slightly different exposure. Content changes slowly over a few
frames; flicker does not. So each frame's tone curve is matched to the temporal
average over its window: the luma quantiles of every frame in the window are
averaged (a mean of quantile functions is the tone distribution "in between" them,
the Wasserstein barycentre in 1-D), and a monotone piecewise-linear curve maps the
frame's own quantiles onto that average; the curve is applied to R, G and B alike,
which keeps neutral and toned (sepia) greys on their hue. Matching quantiles rather than only the
mean also fixes flicker that lifts the blacks or crushes the whites differently from
the mid-tones.

Flicker on old film is often uneven across the frame (a brighter corner on one frame).
With `tiles` > 1 a smooth exposure map is added: the frame is divided into a grid,
each cell's corrected mean is compared with the temporal median of that cell in the
window (a median, so a figure crossing the cell does not count as flicker), and the
ratio, blurred over the grid and interpolated bilinearly, multiplies the frame.

Windows arrive clamped at scene cuts, so a cut to a darker shot is never averaged
away. All maths is torch on `ctx.device`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.engine.metrics import luma_torch
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import DeflickerSchema

_LEVELS = torch.linspace(0.01, 0.99, 25)
_STATS_SIDE = 256  # statistics are taken on a copy at most this large: plenty, and fast


def _small(y: torch.Tensor) -> torch.Tensor:
    h, w = y.shape[-2:]
    s = _STATS_SIDE / max(h, w)
    if s >= 1:
        return y
    return F.interpolate(y, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear y(x) through (xp, fp), xp increasing; beyond the ends the curve
    continues with slope 1 (an offset), so extremes are shifted, not clipped flat."""
    if x.device.type == "cpu":
        # numpy's interp is one pass in C, many times faster than the torch version's
        # searchsorted, gathers and selects. Two far knots on slope-1 lines give the
        # same offset continuation beyond the ends (values stay well within +-4).
        xs = xp.double().numpy()
        fs = fp.double().numpy()
        xs = np.concatenate(([xs[0] - 4.0], xs, [xs[-1] + 4.0]))
        fs = np.concatenate(([fs[0] - 4.0], fs, [fs[-1] + 4.0]))
        flat_np = x.contiguous().numpy().reshape(-1)
        y_np = np.interp(flat_np, xs, fs).astype(np.float32)
        return torch.from_numpy(y_np.reshape(tuple(x.shape)))
    flat = x.reshape(-1)
    i = torch.searchsorted(xp.contiguous(), flat.contiguous()).clamp(1, len(xp) - 1)
    x0, x1 = xp[i - 1], xp[i]
    y0, y1 = fp[i - 1], fp[i]
    t = ((flat - x0) / (x1 - x0).clamp(min=1e-6)).clamp(0, 1)
    y = y0 + t * (y1 - y0)
    y = torch.where(flat < xp[0], fp[0] + (flat - xp[0]), y)
    y = torch.where(flat > xp[-1], fp[-1] + (flat - xp[-1]), y)
    return y.reshape(x.shape)


class Deflicker(DeflickerSchema, Operator):
    """Even out per-frame exposure and tone against a temporal average."""

    def temporal_radius(self) -> int:
        return int(self.p["radius"])

    # -- per-frame statistics, computed once per distinct frame of the batch --------
    def _stats(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantiles (K, L), means (K,), and tile means (K, T, T) of each frame's luma."""
        y = _small(luma_torch(frames))  # (K, 1, h, w)
        levels = _LEVELS.to(y.device)
        q = torch.quantile(y.flatten(1), levels, dim=1).T.contiguous()  # (K, L)
        # Strictly increasing knots: flat stretches (clipped whites) would divide by 0.
        q = q + torch.arange(q.shape[1], device=y.device) * 1e-5
        t = int(self.p["tiles"])
        tiles = F.adaptive_avg_pool2d(y, t)[:, 0] if t > 1 else y.mean((1, 2, 3))[:, None, None]
        return q, y.mean((1, 2, 3)), tiles

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        frames = frames.to(self.ctx.device)
        windows = windows.to(frames.device)
        r = windows.shape[1] // 2
        q, means, tiles = self._stats(frames)
        s = float(self.p["strength"])
        n_tiles = int(self.p["tiles"])
        out = []
        exposure_only = self.p["mode"] == "exposure"
        for row in windows:
            c = int(row[r])
            x = frames[c]
            target_mean = means[row].mean()
            target_q = q[row].mean(0)

            def corrected(j: int, v: torch.Tensor, target_mean: torch.Tensor = target_mean,
                          target_q: torch.Tensor = target_q) -> torch.Tensor:
                """Values `v` of frame j mapped to the window's reference exposure."""
                if exposure_only:
                    gain = (target_mean / means[j].clamp(min=1e-3)).clamp(0.5, 2.0)
                    return v * gain
                return _interp(v, q[j], target_q)

            y = corrected(c, x)
            if n_tiles > 1:
                # Each window frame's tile means after its own global correction; the
                # median over time is the local exposure the centre should have.
                cells = torch.stack([corrected(int(j), tiles[int(j)]) for j in row])
                ref = cells.median(0).values
                ratio = (ref / cells[r].clamp(min=1e-3)).clamp(0.7, 1.4)
                # The global curve already set the overall exposure: the map may only
                # move light around, or a jumpy median would bring flicker back.
                ratio = ratio * (cells[r].mean() / (ratio * cells[r]).mean().clamp(min=1e-3))
                ratio = F.avg_pool2d(F.pad(ratio[None, None], (1, 1, 1, 1), mode="replicate"),
                                     3, stride=1)
                gain_map = F.interpolate(ratio, size=x.shape[-2:], mode="bilinear",
                                         align_corners=False)[0]
                y = y * gain_map
            out.append(x + s * (y - x))
        return torch.stack(out).clamp_(0, 1)
