"""lut: apply a `.cube` LUT exported from a grading tool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from gpu_worker.engine.lut import ColourFn, LutError, apply_lut, read_cube
from gpu_worker.engine.registry import OpContext, Operator, Param, SpecError, register


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
