"""sharpen: unsharp masking that leaves grain and noise alone."""

from __future__ import annotations

import torch

from gpu_worker.engine.filters import unsharp_mask
from gpu_worker.engine.registry import Operator, Param, register


@register
class Sharpen(Operator):
    name = "sharpen"
    category = "detail"
    description = ("Unsharp-mask sharpening. Detail below the threshold (film grain, "
                   "noise) is not amplified, so only real edges get crisper.")
    params = (
        Param("amount", "float", 0.6, "How much edge contrast to add; 0 leaves the image "
              "untouched, 1 doubles the contrast of fine edges.", min=0.0, max=3.0,
              step=0.05),
        Param("radius", "float", 1.2, "Size of the detail that gets sharpened (the blur "
              "radius of the mask). Small values for fine detail, larger for soft scans.",
              min=0.3, max=8.0, unit="px", step=0.1),
        Param("threshold", "float", 3.0, "Edges weaker than this are left alone so grain "
              "and noise are not boosted; raise it on grainy footage.", min=0.0,
              max=40.0, unit="8-bit code values", step=0.5),
        Param("luma_only", "bool", True, "Sharpen brightness only (no colour fringes, "
              "no boosted colour noise)."),
    )

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        x = self.centre(frames, windows)
        return unsharp_mask(x, self.p["amount"], self.p["radius"],
                            self.p["threshold"] / 255.0, self.p["luma_only"])
