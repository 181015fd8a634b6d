"""Image and video quality measures.

Two families:

* **Full-reference** (`psnr`, `ssim`): score a restoration against the clean original,
  used with the synthetic damage model. Implemented in torch so they run where the
  frames already are (CPU or CUDA).
* **No-reference** (`noise_sigma`, `sharpness`, `flicker_index`, `dust_count`, ...):
  what can be measured on a real old film with no clean version. Analysis reports and
  benchmarks use them to say "the flicker went down" on footage nobody has a ground
  truth for. They work on numpy frames on the CPU (OpenCV for filtering and optical
  flow), because analysis streams a clip once and these are cheap.

Intensity values are in [0, 1] units throughout (a noise sigma of 0.01 is about
2.5 levels of 8-bit video).

The motion helpers (`estimate_flow`, `warp_numpy`, `flow_grid`, `warp_torch`) live
here because both the no-reference dust measure and the dust operator compensate
motion the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = np.ndarray | torch.Tensor

_LUMA = (0.299, 0.587, 0.114)


# ----------------------------------------------------------------------------
# conversions
# ----------------------------------------------------------------------------
def to_tensor(frames: ArrayLike | Sequence[np.ndarray]) -> torch.Tensor:
    """numpy (H, W, 3) / (N, H, W, 3) uint8 or float, or a tensor -> float32 (N, 3, H, W) in [0, 1]."""
    if isinstance(frames, torch.Tensor):
        t = frames.float()
        return t.unsqueeze(0) if t.ndim == 3 else t
    arr = np.asarray(frames) if not isinstance(frames, np.ndarray) else frames
    if arr.ndim == 3:
        arr = arr[None]
    scale = 255.0 if arr.dtype == np.uint8 else 1.0
    t = torch.from_numpy(np.ascontiguousarray(arr)).float().div_(scale)
    return t.permute(0, 3, 1, 2).contiguous()


def gray(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8/float -> (H, W) float32 luma in [0, 1] (Rec. 601 weights)."""
    f = frame.astype(np.float32)
    if frame.dtype == np.uint8:
        f /= 255.0
    if f.ndim == 2:
        return f
    return f @ np.array(_LUMA, dtype=np.float32)


