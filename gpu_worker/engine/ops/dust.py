"""Dust and dirt removal: temporal, motion-compensated detection of one-frame defects.

Dust, dirt and small emulsion damage sit on one frame of the print: the frames
before and after show the scene there. So a pixel is a defect when it differs from
both motion-compensated neighbours *in the same direction* (darker than both or
brighter than both) while the two neighbours agree with each other (the classic SDI /
ROD detectors of Kokaram's work). It is then filled from the mean of the two warped
neighbours, which carries the real picture, grain included, into the hole.

Details that matter on real transfers:

* **Repeated frames.** Old films transferred at video rates repeat frames (Roundhay's
  12 fps camera frames appear three times at 24.6 fps). Dust on a repeated frame is
  repeated too, so the nearest neighbour cannot reveal it. Within `search` frames the
  operator takes the nearest neighbour on each side that is not a repeat of the
  centre frame.
* **Motion.** Dense optical flow from OpenCV's DIS (on CPU numpy: there is no torch
  equivalent of its quality at this cost), computed on blurred luma so that the
  specks themselves do not steer it. Warping, detection and filling are torch on
  `ctx.device`.
* **Flow errors** on strong edges would look like spots; comparing each pixel with
  the 3x3 max/min of the warped neighbours removes most of them, and regions larger
  than `max_size` (a moving arm the flow missed) are left alone.
* Connected-component sizing uses OpenCV on a CPU copy of the (small, binary) mask.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.engine.metrics import estimate_flow, luma_torch, warp_torch
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import DustSchema

# A neighbour is a repeat of the centre frame when their luma hardly differs: mean
# absolute difference under 2 levels of 8-bit and the 99.9th percentile under 30
# levels (re-encoded repeats differ by compression noise only; distinct frames of
# even a static shot differ by grain, flicker and their own dust).
_REPEAT_MEAN = 2.0 / 255
_REPEAT_P999 = 30.0 / 255
_FLOW_MAX_SIDE = 960  # flow is estimated at most at this size and scaled up


def is_repeat(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when two (1, H, W) luma images are the same film frame repeated."""
    d = (a - b).abs()
    if d.numel() > 200_000:  # a sparse sample is plenty for a yes/no
        d = d.flatten()[:: max(1, d.numel() // 200_000)]
    if _mean_std(d)[0] >= _REPEAT_MEAN:
        return False
    return float(torch.quantile(d.flatten().float(), 0.999)) < _REPEAT_P999


def _flow(ref: torch.Tensor, moving: torch.Tensor) -> np.ndarray:
    """DIS flow on blurred luma (1, H, W) tensors, at most _FLOW_MAX_SIDE px, as numpy."""
    h, w = ref.shape[-2:]
    s = min(1.0, _FLOW_MAX_SIDE / max(h, w))
    out = []
    for t in (ref, moving):
        g = t[0].detach().float().cpu().numpy()
        if s < 1.0:
            g = cv2.resize(g, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        out.append(cv2.GaussianBlur(g, (0, 0), 1.5))
    flow = estimate_flow(out[0], out[1])
    if s < 1.0:
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / s
    return flow


def _morph(x: torch.Tensor, size: int, op: int) -> torch.Tensor | None:
    """OpenCV dilate/erode of a (1, 1, H, W) CPU float tensor with a size x size square
    (its border counts as -inf / +inf, like max_pool2d's padding); None elsewhere."""
    if x.device.type != "cpu" or x.shape[0] * x.shape[1] != 1 or x.dtype != torch.float32:
        return None
    plane = np.ascontiguousarray(x[0, 0].numpy())
    kernel = np.ones((size, size), np.uint8)
    out = cv2.dilate(plane, kernel) if op == cv2.MORPH_DILATE else cv2.erode(plane, kernel)
    return torch.from_numpy(out)[None, None]


def _max3(x: torch.Tensor) -> torch.Tensor:
    fast = _morph(x, 3, cv2.MORPH_DILATE)
    return fast if fast is not None else F.max_pool2d(x, 3, stride=1, padding=1)


def _min3(x: torch.Tensor) -> torch.Tensor:
    fast = _morph(x, 3, cv2.MORPH_ERODE)
    return fast if fast is not None else -F.max_pool2d(-x, 3, stride=1, padding=1)


def _mean_std(t: torch.Tensor) -> tuple[float, float]:
    """Mean and (unbiased) std-dev of a tensor. On the CPU in numpy, in float64: torch
    splits a sum between its threads, so its last bits (and the spots found near the
    threshold) depended on the torch thread count; numpy sums in one fixed order."""
    if t.device.type == "cpu":
        a = t.detach().numpy()
        return float(a.mean(dtype=np.float64)), float(a.std(dtype=np.float64, ddof=1))
    return float(t.mean()), float(t.std())


def _match_exposure(x: torch.Tensor, y_ref: torch.Tensor) -> torch.Tensor:
    """RGB (1, 3, H, W) `x` with a gain and offset making its luma mean and std-dev
    those of the reference luma (1, 1, H, W)."""
    mean, std = _mean_std(luma_torch(x))
    ref_mean, ref_std = _mean_std(y_ref)
    gain = ref_std / max(std, 1e-4)
    return (x - mean) * gain + ref_mean


def _difference_sigma(d: torch.Tensor) -> float:
    """Robust std-dev (1.4826 x MAD) of a difference image: the grain, noise and small
    misregistration two frames differ by anyway (see metrics.difference_sigma)."""
    flat = d.flatten()
    if flat.numel() > 250_000:
        flat = flat[:: flat.numel() // 250_000 + 1]
    med = flat.median()
    return 1.4826 * float((flat - med).abs().median())


def detect_spots(cur: torch.Tensor, prev_w: torch.Tensor, next_w: torch.Tensor, *,
                 threshold: float, max_size: int) -> torch.Tensor:
    """(1, 1, H, W) bool mask of one-frame spots in `cur` (RGB (1, 3, H, W)) given its
    motion-compensated neighbours. Hysteresis: pixels over `threshold` seed a spot,
    which grows into connected pixels over half of it (the soft rim of a speck)."""
    y, y0, y2 = luma_torch(cur), luma_torch(prev_w), luma_torch(next_w)
    bright = torch.minimum(y - _max3(y0), y - _max3(y2))
    dark = torch.minimum(_min3(y0) - y, _min3(y2) - y)
    strength = torch.maximum(bright, dark)
    agree = (y0 - y2).abs() < 0.5 * strength.clamp(min=0) + 0.25 * threshold
    weak = (strength > 0.5 * threshold) & agree
    seed = (strength > threshold) & agree
    grown = seed
    for _ in range(3):
        grown = (_max3(grown.float()) > 0) & weak
    # Drop regions too large to be dirt: usually motion the flow did not follow.
    m = grown[0, 0].to(torch.uint8).cpu().numpy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return grown
    w_ok = stats[:, cv2.CC_STAT_WIDTH] <= max_size
    h_ok = stats[:, cv2.CC_STAT_HEIGHT] <= max_size
    a_ok = stats[:, cv2.CC_STAT_AREA] <= math.pi * (max_size / 2) ** 2
    keep = w_ok & h_ok & a_ok
    keep[0] = False
    kept = keep[labels]
    return torch.from_numpy(kept).to(cur.device)[None, None]


class Dust(DustSchema, Operator):
    """Remove dust, dirt and small blotches that appear on a single frame."""

    def temporal_radius(self) -> int:
        return int(self.p["search"])

    def threshold(self, diff_sigma: float) -> float:
        """Minimum one-frame difference (luma, [0, 1]) that seeds a spot: set by the
        sensitivity, and never within 3 sigma of how much frames differ anyway."""
        base = 0.03 + 0.14 * (1.0 - float(self.p["sensitivity"]))
        return max(base, 3.0 * diff_sigma)

    def _neighbour(self, frames: torch.Tensor, lumas: dict[int, torch.Tensor], row: torch.Tensor,
                   r: int, step: int) -> int | None:
        c = int(row[r])
        for k in range(1, r + 1):
            i = int(row[r + step * k])
            if i == c:
                return None  # clamped at a scene cut: nothing beyond
            if i not in lumas:
                lumas[i] = luma_torch(frames[i:i + 1])[0]
            if not is_repeat(lumas[c], lumas[i]):
                return i
        return None

    def repair(self, cur: torch.Tensor, prev: torch.Tensor, nxt: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Repair one (1, 3, H, W) frame from two distinct neighbours.

        Returns (restored frame, mask of repaired pixels (1, 1, H, W) bool)."""
        yc = luma_torch(cur)
        # Flicker: bring each neighbour to this frame's exposure (a gain and an offset
        # on RGB matching luma mean and contrast) before comparing or filling.
        prev, nxt = _match_exposure(prev, yc), _match_exposure(nxt, yc)
        prev_w = warp_torch(prev, _flow(yc[0], luma_torch(prev)[0]))
        next_w = warp_torch(nxt, _flow(yc[0], luma_torch(nxt)[0]))
        thr = self.threshold(_difference_sigma(yc - luma_torch(prev_w)))
        mask = detect_spots(cur, prev_w, next_w, threshold=thr, max_size=int(self.p["max_size"]))
        g = int(self.p["grow"])
        if g > 0:
            grown = _morph(mask.float(), 2 * g + 1, cv2.MORPH_DILATE)
            if grown is None:
                grown = F.max_pool2d(mask.float(), 2 * g + 1, stride=1, padding=g)
            mask = grown > 0
        fill = 0.5 * (prev_w + next_w)
        m = mask.float()
        return cur * (1 - m) + fill * m, mask

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        r = windows.shape[1] // 2
        frames = frames.to(self.ctx.device)
        out = []
        lumas: dict[int, torch.Tensor] = {}
        for row in windows:
            c = int(row[r])
            if c not in lumas:
                lumas[c] = luma_torch(frames[c:c + 1])[0]
            p = self._neighbour(frames, lumas, row, r, -1)
            n = self._neighbour(frames, lumas, row, r, +1)
            cur = frames[c:c + 1]
            if p is None or n is None:
                out.append(cur)  # one side only cannot tell dirt from new content
                continue
            restored, _ = self.repair(cur, frames[p:p + 1], frames[n:n + 1])
            out.append(restored)
        return torch.cat(out).clamp_(0, 1)
