"""Operator registry: every restoration operator is a class registered by name.

An operator declares a typed parameter schema (defaults, ranges, units, help text)
that the web UI renders as a form and that spec validation checks before any frame is
decoded; its temporal radius (how many frames before/after each output frame it must
see); and whether it changes the frame size or the frame rate.

Frames travel as float32 torch tensors shaped (N, 3, H, W), RGB in [0, 1], on the
pipeline's device. A temporal operator receives the distinct frames it needs once
(`frames`) plus an index tensor (`windows`, shape (B, 2r+1)) saying which of them form
the window around each output frame; the pipeline clamps windows at scene cuts by
repeating the edge frame of the scene, so an operator never blends across a cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

ParamKind = Literal["float", "int", "bool", "choice", "str", "path"]


class SpecError(ValueError):
    """A pipeline spec or an operator parameter is invalid.

    The message names the operator, the parameter and what is allowed, so it can be
    shown to a technician as it is.
    """

    def __init__(self, message: str, *, op: str | None = None, param: str | None = None,
                 position: int | None = None) -> None:
        super().__init__(message)
        self.op = op
        self.param = param
        self.position = position


@dataclass(frozen=True)
class Param:
    """One parameter of an operator, with everything a form or a validator needs."""

    name: str
    kind: ParamKind
    default: Any
    description: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    step: float | None = None

    def validate(self, op_name: str, value: Any) -> Any:
        """Return `value` coerced to this parameter's type, or raise SpecError."""
        where = f"{op_name}.{self.name}"

        def fail(why: str) -> SpecError:
            return SpecError(f"{where}: {why}", op=op_name, param=self.name)

        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise fail(f"expected true or false, got {value!r}")
        if self.kind in ("float", "int"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise fail(f"expected a number, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise fail(f"expected a finite number, got {value!r}")
            if self.kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise fail(f"expected a whole number, got {value!r}")
                value = int(value)
            else:
                value = float(value)
            if (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max
            ):
                raise fail(f"{value!r} is outside the allowed range {self.range_text()}")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise fail(f"{value!r} is not one of {', '.join(self.choices)}")
            return value
        if self.kind in ("str", "path"):
            if not isinstance(value, str):
                raise fail(f"expected text, got {value!r}")
            return value
        raise fail(f"unknown parameter kind {self.kind!r}")  # pragma: no cover

    def range_text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"[{self.min}, {self.max}]{unit}"

    def schema(self) -> dict[str, Any]:
        """JSON-ready description used by the web UI to build a form field."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "default": self.default,
            "description": self.description,
            "unit": self.unit,
        }
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.step is not None:
            out["step"] = self.step
        if self.choices:
            out["choices"] = list(self.choices)
        return out


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


class Operator:
    """Base class of all operators. Subclasses set the class attributes and `process`."""

    name: ClassVar[str] = ""
    category: ClassVar[str] = "misc"
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    changes_size: ClassVar[bool] = False
    changes_rate: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any], ctx: OpContext) -> None:
        self.p = dict(params)  # validated, with defaults filled in
        self.ctx = ctx

    # -- declared properties -------------------------------------------------
    def temporal_radius(self) -> int:
        """Frames needed before and after each output frame (0 = purely spatial)."""
        return 0

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """Size of the frames this operator emits for a given input size."""
        return width, height

    @classmethod
    def rate_ratio(cls, params: Mapping[str, Any], fps: Fraction) -> Fraction:
        """Output frame rate / input frame rate (>= 1) for validated `params` and an
        input at `fps`; only operators with `changes_rate` return anything but 1.
        Raises SpecError when the params do not fit this input rate."""
        return Fraction(1)

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

    # -- schema ----------------------------------------------------------------
    @classmethod
    def validate_params(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        raw = dict(raw or {})
        known = {p.name: p for p in cls.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise SpecError(
                f"{cls.name}: unknown parameter {unknown[0]!r}; known: "
                f"{', '.join(known) or 'none'}", op=cls.name, param=unknown[0])
        out = {}
        for p in cls.params:
            out[p.name] = p.validate(cls.name, raw[p.name]) if p.name in raw else p.default
        return out

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "category": cls.category,
            "description": cls.description,
            "changes_size": cls.changes_size,
            "changes_rate": cls.changes_rate,
            "params": [p.schema() for p in cls.params],
        }


_REGISTRY: dict[str, type[Operator]] = {}


def register(cls: type[Operator]) -> type[Operator]:
    """Class decorator: make an operator available to specs by its `name`."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"operator {cls.name!r} registered twice")
    for p in cls.params:  # defaults must satisfy their own schema
        p.validate(cls.name, p.default)
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin_ops() -> None:
    # Importing the ops package registers every built-in operator.
    from gpu_worker.engine import ops  # noqa: F401


def get_operator(name: str) -> type[Operator]:
    _load_builtin_ops()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecError(
            f"unknown operator {name!r}; known: {', '.join(sorted(_REGISTRY))}", op=name
        ) from None


def all_operators() -> dict[str, type[Operator]]:
    _load_builtin_ops()
    return dict(sorted(_REGISTRY.items()))


def operator_schemas() -> list[dict[str, Any]]:
    """Every operator's schema, for the preset editor."""
    return [cls.schema() for cls in all_operators().values()]


OperatorFactory = Callable[[Mapping[str, Any], OpContext], Operator]
