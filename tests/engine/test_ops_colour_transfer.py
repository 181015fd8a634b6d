"""colour_transfer: a reference pair recovers a known grade; errors name the parameter."""


from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine.metrics import psnr
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.colour_transfer import load_image
from gpu_worker.engine.registry import OpContext, SpecError
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
def test_transfer_recovers_a_known_grade(tmp_path: Path) -> None:
    clean = _photo("coffee")
    _save(tmp_path / "orig.png", _faded_grade(clean))  # the frame as scanned
    _save(tmp_path / "fixed.png", clean)  # the colourist's fix
    op = _make("colour_transfer", OpContext(assets_dir=tmp_path), original="orig.png",
               fixed="fixed.png")
    # The same frame, and a photo the fit never saw, both graded the same way.
    for name, tol in (("coffee", 40.0), ("chelsea", 36.0)):
        truth = _photo(name)
        damaged = _tensor(_faded_grade(truth))
        before = psnr(damaged, _tensor(truth))
        after = psnr(_one(op, damaged), _tensor(truth))
        assert after > tol and after > before + 8, (name, before, after)
    matrix = _make("colour_transfer", OpContext(assets_dir=tmp_path), original="orig.png",
                   fixed="fixed.png", model="matrix")
    truth = _tensor(clean)
    # The matrix alone cannot undo the per-channel gammas: the LUT model must do better.
    assert psnr(_one(op, _tensor(_faded_grade(clean))), truth) > \
        psnr(_one(matrix, _tensor(_faded_grade(clean))), truth) + 3


def test_transfer_with_two_pairs_and_half_amount(tmp_path: Path) -> None:
    a, b = _photo("coffee", 4), _photo("astronaut", 4)
    grade = lambda x: np.clip(x * np.array([0.7, 0.9, 1.1]) + 0.05, 0, 1).astype(np.float32)  # noqa: E731
    for name, img in (("a", a), ("b", b)):
        _save(tmp_path / f"{name}_orig.png", grade(img))
        _save(tmp_path / f"{name}_fixed.png", img)
    ctx = OpContext(assets_dir=tmp_path)
    op = _make("colour_transfer", ctx, original="a_orig.png", fixed="a_fixed.png",
               original_2="b_orig.png", fixed_2="b_fixed.png")
    truth = _photo("chelsea", 4)
    assert psnr(_one(op, _tensor(grade(truth))), _tensor(truth)) > 38
    half = _make("colour_transfer", ctx, original="a_orig.png", fixed="a_fixed.png",
                 original_2="b_orig.png", fixed_2="b_fixed.png", amount=0.5)
    x = _tensor(grade(truth))
    assert torch.allclose(_one(half, x), 0.5 * x + 0.5 * _one(op, x), atol=1e-4)


def test_transfer_errors_name_the_parameter(tmp_path: Path) -> None:
    img = _photo("coffee", 8)
    _save(tmp_path / "o.png", img)
    _save(tmp_path / "crop.png", img[:, : img.shape[1] // 2])
    ctx = OpContext(assets_dir=tmp_path)
    with pytest.raises(SpecError, match="needs at least one pair") as e:
        _make("colour_transfer", ctx)
    assert e.value.param == "original"
    with pytest.raises(SpecError, match="give both frames of a pair") as e:
        _make("colour_transfer", ctx, original="o.png")
    assert e.value.param == "fixed"
    with pytest.raises(SpecError, match="cannot read image") as e:
        _make("colour_transfer", ctx, original="o.png", fixed="missing.png")
    assert e.value.param == "fixed"
    with pytest.raises(SpecError, match="must have the same framing"):
        _make("colour_transfer", ctx, original="o.png", fixed="crop.png")
    # A problem in the second pair is reported against the second pair's parameter.
    with pytest.raises(SpecError, match="colour_transfer.fixed_2: cannot read image") as e:
        _make("colour_transfer", ctx, original="o.png", fixed="o.png", original_2="o.png",
              fixed_2="gone.png")
    assert e.value.param == "fixed_2"


# -- colour_correct -----------------------------------------------------------------
