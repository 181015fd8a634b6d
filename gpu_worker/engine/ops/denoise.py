"""Temporal + spatial denoising of grain and noise.

Two stages, both driven by a per-frame noise estimate so that `strength` means the same
on clean digital footage and on a grainy 16 mm scan:

1. Motion-compensated temporal averaging. Each neighbour in the window is first
   aligned to the centre frame with dense optical flow (OpenCV's DIS on blurred luma
   at half resolution: the flow only has to follow the picture, not the grain), so a
   panning camera or a walking figure still averages over the whole window. Each
   aligned neighbour is then weighted per pixel by how well a small patch around the
   pixel matches the centre frame, after discounting the difference that noise alone
   explains. Where the flow is right the neighbour keeps full weight (noise falls by
   ~sqrt(window)); where it is wrong (occlusions, fast motion) the weight drops to ~0,
   so nothing ghosts. The pipeline already repeats the edge frame at scene cuts, so
   nothing blends across a cut.
2. Spatial non-local means with a per-pixel noise map: the residual noise left by
   stage 1 is known per pixel from the temporal weights (variance sigma^2 sum w^2 /
   (sum w)^2), so the spatial filter works hard only where stage 1 could not (moving
   parts, the first frames of a shot) and barely touches static, already clean areas.

On the CPU both stages run on numpy/OpenCV kernels (box filters, exp, multiply-add
on whole planes; one pass per search offset, never a loop over pixels); on a GPU the
same maths runs in torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.engine.filters import box_blur
from gpu_worker.engine.metrics import estimate_flow, luma_torch
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import DenoiseSchema

# Immerkaer's high-pass: the Laplacian difference of two Laplacians cancels smooth
# image content; its L2 norm is 6, so median(|out|) / (0.6745 * 6) estimates sigma
# for Gaussian noise. The median (not the mean) keeps edges and texture from
# inflating the estimate.
_IMMERKAER = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))


def estimate_noise(frames: torch.Tensor, max_pixels: int = 1 << 18) -> torch.Tensor:
    """Robust per-frame noise standard deviation of (N, C, H, W) frames, shape (N,).

    Averaged over channels. Large frames are estimated on a centre crop of about
    `max_pixels` pixels (plenty for a stable median, and bounded cost at 4K).
    """
    n, c, h, w = frames.shape
    if h * w > max_pixels:
        side = int(math.sqrt(max_pixels))
        ch, cw = min(h, side), min(w, max_pixels // min(h, side))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        frames = frames[:, :, y0:y0 + ch, x0:x0 + cw]
    if min(frames.shape[-2:]) < 3:  # a sliver too thin for the 3x3 mask
        frames = F.pad(frames, (1, 1, 1, 1), mode="replicate")
    if frames.device.type == "cpu":
        # OpenCV's 3x3 filter and a partial sort: the same numbers (torch's median is
        # the lower middle element, as taken here) several times faster on one core.
        kern = np.asarray(_IMMERKAER, np.float32)
        planes = frames.detach().float().reshape(n * c, *frames.shape[-2:]).numpy()
        meds = np.empty(n * c, np.float32)
        for i, plane in enumerate(planes):
            hp_np = cv2.filter2D(np.ascontiguousarray(plane), -1, kern)[1:-1, 1:-1]
            a = np.abs(hp_np).ravel()
            mid = (a.size - 1) // 2
            meds[i] = np.partition(a, mid)[mid]
        med_t = torch.from_numpy(meds).view(n, c)
        return (med_t / (0.6745 * 6.0)).mean(dim=1)
    k = frames.new_tensor(_IMMERKAER).view(1, 1, 3, 3)
    hp = F.conv2d(frames.reshape(-1, 1, *frames.shape[-2:]), k)
    med = hp.abs().flatten(1).median(dim=1).values.view(n, c)
    return (med / (0.6745 * 6.0)).mean(dim=1)


_FLOW_SIDE = 480  # flow for alignment is estimated at most this large (long side)


def _flow_luma(x: torch.Tensor, scale: float) -> np.ndarray:
    """(3, H, W) frame -> blurred uint8 luma at `scale`, for the flow estimator."""
    y = luma_torch(x[None])[0, 0].detach().float().cpu().numpy()
    if scale < 1.0:
        h, w = y.shape
        y = cv2.resize(y, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    y = cv2.GaussianBlur(y, (0, 0), 1.0)
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)


def align_to(centre: torch.Tensor, neighbour: torch.Tensor, centre_luma: np.ndarray,
             neighbour_luma: np.ndarray) -> torch.Tensor:
    """`neighbour` (3, H, W) warped onto `centre` by the DIS flow between the two
    (small, blurred) lumas; bilinear sampling, borders replicated."""
    h, w = centre.shape[-2:]
    flow = estimate_flow(centre_luma, neighbour_luma)
    fh, fw = flow.shape[:2]
    if (fh, fw) != (h, w):
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / fw
        flow[..., 1] *= h / fh
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = gx + flow[..., 0], gy + flow[..., 1]
    if neighbour.device.type == "cpu":
        src = np.ascontiguousarray(neighbour.numpy().transpose(1, 2, 0))
        out = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))
    grid = torch.from_numpy(np.stack([map_x / max(w - 1, 1) * 2 - 1,
                                      map_y / max(h - 1, 1) * 2 - 1], -1)).to(neighbour.device)
    return F.grid_sample(neighbour[None], grid[None], mode="bilinear", padding_mode="border",
                         align_corners=True)[0]


def window_neighbours(frames: torch.Tensor, windows: torch.Tensor, align: bool
                      ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The neighbours of every window's centre, one (B, 3, H, W) tensor per window
    offset (the centre's own offset left out), and for each a (B,) bool: True where
    the offset brings a distinct frame (False where the window is clamped at a cut and
    repeats the centre). With `align`, each neighbour is motion-compensated onto its
    centre; every pair is aligned once."""
    r = windows.shape[1] // 2
    h, w = frames.shape[-2:]
    scale = min(1.0, _FLOW_SIDE / max(h, w), 0.5 if max(h, w) > 320 else 1.0)
    lumas: dict[int, np.ndarray] = {}

    def luma_of(i: int) -> np.ndarray:
        if i not in lumas:
            lumas[i] = _flow_luma(frames[i], scale)
        return lumas[i]

    neighbours, valid = [], []
    for k in range(windows.shape[1]):
        if k == r:
            continue
        rows = []
        for row in windows:
            c, j = int(row[r]), int(row[k])
            if not align or c == j:
                rows.append(frames[j])
            else:
                rows.append(align_to(frames[c], frames[j], luma_of(c), luma_of(j)))
        neighbours.append(torch.stack(rows))
        valid.append(windows[:, k] != windows[:, r])
    return neighbours, valid


