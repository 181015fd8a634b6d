"""Colour maths shared by the colour operators."""


from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from gpu_worker.engine.colour import saturate
from gpu_worker.engine.filters import luma
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.colour_transfer import load_image
from gpu_worker.engine.registry import OpContext
from tests.conftest import media_file


def _make(name: str, ctx: OpContext | None = None, **params):  # type: ignore[no-untyped-def]
    cls = get_operator(name)
    return cls(cls.validate_params(params), ctx or OpContext())


def _one(op, x: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return op.process(x, torch.arange(x.shape[0])[:, None], torch.arange(x.shape[0]))


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()


def _photo(name: str, step: int = 2) -> np.ndarray:
    return load_image(media_file(f"clean/{name}.png"))[::step, ::step]


def _faded_grade(img: np.ndarray) -> np.ndarray:
    """A known, non-linear 'faded print' mapping: channel crosstalk, raised blacks and a
    different gamma per channel."""
    mix = np.array([[0.80, 0.12, 0.03], [0.06, 0.78, 0.06], [0.02, 0.14, 0.60]])
    out = img.reshape(-1, 3) @ mix.T + np.array([0.07, 0.05, 0.03])
    out = np.clip(out, 0, 1) ** np.array([1.0, 1.15, 0.85])
    return out.reshape(img.shape).astype(np.float32)


def _save(path: Path, img: np.ndarray) -> None:
    # 16-bit PNG so the test measures the fit, not 8-bit rounding.
    cv2.imwrite(str(path), (np.clip(img, 0, 1)[..., ::-1] * 65535 + 0.5).astype(np.uint16))


# -- colour_transfer ----------------------------------------------------------------
def test_saturate_keeps_luma() -> None:
    x = _tensor(_photo("coffee", 8))
    assert torch.allclose(luma(saturate(x, 1.7)), luma(x), atol=1e-5)
