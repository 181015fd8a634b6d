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
* **Motion the flow missed.** Where a subject moved further than the flow followed
  (a walking animal's back and legs), both warped neighbours show background, or
  another part of the subject, at a spot of it and agree, so the spot passes the
  test above and its fill would paste that into the subject. Two checks on each
  candidate region tell such content from dirt (`confirm_spots`): dirt stands out
  from its own surroundings in this frame (a region no darker, or no brighter, than
  the darkest or brightest fifth of the ring around it is a piece of a larger
  shape), and dirt is on one frame only (a region found in the un-warped previous
  or next frame, displaced by up to 15 % of the frame's longer side, is the subject
  moved: placed there by its surroundings and matching within grain, or found with
  its surroundings as a whole). The search is coarse to fine on image pyramids.
  The repaired area is grown with a disc (at the default `grow` of 1 px that is the
  3x3 square), so that a wider growth has no square corners.
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
# Telling a subject the flow missed from dirt (confirm_spots); measured on the damage
# model's dust over the 20 clean clips and on the Muybridge buffalo, see the README.
_RING = 3  # width in pixels of the ring of surroundings a spot must stand out from
_RING_QUANTILE = 0.2  # ... against its darkest (dark spot) / brightest (bright) fifth
_RING_MARGIN = 0.3  # ... by at least this fraction of the detection threshold
_SEARCH_FRACTION = 0.15  # displacement window: this fraction of the longer side
_COARSE_REACH = 24  # pixels searched each way on the coarsest pyramid level
_MATCH_RESIDUAL = 0.8  # a region placed by its surroundings matches within this
# fraction of the detection threshold (mean absolute difference of luma) ...
_WINDOW_RESIDUAL = 0.48  # ... and one found with them, region and window within this


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


def _grow(mask: torch.Tensor, g: int, *, round_kernel: bool = True) -> torch.Tensor:
    """A (1, 1, H, W) bool mask dilated by `g` pixels: with a disc of radius g + 1/2
    (OpenCV, on a CPU copy: the mask is small and binary; at g = 1 that disc is the
    3x3 square), or with a (2g + 1)-square."""
    if not round_kernel:
        grown = _morph(mask.float(), 2 * g + 1, cv2.MORPH_DILATE)
        if grown is None:
            grown = F.max_pool2d(mask.float(), 2 * g + 1, stride=1, padding=g)
        return grown > 0
    r = np.arange(-g, g + 1)
    disc = (r[:, None] ** 2 + r[None, :] ** 2 <= (g + 0.5) ** 2).astype(np.uint8)
    m = cv2.dilate(mask[0, 0].to(torch.uint8).cpu().numpy(), disc)
    return torch.from_numpy(m.astype(bool)).to(mask.device)[None, None]


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


def _stands_out(y: np.ndarray, comp: np.ndarray, y_fill: np.ndarray, threshold: float) -> bool:
    """Whether the region `comp` ((h, w) bool, in the window `y`) is darker (or
    brighter, as its fill says) than the darker (brighter) fifth of its ring."""
    c8 = comp.astype(np.uint8)
    inner = cv2.dilate(c8, np.ones((3, 3), np.uint8)).astype(bool)
    k = 2 * _RING + 3
    outer = cv2.dilate(c8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool)
    ring = y[outer & ~inner]
    if ring.size == 0:
        return True
    inside = float(y[comp].mean())
    if inside > float(y_fill[comp].mean()):  # a bright spot
        contrast = inside - float(np.quantile(ring, 1.0 - _RING_QUANTILE))
    else:
        contrast = float(np.quantile(ring, _RING_QUANTILE)) - inside
    return contrast >= _RING_MARGIN * threshold


def _best_shift(y: np.ndarray, y_other: np.ndarray, box: tuple[int, int, int, int],
                weight: np.ndarray, centre: tuple[int, int], radius: int) -> tuple[int, int]:
    """The shift (dx, dy), within `radius` of `centre`, at which the window `box`
    (x0, y0, x1, y1) of `y` best matches `y_other`: least sum of squared differences
    over the pixels where `weight` is 1."""
    x0, y0, x1, y1 = box
    h, w = y_other.shape
    cx, cy = centre
    sx0, sy0 = max(0, x0 + cx - radius), max(0, y0 + cy - radius)
    sx1, sy1 = min(w, x1 + cx + radius), min(h, y1 + cy + radius)
    if sx1 - sx0 < x1 - x0 or sy1 - sy0 < y1 - y0:
        return centre  # the shifted window left the frame
    cost = cv2.matchTemplate(y_other[sy0:sy1, sx0:sx1], y[y0:y1, x0:x1], cv2.TM_SQDIFF,
                             mask=None if weight.all() else weight)
    _, _, (bx, by), _ = cv2.minMaxLoc(cost)
    return sx0 + bx - x0, sy0 + by - y0


def _scaled_box(box: tuple[int, int, int, int], level: int) -> tuple[int, int, int, int]:
    f = 2 ** level
    x0, y0 = box[0] // f, box[1] // f
    return x0, y0, max(x0 + 1, -(-box[2] // f)), max(y0 + 1, -(-box[3] // f))


def _scaled_weight(around: np.ndarray, box: tuple[int, int, int, int],
                   sbox: tuple[int, int, int, int], level: int) -> np.ndarray:
    """The 0/1 weight of the window `box` (full size, 1 = surroundings) at pyramid
    `level`: a coarse pixel counts when all it covers is surroundings."""
    if level == 0:
        return np.ascontiguousarray(around, np.float32)
    f = 2 ** level
    a = np.zeros(((sbox[3] - sbox[1]) * f, (sbox[2] - sbox[0]) * f), np.float32)
    ox, oy = box[0] - sbox[0] * f, box[1] - sbox[1] * f
    a[oy:oy + around.shape[0], ox:ox + around.shape[1]] = around
    return (cv2.resize(a, (sbox[2] - sbox[0], sbox[3] - sbox[1]),
                       interpolation=cv2.INTER_AREA) > 0.99).astype(np.float32)


def _locate(ys: list[np.ndarray], others: list[np.ndarray], box: tuple[int, int, int, int],
            weight: np.ndarray, radius: int) -> tuple[int, int] | None:
    """The shift within `radius` pixels at which the window `box` (x0, y0, x1, y1) of
    `ys[0]` best matches `others[0]` (least sum of squared differences over the
    pixels where the (h, w) bool `weight` is set): searched on the coarsest level of
    the pyramids (each level half the size of the one before) and refined level by
    level to the pixel. None when the shifted window leaves the frame."""
    shift, searched = (0, 0), False
    for level in range(len(ys) - 1, -1, -1):
        sbox = _scaled_box(box, level)
        lh, lw = ys[level].shape
        if level and (sbox[2] > lw or sbox[3] > lh):
            continue  # the window's coarse cover leaves the frame: search finer
        wl = _scaled_weight(weight, box, sbox, level)
        if wl.sum() < 4 and level:  # too small at this level: search the next one down
            continue
        reach = 2 if searched else -(-radius // 2 ** level)
        shift = _best_shift(ys[level], others[level], sbox, wl, shift, reach)
        searched = True
        if level:
            shift = (2 * shift[0], 2 * shift[1])
    x0, y0, x1, y1 = box
    h, w = others[0].shape
    if not (0 <= y0 + shift[1] and y1 + shift[1] <= h and 0 <= x0 + shift[0] and x1 + shift[0] <= w):
        return None
    return shift


def _found_in(ys: list[np.ndarray], others: list[np.ndarray], box: tuple[int, int, int, int],
              comp: np.ndarray, radius: int, threshold: float) -> bool:
    """Whether the region `comp` ((h, w) bool in the window `box` of `ys[0]`) is found,
    displaced by at most `radius` pixels, in `others[0]`: either placed by its
    surroundings (the window without the region, which may be dirt, is matched) and
    matching there to within grain, or found together with its surroundings (the
    whole window is matched, and matches to within grain)."""
    x0, y0, x1, y1 = box
    patch = ys[0][y0:y1, x0:x1]
    around = ~cv2.dilate(comp.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    for weight in ((around,) if around.sum() >= 4 else ()) + (np.ones_like(comp),):
        shift = _locate(ys, others, box, weight, radius)
        if shift is None:
            continue
        dx, dy = shift
        d = np.abs(patch - others[0][y0 + dy:y1 + dy, x0 + dx:x1 + dx])
        if weight is around:
            if float(d[comp].mean()) < _MATCH_RESIDUAL * threshold:
                return True
        elif max(float(d[comp].mean()), float(d.mean())) < _WINDOW_RESIDUAL * threshold:
            return True
    return False


def confirm_spots(mask: torch.Tensor, cur: torch.Tensor, prev: torch.Tensor, nxt: torch.Tensor,
                  fill: torch.Tensor, *, threshold: float) -> torch.Tensor:
    """The regions of a candidate mask ((1, 1, H, W) bool) that are dirt: those that
    stand out from their own surroundings in `cur` and are not found, displaced, in
    the un-warped neighbours `prev` and `nxt` (all luma (1, 1, H, W); `fill` is the
    luma of what would replace them). Regions failing either check are content the
    flow did not follow, and are dropped from the mask."""
    m = mask[0, 0].to(torch.uint8).cpu().numpy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return mask
    def plane(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t[0, 0].detach().float().cpu().numpy())
    y, y_prev, y_next, y_fill = plane(cur), plane(prev), plane(nxt), plane(fill)
    h, w = y.shape
    radius = max(8, round(_SEARCH_FRACTION * max(h, w)))
    levels = 0  # pyramid levels above full size: the coarsest search within _COARSE_REACH
    while radius > _COARSE_REACH * 2 ** levels and min(h, w) >= 32 * 2 ** (levels + 1):
        levels += 1
    pyramids: dict[int, list[np.ndarray]] = {}
    def pyramid(img: np.ndarray) -> list[np.ndarray]:
        if id(img) not in pyramids:  # made once per frame, and only when needed
            pyr = [img]
            for _ in range(levels):
                ph, pw = pyr[-1].shape
                pyr.append(cv2.resize(pyr[-1], (pw // 2, ph // 2), interpolation=cv2.INTER_AREA))
            pyramids[id(img)] = pyr
        return pyramids[id(img)]
    keep = np.zeros(n, bool)
    for k in range(1, n):
        x, top, bw, bh = (int(v) for v in stats[k, :4])
        margin = max(_RING + 2, max(bw, bh) // 2)
        box = (max(0, x - margin), max(0, top - margin),
               min(w, x + bw + margin), min(h, top + bh + margin))
        win = np.s_[box[1]:box[3], box[0]:box[2]]
        comp = labels[win] == k
        if not _stands_out(y[win], comp, y_fill[win], threshold):
            continue
        if any(_found_in(pyramid(y), pyramid(other), box, comp, radius, threshold)
               for other in (y_prev, y_next)):
            continue
        keep[k] = True
    return torch.from_numpy(keep[labels]).to(mask.device)[None, None]


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

    def repair(self, cur: torch.Tensor, prev: torch.Tensor, nxt: torch.Tensor, *,
               confirm: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Repair one (1, 3, H, W) frame from two distinct neighbours.

        `confirm=False` skips `confirm_spots` and grows the mask with a square, as
        the operator did before those checks (kept to measure one against the other).
        Returns (restored frame, mask of repaired pixels (1, 1, H, W) bool)."""
        yc = luma_torch(cur)
        # Flicker: bring each neighbour to this frame's exposure (a gain and an offset
        # on RGB matching luma mean and contrast) before comparing or filling.
        prev, nxt = _match_exposure(prev, yc), _match_exposure(nxt, yc)
        yp, yn = luma_torch(prev), luma_torch(nxt)
        prev_w = warp_torch(prev, _flow(yc[0], yp[0]))
        next_w = warp_torch(nxt, _flow(yc[0], yn[0]))
        thr = self.threshold(_difference_sigma(yc - luma_torch(prev_w)))
        mask = detect_spots(cur, prev_w, next_w, threshold=thr, max_size=int(self.p["max_size"]))
        fill = 0.5 * (prev_w + next_w)
        if confirm:
            mask = confirm_spots(mask, yc, yp, yn, luma_torch(fill), threshold=thr)
        g = int(self.p["grow"])
        if g > 0:
            mask = _grow(mask, g, round_kernel=confirm)
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
