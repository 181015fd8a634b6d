"""colour_scheme: named looks behave as named, blend by amount and bake into a LUT."""


from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from gpu_worker.engine.filters import luma
from gpu_worker.engine.lut import apply_lut, lut_from_function
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.colour_scheme import LOOKS
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
def test_every_look_is_distinct_in_range_and_amount_blends() -> None:
    x = _tensor(_photo("coffee", 8))
    outs = {}
    for look in LOOKS:
        out = _one(_make("colour_scheme", look=look), x)
        assert out.shape == x.shape and 0 <= float(out.min()) and float(out.max()) <= 1
        outs[look] = out
        half = _one(_make("colour_scheme", look=look, amount=0.5), x)
        assert torch.allclose(half, (x + 0.5 * (out - x)).clamp(0, 1), atol=1e-6)
        assert torch.equal(_one(_make("colour_scheme", look=look, amount=0.0), x), x)
    assert torch.equal(outs["neutral"], x)
    names = list(LOOKS)
    for i, p in enumerate(names):
        for q in names[i + 1:]:
            assert (outs[p] - outs[q]).abs().mean() > 0.01, (p, q)


def test_looks_do_what_their_names_say() -> None:
    x = _tensor(_photo("astronaut", 8))

    def chroma(t: torch.Tensor) -> float:
        return float((t - luma(t)).abs().mean())

    def look(name: str) -> torch.Tensor:
        return _one(_make("colour_scheme", look=name), x)

    mono = look("monochrome")
    assert torch.allclose(mono[:, 0], mono[:, 1]) and torch.allclose(mono[:, 1], mono[:, 2])
    sepia = look("sepia")
    mid = (luma(x) > 0.2) & (luma(x) < 0.8)
    r, g, b = (sepia[:, c:c + 1][mid] for c in range(3))
    assert bool((r >= g).all() and (g >= b).all())  # brown/cream: warm everywhere
    assert chroma(look("bleach_bypass")) < 0.6 * chroma(x)
    assert float(luma(look("bleach_bypass")).std()) > float(luma(x).std())
    warm, cool = look("warm_period"), look("cool")
    assert float((warm[:, 0] - warm[:, 2]).mean()) > float((x[:, 0] - x[:, 2]).mean()) + 0.04
    assert float((cool[:, 2] - cool[:, 0]).mean()) > float((x[:, 2] - x[:, 0]).mean()) + 0.04
    two = look("technicolor_2strip")  # one shared green/blue record
    assert float((two[:, 1] - two[:, 2]).abs().mean()) < 0.5 * float(
        (x[:, 1] - x[:, 2]).abs().mean())
    assert chroma(look("technicolor_3strip")) > 1.2 * chroma(x)


def test_every_colour_operator_bakes_into_its_own_lut() -> None:
    x = _tensor(_photo("chelsea", 8))
    for look in ("sepia", "technicolor_2strip", "teal_orange"):
        op = _make("colour_scheme", look=look, amount=0.7)
        baked = lut_from_function(op.colour_map(None), 33)
        assert (apply_lut(x, baked) - _one(op, x)).abs().mean() < 0.5 / 255, look
