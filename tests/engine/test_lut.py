""".cube LUTs: parsing and writing, application, malformed files, baking chains, the
`lut` operator."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch

from gpu_worker.engine.lut import (
    Lut,
    LutError,
    apply_lut,
    format_cube,
    identity_lut,
    lut_from_function,
    parse_cube,
    read_cube,
    write_cube,
)
from gpu_worker.engine.lut_export import export_chain
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import OpContext
from tests.conftest import media_file


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    img = cv2.imread(str(media_file("clean/coffee.png")))[::4, ::4, ::-1]
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255.0


def _cube_text(size: int, fn, title: str = "t") -> str:  # type: ignore[no-untyped-def]
    """A .cube written by hand, red fastest, as the spec says."""
    lines = [f'TITLE "{title}"', f"LUT_3D_SIZE {size}"]
    for b in range(size):
        for g in range(size):
            for r in range(size):
                rgb = fn(r / (size - 1), g / (size - 1), b / (size - 1))
                lines.append(" ".join(f"{v:.6f}" for v in rgb))
    return "\n".join(lines) + "\n"


def test_identity_lut_is_identity(photo: torch.Tensor) -> None:
    for lut in (identity_lut(17), identity_lut(2), identity_lut(256, dim=1)):
        assert (apply_lut(photo, lut) - photo).abs().max() < 1e-5


def test_channel_swap_written_by_hand_applies_correctly(photo: torch.Tensor) -> None:
    lut = parse_cube(_cube_text(5, lambda r, g, b: (b, r, g)))
    out = apply_lut(photo, lut)
    assert torch.allclose(out, photo[:, [2, 0, 1]], atol=1e-5)


def test_trilinear_interpolation_between_lattice_points(photo: torch.Tensor) -> None:
    # A smooth non-linear grade sampled at 33^3 is reproduced within a code value,
    # and exactly at lattice points.
    def grade(x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0, 1) ** torch.tensor([0.8, 1.0, 1.25]).view(1, 3, 1, 1)

    lut = lut_from_function(grade, 33)
    assert (apply_lut(photo, lut) - grade(photo)).abs().max() < 4 / 255
    on_grid = torch.tensor([0.25, 0.5, 0.75]).view(1, 3, 1, 1)
    assert torch.allclose(apply_lut(on_grid, lut), grade(on_grid), atol=1e-6)


def test_round_trip(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    lut = Lut(torch.rand(9, 9, 9, 3, generator=gen), title="Print film #3",
              domain_min=(0.0, 0.0, 0.0), domain_max=(1.0, 2.0, 1.0))
    path = write_cube(lut, tmp_path / "look.cube")
    back = read_cube(path)
    assert back.title == "Print film #3" and back.size == 9 and back.is_3d
    assert back.domain_max == (1.0, 2.0, 1.0)
    assert torch.allclose(back.table, lut.table, atol=1e-6)
    one_d = Lut(torch.rand(64, 3, generator=gen), title="curve")
    back1 = parse_cube(format_cube(one_d))
    assert not back1.is_3d and torch.allclose(back1.table, one_d.table, atol=1e-6)


def test_comments_domain_and_resolve_input_range() -> None:
    text = ("# written by hand\n\nTITLE \"half\"\n# size next\nLUT_3D_SIZE 2\n"
            "DOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n" + "\n".join(
                " ".join(str(v) for v in (r, g, b)) for b in (0, 1) for g in (0, 1)
                for r in (0, 1)) + "\n")
    lut = parse_cube(text)
    x = torch.full((1, 3, 1, 1), 1.0)  # middle of a 0..2 domain
    assert torch.allclose(apply_lut(x, lut), torch.full_like(x, 0.5), atol=1e-6)
    resolve = text.replace("DOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2", "LUT_3D_INPUT_RANGE 0 2")
    assert parse_cube(resolve).domain_max == (2.0, 2.0, 2.0)


def test_one_d_lut_applies_per_channel() -> None:
    ramp = torch.linspace(0, 1, 11)
    lut = Lut(torch.stack([ramp ** 2, 1 - ramp, ramp], dim=1))
    on_point = apply_lut(torch.full((1, 3, 1, 1), 0.3), lut).flatten()
    assert torch.allclose(on_point, torch.tensor([0.09, 0.7, 0.3]), atol=1e-5)
    # Half-way between entries 0.3 and 0.4 of the squared curve: (0.09 + 0.16) / 2.
    between = apply_lut(torch.full((1, 3, 1, 1), 0.35), lut).flatten()
    assert torch.allclose(between, torch.tensor([0.125, 0.65, 0.35]), atol=1e-5)


@pytest.mark.parametrize("text,message", [
    ("0 0 0\n1 1 1\n", "no LUT_3D_SIZE or LUT_1D_SIZE"),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7, "needs 2^3 = 8 table entries, found 7"),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 0 zero\n", "line 9: a table entry has a value "
     "that is not a number"),
    ("LUT_3D_SIZE 2\n" + "0 0\n" * 8, "line 2: a table entry needs 3 numbers, got 2"),
    ("LUT_3D_SIZE 2\n" + "0 0 nan\n" * 8, "non-finite"),
    ("LUT_3D_SIZE 1\n0 0 0\n", "LUT_3D_SIZE 1 is outside 2..256"),
    ("LUT_3D_SIZE two\n", "LUT_3D_SIZE needs one whole number"),
    # A shaper file (both sizes) needs both tables.
    ("LUT_3D_SIZE 2\nLUT_1D_SIZE 2\n" + "0 0 0\n" * 8, "LUT_1D_SIZE 2 \\+ LUT_3D_SIZE 2 need "
     "2 \\+ 2^3 = 10 table entries, found 8"),
    ("LUT_1D_SIZE 2\nLUT_1D_INPUT_RANGE 1 0\nLUT_3D_SIZE 2\n" + "0 0 0\n" * 10,
     "LUT_1D_INPUT_RANGE 1.0 0.0 must go from low to high"),
    ("LUT_3D_SIZE 2\nDOMAIN_MIN 1 0 0\n" + "0 0 0\n" * 8, "must be below DOMAIN_MAX"),
    ("LUT_3D_SIZE 2\n0 0 0\nTITLE \"late\"\n" + "0 0 0\n" * 7, "keywords must come first"),
    ("LUT_3D_SIZE 2\nDOMAIN_MAX 1 1\n" + "0 0 0\n" * 8, "DOMAIN_MAX needs 3 numbers"),
])
def test_malformed_files_are_rejected_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(LutError, match=message.replace("^", r"\^")):
        parse_cube(text, source="bad.cube")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(LutError, match="LUT file not found"):
        read_cube(tmp_path / "missing.cube")
    png = tmp_path / "image.cube"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(LutError, match="binary data"):
        read_cube(png)


def test_export_chain_reproduces_the_operators(photo: torch.Tensor, tmp_path: Path) -> None:
    chain = [{"op": "colour_scheme", "params": {"look": "bleach_bypass", "amount": 0.8}},
             ("colour_scheme", {"look": "warm_period"})]
    lut = export_chain(chain, tmp_path / "look.cube", size=33)
    assert (tmp_path / "look.cube").is_file()
    direct = photo
    for item in (chain[0], {"op": "colour_scheme", "params": {"look": "warm_period"}}):
        cls = get_operator(item["op"])
        op = cls(cls.validate_params(item["params"]), OpContext())
        direct = op.process(direct, torch.zeros(1, 1, dtype=torch.long), torch.zeros(1))
    baked = apply_lut(photo, read_cube(tmp_path / "look.cube"))
    assert (baked - direct).abs().mean() < 1.0 / 255
    assert (baked - direct).abs().max() < 8.0 / 255
    assert lut.title == "colour_scheme + colour_scheme"


def test_export_chain_adaptive_and_refused_operators(photo: torch.Tensor) -> None:
    with pytest.raises(LutError, match="give reference frames"):
        export_chain([{"op": "colour_correct", "params": {}}])
    with pytest.raises(LutError, match="'denoise' is not a per-pixel colour operation"):
        export_chain([{"op": "denoise", "params": {}}])
    # Measured on a reference, colour_correct bakes to the correction it applies there.
    cls = get_operator("colour_correct")
    op = cls(cls.validate_params({"temporal_radius": 0}), OpContext())
    direct = op.process(photo, torch.zeros(1, 1, dtype=torch.long), torch.zeros(1))
    lut = export_chain([op], reference=photo, size=33)
    assert (apply_lut(photo, lut) - direct).abs().mean() < 1.0 / 255


def shaper_cube_text() -> str:
    """What Resolve exports for log footage: a 1-D shaper over [0, 4] (x -> sqrt(x/4))
    and a 3-D table over [0, 1] that squares each channel and swaps red and blue."""
    import math

    n1, n3 = 64, 9
    lines = ['TITLE "shaper test"', f"LUT_1D_SIZE {n1}", "LUT_1D_INPUT_RANGE 0.0 4.0",
             f"LUT_3D_SIZE {n3}", "LUT_3D_INPUT_RANGE 0.0 1.0"]
    for i in range(n1):
        v = math.sqrt((4.0 * i / (n1 - 1)) / 4.0)
        lines.append(f"{v:.6f} {v:.6f} {v:.6f}")
    for b in range(n3):
        for g in range(n3):
            for r in range(n3):
                R, G, B = r / (n3 - 1), g / (n3 - 1), b / (n3 - 1)
                lines.append(f"{B * B:.6f} {G * G:.6f} {R * R:.6f}")
    return "\n".join(lines) + "\n"


def test_shaper_lut_from_resolve_is_read_and_applied_in_order(tmp_path: Path) -> None:
    lut = parse_cube(shaper_cube_text(), source="shaper.cube")
    assert lut.is_3d and lut.size == 9 and lut.shaper is not None
    assert lut.shaper.size == 64 and lut.shaper.domain_max == (4.0, 4.0, 4.0)
    # Input 1.0 (inside the shaper's [0, 4] range, past a plain cube's [0, 1]) ->
    # shaper sqrt(1/4) = 0.5 -> cube: squared, 0.25. Without the shaper it would clip.
    x = torch.tensor([1.0, 2.56, 0.0]).view(1, 3, 1, 1)
    out = apply_lut(x, lut, clamp=False).flatten()
    want = torch.tensor([0.0, 0.64, 0.25])  # red <- blue^2, green^2, blue <- red^2
    assert torch.allclose(out, want, atol=0.02), out
    # Written back in Resolve's layout, it reads the same.
    again = read_cube(write_cube(lut, tmp_path / "again.cube"))
    assert again.shaper is not None and torch.allclose(again.shaper.table, lut.shaper.table)
    assert torch.allclose(apply_lut(x, again, clamp=False), apply_lut(x, lut, clamp=False))
