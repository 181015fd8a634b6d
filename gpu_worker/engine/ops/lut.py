"""lut: apply a `.cube` LUT exported from a grading tool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from gpu_worker.engine.lut import ColourFn, LutError, lut_colour_fn, read_cube
from gpu_worker.engine.registry import OpContext, Operator
from gpu_worker.engine.schema import ApplyLutSchema, SpecError


class ApplyLut(ApplyLutSchema, Operator):
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
        return lut_colour_fn(self.lut, self.p["amount"])

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return self.colour_map()(self.centre(frames, windows))
