"""Frame interpolation: raise the frame rate by a multiplier or to a target rate.

Each new frame at phase t between frames I0 and I1 (0 < t < 1) is made in these steps:

0. Two source frames that show the same picture (a repeated frame, within codec
   noise) are cross-faded: there is no motion to follow.
1. Optical flow both ways, F01 and F10, with OpenCV's DIS (default; Farneback as
   an option), on luma at a reduced size (`flow_size`, or half the frame where that
   is smaller, not below 160 px).
2. Forward-backward consistency: c0(x) = |F01(x) + F10(x + F01(x))| is small where
   the pixel x of I0 is seen again in I1, large where it is covered in I1 (and the
   same for c1). It measures occlusion and unreliable flow at once.
3. The flows at time t are obtained by *splatting* (pushing) the flows forward: a
   pixel x of I0 lands at x + t·F01(x) and says "I0 is at -t·F01, I1 is at
   (1-t)·F01 from here"; I1's pixels do the same from the other side. Every vote is
   weighted by its consistency (and its closeness in time), so where a foreground
   and the background it covers land on the same place, the pixel whose flow is
   confirmed both ways wins. Places no pixel reaches get the linear estimate from
   the flows there.
4. I0 and I1 are warped to time t (OpenCV remap on the CPU, `grid_sample` elsewhere;
   bilinear, with bicubic detail added where the picture barely moves by default:
   `sampling` = adaptive).
5. Occlusion-aware blending: the splatting of step 3 also says how much confirmed
   content of each frame lands at each place at time t (its visibility). A region
   about to be covered in I1 is reached from I0 only, a region just uncovered from I1
   only, so the mix of the two warped frames, (1-t)·V0 and t·V1, takes each from the
   frame that shows it; where both are visible it is the plain temporal blend. A
   frame whose flow is mostly unreliable (a flash, a whip pan) is not warped at all:
   the nearer source frame is repeated (`fallback`).
6. Uncertain timing: the frames before I0 and after I1 (the op's window has radius 2)
   show whether the motion from frame to frame is steady. Where the motion from I0
   to I1 departs from its neighbours' (`motion_irregularity`: handheld phone footage,
   frames repeated or taken late), the time of the new frame is uncertain, and the
   new frame is averaged with itself moved `timing_blur` (at most) of the motion
   either way: a motion blur, the expected picture over the uncertain time.

Scene cuts: the pipeline clamps windows at cuts, so the last frame of a scene is
its own next frame and is held (duplicated) rather than blended with the next shot.
Everything is deterministic: DIS is given a fresh instance per pair, and nothing is
random.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.engine.device import render_threads, torch_threads
from gpu_worker.engine.rate import target_rate
from gpu_worker.engine.registry import OpContext, Operator
from gpu_worker.engine.schema import InterpolateSchema

DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
# DIS searches down to the first pyramid level whose longer side is at most this.
FINEST_LEVEL_PX = 400
# Consistency scale (pixels at flow resolution): a vote's weight is exp(-(c/σ)²).
CONSISTENCY_SIGMA = 1.0
# A pixel counts as unreliable beyond this inconsistency (pixels at flow resolution).
UNRELIABLE_PX = 3.0
# Keeps a frame's weight above zero where its visibility is nil (plain blend there).
VISIBILITY_FLOOR = 0.02
# Weight of the linear flow estimate, which only matters where no splat lands.
HOLE_WEIGHT = 1e-3
# Flow size: at most half the frame's longer side (DIS at the frame's own size follows
# noise: on the benchmark's 640 px frames flow at 480 px or full size scored lower than
# at 320), but not below this many pixels (or the frame's own size).
MIN_FLOW_PX = 160
# Two source frames whose lumas differ by less than this (levels of 255, the largest
# mean over 16 px blocks) are the same picture: the new frames are cross-fades.
DUPLICATE_LEVELS = 1.0
# Timing irregularity (see `motion_irregularity`): the coarse flows it compares are
# computed at this longer side, and the motion blur of `timing_blur` grows from none at
# IRREGULAR_LOW to all of it at IRREGULAR_HIGH.
IRREGULARITY_PX = 160
IRREGULAR_LOW = 0.2
IRREGULAR_HIGH = 0.6
# `sampling` = adaptive: bicubic where the motion at time t is well under this (pixels
# of the full frame), bilinear where it is larger: weight exp(-(|motion| / STILL_PX)²).
STILL_PX = 1.5


def _luma_u8(frame: torch.Tensor, size: tuple[int, int] | None) -> np.ndarray:
    """(3, H, W) float RGB -> (h, w) uint8 luma at `size` (w, h), area-averaged."""
    weights = frame.new_tensor((0.299, 0.587, 0.114)).view(3, 1, 1)
    y = (frame.detach() * weights).sum(0).to("cpu", torch.float32).numpy()
    if size is not None and (size[0], size[1]) != (y.shape[1], y.shape[0]):
        y = cv2.resize(y, size, interpolation=cv2.INTER_AREA)
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)


def flow_pair(a: np.ndarray, b: np.ndarray, method: str, preset: str,
              finest_px: int = FINEST_LEVEL_PX) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward flow ((h, w, 2) float32 each) between two uint8 lumas:
    a(x) ~ b(x + F_ab(x)) and b(x) ~ a(x + F_ba(x)). DIS searches down to the first
    pyramid level no larger than `finest_px`."""
    if min(a.shape) < 16:  # too small for DIS patches and pyramids: no motion
        zero = np.zeros((*a.shape, 2), np.float32)
        return zero, zero.copy()
    finest = 0
    while max(a.shape) / 2 ** finest > finest_px:
        finest += 1
    if method == "farneback":
        def calc(p: np.ndarray, q: np.ndarray) -> np.ndarray:
            return cv2.calcOpticalFlowFarneback(p, q, None, 0.5, 5, 15, 3, 5, 1.2, 0)
    else:
        def calc(p: np.ndarray, q: np.ndarray) -> np.ndarray:
            # A fresh instance per call: a reused one keeps state between calls.
            dis = cv2.DISOpticalFlow.create(DIS_PRESETS[preset])
            # OpenCV's presets stop one or two pyramid levels above full size (tuned
            # for large frames). On frames already scaled down (`flow_size`) the
            # finest levels are worth their cost: going down to full size at 320 px
            # is worth about 1.9 dB for ultrafast on the benchmark's Sintel frames.
            dis.setFinestScale(finest)
            return dis.calc(p, q, None)
    return calc(a, b), calc(b, a)


