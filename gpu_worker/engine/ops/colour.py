"""Colour operators: fade/cast correction, named looks, reference transfer, `.cube` LUTs.

All of them are per-pixel colour functions once their parameters (and, for the
adaptive ones, their measurements) are fixed, so each offers `colour_map(reference)`
and any chain of them can be baked into a `.cube` with `gpu_worker.engine.lut`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.engine.lut import ColourFn, Lut, LutError, apply_lut, lut_from_function, read_cube
from gpu_worker.engine.ops.spatial import LUMA_WEIGHTS, luma
from gpu_worker.engine.registry import OpContext, Operator, Param, SpecError, register


def _lerp(a: torch.Tensor | float, b: torch.Tensor | float, t: float | torch.Tensor
          ) -> torch.Tensor | float:
    return a + (b - a) * t


def saturate(x: torch.Tensor, s: float | torch.Tensor) -> torch.Tensor:
    """Scale chroma around Rec. 709 luma; s may be a scalar or (N, 1, 1, 1)."""
    y = luma(x)
    return y + (x - y) * s


def thumbnails(frames: torch.Tensor, max_side: int = 128) -> torch.Tensor:
    """Area-downsampled copies for statistics: percentiles of ~16k pixels are as stable
    as of 8M, and measuring stays cheap at 4K."""
    h, w = frames.shape[-2:]
    f = max(h, w) / max_side
    if f <= 1:
        return frames
    size = (max(1, round(h / f)), max(1, round(w / f)))
    return F.interpolate(frames, size=size, mode="area")


# ----------------------------------------------------------------------------------
# colour_correct
# ----------------------------------------------------------------------------------
TYPICAL_CHROMA = 0.07  # mean |RGB - luma| of well-saturated natural footage
MONO_CHROMA = 0.012  # below this a frame is treated as black-and-white: nothing to restore


def correction_from_stats(lo: torch.Tensor, hi: torch.Tensor, mean: torch.Tensor, *,
                          method: str, white_balance: float, contrast: float
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel affine (gain a, offset b), each (B, 3), from channel statistics.

    percentile: map every channel's [lo, hi] percentiles to common black/white points,
    which neutralises a cast in shadows and highlights alike (a toned print becomes
    neutral grey). grey_world: gains that make the mean colour grey. Then a contrast
    stretch moves the balanced black/white points towards 0 and 1 (fade correction).
    Gains are limited to [0.25, 4] so a nearly flat frame is not blown up.
    """
    if method == "percentile":
        tlo = _lerp(lo, lo.mean(dim=1, keepdim=True), white_balance)
        thi = _lerp(hi, hi.mean(dim=1, keepdim=True), white_balance)
        a1 = (thi - tlo) / (hi - lo).clamp(min=0.02)
        b1 = tlo - a1 * lo
    else:  # grey_world
        grey = (mean * mean.new_tensor(LUMA_WEIGHTS)).sum(dim=1, keepdim=True)
        a1 = _lerp(torch.ones_like(mean), grey / mean.clamp(min=1e-3), white_balance)
        b1 = torch.zeros_like(mean)
    blo = (a1 * lo + b1).mean(dim=1, keepdim=True)
    bhi = (a1 * hi + b1).mean(dim=1, keepdim=True)
    tlo2 = _lerp(blo, torch.zeros_like(blo), contrast)
    thi2 = _lerp(bhi, torch.ones_like(bhi), contrast)
    a2 = (thi2 - tlo2) / (bhi - blo).clamp(min=0.02)
    b2 = tlo2 - a2 * blo
    a = (a2 * a1).clamp(0.25, 4.0)
    b = a2 * b1 + b2
    return a, b


