"""resize: change the frame size by a factor or to a width and/or height."""

from __future__ import annotations

import torch

from gpu_worker.engine.registry import Operator
from gpu_worker.engine.resample import resize_frames
from gpu_worker.engine.schema import ResizeSchema, target_size  # noqa: F401 - target_size kept importable here


class Resize(ResizeSchema, Operator):
    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return target_size(width, height, out_width=self.p["width"],
                           out_height=self.p["height"], scale=self.p["scale"],
                           keep_aspect=self.p["keep_aspect"], even=self.p["even"])

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        x = self.centre(frames, windows)
        w, h = self.output_size(x.shape[3], x.shape[2])
        return resize_frames(x, w, h, self.p["method"])
