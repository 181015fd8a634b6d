"""colour_transfer: a reference pair recovers a known grade; errors name the parameter."""


from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gpu_worker.engine.metrics import psnr
from gpu_worker.engine.registry import OpContext, SpecError
from tests.engine.operator_harness import (
    clean_photo,
    faded_grade,
    make_operator,
    run_per_frame,
    save_png16,
    to_tensor,
)


# -- colour_transfer ----------------------------------------------------------------
def test_transfer_recovers_a_known_grade(tmp_path: Path) -> None:
    clean = clean_photo("coffee")
    save_png16(tmp_path / "orig.png", faded_grade(clean))  # the frame as scanned
    save_png16(tmp_path / "fixed.png", clean)  # the colourist's fix
    op = make_operator("colour_transfer", OpContext(assets_dir=tmp_path), original="orig.png",
               fixed="fixed.png")
    # The same frame, and a photo the fit never saw, both graded the same way.
    for name, tol in (("coffee", 40.0), ("chelsea", 36.0)):
        truth = clean_photo(name)
        damaged = to_tensor(faded_grade(truth))
        before = psnr(damaged, to_tensor(truth))
        after = psnr(run_per_frame(op, damaged), to_tensor(truth))
        assert after > tol and after > before + 8, (name, before, after)
    matrix = make_operator("colour_transfer", OpContext(assets_dir=tmp_path), original="orig.png",
                   fixed="fixed.png", model="matrix")
    truth = to_tensor(clean)
    # The matrix alone cannot undo the per-channel gammas: the LUT model must do better.
    assert psnr(run_per_frame(op, to_tensor(faded_grade(clean))), truth) > \
        psnr(run_per_frame(matrix, to_tensor(faded_grade(clean))), truth) + 3


def test_transfer_with_two_pairs_and_half_amount(tmp_path: Path) -> None:
    a, b = clean_photo("coffee", 4), clean_photo("astronaut", 4)
    grade = lambda x: np.clip(x * np.array([0.7, 0.9, 1.1]) + 0.05, 0, 1).astype(np.float32)  # noqa: E731
    for name, img in (("a", a), ("b", b)):
        save_png16(tmp_path / f"{name}_orig.png", grade(img))
        save_png16(tmp_path / f"{name}_fixed.png", img)
    ctx = OpContext(assets_dir=tmp_path)
    op = make_operator("colour_transfer", ctx, original="a_orig.png", fixed="a_fixed.png",
               original_2="b_orig.png", fixed_2="b_fixed.png")
    truth = clean_photo("chelsea", 4)
    assert psnr(run_per_frame(op, to_tensor(grade(truth))), to_tensor(truth)) > 38
    half = make_operator("colour_transfer", ctx, original="a_orig.png", fixed="a_fixed.png",
                 original_2="b_orig.png", fixed_2="b_fixed.png", amount=0.5)
    x = to_tensor(grade(truth))
    assert torch.allclose(run_per_frame(half, x), 0.5 * x + 0.5 * run_per_frame(op, x), atol=1e-4)


def test_transfer_errors_name_the_parameter(tmp_path: Path) -> None:
    img = clean_photo("coffee", 8)
    save_png16(tmp_path / "o.png", img)
    save_png16(tmp_path / "crop.png", img[:, : img.shape[1] // 2])
    ctx = OpContext(assets_dir=tmp_path)
    with pytest.raises(SpecError, match="needs at least one pair") as e:
        make_operator("colour_transfer", ctx)
    assert e.value.param == "original"
    with pytest.raises(SpecError, match="give both frames of a pair") as e:
        make_operator("colour_transfer", ctx, original="o.png")
    assert e.value.param == "fixed"
    with pytest.raises(SpecError, match="cannot read image") as e:
        make_operator("colour_transfer", ctx, original="o.png", fixed="missing.png")
    assert e.value.param == "fixed"
    with pytest.raises(SpecError, match="must have the same framing"):
        make_operator("colour_transfer", ctx, original="o.png", fixed="crop.png")
    # A problem in the second pair is reported against the second pair's parameter.
    with pytest.raises(SpecError, match="colour_transfer.fixed_2: cannot read image") as e:
        make_operator("colour_transfer", ctx, original="o.png", fixed="o.png", original_2="o.png",
              fixed_2="gone.png")
    assert e.value.param == "fixed_2"


# -- colour_correct -----------------------------------------------------------------