def _affine(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return x * a.view(-1, 3, 1, 1) + b.view(-1, 3, 1, 1)


def saturation_gain(chroma: torch.Tensor, strength: float, max_gain: float = 1.6
                    ) -> torch.Tensor:
    """Chroma gain restoring faded colour towards TYPICAL_CHROMA, (B,) -> (B,).

    Fades smoothly to 1 for near-monochrome frames: a black-and-white film has no
    colour to restore, only noise to amplify.
    """
    raw = (TYPICAL_CHROMA / chroma.clamp(min=1e-4)).clamp(1.0, max_gain)
    colourful = ((chroma - MONO_CHROMA) / MONO_CHROMA).clamp(0.0, 1.0)
    return raw ** (strength * colourful)


@register
class ColourCorrect(Operator):
    name = "colour_correct"
    category = "colour"
    description = ("Automatic fade and colour-cast correction: neutralises the cast, "
                   "restores black and white points and faded saturation. Measured over "
                   "several frames so the correction does not flicker.")
    params = (
        Param("method", "choice", "percentile", "How the cast is measured: percentile makes "
              "the darkest and brightest tones neutral (best for toned or faded prints); "
              "grey_world makes the average colour neutral.",
              choices=("percentile", "grey_world")),
        Param("white_balance", "float", 0.7, "How much of the colour cast to remove (0 = "
              "keep it, 1 = fully neutral).", min=0.0, max=1.0, step=0.05),
        Param("contrast", "float", 0.4, "How far to stretch faded blacks and whites back to "
              "full range (0 = leave levels, 1 = full stretch).", min=0.0, max=1.0,
              step=0.05),
        Param("clip", "float", 0.5, "Share of the darkest and of the brightest pixels "
              "allowed to clip when measuring black and white points.", min=0.0, max=5.0,
              unit="%", step=0.1),
        Param("saturation", "float", 0.5, "How much faded colour to restore (0 = none, 1 = "
              "up to typical saturation). Black-and-white footage is left alone.",
              min=0.0, max=1.0, step=0.05),
        Param("temporal_radius", "int", 6, "Frames before and after each frame over which the "
              "correction is measured; larger is steadier (never crosses a scene cut).",
              min=0, max=12, unit="frames"),
    )

    def temporal_radius(self) -> int:
        return int(self.p["temporal_radius"])

    # -- measurement -------------------------------------------------------------
    def _stats(self, thumbs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        q = self.p["clip"] / 100.0
        flat = thumbs.flatten(2)  # (K, 3, P)
        qs = flat.new_tensor([q, 1.0 - q])
        lo, hi = torch.quantile(flat, qs, dim=2)  # each (K, 3)
        return lo, hi, flat.mean(dim=2)

    def _correction(self, lo: torch.Tensor, hi: torch.Tensor, mean: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        return correction_from_stats(lo, hi, mean, method=self.p["method"],
                                     white_balance=self.p["white_balance"],
                                     contrast=self.p["contrast"])

    @staticmethod
    def _chroma(x: torch.Tensor) -> torch.Tensor:
        return (x.clamp(0, 1) - luma(x.clamp(0, 1))).abs().flatten(1).mean(dim=1)

    def _apply(self, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
               sat: torch.Tensor) -> torch.Tensor:
        out = _affine(x, a, b)
        out = saturate(out, sat.view(-1, 1, 1, 1))
        return out.clamp(0.0, 1.0)

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        thumbs = thumbnails(frames)
        lo, hi, mean = self._stats(thumbs)  # per distinct frame
        # Average the statistics over each window: the window repeats the edge frame
        # at a cut, so the average never mixes two shots.
        a, b = self._correction(lo[windows].mean(1), hi[windows].mean(1),
                                mean[windows].mean(1))
        if self.p["saturation"] > 0:
            bw, t = windows.shape
            corrected = _affine(thumbs[windows.reshape(-1)], a.repeat_interleave(t, 0),
                                b.repeat_interleave(t, 0))
            chroma = self._chroma(corrected).view(bw, t).mean(dim=1)
            sat = saturation_gain(chroma, self.p["saturation"])
        else:
            sat = torch.ones(windows.shape[0], device=frames.device)
        return self._apply(self.centre(frames, windows), a, b, sat)

    def colour_map(self, reference: torch.Tensor | None) -> ColourFn:
        """The correction measured on `reference` frames, as a fixed colour function."""
        if reference is None:
            raise LutError("colour_correct adapts to the picture: give reference frames to "
                           "measure the correction on before baking it into a LUT")
        thumbs = thumbnails(reference)
        lo, hi, mean = (s.mean(0, keepdim=True) for s in self._stats(thumbs))
        a, b = self._correction(lo, hi, mean)
        chroma = self._chroma(_affine(thumbs, a, b)).mean().view(1)
        sat = saturation_gain(chroma, self.p["saturation"]) if self.p["saturation"] > 0 \
            else torch.ones(1, device=reference.device)

        def fn(x: torch.Tensor) -> torch.Tensor:
            dev = x.device
            return self._apply(x, a.to(dev), b.to(dev), sat.to(dev))

        return fn


# ----------------------------------------------------------------------------------
# colour_scheme
# ----------------------------------------------------------------------------------
def _gains(x: torch.Tensor, r: float, g: float, b: float) -> torch.Tensor:
    return x * x.new_tensor((r, g, b)).view(1, 3, 1, 1)


def _soft_contrast(x: torch.Tensor, k: float) -> torch.Tensor:
    # Smooth S-curve around mid-grey; k > 0 adds contrast, keeps 0 and 1 fixed.
    s = x * x * (3 - 2 * x)
    return x + k * (s - x)


def _look_neutral(x: torch.Tensor) -> torch.Tensor:
    return x


def _look_warm_period(x: torch.Tensor) -> torch.Tensor:
    # Warm, slightly faded period print: amber balance, softened saturation, lifted
    # blacks and a gentle highlight roll-off.
    x = saturate(x, 0.8)
    x = _gains(x, 1.07, 1.0, 0.84)
    x = 0.035 + x * 0.95
    return _soft_contrast(x.clamp(0, 1), 0.15)


def _look_cool(x: torch.Tensor) -> torch.Tensor:
    x = saturate(x, 0.9)
    x = _gains(x, 0.92, 1.0, 1.1)
    y = luma(x)
    # Push the shadows a little towards blue-teal.
    return x + (1 - y) ** 2 * x.new_tensor((-0.02, 0.005, 0.03)).view(1, 3, 1, 1)


def _look_sepia(x: torch.Tensor) -> torch.Tensor:
    y = luma(x).clamp(0, 1)
    shadow = x.new_tensor((0.19, 0.11, 0.05)).view(1, 3, 1, 1)
    highlight = x.new_tensor((1.0, 0.95, 0.82)).view(1, 3, 1, 1)
    # Brown shadows, cream highlights: a toned print keeps luminance, changes hue.
    return y * (shadow + (highlight - shadow) * y) + y * (1 - y) * x.new_tensor(
        (0.35, 0.22, 0.06)).view(1, 3, 1, 1)


def _look_bleach_bypass(x: torch.Tensor) -> torch.Tensor:
    # Skipping the bleach leaves silver in the print: a B&W image laid over the colour
    # one, so lower saturation and harder contrast.
    y = luma(x).clamp(0, 1)
    base = saturate(x, 0.45).clamp(0, 1)
    overlay = torch.where(y < 0.5, 2 * base * y, 1 - 2 * (1 - base) * (1 - y))
    return base + 0.75 * (overlay - base)


def _look_technicolor_2strip(x: torch.Tensor) -> torch.Tensor:
    # Two-strip Technicolor recorded only red-orange and blue-green: green and blue
    # share one record, so skies go cyan, foliage muddy, skin warm.
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    gb = 0.5 * (g + b)
    out = torch.cat([r, 0.85 * gb + 0.15 * r, gb * 0.95 + 0.05 * g], dim=1)
    return _soft_contrast(out.clamp(0, 1), 0.2)


def _look_technicolor_3strip(x: torch.Tensor) -> torch.Tensor:
    # Dye-transfer look: every channel separated from the other two, rich saturation.
    mean_others = (x.sum(dim=1, keepdim=True) - x) / 2
    out = x + 0.35 * (x - mean_others)
    return _soft_contrast(out.clamp(0, 1), 0.1)


def _look_monochrome(x: torch.Tensor) -> torch.Tensor:
    return luma(x).expand_as(x)


def _look_teal_orange(x: torch.Tensor) -> torch.Tensor:
    y = luma(x).clamp(0, 1)
    teal = x.new_tensor((-0.06, 0.02, 0.06)).view(1, 3, 1, 1)
    orange = x.new_tensor((0.06, 0.01, -0.06)).view(1, 3, 1, 1)
    return x + (1 - y) * teal * (1 - y) + y * orange * y


LOOKS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "neutral": _look_neutral,
    "warm_period": _look_warm_period,
    "cool": _look_cool,
    "sepia": _look_sepia,
    "bleach_bypass": _look_bleach_bypass,
    "technicolor_2strip": _look_technicolor_2strip,
    "technicolor_3strip": _look_technicolor_3strip,
    "monochrome": _look_monochrome,
    "teal_orange": _look_teal_orange,
}


def apply_look(frames: torch.Tensor, look: str, amount: float = 1.0) -> torch.Tensor:
    """Apply a named look from LOOKS, blended with the input by `amount`."""
    out = LOOKS[look](frames).clamp(0.0, 1.0)
    if amount != 1.0:
        out = frames + amount * (out - frames)
    return out.clamp(0.0, 1.0)


@register
class ColourScheme(Operator):
    name = "colour_scheme"
    category = "colour"
    description = "A named colour look (period print, sepia, bleach bypass, Technicolor...)."
    params = (
        Param("look", "choice", "neutral", "The look: neutral (no change), warm_period, "
              "cool, sepia, bleach_bypass, technicolor_2strip, technicolor_3strip, "
              "monochrome, teal_orange.", choices=tuple(LOOKS)),
        Param("amount", "float", 1.0, "Blend between the original (0) and the full look (1).",
              min=0.0, max=1.0, step=0.05),
    )

    def colour_map(self, reference: torch.Tensor | None = None) -> ColourFn:
        look, amount = self.p["look"], self.p["amount"]
        return lambda x: apply_look(x, look, amount)

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return self.colour_map()(self.centre(frames, windows))


# ----------------------------------------------------------------------------------
# colour_transfer
# ----------------------------------------------------------------------------------
def load_image(path: str | Path) -> np.ndarray:
    """An image file as float32 RGB (H, W, 3) in [0, 1]; 8/16-bit, grey or with alpha."""
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise FileNotFoundError(f"cannot read image {path} (missing or not an image)")
    scale = 65535.0 if data.dtype == np.uint16 else 255.0 if data.dtype == np.uint8 else 1.0
    img = data.astype(np.float32) / scale
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    elif img.shape[2] == 2:  # grey + alpha
        img = np.repeat(img[..., :1], 3, axis=2)
    return np.ascontiguousarray(img[..., ::-1] if data.ndim == 3 and data.shape[2] >= 3
                                else img).clip(0.0, 1.0)


def _trilinear_design(x: np.ndarray, size: int):  # type: ignore[no-untyped-def]
    """Sparse (M, size^3) matrix of trilinear weights of samples x (M, 3) on the lattice."""
    from scipy import sparse

    pos = np.clip(x, 0.0, 1.0) * (size - 1)
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, size - 2)
    f = pos - i0
    rows, cols, vals = [], [], []
    m = np.arange(len(x))
    for dr in (0, 1):
        for dg in (0, 1):
            for db in (0, 1):
                w = ((f[:, 0] if dr else 1 - f[:, 0]) * (f[:, 1] if dg else 1 - f[:, 1])
                     * (f[:, 2] if db else 1 - f[:, 2]))
                idx = ((i0[:, 2] + db) * size + (i0[:, 1] + dg)) * size + (i0[:, 0] + dr)
                rows.append(m)
                cols.append(idx)
                vals.append(w)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                      np.concatenate(cols))),
                             shape=(len(x), size ** 3))