def estimate_noise_temporal(centre: torch.Tensor, neighbours: list[torch.Tensor],
                            valid: list[torch.Tensor], max_pixels: int = 1 << 18
                            ) -> torch.Tensor:
    """Noise std of each centre frame from frame differences, shape (B,), inf if none.

    Fresh grain differs between frames while a static (or motion-compensated) scene
    does not, so over such pixels centre - neighbour is pure noise with variance
    2 sigma^2, whatever the grain's spatial correlation (which fools single-frame
    estimators). The 10th percentile of the squared difference (chi-square(1)
    quantile 0.0158) comes from well-matched areas even when much of the frame is
    mismatched; the neighbour that matches best is used. Returns inf where the window
    has no distinct neighbour (a one-frame shot, or a window clamped at a cut) so
    callers fall back to the spatial estimate.
    """
    b = centre.shape[0]
    best = torch.full((b,), float("inf"), device=centre.device)
    step = max(1, int(math.sqrt(centre.shape[-1] * centre.shape[-2] / max_pixels)))
    c = centre[..., ::step, ::step]
    for nb, ok in zip(neighbours, valid, strict=True):
        diff2 = ((nb[..., ::step, ::step] - c) ** 2).flatten(1)[:, ::3]
        k = max(1, int(round(0.1 * diff2.shape[1])))
        est = diff2.kthvalue(k, dim=1).values / (2.0 * 0.01579)
        est = torch.where(ok, est, torch.full_like(est, float("inf")))
        best = torch.minimum(best, est)
    return best.sqrt()


