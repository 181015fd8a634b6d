"""Operator registry: every restoration operator is a class registered by name.

An operator's declaration (name, typed parameters, whether it changes the frame size
or rate) lives in `gpu_worker.engine.schema`, which the web process uses without
torch; an implementation here subclasses its schema and adds its temporal radius (how
many frames before/after each output frame it must see), its output size and the work.
The built-in operators are the explicit list `gpu_worker.engine.ops.OPERATORS`.

Frames travel as float32 torch tensors shaped (N, 3, H, W), RGB in [0, 1], on the
pipeline's device. A temporal operator receives the distinct frames it needs once
(`frames`) plus an index tensor (`windows`, shape (B, 2r+1)) saying which of them form
the window around each output frame; the pipeline clamps windows at scene cuts by
repeating the edge frame of the scene, so an operator never blends across a cut.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from gpu_worker.engine.schema import (
    OperatorSchema,
    Param,
    ParamKind,
    SpecError,
    add_schema,
    operator_schemas,
)

__all__ = ["OpContext", "Operator", "OperatorFactory", "Param", "ParamKind", "SpecError",
           "register", "registered_operator", "registered_operators", "operator_schemas"]

@dataclass
class OpContext:
    """What an operator instance knows about the render it is part of."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0  # already mixed with the operator's position in the pipeline
    fps: float = 24.0
    rate: Fraction | None = None  # exact input frame rate of this operator, when known
    width: int = 0  # input size of this operator
    height: int = 0
    models_dir: Path | None = None
    assets_dir: Path | None = None  # where relative "path" parameters are resolved

    def resolve_path(self, value: str) -> Path:
        path = Path(value)
        if not path.is_absolute() and self.assets_dir is not None:
            path = self.assets_dir / path
        return path


class Operator(OperatorSchema):
    """Base class of all operators: a schema (the class attributes, usually inherited
    from the operator's class in gpu_worker.engine.schema) plus `process`."""

    def __init__(self, params: Mapping[str, Any], ctx: OpContext) -> None:
        self.p = dict(params)  # validated, with defaults filled in
        self.ctx = ctx

    # Windows are clamped at scene cuts so no operator blends two shots. An operator
    # that only pairs the two fields of one film frame (inverse telecine) sets this:
    # a cut the detector put between the two video frames holding a film frame's
    # fields (a film cut inside a 3:2 cycle) must not stop it.
    windows_cross_cuts: bool = False

    # -- declared properties -------------------------------------------------
    def temporal_radius(self) -> int:
        """Frames needed before and after each output frame (0 = purely spatial)."""
        return 0

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """Size of the frames this operator emits for a given input size."""
        return width, height

    def process_rate(self, frames: torch.Tensor, windows: torch.Tensor,
                     rows: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        """Rate-changing operators only: make the output frames of a batch.

        frames, windows: as for `process` (windows clamped at scene cuts, so a window
            whose next frame is its centre marks the last frame of a scene).
        rows: (M,) int64, the window each output frame belongs to.
        phases: (M,) float32 in [0, 1): where the output sits between its window's
            centre (0) and the next frame (1).
        Returns (M, 3, H, W) float32 in [0, 1].
        """
        raise NotImplementedError

    # -- work ----------------------------------------------------------------
    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        """Restore a batch.

        frames: (K, 3, H, W) float32 RGB in [0, 1], the distinct input frames needed.
        windows: (B, 2r+1) int64 indices into `frames`; row b is the window around
            output frame b, centre at column r, already clamped at scene cuts.
        frame_numbers: (B,) int64 absolute frame numbers of the outputs in the clip,
            for seeding anything random so output does not depend on batching.
        Returns (B, 3, H', W') float32 in [0, 1].
        """
        raise NotImplementedError

    @staticmethod
    def centre(frames: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """The centre frame of every window: (B, 3, H, W)."""
        r = windows.shape[1] // 2
        return frames[windows[:, r]]


_REGISTRY: dict[str, type[Operator]] = {}


def register(cls: type[Operator]) -> type[Operator]:
    """Make an operator available to specs by its `name` (the built-in ones are
    registered by gpu_worker.engine.ops from its OPERATORS; tests register their own)."""
    add_schema(cls)
    known = _REGISTRY.get(cls.name)
    if known is not None and known is not cls:
        raise ValueError(f"operator {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def registered_operator(name: str) -> type[Operator]:
    """A registered operator by name (gpu_worker.engine.ops.get_operator registers the
    built-in ones first)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecError(
            f"unknown operator {name!r}; known: {', '.join(sorted(_REGISTRY))}", op=name
        ) from None


def registered_operators() -> dict[str, type[Operator]]:
    return dict(sorted(_REGISTRY.items()))


OperatorFactory = Callable[[Mapping[str, Any], OpContext], Operator]