def _lattice_differences(size: int):  # type: ignore[no-untyped-def]
    """Sparse first-difference operator between lattice neighbours along r, g and b."""
    from scipy import sparse

    n = size ** 3
    idx = np.arange(n).reshape(size, size, size)  # [b, g, r]
    rows, cols, vals = [], [], []
    r0 = 0
    for axis in range(3):
        a = np.moveaxis(idx, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        k = len(lo)
        rr = np.arange(r0, r0 + k)
        rows += [rr, rr]
        cols += [lo, hi]
        vals += [-np.ones(k), np.ones(k)]
        r0 += k
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                      np.concatenate(cols))), shape=(r0, n))


def fit_colour_mapping(src: np.ndarray, dst: np.ndarray, *, model: str = "lut",
                       lut_size: int = 17, smoothness: float = 1.0,
                       max_samples: int = 200_000, out_size: int = 33) -> Lut:
    """Learn the colour mapping src -> dst (both (M, 3) RGB in [0, 1]) as a 3-D LUT.

    First a 3x4 affine colour matrix by least squares (the global balance, exposure and
    channel mixing, which extrapolates sensibly to colours the pair does not show).
    With model="lut", the remaining non-linear part (curves, selective hue changes) is
    fitted on a `lut_size` lattice: data term on the trilinear weights, plus a
    smoothness term between neighbouring lattice nodes and a weak pull to zero, so
    colours absent from the pair fall back to the matrix.
    """
    from scipy.sparse.linalg import spsolve

    src = np.asarray(src, np.float64).reshape(-1, 3)
    dst = np.asarray(dst, np.float64).reshape(-1, 3)
    if len(src) > max_samples:
        pick = np.random.default_rng(0).choice(len(src), max_samples, replace=False)
        src, dst = src[pick], dst[pick]
    design = np.concatenate([src, np.ones((len(src), 1))], axis=1)
    ridge = 1e-6 * len(src) * np.eye(4)
    mat = np.linalg.solve(design.T @ design + ridge, design.T @ dst)  # (4, 3)
    residual = dst - design @ mat

    res_table = None
    if model == "lut":
        a = _trilinear_design(src, lut_size)
        d = _lattice_differences(lut_size)
        n = lut_size ** 3
        # Scale the data term to a per-sample mean so `smoothness` means the same for
        # a thumbnail and a 4K frame.
        lam = 2e-3 * smoothness * lut_size ** 2
        lhs = (a.T @ a) / len(src) + lam * (d.T @ d) / n + 1e-6 * _eye(n)
        rhs = (a.T @ residual) / len(src)
        res_table = np.stack([spsolve(lhs.tocsc(), rhs[:, c]) for c in range(3)], axis=1)
        res_lut = Lut(torch.from_numpy(res_table.reshape(lut_size, lut_size, lut_size, 3)
                                       ).float())

    mat_t = torch.from_numpy(mat).float()

    def mapping(x: torch.Tensor) -> torch.Tensor:
        flat = x.permute(0, 2, 3, 1)
        out = flat @ mat_t[:3].to(x.device) + mat_t[3].to(x.device)
        out = out.permute(0, 3, 1, 2)
        if res_table is not None:
            out = out + apply_lut(x, res_lut, clamp=False)
        return out.clamp(0.0, 1.0)

    return lut_from_function(mapping, size=out_size, title="colour transfer")


