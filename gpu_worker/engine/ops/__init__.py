"""The built-in operators, listed explicitly.

Adding an operator is declaring its schema in gpu_worker.engine.schema (and adding it
to BUILTIN_SCHEMAS), writing its implementation in a module of this package named
after it, and adding the class to OPERATORS below. An explicit list keeps what a
worker can run visible in one place and lets nothing be registered by accident.
"""

from __future__ import annotations

from gpu_worker.engine.ops.colour_correct import ColourCorrect
from gpu_worker.engine.ops.colour_scheme import ColourScheme
from gpu_worker.engine.ops.colour_transfer import ColourTransfer
from gpu_worker.engine.ops.deflicker import Deflicker
from gpu_worker.engine.ops.deinterlace import Deinterlace
from gpu_worker.engine.ops.denoise import Denoise
from gpu_worker.engine.ops.dust import Dust
from gpu_worker.engine.ops.face_restore import FaceRestore
from gpu_worker.engine.ops.grain import Grain
from gpu_worker.engine.ops.interpolate import Interpolate
from gpu_worker.engine.ops.ivtc import Ivtc
from gpu_worker.engine.ops.lut import ApplyLut
from gpu_worker.engine.ops.resize import Resize
from gpu_worker.engine.ops.scratch import Scratch
from gpu_worker.engine.ops.sharpen import Sharpen
from gpu_worker.engine.ops.super_resolution import SuperResolution
from gpu_worker.engine.ops.wire import Wire
from gpu_worker.engine.registry import Operator, register, registered_operator, registered_operators

OPERATORS: tuple[type[Operator], ...] = (
    ColourCorrect, ColourScheme, ColourTransfer, ApplyLut, Deflicker, Denoise, Dust,
    FaceRestore, Grain, Interpolate, Scratch, Wire, Sharpen, Resize, SuperResolution,
    Deinterlace, Ivtc,
)

__all__ = ["OPERATORS", "get_operator", "all_operators"]

for _operator in OPERATORS:
    register(_operator)


def get_operator(name: str) -> type[Operator]:
    """The implementation of operator `name` (the web process wants
    gpu_worker.engine.schema.get_operator_schema instead: no torch)."""
    return registered_operator(name)


def all_operators() -> dict[str, type[Operator]]:
    """Every operator a spec may name: the built-in ones and any registered since."""
    return registered_operators()
