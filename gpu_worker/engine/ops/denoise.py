"""Temporal + spatial denoising of grain and noise.

Two stages, both driven by a per-frame noise estimate so that `strength` means the same
on clean digital footage and on a grainy 16 mm scan:

1. Motion-aware temporal averaging. Each neighbour in the window is weighted per pixel
   by how well a small patch around the pixel matches the centre frame, after
   discounting the difference that noise alone explains. Static areas average over the
   whole window (noise falls by ~sqrt(window)); where something moved the neighbour's
   weight drops to ~0, so moving parts are not ghosted. The pipeline already repeats
   the edge frame at scene cuts, so nothing blends across a cut.
2. Spatial non-local means with a per-pixel noise map: the residual noise left by
   stage 1 is known per pixel from the temporal weights (variance sigma^2 sum w^2 /
   (sum w)^2), so the spatial filter works hard only where stage 1 could not (moving
   parts, the first frames of a shot) and barely touches static, already clean areas.

No optical flow: robust and cheap, and the same torch code on CPU and CUDA.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gpu_worker.engine.ops.spatial import box_blur
from gpu_worker.engine.registry import Operator, Param, register

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
    k = frames.new_tensor(_IMMERKAER).view(1, 1, 3, 3)
    hp = F.conv2d(frames.reshape(-1, 1, *frames.shape[-2:]), k)
    med = hp.abs().flatten(1).median(dim=1).values.view(n, c)
    return (med / (0.6745 * 6.0)).mean(dim=1)


def estimate_noise_temporal(frames: torch.Tensor, windows: torch.Tensor,
                            max_pixels: int = 1 << 18) -> torch.Tensor:
    """Noise std of each window's centre from frame differences, shape (B,), inf if none.

    Fresh grain differs between frames while a static scene does not, so over static
    pixels centre - neighbour is pure noise with variance 2 sigma^2, whatever the
    grain's spatial correlation (which fools single-frame estimators). The 10th
    percentile of the squared difference (chi-square(1) quantile 0.0158) comes from
    flat or static areas even when most of the frame moves; the neighbour that moved
    least is used. Returns inf where the window has no distinct neighbour (a one-frame
    shot, or a window clamped at a cut) so callers fall back to the spatial estimate.
    """
    r = windows.shape[1] // 2
    b = windows.shape[0]
    best = torch.full((b,), float("inf"), device=frames.device)
    centre = frames[windows[:, r]]
    step = max(1, int(math.sqrt(centre.shape[-1] * centre.shape[-2] / max_pixels)))
    centre = centre[..., ::step, ::step]
    for k in range(windows.shape[1]):
        if k == r:
            continue
        diff2 = (frames[windows[:, k]][..., ::step, ::step] - centre) ** 2
        est = torch.quantile(diff2.flatten(1)[:, ::3], 0.1, dim=1) / (2.0 * 0.01579)
        est = torch.where(windows[:, k] == windows[:, r], torch.full_like(est, float("inf")), est)
        best = torch.minimum(best, est)
    return best.sqrt()


def temporal_average(frames: torch.Tensor, windows: torch.Tensor, sigma: torch.Tensor,
                     strength: float, patch_radius: int = 2
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Motion-aware average of each window; returns (average, residual variance map).

    sigma: (B,) noise std of the centre frames. For every neighbour k the mean squared
    difference to the centre over a patch, d_k, is compared with 2 sigma^2 (what
    two noisy copies of the same static content differ by); the excess, in units of
    2 sigma^2, becomes the weight exp(-max(d_k / (2 sigma^2) - 1, 0) / strength). A neighbour that is off by about one
    noise sigma everywhere in the patch keeps about 60% weight at strength 1; one that
    differs by 3 sigma (motion) gets ~1%. The patch is a (2 r + 1)^2 box.
    """
    r = windows.shape[1] // 2
    centre = frames[windows[:, r]]
    b = centre.shape[0]
    var = (sigma.clamp(min=1.0 / 255.0) ** 2).view(b, 1, 1, 1)
    acc = centre.clone()
    wsum = torch.ones_like(centre[:, :1])
    wsq = torch.ones_like(wsum)
    for k in range(windows.shape[1]):
        if k == r:
            continue
        idx = windows[:, k]
        same = idx == windows[:, r]  # clamped at a cut: the centre frame repeated
        nb = frames[idx]
        d = box_blur(((nb - centre) ** 2).mean(dim=1, keepdim=True), patch_radius)
        excess = (d / (2.0 * var) - 1.0).clamp(min=0.0)
        wk = torch.exp(-excess / max(strength, 1e-3))
        # A repeated centre frame brings no new information: weight 0, not 1, or it
        # would bias the result towards the noisy centre and fake a low residual.
        wk = wk * (~same).view(b, 1, 1, 1).to(wk.dtype)
        acc += wk * nb
        wsum += wk
        wsq += wk * wk
    avg = acc / wsum
    resid_var = var * wsq / (wsum * wsum)
    return avg, resid_var


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

    for dy in range(0, s + 1):
        for dx in range(-s, s + 1):
            if dy == 0 and dx <= 0:
                continue  # the other half-plane is covered by symmetry
            mx = max(dx, 0)
            # Region of patch centres q needed for both p + o and p - o, plus the
            # patch margin for the box filter.
            r0, r1 = pad - dy - p, pad + hh + p
            c0, c1 = pad - mx - p, pad + ww - min(dx, 0) + p
            diff = xp[:, :, r0:r1, c0:c1] - xp[:, :, r0 + dy:r1 + dy, c0 + dx:c1 + dx]
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
                    detail: float = 0.0, search: int = 3) -> torch.Tensor:
    """Denoise the centre frame of every window; see the module docstring.

    noise_level: noise std in [0, 1] units, 0 = estimate it from each centre frame.
    detail: fraction of the removed signal to put back (keeps a little texture).
    search: radius in pixels of the spatial filter's search window.
    """
    r = windows.shape[1] // 2
    centre = frames[windows[:, r]]
    if noise_level > 0:
        sigma = sigma_motion = torch.full((centre.shape[0],), noise_level,
                                          device=frames.device)
    else:
        sigma = sigma_motion = estimate_noise(centre)
        if r > 0:
            # The single-frame estimate misses part of spatially correlated grain; the
            # temporal one over-reads when most of the frame moves. Trust the temporal
            # one within [1, 1.3] x the single-frame one for the spatial pass, but keep
            # the lower single-frame value for motion detection, where over-reading
            # noise would mistake motion for noise and ghost.
            sigma_t = estimate_noise_temporal(frames, windows)
            # inf = no distinct neighbour (clamped at a cut): keep the spatial value.
            sigma = torch.where(torch.isfinite(sigma_t),
                                torch.minimum(torch.maximum(sigma_t, sigma), 1.3 * sigma),
                                sigma)
    if r > 0 and strength > 0:
        out, resid_var = temporal_average(frames, windows, sigma_motion, strength)
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