def coarse_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A cheap forward flow between two small uint8 lumas (DIS ultrafast, searched
    down to half their size): enough to compare motions, not to warp with."""
    if min(a.shape) < 16:
        return np.zeros((*a.shape, 2), np.float32)
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    dis.setFinestScale(1)
    return dis.calc(a, b, None)


def is_duplicate(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two uint8 lumas show the same picture: no 16 px block differs by
    DUPLICATE_LEVELS or more on average (codec noise passes, a small moving object
    does not)."""
    diff = cv2.absdiff(a, b).astype(np.float32)
    h, w = diff.shape
    bh, bw = max(1, h // 16), max(1, w // 16)
    blocks = cv2.resize(diff[:bh * 16, :bw * 16] if h >= 16 and w >= 16 else diff,
                        (bw, bh), interpolation=cv2.INTER_AREA)
    return float(blocks.max()) < DUPLICATE_LEVELS


def motion_irregularity(prev: np.ndarray | None, a: np.ndarray, b: np.ndarray,
                        after: np.ndarray | None) -> float:
    """How far the motion from a to b departs from the motion of the neighbouring
    intervals (prev to a, b to after), relative to its size: the median over pixels
    of |F_ab - mean(F_pa, F_b,after)| over the median |F_ab| + 0.5 px, on small
    uint8 lumas. About 0.1 for a steady pan or a still shot; 0.5 to 0.8 for handheld
    phone footage whose frames are not evenly spaced in time (a frame repeated, a
    jittering shutter), where the time of a new frame between a and b is uncertain.
    0 when neither neighbour is known (a one-frame scene)."""
    neighbours = [coarse_flow(p, q) for p, q in ((prev, a), (b, after)) if p is not None
                  and q is not None]
    if not neighbours:
        return 0.0
    f_ab = coarse_flow(a, b)
    expected = sum(neighbours) / len(neighbours)
    accel = np.sqrt(((f_ab - expected) ** 2).sum(-1))
    size = np.sqrt((f_ab ** 2).sum(-1))
    return float(np.median(accel) / (np.median(size) + 0.5))


def timing_spread(irregularity: float, limit: float) -> float:
    """The phase spread of the motion blur for a given irregularity: none up to
    IRREGULAR_LOW, `limit` from IRREGULAR_HIGH on, linear between."""
    share = (irregularity - IRREGULAR_LOW) / (IRREGULAR_HIGH - IRREGULAR_LOW)
    return float(limit * min(1.0, max(0.0, share)))


@functools.lru_cache(maxsize=8)
def _numpy_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y), (h, w) float32 each; cached (read-only) per size."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.setflags(write=False)
    gy.setflags(write=False)
    return gx, gy


