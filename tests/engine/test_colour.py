"""Colour maths shared by the colour operators."""


from __future__ import annotations

import torch

from gpu_worker.engine.colour import saturate
from gpu_worker.engine.filters import luma
from tests.engine.operator_harness import clean_photo, to_tensor


# -- colour_transfer ----------------------------------------------------------------
def test_saturate_keeps_luma() -> None:
    x = to_tensor(clean_photo("coffee", 8))
    assert torch.allclose(luma(saturate(x, 1.7)), luma(x), atol=1e-5)