def luma_torch(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma."""
    # Three scaled adds: no (N, 3, H, W) temporary and no reduction kernel, several
    # times faster than (x * w).sum(1) on the CPU; same sum, same order.
    out = x[:, 0:1] * _LUMA[0]
    out.add_(x[:, 1:2] * _LUMA[1])
    return out.add_(x[:, 2:3] * _LUMA[2])


# ----------------------------------------------------------------------------
# full-reference
# ----------------------------------------------------------------------------
def psnr(a: ArrayLike, b: ArrayLike, *, mask: np.ndarray | torch.Tensor | None = None) -> float:
    """Peak signal-to-noise ratio in dB of `a` against reference `b` (peak 1.0).

    With `mask` ((H, W) bool), only the masked pixels count: the score of a repair
    where the damage was, not diluted by the untouched rest of the frame.
    """
    ta, tb = to_tensor(a), to_tensor(b).to(to_tensor(a).device)
    err = (ta - tb) ** 2
    if mask is not None:
        m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
        m = m.to(err.device).bool().expand_as(err[:, 0]).unsqueeze(1).expand_as(err)
        if not bool(m.any()):
            raise ValueError("psnr: empty mask")
        mse = float(err[m].mean())
    else:
        mse = float(err.mean())
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def _gauss_kernel(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: ArrayLike, b: ArrayLike, *, window: int = 11, sigma: float = 1.5) -> float:
    """Structural similarity (Wang et al. 2004) of `a` against `b`, averaged over
    channels and frames. Gaussian 11x11 window, sigma 1.5, K1=0.01, K2=0.03, as in the
    paper and scikit-image's `gaussian_weights=True` mode (valid region only)."""
    x, y = to_tensor(a), to_tensor(b)
    y = y.to(x.device)
    c = x.shape[1]
    g = _gauss_kernel(window, sigma, x.device)
    kx = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable, 'valid' like the reference
        return F.conv2d(F.conv2d(t, kx, groups=c), ky, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


# ----------------------------------------------------------------------------
# no-reference, per frame
# ----------------------------------------------------------------------------
def noise_sigma(frame: np.ndarray) -> float:
    """Estimate of the std-dev of additive noise/grain, in [0, 1] units.

    Immerkaer's fast estimator (1996): a 3x3 Laplacian-difference kernel cancels
    smooth image structure, leaving mostly noise; its mean absolute response times
    sqrt(pi/2)/6 is sigma for white gaussian noise. Strong edges would be counted as
    noise, so the 10% of pixels with the largest gradient are left out.
    """
    g = gray(frame)
    if min(g.shape) < 8:
        return 0.0
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    r = np.abs(cv2.filter2D(g, -1, k, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)[1:-1, 1:-1]
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)[1:-1, 1:-1]
    mag = np.abs(gx) + np.abs(gy)
    keep = mag <= np.quantile(mag, 0.9)
    return float(np.sqrt(np.pi / 2) / 6.0 * r[keep].mean())


def sharpness(frame: np.ndarray) -> float:
    """Variance of the Laplacian of luma (Pech-Pacheco et al. 2000), [0, 1] units.

    Higher is sharper. It also rises with noise, so compare it between versions of
    the same footage (or read it next to `noise_sigma`), not across unrelated clips.
    Computed after a 2x2 area reduction when the frame is large so that grain does
    not dominate and the value does not scale with resolution as much.
    """
    g = gray(frame)
    if max(g.shape) > 720:
        g = cv2.resize(g, (g.shape[1] // 2, g.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(g, cv2.CV_32F, ksize=3).var())


def colour_stats(frame: np.ndarray) -> dict[str, float]:
    """Mean luma, contrast, saturation and channel balance of one frame.

    contrast: luma 98th - 2nd percentile (1.0 = full range); saturation: mean of
    (max - min) over RGB; cast_r/cast_b: how far the red and blue means sit above the
    green one, relative to the mean (a sepia print has cast_r > 0, cast_b < 0);
    free_chroma: the colour not explained by brightness: the chroma (RGB minus luma)
    of a lightly blurred copy (so grain does not count), less the mean chroma of
    pixels of the same brightness (32 luma bins), as the mean spread over RGB. A
    toned black-and-white print (sepia, even split-toned) has one colour per
    brightness, so it reads near 0; a colour film under a cast keeps hues of its own.
    """
    f = frame.astype(np.float32) / (255.0 if frame.dtype == np.uint8 else 1.0)
    y = f @ np.array(_LUMA, dtype=np.float32)
    lo, hi = np.percentile(y, [2, 98])
    means = f.reshape(-1, 3).mean(0)
    m = max(float(means.mean()), 1e-3)
    soft = cv2.GaussianBlur(f, (0, 0), 1.5)
    ys = soft @ np.array(_LUMA, dtype=np.float32)
    chroma = (soft - ys[..., None]).reshape(-1, 3)
    bins = np.clip((ys * 32).astype(np.int64), 0, 31).ravel()
    count = np.maximum(np.bincount(bins, minlength=32), 1)
    free = np.empty_like(chroma)
    for ch in range(3):
        mean_by_luma = np.bincount(bins, weights=chroma[:, ch], minlength=32) / count
        free[:, ch] = chroma[:, ch] - mean_by_luma[bins]
    return {
        "luma": float(y.mean()),
        "contrast": float(hi - lo),
        "black": float(lo),
        "white": float(hi),
        "saturation": float((f.max(-1) - f.min(-1)).mean()),
        "cast_r": float((means[0] - means[1]) / m),
        "cast_b": float((means[2] - means[1]) / m),
        "free_chroma": float((free.max(-1) - free.min(-1)).mean()),
    }


TONE_SIDE = 128  # tone statistics are measured on thumbnails this size, like colour_correct
NEUTRAL_BANDS = 4
SHADOW_BAND = 0.1  # tone_stats' shadow mass: pixels within this share of the range


def tone_stats(frame: np.ndarray) -> dict[str, list[float]]:
    """Black/white levels per channel and the colour of near-neutral pixels per
    brightness band, for telling a faded or cast print from a scene that is simply
    dark, bright or warm.

    Measured on an area thumbnail `TONE_SIDE` pixels on the long side (grain averages
    out, and these are the levels the colour_correct operator measures):
    lo/hi: each channel's 0.5th and 99.5th percentile (R, G, B).
    neutral_r/neutral_b: in each of `NEUTRAL_BANDS` luma bands (quantiles of the
    unclipped pixels), R/G - 1 and B/G - 1 of the mean of the 30% least saturated
    pixels of the band. A cast from the print (dye fading, toning) tints neutral
    pixels by the same ratio at every brightness; a warm or cool scene tints its
    darkest greys very differently from its brightest ones, or not at all. Empty
    lists when the frame has too few unclipped pixels.
    shadow: [the share of pixels whose luma lies within SHADOW_BAND of the luma range
    (0.5th to 99.5th percentile) above the 0.5th percentile]. A scene with real deep
    shadows (a night street, a dark interior, faces against a dark ground) has a
    wide band of them; a bright daylight scene keeps only a sliver (small shadows
    under objects) whose level says little about how dark its blacks were meant to
    be. Unchanged by any global gain and offset, so fading and flicker do not move it.
    """
    f = frame.astype(np.float32) / (255.0 if frame.dtype == np.uint8 else 1.0)
    h, w = f.shape[:2]
    s = TONE_SIDE / max(h, w)
    if s < 1.0:
        f = cv2.resize(f, (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_AREA)
    px = f.reshape(-1, 3)
    y = px @ np.array(_LUMA, dtype=np.float32)
    lo = np.percentile(px, 0.5, axis=0)
    hi = np.percentile(px, 99.5, axis=0)
    usable = (px.min(1) > 0.02) & (px.max(1) < 0.98)
    rel = (px.max(1) - px.min(1)) / np.maximum(y, 0.02)
    nr: list[float] = []
    nb: list[float] = []
    if usable.sum() >= 25 * NEUTRAL_BANDS:
        edges = np.quantile(y[usable], np.linspace(0, 1, NEUTRAL_BANDS + 1))
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            band = usable & (y >= a) & (y <= b)
            if band.sum() < 10:
                nr, nb = [], []
                break
            calm = band & (rel <= np.quantile(rel[band], 0.3))
            mu = px[calm].mean(0)
            g = max(float(mu[1]), 1e-3)
            nr.append(float(mu[0] / g - 1.0))
            nb.append(float(mu[2] / g - 1.0))
    # Shadow mass: the share of the picture within SHADOW_BAND of the luma range above
    # its darkest tones. Any global gain and offset (a fade, exposure flicker) leaves
    # it unchanged, so it describes the scene, not the print.
    ylo, yhi = np.percentile(y, [0.5, 99.5])
    shadow = float((y <= ylo + SHADOW_BAND * max(float(yhi - ylo), 1e-3)).mean())
    return {"lo": [float(v) for v in lo], "hi": [float(v) for v in hi],
            "neutral_r": nr, "neutral_b": nb, "shadow": [shadow]}


# ----------------------------------------------------------------------------
# no-reference, over time
# ----------------------------------------------------------------------------
def flicker_series(luma_means: Sequence[float], cuts: Sequence[int] = (), radius: int = 2
                   ) -> np.ndarray:
    """Per-frame relative exposure deviation from the local temporal median.

    The median of the frames within `radius` (same shot only: `cuts` are the frame
    numbers that start a new shot) is the exposure the frame "should" have had; slow
    changes (a cloud, a fade) move the median too and do not count as flicker.
    """
    m = np.asarray(luma_means, dtype=np.float64)
    n = len(m)
    out = np.zeros(n)
    starts = sorted({0, *[c for c in cuts if 0 < c < n]})
    bounds = list(zip(starts, [*starts[1:], n], strict=True))
    for s, e in bounds:
        for t in range(s, e):
            # A symmetric window, shrunk near the ends of the shot: the median of a
            # symmetric window follows a steady ramp exactly, a one-sided one lags.
            k = min(radius, t - s, e - 1 - t)
            if k < 1:
                continue  # first/last frame of a shot: cannot tell flicker from content
            ref = float(np.median(m[t - k:t + k + 1]))
            out[t] = (m[t] - ref) / max(ref, 0.02)
    return out


def flicker_index(luma_means: Sequence[float], cuts: Sequence[int] = (), radius: int = 2
                  ) -> float:
    """Mean absolute relative exposure deviation (see `flicker_series`); 0 = steady.

    About 0.005 for steady modern footage, 0.02-0.05 for visibly flickering film.
    """
    s = flicker_series(luma_means, cuts, radius)
    return float(np.abs(s).mean()) if len(s) else 0.0


# ----------------------------------------------------------------------------
# motion compensation
# ----------------------------------------------------------------------------
def estimate_flow(ref: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Dense optical flow (H, W, 2) float32 such that ref(x) ~ moving(x + flow(x)).

    OpenCV's DIS flow (Kroeger et al. 2016) on CPU: far better than anything we would
    write in torch at this cost, and robust to small one-frame defects because its
    patches are larger than dust. Inputs are (H, W) luma in [0, 1] or uint8.
    """
    def u8(g: np.ndarray) -> np.ndarray:
        return g if g.dtype == np.uint8 else np.clip(g * 255.0 + 0.5, 0, 255).astype(np.uint8)

    if min(ref.shape[:2]) < 16:
        # Too small for DIS's 8-px patches and pyramid: assume no motion.
        return np.zeros((*ref.shape[:2], 2), np.float32)
    # A fresh instance per call: a reused DIS object carries state from earlier
    # calls (other frame sizes), which made results depend on call history.
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    return dis.calc(u8(ref), u8(moving), None)


def warp_numpy(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `img` at x + flow(x) (bilinear, border replicated)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def flow_grid(flow: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 2) pixel flow -> (1, H, W, 2) normalised sampling grid for grid_sample."""
    h, w = flow.shape[:2]
    f = torch.from_numpy(flow).to(device)
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    gx = (xs + f[..., 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + f[..., 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return torch.stack([gx, gy], -1).unsqueeze(0)


def warp_torch(img: torch.Tensor, flow: np.ndarray) -> torch.Tensor:
    """Warp a (C, H, W) or (1, C, H, W) tensor by a numpy flow, on the tensor's device."""
    x = img.unsqueeze(0) if img.ndim == 3 else img
    out = F.grid_sample(x, flow_grid(flow, x.device), mode="bilinear",
                        padding_mode="border", align_corners=True)
    return out[0] if img.ndim == 3 else out


def _work_scale(h: int, w: int, target: int = 480) -> float:
    return min(1.0, target / max(h, w))


def match_exposure(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """`src` luma with its mean and contrast (std-dev) set to those of `ref`."""
    ms, ss = float(src.mean()), float(src.std())
    mr, sr = float(ref.mean()), float(ref.std())
    return ((src - ms) * (sr / max(ss, 1e-4)) + mr).astype(np.float32)


def difference_sigma(d: np.ndarray) -> float:
    """Robust std-dev (1.4826 x median absolute deviation) of a difference image: the
    grain, noise and small misregistration any two frames differ by, which a
    one-frame defect must clearly exceed. Robust, so the defects themselves and
    moving objects do not inflate it."""
    med = float(np.median(d))
    return 1.4826 * float(np.median(np.abs(d - med)))


def spike_map(prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray, *,
              threshold: float | None = None) -> np.ndarray:
    """(H, W) bool: pixels of `cur` that differ from both motion-compensated
    neighbours in the same direction by more than `threshold` while the neighbours
    agree with each other (the SDI/ROD test for one-frame defects)."""
    g1 = gray(cur)
    # Flickering film: bring the neighbours to this frame's exposure first, or a
    # brighter frame would be "brighter than both neighbours" everywhere.
    g0, g2 = match_exposure(gray(prev), g1), match_exposure(gray(nxt), g1)
    # Flow on a lightly blurred copy: dust must not steer the motion estimate.
    b = lambda g: cv2.GaussianBlur(g, (0, 0), 1.5)  # noqa: E731
    w0 = warp_numpy(g0, estimate_flow(b(g1), b(g0)))
    w2 = warp_numpy(g2, estimate_flow(b(g1), b(g2)))
    if threshold is None:
        threshold = max(0.06, 3.0 * difference_sigma(g1 - w0))
    # Compare with the 3x3 max (bright spots) / min (dark spots) of each warped
    # neighbour: a sub-pixel flow error on a strong edge then cannot pass as a spot,
    # while a speck absent from both neighbours still stands out.
    k = np.ones((3, 3), np.uint8)
    bright = np.minimum(g1 - cv2.dilate(w0, k), g1 - cv2.dilate(w2, k))
    dark = np.minimum(cv2.erode(w0, k) - g1, cv2.erode(w2, k) - g1)
    strength = np.maximum(bright, dark)
    agree = np.abs(w0 - w2) < 0.5 * strength
    return (strength > threshold) & agree


def temporal_noise_sigma(a: np.ndarray, b: np.ndarray, *, border: int = 8) -> float:
    """Std-dev of the noise that changes from frame to frame (grain, sensor noise),
    in [0, 1] units, from two distinct consecutive frames of a shot.

    Film grain is fresh on every frame while the picture is not, so after matching
    exposure and following the motion (DIS flow on blurred luma) the difference of
    the two frames is mostly noise, with variance 2 sigma^2. Unlike the single-frame
    estimate (noise_sigma), this sees spatially correlated grain in full: clumps
    several pixels across look like picture detail to a 3x3 high-pass. The 10th
    percentile of the squared difference (the chi-square(1) quantile 0.0158 of
    2 sigma^2) comes from the well-matched pixels, so motion the flow missed, dust
    and scratches do not count.
    """
    g1 = gray(a)
    g0 = match_exposure(gray(b), g1)
    if min(g1.shape) < 2 * border + 16:
        return 0.0
    blur = lambda g: cv2.GaussianBlur(g, (0, 0), 1.5)  # noqa: E731
    w0 = warp_numpy(g0, estimate_flow(blur(g1), blur(g0)))
    d2 = ((g1 - w0)[border:-border, border:-border]) ** 2
    return float(np.sqrt(np.percentile(d2, 10) / (2.0 * 0.01579)))


def dust_count(prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray, *,
               max_area_fraction: float = 0.002, min_area: int = 2) -> int:
    """Number of one-frame spots (dust, dirt) in `cur`, from its two neighbours.

    Connected regions of `spike_map` between `min_area` pixels and a fraction of the
    frame; bigger regions are usually motion the flow missed, not dirt. Frames are
    analysed at most 480 px on the long side so the count means the same at any
    resolution.
    """
    h, w = cur.shape[:2]
    s = _work_scale(h, w)
    if s < 1.0:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        prev, cur, nxt = (cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in (prev, cur, nxt))
    m = spike_map(prev, cur, nxt).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    area = stats[1:, cv2.CC_STAT_AREA]
    max_area = max(min_area, int(max_area_fraction * m.size))
    return int(((area >= min_area) & (area <= max_area)).sum())


def vertical_line_score(frame: np.ndarray, *, max_width: int = 3, coverage: float = 0.5
                        ) -> np.ndarray:
    """Per-column strength of thin vertical lines (scratches), [0, 1] units, shape (W,).

    Each pixel's difference from the pixels `max_width`+1..+3 columns to its left and
    to its right, keeping the smaller when both have the same sign (so the edge of a
    wide object, level with one side, scores 0). A column's score is the `coverage`
    quantile of that down the column: a line covering at least that fraction of the
    height scores about its contrast, texture scores about 0. Positive = bright line,
    negative = dark line.
    """
    g = gray(frame)
    off = max_width + 1
    def shift(k: int) -> np.ndarray:
        idx = np.clip(np.arange(g.shape[1]) - k, 0, g.shape[1] - 1)
        return g[:, idx]
    left = 0.5 * (shift(off) + shift(off + 2))
    right = 0.5 * (shift(-off) + shift(-off - 2))
    dl, dr = g - left, g - right
    d = np.clip(np.minimum(dl, dr), 0, None) + np.clip(np.maximum(dl, dr), None, 0)
    bright = np.quantile(d, 1.0 - coverage, axis=0)
    dark = np.quantile(d, coverage, axis=0)
    return np.where(bright >= -dark, bright, dark)


def scratch_count(frame: np.ndarray, *, threshold: float = 0.04, max_width: int = 3,
                  coverage: float = 0.7) -> int:
    """Number of distinct thin vertical lines covering `coverage` of the height with a
    contrast above `threshold` (a no-reference count of vertical scratches). Most
    scratches run the full height; thin verticals of the scene (a window frame, a
    pole) rarely do, hence the high default coverage."""
    hit = np.abs(vertical_line_score(frame, max_width=max_width, coverage=coverage)) > threshold
    # Count runs of adjacent columns once.
    return int(np.count_nonzero(hit[1:] & ~hit[:-1]) + int(hit[0])) if hit.size else 0


def repeat_flags(diffs: Sequence[float], *, absolute: float = 2.0 / 255,
                 relative: float = 0.15, radius: int = 6) -> list[bool]:
    """Which frames repeat the previous one, from mean absolute luma differences
    between consecutive frames (`diffs[t]` = |frame t - frame t-1|, diffs[0] unused).

    A repeat differs from its predecessor by compression noise only: less than
    `absolute` and less than `relative` times the typical difference (80th percentile) of the
    frames around it. The relative test keeps a still shot (a title card, a static
    landscape), whose frames all differ little, from being called repeats.
    """
    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    out = [False] * n
    for t in range(1, n):
        lo, hi = max(1, t - radius), min(n, t + radius + 1)
        typical = float(np.quantile(d[lo:hi], 0.8))
        out[t] = bool(d[t] < absolute and d[t] < relative * typical)
    return out


def _band_energies(g: np.ndarray) -> tuple[float, float]:
    b1 = cv2.GaussianBlur(g, (0, 0), 1.0)
    b2 = cv2.GaussianBlur(g, (0, 0), 2.0)
    return float((g - b1).var()), float((b1 - b2).var())


_WHITE = np.random.default_rng(12345).standard_normal((256, 256)).astype(np.float32)
_WHITE_HF, _WHITE_MF = _band_energies(_WHITE)  # band energies of unit white noise


def detail_ratio(frame: np.ndarray, noise: float | None = None) -> float:
    """How much fine detail there is relative to medium detail: a blur measure that,
    unlike `sharpness`, does not depend on how busy the picture is.

    Energy in the finest band (image minus a sigma-1 blur) over the next band (sigma-1
    minus sigma-2 blur), after removing what the estimated noise contributes to each.
    Sharp natural footage sits around 0.5-1.0; a sigma-1.5 blur or a 2x upscale brings
    it under about 0.25. Frames with almost no structure return 1.0 (nothing to judge).
    """
    g = gray(frame)
    if max(g.shape) > 720:
        g = cv2.resize(g, (g.shape[1] // 2, g.shape[0] // 2), interpolation=cv2.INTER_AREA)
    hf, mf = _band_energies(g)
    s2 = (noise_sigma(frame) if noise is None else noise) ** 2
    hf = max(hf - s2 * _WHITE_HF, 0.0)
    mf = max(mf - s2 * _WHITE_MF, 0.0)
    if mf < 1e-6:
        return 1.0
    return float(hf / mf)