def temporal_average(centre: torch.Tensor, neighbours: list[torch.Tensor],
                     valid: list[torch.Tensor], sigma: torch.Tensor, strength: float,
                     patch_radius: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted average of each centre with its (aligned) neighbours; returns
    (average, residual variance map).

    sigma: (B,) noise std of the centre frames. For every neighbour k the mean squared
    difference to the centre over a patch, d_k, is compared with 2 sigma^2 (what
    two noisy copies of the same content differ by); the excess, in units of
    2 sigma^2, becomes the weight exp(-max(d_k / (2 sigma^2) - 1, 0) / strength). A
    neighbour that is off by about one noise sigma everywhere in the patch keeps about
    60% weight at strength 1; one that differs by 3 sigma (motion the flow missed) gets
    ~1%. The patch is a (2 r + 1)^2 box.
    """
    b = centre.shape[0]
    var = (sigma.clamp(min=1.0 / 255.0) ** 2).view(b, 1, 1, 1)
    acc = centre.clone()
    wsum = torch.ones_like(centre[:, :1])
    wsq = torch.ones_like(wsum)
    for nb, ok in zip(neighbours, valid, strict=True):
        d = box_blur(((nb - centre) ** 2).mean(dim=1, keepdim=True), patch_radius)
        excess = (d / (2.0 * var) - 1.0).clamp_(min=0.0)
        # Clamped above exp's denormal range (slow on CPUs; the weight is 0 anyway).
        wk = torch.exp_(excess.div_(-max(strength, 1e-3)).clamp_(min=-80.0))
        # A repeated centre frame brings no new information: weight 0, not 1, or it
        # would bias the result towards the noisy centre and fake a low residual.
        wk = wk * ok.view(b, 1, 1, 1).to(wk.dtype)
        acc += wk * nb
        wsum += wk
        wsq += wk * wk
    avg = acc / wsum
    resid_var = var * wsq / (wsum * wsum)
    return avg, resid_var


def _half_plane_offsets(search: int, patch: int, height: int, width: int
                        ) -> Iterator[tuple[int, int, int, tuple[slice, slice],
                                            tuple[slice, slice]]]:
    """Non-local-means offsets (dy, dx) of one half-plane, each with mx = max(dx, 0),
    the (rows, cols) of the padded image (padding search + patch) holding the patch
    centres needed for both p + o and p - o plus the patch margin for the box filter,
    and the same region moved by the offset.

    The patch distance is symmetric, D_-o(p) = D_o(p - o), so the other half-plane's
    maps are slices of these.
    """
    pad = search + patch
    for dy in range(0, search + 1):
        for dx in range(-search, search + 1):
            if dy == 0 and dx <= 0:
                continue
            mx = max(dx, 0)
            r0, r1 = pad - dy - patch, pad + height + patch
            c0, c1 = pad - mx - patch, pad + width - min(dx, 0) + patch
            yield (dy, dx, mx, (slice(r0, r1), slice(c0, c1)),
                   (slice(r0 + dy, r1 + dy), slice(c0 + dx, c1 + dx)))


def _nl_means_numpy(x: np.ndarray, noise_var: np.ndarray, h: float, s: int, p: int
                    ) -> np.ndarray:
    """nl_means of one (C, H, W) float32 frame with its (H, W) variance map, on
    OpenCV/numpy planes: per offset a few whole-plane SIMD passes (subtract,
    square-accumulate, box filter, exp, multiply-accumulate)."""
    c, hh, ww = x.shape
    pad = s + p
    mode = "reflect" if min(hh, ww) > pad else "edge"
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode=mode)
    var = np.maximum(noise_var, 1e-8).astype(np.float32)
    # D is the channel mean of the squared difference; fold 1/C into the constants:
    # exp(-max(sumsq / C - 2 var, 0) / (h^2 var)) = exp(-max(sumsq - 2 C var, 0) * k).
    thresh = (2.0 * c) * var
    neg_k = (-1.0 / (c * h * h)) / var
    acc = np.zeros((c, hh, ww), np.float32)
    wsum = np.zeros((hh, ww), np.float32)
    wmax = np.zeros((hh, ww), np.float32)
    k = 2 * p + 1
    tmp = np.empty((hh, ww), np.float32)

    def accumulate(dist: np.ndarray, dy: int, dx: int) -> None:
        np.subtract(dist, thresh, out=tmp)
        np.maximum(tmp, 0.0, out=tmp)
        np.multiply(tmp, neg_k, out=tmp)
        # exp(-80) ~ 2e-35 is weight 0 for all purposes, and below about -87 the
        # result is a denormal float, which costs the CPU ~100x per operation.
        np.maximum(tmp, -80.0, out=tmp)
        w = cv2.exp(tmp)
        for ch in range(c):
            cv2.accumulateProduct(w, xp[ch, pad + dy:pad + dy + hh, pad + dx:pad + dx + ww],
                                  acc[ch])
        wsum.__iadd__(w)
        np.maximum(wmax, w, out=wmax)

    for dy, dx, mx, region, moved in _half_plane_offsets(s, p, hh, ww):
        sq = np.zeros(xp[0][region].shape, np.float32)
        for ch in range(c):
            cv2.accumulateSquare(cv2.subtract(xp[ch][region], xp[ch][moved]), sq)
        # Box sums over the patch (valid region only, as avg_pool2d does).
        d = cv2.boxFilter(sq, -1, (k, k), normalize=True,
                          borderType=cv2.BORDER_CONSTANT)[p:sq.shape[0] - p,
                                                          p:sq.shape[1] - p]
        accumulate(d[dy:dy + hh, mx:mx + ww], dy, dx)
        accumulate(d[0:hh, mx - dx:mx - dx + ww], -dy, -dx)
    np.maximum(wmax, 1e-3, out=wmax)
    out = acc + wmax * x
    out /= (wsum + wmax)
    return out


def nl_means(x: torch.Tensor, noise_var: torch.Tensor, h: float, search: int = 3,
             patch: int = 2) -> torch.Tensor:
    """Non-local means of (B, C, H, W) with a per-pixel noise variance map (B, 1, H, W).

    For each offset o in the (2*search+1)^2 window the patch distance (mean squared
    difference over a (2*patch+1)^2 patch and the channels) is one box filter over a
    difference image, so the cost is a few whole-image operations per offset, never a
    loop over pixels. The distance is symmetric, D_-o(p) = D_o(p - o), so each map
    serves the offsets o and -o: half the offsets are computed. The weight is
    exp(-max(D - 2 var, 0) / (h^2 var)): D up to 2 var is what noise alone gives, so
    only the excess counts as a real difference (Buades et al.). 5x5 patches (patch=2)
    tell texture from grain more reliably than 3x3 at film-grain noise levels, for
    little extra cost.
    """
    if h <= 0:
        return x
    if x.device.type == "cpu" and patch > 0:
        nv = noise_var.detach().float().expand(x.shape[0], 1, *x.shape[-2:])
        return torch.stack([torch.from_numpy(_nl_means_numpy(
            np.ascontiguousarray(x[i].detach().float().numpy()),
            np.ascontiguousarray(nv[i, 0].numpy()), h, search, patch))
            for i in range(x.shape[0])])
    return _nl_means_torch(x, noise_var, h, search, patch)


def _nl_means_torch(x: torch.Tensor, noise_var: torch.Tensor, h: float, search: int,
                    patch: int) -> torch.Tensor:
    """`nl_means` in torch, for GPUs (and patch 0 on the CPU)."""
    b, c, hh, ww = x.shape
    s, p = search, patch
    pad = s + p
    mode = "reflect" if min(hh, ww) > pad else "replicate"
    xp = F.pad(x, (pad, pad, pad, pad), mode=mode)
    var2 = 2.0 * noise_var.clamp(min=1e-8)
    inv_denom = 1.0 / ((h * h) * noise_var.clamp(min=1e-8))
    acc = torch.zeros_like(x)
    wsum = torch.zeros_like(x[:, :1])
    wmax = torch.zeros_like(wsum)

    def accumulate(dist: torch.Tensor, nb: torch.Tensor) -> None:
        w = torch.exp_((dist - var2).clamp_(min=0.0).mul_(inv_denom).neg_())
        acc.addcmul_(w, nb)
        wsum.add_(w)
        torch.maximum(wmax, w, out=wmax)

    for dy, dx, mx, region, moved in _half_plane_offsets(s, p, hh, ww):
        diff = xp[(..., *region)] - xp[(..., *moved)]
        d = F.avg_pool2d(diff.square_().mean(dim=1, keepdim=True), 2 * p + 1, stride=1)
        accumulate(d[:, :, dy:dy + hh, mx:mx + ww],
                   xp[:, :, pad + dy:pad + dy + hh, pad + dx:pad + dx + ww])
        accumulate(d[:, :, 0:hh, mx - dx:mx - dx + ww],
                   xp[:, :, pad - dy:pad - dy + hh, pad - dx:pad - dx + ww])
    # The centre pixel gets the largest weight any neighbour got (the usual NLM
    # convention): weight 1 would over-trust it where no similar patch exists.
    wmax.clamp_(min=1e-3)
    return (acc + wmax * x) / (wsum + wmax)


def denoise_windows(frames: torch.Tensor, windows: torch.Tensor, *, strength: float = 1.0,
                    spatial: float = 1.0, noise_level: float = 0.0,
                    detail: float = 0.0, search: int = 3, align: bool = True) -> torch.Tensor:
    """Denoise the centre frame of every window; see the module docstring.

    noise_level: noise std in [0, 1] units, 0 = estimate it from each centre frame.
    detail: fraction of the removed signal to put back (keeps a little texture).
    search: radius in pixels of the spatial filter's search window.
    align: motion-compensate the neighbours (optical flow) before averaging.
    """
    r = windows.shape[1] // 2
    centre = frames[windows[:, r]]
    neighbours: list[torch.Tensor] = []
    valid: list[torch.Tensor] = []
    if r > 0 and strength > 0:
        neighbours, valid = window_neighbours(frames, windows, align)
    if noise_level > 0:
        sigma = sigma_motion = torch.full((centre.shape[0],), noise_level,
                                          device=frames.device)
    else:
        sigma = sigma_motion = estimate_noise(centre)
        if neighbours:
            # The single-frame estimate misses most of spatially correlated grain
            # (clumps a few pixels across pass for picture detail): on film grain it
            # can read a fifth of the true sigma. The temporal one sees all of it.
            sigma_t = estimate_noise_temporal(centre, neighbours, valid)
            finite = torch.isfinite(sigma_t)  # inf: no distinct neighbour (a cut)
            if align:
                # Motion-compensated neighbours: the well-matched 10 % of pixels are
                # the static and tracked picture, so the temporal value is the noise;
                # it drives both passes.
                sigma = sigma_motion = torch.where(finite, torch.maximum(sigma_t, sigma),
                                                   sigma)
            else:
                # Without alignment moving pixels inflate it: trust it within [1, 1.3]
                # x the single-frame value for the spatial pass, and keep the lower
                # single-frame value for motion detection, where over-reading noise
                # would mistake motion for noise and ghost.
                sigma = torch.where(finite,
                                    torch.minimum(torch.maximum(sigma_t, sigma), 1.3 * sigma),
                                    sigma)
    if neighbours:
        out, resid_var = temporal_average(centre, neighbours, valid, sigma_motion, strength)
        # temporal_average floors sigma at one code value; use the same floor here so
        # a noise-free frame (sigma 0) cannot give 0 / 0.
        floor = 1.0 / 255.0
        ratio = sigma.clamp(min=floor) / sigma_motion.clamp(min=floor)
        resid_var = resid_var * ratio.view(-1, 1, 1, 1) ** 2
    else:
        out = centre
        resid_var = (sigma ** 2).view(-1, 1, 1, 1).expand_as(centre[:, :1]).contiguous()
    if spatial > 0 and strength > 0:
        # Smooth the map a little: a pixel's neighbours share its motion state.
        resid_var = box_blur(resid_var, 2)
        out = nl_means(out, resid_var, h=spatial * math.sqrt(strength), search=search)
    if detail > 0:
        out = out + detail * (centre - out)
    return out.clamp(0.0, 1.0)


class Denoise(DenoiseSchema, Operator):
    def temporal_radius(self) -> int:
        return int(self.p["temporal_radius"]) if self.p["strength"] > 0 else 0

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return denoise_windows(frames, windows, strength=self.p["strength"],
                               spatial=self.p["spatial"],
                               noise_level=self.p["noise_level"] / 255.0,
                               detail=self.p["detail"], search=self.p["search"],
                               align=bool(self.p["align"]))