def _eye(n: int):  # type: ignore[no-untyped-def]
    from scipy import sparse

    return sparse.identity(n, format="csr")


_PAIR_PARAMS = (("original", "fixed"), ("original_2", "fixed_2"), ("original_3", "fixed_3"))
_FIT_CACHE: dict[tuple[Any, ...], Lut] = {}
_FIT_LOCK = threading.Lock()


@register
class ColourTransfer(Operator):
    name = "colour_transfer"
    category = "colour"
    description = ("Learns a grade from frames a colourist fixed by hand (original frame + "
                   "corrected frame) and applies the same colour mapping to every frame.")
    params = (
        Param("original", "path", "", "An untouched frame exported from this film (PNG/TIFF/"
              "JPEG)."),
        Param("fixed", "path", "", "The same frame after correcting its colour by hand, same "
              "framing (it may be exported at another resolution)."),
        Param("original_2", "path", "", "Optional second original frame (another scene or "
              "other colours, for a better fit)."),
        Param("fixed_2", "path", "", "The corrected version of the second frame."),
        Param("original_3", "path", "", "Optional third original frame."),
        Param("fixed_3", "path", "", "The corrected version of the third frame."),
        Param("model", "choice", "lut", "lut learns curves and selective colour changes too; "
              "matrix learns only overall balance and channel mixing (safer with a single, "
              "low-colour reference).", choices=("lut", "matrix")),
        Param("smoothness", "float", 1.0, "How smooth the learnt mapping must be; raise it if "
              "colours absent from the references come out odd.", min=0.05, max=20.0,
              step=0.05),
        Param("amount", "float", 1.0, "Blend between the original (0) and the learnt grade "
              "(1).", min=0.0, max=1.0, step=0.05),
    )

    def __init__(self, params: Mapping[str, Any], ctx: OpContext) -> None:
        super().__init__(params, ctx)
        self.lut = self._fit().to(ctx.device)

    def _pairs(self) -> list[tuple[Path, Path, str, str]]:
        pairs = []
        for o_name, f_name in _PAIR_PARAMS:
            o, f = self.p[o_name], self.p[f_name]
            if not o and not f:
                continue
            if not o or not f:
                missing = o_name if not o else f_name
                raise SpecError(f"{self.name}.{missing}: give both frames of a pair "
                                f"({o_name} and {f_name})", op=self.name, param=missing)
            pairs.append((self.ctx.resolve_path(o), self.ctx.resolve_path(f), o_name, f_name))
        if not pairs:
            raise SpecError(f"{self.name}.original: needs at least one pair of frames "
                            f"(original and fixed)", op=self.name, param="original")
        return pairs

    def _fit(self) -> Lut:
        import cv2

        pairs = self._pairs()
        key_parts: list[Any] = [self.p["model"], self.p["smoothness"]]
        for o, f, _, _ in pairs:
            for p in (o, f):
                try:
                    key_parts.append((str(p), p.stat().st_mtime_ns))
                except OSError:
                    key_parts.append((str(p), None))
        key = tuple(key_parts)
        with _FIT_LOCK:
            if key in _FIT_CACHE:
                return _FIT_CACHE[key]
        srcs, dsts = [], []
        for o, f, o_name, f_name in pairs:
            try:
                orig = load_image(o)
            except FileNotFoundError as exc:
                raise SpecError(f"{self.name}.{o_name}: {exc}", op=self.name,
                                param=o_name) from None
            try:
                fixed = load_image(f)
            except FileNotFoundError as exc:
                raise SpecError(f"{self.name}.{f_name}: {exc}", op=self.name,
                                param=f_name) from None
            (ho, wo), (hf, wf) = orig.shape[:2], fixed.shape[:2]
            if abs(wo / ho - wf / hf) > 0.01 * (wo / ho):
                raise SpecError(f"{self.name}.{f_name}: {f.name} is {wf}x{hf} but {o.name} is "
                                f"{wo}x{ho}; the fixed frame must have the same framing",
                                op=self.name, param=f_name)
            if (ho, wo) != (hf, wf):
                fixed = cv2.resize(fixed, (wo, ho), interpolation=cv2.INTER_AREA)
            # Skip clipped pixels: what the colourist did to them is not recoverable.
            ok = (orig.max(axis=2) < 0.995) & (fixed.max(axis=2) < 0.995)
            srcs.append(orig[ok])
            dsts.append(fixed[ok])
        src, dst = np.concatenate(srcs), np.concatenate(dsts)
        if len(src) < 100:
            raise SpecError(f"{self.name}.original: the reference frames have almost no "
                            f"unclipped pixels to learn from", op=self.name, param="original")
        lut = fit_colour_mapping(src, dst, model=self.p["model"],
                                 smoothness=self.p["smoothness"])
        with _FIT_LOCK:
            if len(_FIT_CACHE) > 16:
                _FIT_CACHE.clear()
            _FIT_CACHE[key] = lut
        return lut

    def colour_map(self, reference: torch.Tensor | None = None) -> ColourFn:
        lut, amount = self.lut, self.p["amount"]
        return lambda x: apply_lut(x, lut if x.device == lut.table.device else lut.to(x.device),
                                   amount)

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return self.colour_map()(self.centre(frames, windows))


