"""sharpen: unsharp masking that leaves grain and noise alone."""

from __future__ import annotations

import torch

from gpu_worker.engine.filters import unsharp_mask
from gpu_worker.engine.registry import Operator
from gpu_worker.engine.schema import SharpenSchema


class Sharpen(SharpenSchema, Operator):
    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        x = self.centre(frames, windows)
        return unsharp_mask(x, self.p["amount"], self.p["radius"],
                            self.p["threshold"] / 255.0, self.p["luma_only"])
