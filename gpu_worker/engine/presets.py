"""Named presets shipped with the engine.

A preset is a named, versioned spec. The version goes up whenever a preset's spec
changes, so a render made with "faithful v1" can always be told apart from one made
with a later "faithful".

- faithful: repair the damage (flicker, dust, scratches) but keep the period look:
  tone, toning and a good part of the grain stay; the film still looks old.
- clean: a modern look: damage repaired, grain removed, colour corrected, sharpened.
- auto: built from an analysis of the clip (gpu_worker.engine.analysis.suggest_spec),
  so each damage found gets its operator and strength.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

from gpu_worker.engine.i18n import N_
from gpu_worker.engine.schema import SpecError, all_operator_schemas
from gpu_worker.engine.spec import PipelineSpec, parse_spec

__all__ = ["Preset", "PRESETS", "get_preset", "list_presets", "preset_spec"]


@dataclass(frozen=True)
class Preset:
    name: str
    version: int
    title: str
    description: str
    spec: dict[str, Any] | None  # None: built from an analysis

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "title": self.title,
                "description": self.description,
                "spec": copy.deepcopy(self.spec), "needs_analysis": self.spec is None}


FAITHFUL = Preset(
    name="faithful", version=1, title=N_("Faithful"),
    description=N_("Removes flicker, dust and scratches, calms the noise and lifts the "
                 "fade, but keeps the period look: toning and much of the grain stay."),
    spec={
        "ops": [
            {"op": "deflicker", "params": {"radius": 5, "strength": 0.85, "mode": "tone"}},
            {"op": "dust", "params": {"sensitivity": 0.6}},
            {"op": "scratch", "params": {"sensitivity": 0.5}},
            {"op": "denoise", "params": {"strength": 0.6, "temporal_radius": 2,
                                         "spatial": 0.5, "detail": 0.5}},
            # Restore the faded black and white points only: no white balance and no
            # added saturation, so sepia or tinted stock keeps its tone.
            {"op": "colour_correct", "params": {"white_balance": 0.0, "contrast": 0.5,
                                                "saturation": 0.0}},
        ],
        "seed": 0,
        "encode": {"codec": "h264", "crf": 16},
    },
)

CLEAN = Preset(
    name="clean", version=1, title=N_("Clean"),
    description=N_("A modern picture: damage repaired, grain removed, colour fade and cast "
                 "corrected, gently sharpened."),
    spec={
        "ops": [
            {"op": "deflicker", "params": {"radius": 7, "strength": 1.0, "mode": "tone",
                                           "tiles": 3}},
            {"op": "dust", "params": {"sensitivity": 0.7}},
            {"op": "scratch", "params": {"sensitivity": 0.6}},
            {"op": "denoise", "params": {"strength": 1.3, "temporal_radius": 3,
                                         "spatial": 1.0, "detail": 0.0}},
            {"op": "colour_correct", "params": {"white_balance": 0.8, "contrast": 0.6,
                                                "saturation": 0.5}},
            {"op": "sharpen", "params": {"amount": 0.5}},
        ],
        "seed": 0,
        "encode": {"codec": "h264", "crf": 18},
    },
)

AUTO = Preset(
    name="auto", version=1, title=N_("Automatic"),
    description=N_("Built from an analysis of the clip: each kind of damage found gets "
                 "its operator, at a strength matched to how much was measured."),
    spec=None,
)

PRESETS: dict[str, Preset] = {p.name: p for p in (FAITHFUL, CLEAN, AUTO)}


def list_presets() -> list[dict[str, Any]]:
    """Every shipped preset as JSON-ready dicts (name, version, title, description,
    spec, needs_analysis)."""
    return [p.to_dict() for p in PRESETS.values()]


def get_preset(name: str, *, analysis: Any = None) -> dict[str, Any]:
    """The spec (a dict, validated) of preset `name`.

    For "auto", `analysis` is an analysis report (what analysis.analyze returns) or
    the path of the clip to analyse.
    """
    return preset_spec(name, analysis=analysis).to_dict()


def preset_spec(name: str, *, analysis: Any = None) -> PipelineSpec:
    """Like get_preset, as a validated PipelineSpec."""
    try:
        preset = PRESETS[name]
    except KeyError:
        raise SpecError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}") from None
    if preset.spec is not None:
        return parse_spec(preset.spec)
    if analysis is None:
        raise SpecError("the auto preset needs an analysis of the clip (a report or the "
                        "path of the clip)")
    from gpu_worker.engine import analysis as analysis_mod

    if isinstance(analysis, (str, os.PathLike)):
        analysis = analysis_mod.analyze(analysis)
    suggested = analysis_mod.suggest_spec(analysis)
    return parse_spec(suggested)


def operators_used() -> set[str]:
    """Operator names the static presets rely on (checked against the registry)."""
    return {op["op"] for p in PRESETS.values() if p.spec for op in p.spec["ops"]}


def missing_operators() -> set[str]:
    return operators_used() - set(all_operator_schemas())
