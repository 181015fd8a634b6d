"""colour_scheme: named looks behave as named, blend by amount and bake into a LUT."""


from __future__ import annotations

import torch

from gpu_worker.engine.filters import luma
from gpu_worker.engine.lut import apply_lut, lut_from_function
from gpu_worker.engine.ops.colour_scheme import LOOKS
from tests.engine.operator_harness import clean_photo, make_operator, run_per_frame, to_tensor


# -- colour_transfer ----------------------------------------------------------------
def test_every_look_is_distinct_in_range_and_amount_blends() -> None:
    x = to_tensor(clean_photo("coffee", 8))
    outs = {}
    for look in LOOKS:
        out = run_per_frame(make_operator("colour_scheme", look=look), x)
        assert out.shape == x.shape and 0 <= float(out.min()) and float(out.max()) <= 1
        outs[look] = out
        half = run_per_frame(make_operator("colour_scheme", look=look, amount=0.5), x)
        assert torch.allclose(half, (x + 0.5 * (out - x)).clamp(0, 1), atol=1e-6)
        assert torch.equal(run_per_frame(make_operator("colour_scheme", look=look, amount=0.0), x), x)
    assert torch.equal(outs["neutral"], x)
    names = list(LOOKS)
    for i, p in enumerate(names):
        for q in names[i + 1:]:
            assert (outs[p] - outs[q]).abs().mean() > 0.01, (p, q)


def test_looks_do_what_their_names_say() -> None:
    x = to_tensor(clean_photo("astronaut", 8))

    def chroma(t: torch.Tensor) -> float:
        return float((t - luma(t)).abs().mean())

    def look(name: str) -> torch.Tensor:
        return run_per_frame(make_operator("colour_scheme", look=name), x)

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
    x = to_tensor(clean_photo("chelsea", 8))
    for look in ("sepia", "technicolor_2strip", "teal_orange"):
        op = make_operator("colour_scheme", look=look, amount=0.7)
        baked = lut_from_function(op.colour_map(None), 33)
        assert (apply_lut(x, baked) - run_per_frame(op, x)).abs().mean() < 0.5 / 255, look
