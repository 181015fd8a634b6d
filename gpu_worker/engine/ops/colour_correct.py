"""colour_correct: undo fading and colour casts measured on the frames themselves.

Like every colour operator it is a per-pixel colour function once its measurements are
fixed, so it offers `colour_map(reference)` and can be baked into a `.cube` with
`gpu_worker.engine.lut`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gpu_worker.engine.colour import saturate
from gpu_worker.engine.filters import LUMA_WEIGHTS, luma
from gpu_worker.engine.lut import ColourFn, LutError
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import ColourCorrectSchema


def _lerp(a: torch.Tensor | float, b: torch.Tensor | float, t: float | torch.Tensor
          ) -> torch.Tensor | float:
    return a + (b - a) * t


def thumbnails(frames: torch.Tensor, max_side: int = 128) -> torch.Tensor:
    """Area-downsampled copies for statistics: percentiles of ~16k pixels are as stable
    as of 8M, and measuring stays cheap at 4K."""
    h, w = frames.shape[-2:]
    f = max(h, w) / max_side
    if f <= 1:
        return frames
    size = (max(1, round(h / f)), max(1, round(w / f)))
    return F.interpolate(frames, size=size, mode="area")



TYPICAL_CHROMA = 0.07  # mean |RGB - luma| of well-saturated natural footage
MONO_CHROMA = 0.012  # below this a frame is treated as black-and-white: nothing to restore


def correction_from_stats(lo: torch.Tensor, hi: torch.Tensor, mean: torch.Tensor, *,
                          method: str, white_balance: float, contrast: float,
                          black_point: float = 0.0, white_point: float = 1.0
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel affine (gain a, offset b), each (B, 3), from channel statistics.

    percentile: map every channel's [lo, hi] percentiles to common black/white points,
    which neutralises a cast in shadows and highlights alike (a toned print becomes
    neutral grey). grey_world: gains that make the mean colour grey. Then a contrast
    stretch moves the balanced black/white points towards `black_point` and
    `white_point` (fade correction; 0 and 1 stretch to the full range).
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
    tlo2 = _lerp(blo, torch.full_like(blo, black_point), contrast)
    thi2 = _lerp(bhi, torch.full_like(bhi, white_point), contrast)
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


class ColourCorrect(ColourCorrectSchema, Operator):
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
                                     contrast=self.p["contrast"],
                                     black_point=self.p["black_point"],
                                     white_point=self.p["white_point"])

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
