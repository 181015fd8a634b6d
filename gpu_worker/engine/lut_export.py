"""Baking a chain of per-pixel colour operators into one 3-D LUT (`.cube`), so a look
made of several operators can be taken to a grading system. It builds operators, so
it sits above them (gpu_worker.engine.lut is below: the operators read LUTs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from gpu_worker.engine.lut import ColourFn, Lut, LutError, compose, lut_from_function, write_cube
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import OpContext, Operator


def _build_op(item: Any, ctx: Any) -> Any:
    if isinstance(item, Operator):
        return item
    if isinstance(item, Mapping):
        name, params = item.get("op"), item.get("params", {})
    elif isinstance(item, (tuple, list)) and len(item) == 2:
        name, params = item
    else:
        raise LutError(f"cannot read chain step {item!r}; give an operator, "
                       f"{{'op': name, 'params': {{...}}}} or (name, params)")
    cls = get_operator(str(name))
    return cls(cls.validate_params(params), ctx or OpContext())


def export_chain(chain: Sequence[Any], path: str | Path | None = None, *, size: int = 33,
                 reference: torch.Tensor | None = None, ctx: Any = None,
                 title: str = "") -> Lut:
    """Bake a chain of colour operators into one 3-D LUT (written to `path` if given).

    chain: operator instances, spec steps {"op": name, "params": {...}} or (name,
    params) pairs. Each operator must offer `colour_map(reference)`, returning its
    per-pixel colour function; adaptive ones (colour_correct) measure their correction
    on `reference` frames (N, 3, H, W), which then flow down the chain so every step
    sees what it would see in the render. Operators that are not per-pixel colour
    operations (denoise, resize, grain...) are refused with a clear message.
    """
    fns: list[ColourFn] = []
    names = []
    ref = reference
    for item in chain:
        op = _build_op(item, ctx)
        names.append(op.name)
        colour_map = getattr(op, "colour_map", None)
        if colour_map is None:
            raise LutError(f"operator {op.name!r} is not a per-pixel colour operation and "
                           f"cannot be baked into a LUT")
        fn = colour_map(ref)
        fns.append(fn)
        if ref is not None:
            ref = fn(ref)
    device = reference.device if reference is not None else "cpu"
    lut = lut_from_function(compose(fns), size=size, title=title or " + ".join(names),
                            device=device)
    if path is not None:
        write_cube(lut, path)
    return lut