@register
class Denoise(Operator):
    name = "denoise"
    category = "cleanup"
    description = ("Removes grain and video noise: averages matching pixels of "
                   "neighbouring frames (skipping anything that moved, so nothing ghosts), "
                   "then an edge-preserving spatial filter cleans what is left.")
    params = (
        Param("strength", "float", 1.0, "How hard to denoise, relative to the noise "
              "measured in each frame. 1 removes most noise; lower keeps more texture, "
              "higher also smooths faint detail.", min=0.0, max=4.0, step=0.05),
        Param("temporal_radius", "int", 2, "Frames used before and after each frame. More "
              "frames clean static shots better; 0 = spatial filtering only.", min=0,
              max=5, unit="frames"),
        Param("spatial", "float", 1.0, "Strength of the spatial (within-frame) pass. It "
              "mostly acts where the temporal pass could not help, e.g. on moving parts.",
              min=0.0, max=3.0, step=0.05),
        Param("search", "int", 3, "Radius of the area the spatial pass looks in for similar "
              "patches. Larger cleans flat areas better but is slower (time grows with the "
              "square of the radius).", min=1, max=7, unit="px"),
        Param("noise_level", "float", 0.0, "Noise standard deviation if you want to set it "
              "by hand; 0 = measure it in every frame.", min=0.0, max=60.0,
              unit="8-bit code values", step=0.5),
        Param("detail", "float", 0.0, "Fraction of the removed grain to put back, for a "
              "less plastic look.", min=0.0, max=1.0, step=0.05),
    )

    def temporal_radius(self) -> int:
        return int(self.p["temporal_radius"]) if self.p["strength"] > 0 else 0

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return denoise_windows(frames, windows, strength=self.p["strength"],
                               spatial=self.p["spatial"],
                               noise_level=self.p["noise_level"] / 255.0,
                               detail=self.p["detail"], search=self.p["search"])