# ----------------------------------------------------------------------------------
# lut
# ----------------------------------------------------------------------------------
@register
class ApplyLut(Operator):
    name = "lut"
    category = "colour"
    description = "Applies a .cube 3-D (or 1-D) LUT from a grading tool, with trilinear " \
        "interpolation."
    params = (
        Param("path", "path", "", "The .cube file (Resolve, Adobe or any tool writing the "
              "Cube LUT format)."),
        Param("amount", "float", 1.0, "Blend between the original (0) and the full LUT (1).",
              min=0.0, max=1.0, step=0.05),
    )

    def __init__(self, params: Mapping[str, Any], ctx: OpContext) -> None:
        super().__init__(params, ctx)
        if not self.p["path"]:
            raise SpecError(f"{self.name}.path: choose a .cube file", op=self.name,
                            param="path")
        try:
            self.lut = read_cube(ctx.resolve_path(self.p["path"])).to(ctx.device)
        except LutError as exc:
            raise SpecError(f"{self.name}.path: {exc}", op=self.name, param="path") from None

    def colour_map(self, reference: torch.Tensor | None = None) -> ColourFn:
        lut, amount = self.lut, self.p["amount"]
        return lambda x: apply_lut(x, lut if x.device == lut.table.device else lut.to(x.device),
                                   amount)

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return self.colour_map()(self.centre(frames, windows))


__all__ = ["LOOKS", "apply_look", "correction_from_stats", "fit_colour_mapping",
           "load_image", "saturate", "saturation_gain", "thumbnails"]
