"""Colour operators: reference transfer recovers a known grade, automatic correction
removes casts without flicker or leaking across cuts, named looks behave as named."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine.damage import DamageConfig, degrade_frame
from gpu_worker.engine.lut import apply_lut, lut_from_function
from gpu_worker.engine.metrics import psnr
from gpu_worker.engine.ops.colour import LOOKS, load_image, saturate
from gpu_worker.engine.ops.spatial import luma
from gpu_worker.engine.registry import OpContext, SpecError, get_operator
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
def test_correct_removes_a_cast_and_fade() -> None:
    clean = _photo("astronaut", 4)
    op = _make("colour_correct", temporal_radius=0)
    for cast in ("yellow", "cyan", "sepia"):
        damaged = degrade_frame((clean * 255).astype(np.uint8), 0,
                                DamageConfig(fade=0.3, cast=cast, cast_strength=0.4))
        x = _tensor(damaged.astype(np.float32) / 255)
        out = _one(op, x)
        assert psnr(out, _tensor(clean)) > psnr(x, _tensor(clean)) + 2.5, cast

        def cast_size(t: torch.Tensor) -> float:
            # The clean photo has neutral black and white points; a cast tints them.
            q = torch.quantile(t.flatten(2)[0], torch.tensor([0.01, 0.99]), dim=1)  # (2, 3)
            return float((q.amax(dim=1) - q.amin(dim=1)).max())

        assert cast_size(out) < 0.6 * cast_size(x), cast  # default: 70% of the cast
        full = _one(_make("colour_correct", temporal_radius=0, white_balance=1.0), x)
        assert cast_size(full) < 0.3 * cast_size(x), cast


def test_correct_leaves_black_and_white_footage_grey() -> None:
    grey = _photo("astronaut", 4).mean(axis=2, keepdims=True).repeat(3, axis=2)
    faded = 0.15 + 0.6 * grey
    out = _one(_make("colour_correct", temporal_radius=0, saturation=1.0, contrast=1.0),
               _tensor(faded))
    assert (out.amax(dim=1) - out.amin(dim=1)).max() < 1e-5
    assert float(out.max() - out.min()) > 0.95  # and the fade was stretched


def _flashing_clip() -> tuple[torch.Tensor, np.ndarray]:
    """A steady shot with a bright coloured object coming and going every other frame:
    per-frame statistics jump, the scene does not."""
    base = degrade_frame((_photo("coffee", 4) * 255).astype(np.uint8), 0,
                         DamageConfig(fade=0.3, cast="cyan", cast_strength=0.4))
    frames, region = [], np.zeros(base.shape[:2], bool)
    region[:, : base.shape[1] // 2] = True  # the untouched half we watch
    for i in range(9):
        f = base.astype(np.float32) / 255
        if i % 2:
            f = f.copy()
            f[:, base.shape[1] // 2:] = (1.0, 0.9, 0.1)
        frames.append(f)
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous(), region


def test_correct_is_temporally_stable() -> None:
    frames, region = _flashing_clip()
    n, r = frames.shape[0], 4
    win = torch.tensor([[min(max(i + k, 0), n - 1) for k in range(-r, r + 1)]
                        for i in range(n)])

    def flicker(out: torch.Tensor) -> float:
        means = out[:, :, torch.from_numpy(region)].mean(dim=2)  # (N, 3)
        return float((means[1:] - means[:-1]).abs().max())

    per_frame = _make("colour_correct", temporal_radius=0)
    windowed = _make("colour_correct", temporal_radius=r)
    f0 = flicker(per_frame.process(frames, win[:, r:r + 1], torch.arange(n)))
    f4 = flicker(windowed.process(frames, win, torch.arange(n)))
    assert f0 > 0.02  # the per-frame correction does pump
    assert f4 < 0.35 * f0


def test_correct_never_mixes_shots() -> None:
    a = _tensor(degrade_frame((_photo("coffee", 4) * 255).astype(np.uint8), 0,
                              DamageConfig(fade=0.2, cast="yellow", cast_strength=0.5)
                              ).astype(np.float32) / 255)
    b = _tensor(degrade_frame((_photo("chelsea", 4)[: a.shape[2], : a.shape[3]] * 255
                               ).astype(np.uint8), 0,
                              DamageConfig(fade=0.2, cast="cyan", cast_strength=0.5)
                              ).astype(np.float32) / 255)
    b = torch.nn.functional.pad(b, (0, a.shape[3] - b.shape[3], 0, a.shape[2] - b.shape[2]))
    frames = torch.cat([a, a, b, b])  # cut between frame 1 and 2
    op = _make("colour_correct", temporal_radius=2)
    # Last frame of shot A: the pipeline repeats frame 1 in place of 2 and 3.
    at_cut = op.process(frames, torch.tensor([[0, 0, 1, 1, 1]]), torch.tensor([1]))
    alone = op.process(frames[:1], torch.zeros(1, 5, dtype=torch.long), torch.tensor([1]))
    assert torch.allclose(at_cut, alone, atol=1e-5)


# -- colour_scheme -------------------------------------------------------------------
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


def test_saturate_keeps_luma() -> None:
    x = _tensor(_photo("coffee", 8))
    assert torch.allclose(luma(saturate(x, 1.7)), luma(x), atol=1e-5)
