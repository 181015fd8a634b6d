"""colour_scheme: named looks (period print, sepia, bleach bypass, Technicolor...).

A look is a fixed per-pixel colour function, so `colour_map` can be baked into a
`.cube` with `gpu_worker.engine.lut`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gpu_worker.engine.colour import saturate
from gpu_worker.engine.filters import luma
from gpu_worker.engine.lut import ColourFn
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import ColourSchemeSchema


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


class ColourScheme(ColourSchemeSchema, Operator):
    def colour_map(self, reference: torch.Tensor | None = None) -> ColourFn:
        look, amount = self.p["look"], self.p["amount"]
        return lambda x: apply_look(x, look, amount)

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return self.colour_map()(self.centre(frames, windows))