@functools.lru_cache(maxsize=8)
def _numpy_grid_xy(h: int, w: int) -> np.ndarray:
    """Pixel coordinates as one (h, w, 2) float32 array; cached (read-only) per size."""
    grid = np.ascontiguousarray(np.stack(_numpy_grid(h, w), -1))
    grid.setflags(write=False)
    return grid


def _base_grid(h: int, w: int, device: torch.device) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    return torch.stack([xs, ys])  # (2, h, w): x then y


def backward_warp(img: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample (N, C, H, W) `img` at x + flow(x) (bilinear or bicubic, edges
    replicated); flow (N, 2, H, W) in pixels.

    On the CPU this is OpenCV's remap (several times faster than grid_sample there,
    within 1/32 px); elsewhere torch's grid_sample with the same conventions.
    """
    interpolation = cv2.INTER_CUBIC if mode == "bicubic" else cv2.INTER_LINEAR
    n, c, h, w = img.shape
    if img.device.type == "cpu":
        gx, gy = _numpy_grid(h, w)
        out = np.empty((n, h, w, c), np.float32)
        for k in range(n):
            fl = flow[k].detach().float().numpy()
            src = np.ascontiguousarray(img[k].detach().float().numpy().transpose(1, 2, 0))
            warped = cv2.remap(src, gx + fl[0], gy + fl[1], interpolation,
                               borderMode=cv2.BORDER_REPLICATE)
            out[k] = warped.reshape(h, w, c)
        return torch.from_numpy(out).permute(0, 3, 1, 2)
    grid = _base_grid(h, w, img.device).unsqueeze(0) + flow
    gx = grid[:, 0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = grid[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(img, torch.stack([gx, gy], -1), mode=mode,
                         padding_mode="border", align_corners=True)


def consistency(f_ab: torch.Tensor, f_ba: torch.Tensor) -> torch.Tensor:
    """|F_ab(x) + F_ba(x + F_ab(x))| per pixel: (N, 1, h, w); 0 = confirmed both ways."""
    back = backward_warp(f_ba, f_ab)
    return (f_ab + back).norm(dim=1, keepdim=True)


def _splat_numpy(values: np.ndarray, flow: np.ndarray, weight: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """`splat` on the CPU: numpy's bincount over the four corners of every pixel at
    once (about twice as fast as torch's ops there); sums in float64."""
    c, h, w = values.shape
    n = h * w
    gx, gy = _numpy_grid(h, w)
    px = (gx + flow[0]).reshape(-1)
    py = (gy + flow[1]).reshape(-1)
    x0 = np.floor(px)
    y0 = np.floor(py)
    fx = px - x0
    fy = py - y0
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    wt = weight.reshape(-1)
    idx = np.empty(4 * n, np.int64)
    ww = np.empty(4 * n, np.float32)
    for k, (dx, dy) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
        xi = x0 + dx
        yi = y0 + dy
        bx = fx if dx else 1 - fx
        by = fy if dy else 1 - fy
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        # Off-frame votes get weight 0 at a clamped index (cheaper than masking).
        np.clip(xi, 0, w - 1, out=xi)
        np.clip(yi, 0, h - 1, out=yi)
        idx[k * n:(k + 1) * n] = yi * w + xi
        ww[k * n:(k + 1) * n] = bx * by * wt * ok
    den = np.bincount(idx, weights=ww, minlength=n)
    vals = values.reshape(c, -1)
    num = np.stack([np.bincount(idx, weights=ww * np.tile(vals[j], 4), minlength=n)
                    for j in range(c)])
    return num.astype(np.float32), den.astype(np.float32)


def splat(values: torch.Tensor, flow: torch.Tensor, weight: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear forward splatting: pixel x adds `values` (C, h, w) times `weight`
    (h, w) at x + flow(x) (flow (2, h, w)). Returns (sum of weighted values, sum of
    weights), (C, h, w) and (h, w)."""
    c, h, w = values.shape
    dtype = values.dtype
    if values.device.type == "cpu":
        num_np, den_np = _splat_numpy(values.detach().float().numpy(),
                                      flow.detach().float().numpy(),
                                      weight.detach().float().numpy())
        return (torch.from_numpy(num_np).reshape(c, h, w).to(dtype),
                torch.from_numpy(den_np).reshape(h, w).to(dtype))
    return _splat_torch(values, flow, weight)


def _splat_torch(values: torch.Tensor, flow: torch.Tensor, weight: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """`splat` with torch ops, on any device: the four corners of all pixels
    accumulated by one index_add_."""
    c, h, w = values.shape
    n = h * w
    dtype = values.dtype
    pos = _base_grid(h, w, flow.device) + flow.to(torch.float32)
    x0 = torch.floor(pos[0]).reshape(-1)
    y0 = torch.floor(pos[1]).reshape(-1)
    fx = pos[0].reshape(-1) - x0
    fy = pos[1].reshape(-1) - y0
    gx, gy = 1 - fx, 1 - fy
    x0 = x0.long()
    y0 = y0.long()
    wt = weight.reshape(-1).to(torch.float32)
    # One row per vote: the weight, then the weighted values; the four corners of all
    # pixels are accumulated by a single index_add_ (sequential on the CPU, so
    # deterministic), much cheaper than a bincount per corner and channel.
    rows = torch.cat([torch.ones(1, n, device=values.device),
                      values.reshape(c, -1).to(torch.float32)]).t()  # (n, 1 + C)
    idx_parts, w_parts = [], []
    for dx, dy, bw in ((0, 0, gx * gy), (1, 0, fx * gy), (0, 1, gx * fy), (1, 1, fx * fy)):
        xi = x0 + dx
        yi = y0 + dy
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        # Off-frame votes get weight 0 at a clamped index rather than being
        # filtered out: masking copies every array, a zero weight costs nothing.
        idx_parts.append(yi.clamp_(0, h - 1).mul_(w).add_(xi.clamp_(0, w - 1)))
        w_parts.append(bw.mul_(wt).mul_(ok))
    idx = torch.cat(idx_parts)
    ww = torch.cat(w_parts)
    acc = torch.zeros(n, 1 + c, dtype=torch.float32, device=values.device)
    acc.index_add_(0, idx, rows.repeat(4, 1).mul_(ww[:, None]))
    acc = acc.t()
    return acc[1:].reshape(c, h, w).to(dtype), acc[0].reshape(h, w).to(dtype)


class Interpolate(InterpolateSchema, Operator):
    def __init__(self, params: Mapping[str, Any], ctx: OpContext) -> None:
        super().__init__(params, ctx)
        self.ratio = self.rate_ratio(self.p, ctx.rate if ctx.rate is not None
                                     else target_rate(ctx.fps))

    def temporal_radius(self) -> int:
        # The frames before and after the pair tell how regular the motion is.
        return 2

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        # Used at the source rate only (every output at phase 0): the frames as they are.
        return self.centre(frames, windows)

    # -- rate ---------------------------------------------------------------------
    def process_rate(self, frames: torch.Tensor, windows: torch.Tensor,
                     rows: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        # Inside a render the pipeline has set this already; the op used on its own gets
        # the same setting (one thread on the CPU: see device.render_threads).
        with torch_threads(render_threads(frames.device)):
            return self._process_rate(frames, windows, rows, phases)

    def _process_rate(self, frames: torch.Tensor, windows: torch.Tensor,
                      rows: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        r = windows.shape[1] // 2
        centre = windows[:, r]
        nxt = windows[:, r + 1]
        out = frames[centre[rows]].clone()
        phase_list = phases.tolist()
        row_list = rows.tolist()
        by_row: dict[int, list[int]] = {}
        for k, (row, t) in enumerate(zip(row_list, phase_list, strict=True)):
            if t > 0 and int(nxt[row]) != int(centre[row]):
                by_row.setdefault(row, []).append(k)
        for row, ks in by_row.items():
            i, j = int(centre[row]), int(nxt[row])
            a = frames[i].unsqueeze(0)
            b = frames[j].unsqueeze(0)
            # The neighbours, where the window has them (it is clamped at scene cuts,
            # so a missing one repeats a or b).
            p = int(windows[row, r - 1]) if r >= 1 else i
            n = int(windows[row, r + 2]) if r + 2 < windows.shape[1] else j
            prev = frames[p].unsqueeze(0) if p != i else None
            after = frames[n].unsqueeze(0) if n != j else None
            ts = [phase_list[k] for k in ks]
            out[ks] = self.interpolate_pair(a, b, ts, prev=prev, after=after)
        return out

    def flow_scale(self, h: int, w: int) -> float:
        """Flow size over frame size: `flow_size` px on the longer side, or half the
        frame where that is smaller (not below MIN_FLOW_PX); 1 when flow_size is 0."""
        limit = self.p["flow_size"]
        if not limit:
            return 1.0
        longer = max(h, w)
        target = min(limit, max(longer / 2, min(MIN_FLOW_PX, longer)))
        return min(1.0, target / longer)

    def interpolate_pair(self, a: torch.Tensor, b: torch.Tensor, ts: list[float],
                         prev: torch.Tensor | None = None,
                         after: torch.Tensor | None = None) -> torch.Tensor:
        """Frames at phases `ts` (each in (0, 1)) between (1, 3, H, W) frames a and b;
        `prev` and `after`, the frames before a and after b where known, only measure
        how regular the motion is (`timing_blur`)."""
        _, _, h, w = a.shape
        device = a.device
        scale = self.flow_scale(h, w)
        fw, fh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        size = (fw, fh) if (fw, fh) != (w, h) else None
        la, lb = _luma_u8(a[0], size), _luma_u8(b[0], size)
        if is_duplicate(la, lb):
            # The same picture twice (a repeated frame): no motion to follow.
            return torch.stack([(1 - t) * a[0] + t * b[0] for t in ts])
        spread = 0.0
        if self.p["timing_blur"] > 0 and (prev is not None or after is not None):
            small = IRREGULARITY_PX / max(h, w)
            isize = (max(1, int(round(w * small))), max(1, int(round(h * small))))
            lumas = [None if f is None else _luma_u8(f[0], isize) for f in (prev, after)]
            small_a, small_b = (cv2.resize(y, isize, interpolation=cv2.INTER_AREA)
                                if y.shape[::-1] != isize else y for y in (la, lb))
            spread = timing_spread(motion_irregularity(lumas[0], small_a, small_b, lumas[1]),
                                   self.p["timing_blur"])
        f_ab, f_ba = flow_pair(la, lb, self.p["method"], self.p["quality"])
        f01 = torch.from_numpy(f_ab).permute(2, 0, 1).unsqueeze(0).to(device)
        f10 = torch.from_numpy(f_ba).permute(2, 0, 1).unsqueeze(0).to(device)
        c0 = consistency(f01, f10)  # per pixel of a (flow resolution)
        c1 = consistency(f10, f01)
        unreliable = float(((c0 > UNRELIABLE_PX).float().mean()
                            + (c1 > UNRELIABLE_PX).float().mean()) / 2)
        g0 = torch.exp(-(c0 / CONSISTENCY_SIGMA) ** 2)
        g1 = torch.exp(-(c1 / CONSISTENCY_SIGMA) ** 2)
        outs = []
        a_hwc = b_hwc = None
        for t in ts:
            if unreliable > self.p["max_unreliable"]:
                if self.p["fallback"] == "blend":
                    outs.append((1 - t) * a[0] + t * b[0])
                else:
                    outs.append(a[0] if t < 0.5 else b[0])
                continue
            ft0, ft1, vis_a, vis_b = self._flows_at(f01, f10, g0, g1, t)
            if device.type == "cpu":
                if a_hwc is None:  # once per pair, shared by all its phases
                    a_hwc = np.ascontiguousarray(a[0].detach().float().numpy().transpose(1, 2, 0))
                    b_hwc = np.ascontiguousarray(b[0].detach().float().numpy().transpose(1, 2, 0))
                outs.append(self._warp_blend_numpy(a_hwc, b_hwc, ft0, ft1, vis_a, vis_b, t,
                                                   spread))
                continue
            if size is not None:  # back to full size, in full-size pixels
                ft0 = F.interpolate(ft0, size=(h, w), mode="bilinear", align_corners=False)
                ft1 = F.interpolate(ft1, size=(h, w), mode="bilinear", align_corners=False)
                ft0[:, 0] *= w / fw
                ft0[:, 1] *= h / fh
                ft1[:, 0] *= w / fw
                ft1[:, 1] *= h / fh
            mode = "bicubic" if self.p["sampling"] == "bicubic" else "bilinear"
            wa = backward_warp(a, ft0, mode)
            wb = backward_warp(b, ft1, mode)
            weight_a = torch.full_like(wa[:, :1], 1 - t)
            weight_b = torch.full_like(wb[:, :1], t)
            strength = self.p["occlusion"]
            if strength > 0:
                # Visibility at time t: how much of each frame's confirmed content
                # lands here. Content about to be covered is reached from a only, content
                # just uncovered from b only; elsewhere both reach it and the temporal
                # blend stands.
                vis = torch.cat([vis_a, vis_b], 1)
                if size is not None:
                    vis = F.interpolate(vis, size=(h, w), mode="bilinear", align_corners=False)
                vis = vis.clamp(0.0, 1.0) ** strength + VISIBILITY_FLOOR
                weight_a = weight_a * vis[:, :1]
                weight_b = weight_b * vis[:, 1:]
            blended = (wa * weight_a + wb * weight_b) / (weight_a + weight_b)
            if self.p["sampling"] == "adaptive":  # bicubic detail where still (as on the CPU)
                img, fl, lin = (a, ft0, wa) if t <= 0.5 else (b, ft1, wb)
                still = torch.exp(-(fl ** 2).sum(1, keepdim=True) / STILL_PX ** 2)
                blended = blended + still * (backward_warp(img, fl, "bicubic") - lin)
            if spread > 0:  # the motion blur of an uncertain time (as on the CPU)
                shift = (ft1 - ft0) * spread
                blended = (blended + backward_warp(blended, -shift)
                           + backward_warp(blended, shift)) / 3
            outs.append(blended[0].clamp_(0.0, 1.0))
        return torch.stack(outs)

    def _warp_blend_numpy(self, a_hwc: np.ndarray, b_hwc: np.ndarray, ft0: torch.Tensor,
                          ft1: torch.Tensor, vis_a: torch.Tensor, vis_b: torch.Tensor,
                          t: float, spread: float = 0.0) -> torch.Tensor:
        """Steps 4 and 5 on the CPU, in OpenCV and numpy on (H, W, 3) frames: the same
        warps and blend as the torch path (flows and visibility scaled up bilinearly,
        half-pixel centres) without its layout conversions. Returns (3, H, W)."""
        h, w = a_hwc.shape[:2]
        fh, fw = ft0.shape[-2:]
        grid = _numpy_grid_xy(h, w)
        sampling = self.p["sampling"]
        interpolation = cv2.INTER_CUBIC if sampling == "bicubic" else cv2.INTER_LINEAR
        resized = (fh, fw) != (h, w)
        to_full = np.array((w / fw, h / fh), np.float32)

        def full(small: np.ndarray) -> np.ndarray:
            # Maps are computed at flow size and scaled up once (bilinear).
            return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) if resized else small

        # Flows in full-size pixels, still at flow size ((fh, fw, 2) each).
        small = [np.ascontiguousarray(f[0].detach().float().numpy().transpose(1, 2, 0)) * to_full
                 for f in (ft0, ft1)]
        positions = []
        warped = []
        for img, fl in ((a_hwc, small[0]), (b_hwc, small[1])):
            # Sampling positions, one (x, y) map as remap takes it (`small` kept intact).
            pos = full(fl) if resized else fl.copy()
            pos += grid
            positions.append(pos)
            warped.append(cv2.remap(img, pos, None, interpolation,
                                    borderMode=cv2.BORDER_REPLICATE))
        wa, wb = warped
        # Share of b in the blend, at flow size.
        share_b: np.ndarray | np.float32 = np.float32(t)
        strength = self.p["occlusion"]
        if strength > 0:
            vis = torch.cat([vis_a, vis_b], 1)[0].detach().float().numpy()
            vis = np.clip(vis, 0.0, 1.0)
            if strength != 1.0:
                vis **= np.float32(strength)
            vis += np.float32(VISIBILITY_FLOOR)
            weight_a = np.float32(1 - t) * vis[0]
            weight_b = np.float32(t) * vis[1]
            share_b = full(np.ascontiguousarray(weight_b / (weight_a + weight_b)))[..., None]
        blended = wb - wa
        blended *= share_b
        blended += wa
        if sampling == "adaptive":
            # Where the picture barely moves, the flow is trusted to a fraction of a
            # pixel and bicubic keeps the detail that bilinear softens: the difference
            # between the two samplings of the nearer frame is added where its motion
            # is small (one bicubic warp: the costliest step of all).
            k = 0 if t <= 0.5 else 1
            still = np.exp((small[k] ** 2).sum(-1) * np.float32(-1 / STILL_PX ** 2))
            if float(still.max()) > 0.02:
                detail = cv2.remap((a_hwc, b_hwc)[k], positions[k], None, cv2.INTER_CUBIC,
                                   borderMode=cv2.BORDER_REPLICATE)
                detail -= warped[k]
                detail *= full(still)[..., None]
                blended += detail
        if spread > 0:
            # The motion blur of an uncertain time: the new frame is also sampled
            # `spread` times the motion from a to b on and back, and the three averaged.
            shift = full((small[1] - small[0]) * np.float32(spread))
            acc = cv2.remap(blended, grid - shift, None, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
            acc += cv2.remap(blended, grid + shift, None, cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
            acc += blended
            blended = acc
            blended *= np.float32(1 / 3)
        np.clip(blended, 0.0, 1.0, out=blended)
        return torch.from_numpy(blended).permute(2, 0, 1)

    @staticmethod
    def _flows_at(f01: torch.Tensor, f10: torch.Tensor, g0: torch.Tensor, g1: torch.Tensor,
                  t: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Backward flows from time t to a and to b, (1, 2, h, w) each, by splatting
        both flows to time t (see the module docstring, step 3)."""
        fa, fb = f01[0], f10[0]
        # From a's pixels: a is at -t·F01, b at (1-t)·F01. From b's: a at t·F10, b at
        # -(1-t)·F10. Votes from the nearer frame in time count more. Both votes of a
        # pixel are multiples of its flow, so only the flow itself is splatted.
        sum_a, den_a = splat(fa, t * fa, g0[0, 0] * (1 - t))
        sum_b, den_b = splat(fb, (1 - t) * fb, g1[0, 0] * t)
        den = den_a + den_b + HOLE_WEIGHT
        # Where nothing lands: the linear estimate (Super SloMo's) from the flows there.
        to_a = (-t * sum_a + t * sum_b
                + HOLE_WEIGHT * (-(1 - t) * t * fa + t * t * fb)) / den
        to_b = ((1 - t) * sum_a - (1 - t) * sum_b
                + HOLE_WEIGHT * ((1 - t) * (1 - t) * fa - t * (1 - t) * fb)) / den
        vis_a = (den_a / max(1 - t, 1e-6)).view(1, 1, *den.shape)
        vis_b = (den_b / max(t, 1e-6)).view(1, 1, *den.shape)
        return to_a.unsqueeze(0), to_b.unsqueeze(0), vis_a, vis_b
