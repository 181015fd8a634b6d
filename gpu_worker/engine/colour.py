"""Colour maths shared by the colour operators.

`saturate` is used by colour_correct (restoring faded chroma) and by colour_scheme's
looks, so it lives here rather than in either operator's module.
"""

from __future__ import annotations

import torch

from gpu_worker.engine.filters import luma


def saturate(x: torch.Tensor, s: float | torch.Tensor) -> torch.Tensor:
    """Scale chroma around Rec. 709 luma; s may be a scalar or (N, 1, 1, 1)."""
    y = luma(x)
    return y + (x - y) * s
