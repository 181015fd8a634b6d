"""lut: a .cube file from a grading tool, applied by the operator."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch

from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import OpContext, SpecError
from tests.conftest import media_file
from tests.engine.test_lut import _cube_text


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    img = cv2.imread(str(media_file("clean/coffee.png")))[::4, ::4, ::-1]
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255.0


def test_lut_operator(tmp_path: Path, photo: torch.Tensor) -> None:
    (tmp_path / "swap.cube").write_text(_cube_text(3, lambda r, g, b: (g, b, r)))
    cls = get_operator("lut")
    ctx = OpContext(assets_dir=tmp_path)
    op = cls(cls.validate_params({"path": "swap.cube", "amount": 0.5}), ctx)
    out = op.process(photo, torch.zeros(1, 1, dtype=torch.long), torch.zeros(1))
    assert torch.allclose(out, 0.5 * photo + 0.5 * photo[:, [1, 2, 0]], atol=1e-5)
    with pytest.raises(SpecError, match="lut.path: LUT file not found"):
        cls(cls.validate_params({"path": "nope.cube"}), ctx)
    (tmp_path / "bad.cube").write_text("LUT_3D_SIZE 2\n0 0 0\n")
    with pytest.raises(SpecError, match="lut.path: .*bad.cube: LUT_3D_SIZE 2 needs"):
        cls(cls.validate_params({"path": "bad.cube"}), ctx)
    with pytest.raises(SpecError, match="choose a .cube file"):
        cls(cls.validate_params({}), ctx)
