"""resize: change the frame size by a factor or to a width and/or height."""

from __future__ import annotations

import torch

from gpu_worker.engine.registry import Operator
from gpu_worker.engine.resample import resize_frames
from gpu_worker.engine.schema import ResizeSchema


def _even(v: float) -> int:
    return max(2, int(round(v / 2.0)) * 2)


def target_size(width: int, height: int, *, out_width: int = 0, out_height: int = 0,
                scale: float = 1.0, keep_aspect: bool = True, even: bool = True
                ) -> tuple[int, int]:
    """Output size for a resize request.

    Both out_width and out_height 0: scale both axes by `scale`. One of them given:
    the other follows the aspect ratio. Both given: fit inside that box when
    `keep_aspect`, else stretch to exactly that size. `even` rounds to even numbers,
    which 4:2:0 video encoders need.
    """
    if out_width <= 0 and out_height <= 0:
        w, h = width * scale, height * scale
    elif out_height <= 0:
        w, h = out_width, height * out_width / width
    elif out_width <= 0:
        w, h = width * out_height / height, out_height
    elif keep_aspect:
        f = min(out_width / width, out_height / height)
        w, h = width * f, height * f
    else:
        w, h = out_width, out_height
    if even:
        return _even(w), _even(h)
    return max(1, int(round(w))), max(1, int(round(h)))


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
