"""Sweeps: one base preset version, a few parameters varied, one Variant per combination.

    create_sweep(clip, version, {"grain.strength": [0, 0.3, 0.6],
                                 "colour_scheme.look": ["neutral", "warm_period"]})

gives 6 variants, each the base spec with one combination of overrides (keys as in
gpu_worker.engine.spec.apply_overrides: "OP.PARAM", "#N.PARAM" or "seed"). An
"OP.PARAM" whose operator the base lacks inserts that operator, with its defaults, at
its usual place in the pipeline (gpu_worker.engine.schema.PIPELINE_ORDER), so
"grain.strength 0 / 3 / 6" works from a preset without grain. Every
variant renders the same excerpt with the same encode settings, so they differ only
in what is being compared. Encode settings cannot be swept for that reason.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from gpu_worker.engine.schema import (
    PIPELINE_ORDER,
    SpecError,
    all_operator_schemas,
    get_operator_schema,
)
from gpu_worker.engine.spec import apply_overrides, parse_spec
from restoration import engine_text
from restoration.models import Clip, PresetVersion, RenderJob, Variant
from restoration.rendering.jobs import TERMINAL
from restoration.rendering.variants import dispatch_variant
from restoration.services.clip_analysis import suggest_excerpt
from restoration.services.presets import lock_version

MAX_VARIANTS = 12  # a contest of more than a dozen variants needs too many votes
MAX_AXES = 4


class SweepError(ValueError):
    """A sweep cannot be made as asked; the message says why."""


@dataclass
class SweepPlan:
    overrides: list[dict[str, Any]]
    start: int
    end: int


def expand(axes: Mapping[str, Sequence[Any]], *, cap: int = MAX_VARIANTS) -> list[dict[str, Any]]:
    """The cartesian product of the axes' values, as override dicts (first axis slowest)."""
    if len(axes) > MAX_AXES:
        raise SweepError(gettext("at most %(most)d parameters can be varied at once (got %(count)d)")
                         % {"most": MAX_AXES, "count": len(axes)})
    names = list(axes)
    values = []
    for name in names:
        vals = list(axes[name])
        if not vals:
            raise SweepError(gettext("%(key)s: give at least one value") % {"key": name})
        if len({json.dumps(v, sort_keys=True) for v in vals}) != len(vals):
            raise SweepError(gettext("%(key)s: a value is listed twice") % {"key": name})
        values.append(vals)
    count = 1
    for vals in values:
        count *= len(vals)
    if count > cap:
        sizes = " × ".join(str(len(v)) for v in values)
        raise SweepError(gettext("this sweep makes %(sizes)s = %(count)d variants; at most %(cap)d are allowed. "
                                 "Vary fewer parameters or give fewer values.")
                         % {"sizes": sizes, "count": count, "cap": cap})
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def _param_schema(spec: Mapping[str, Any], key: str) -> Any:
    """The parameter schema an override key points at, or None for "seed"."""
    if key == "seed":
        return None
    target, _, name = key.partition(".")
    if target == "encode":
        raise SweepError(gettext("%(key)s: encode settings are the same for every variant of a sweep") % {"key": key})
    ops = spec.get("ops", [])
    if target.startswith("#") and target[1:].isdigit():
        index = int(target[1:]) - 1
        if not 0 <= index < len(ops):
            raise SweepError(gettext("%(key)s: the base spec has no op #%(n)d") % {"key": key, "n": index + 1})
        op_name = ops[index]["op"]
    else:
        try:
            get_operator_schema(target)
        except SpecError as exc:
            raise SweepError(gettext("%(key)s: %(error)s") % {"key": key, "error": exc}) from None
        op_name = target  # absent from the base: inserted at its usual place
    for param in get_operator_schema(op_name).params:
        if param.name == name:
            return param
    raise SweepError(gettext("%(key)s: %(op)s has no parameter %(name)r") % {"key": key, "op": op_name, "name": name})


def parse_values(spec: Mapping[str, Any], key: str, text: str) -> list[Any]:
    """Comma-separated form text as typed values for the parameter `key`."""
    param = _param_schema(spec, key)
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise SweepError(gettext("%(key)s: give at least one value") % {"key": key})
    out: list[Any] = []
    for item in items:
        kind = "int" if param is None else param.kind
        if kind in ("float", "int"):
            try:
                number = float(item)
            except ValueError:
                raise SweepError(gettext("%(key)s: %(value)r is not a number") % {"key": key, "value": item}) from None
            out.append(int(number) if kind == "int" and number.is_integer() else number)
        elif kind == "bool":
            value = engine_text.parse_bool(item)
            if value is None:
                raise SweepError(gettext("%(key)s: %(value)r is not true or false") % {"key": key, "value": item})
            out.append(value)
        elif kind == "choice":
            # The choice's code or its name as the form shows it (in the reader's language).
            out.append(engine_text.parse_choice(item, param.choices))
        else:
            out.append(item)
    return out


def _insertable(name: str) -> bool:
    """Whether a sweep's form offers to insert operator `name`: it must keep the frame
    size and rate (variants of a sweep are compared frame by frame, side by side) and
    need no file (a LUT or a reference frame has no sensible default)."""
    cls = get_operator_schema(name)
    return not (cls.changes_size or cls.changes_rate) and \
        not any(p.kind == "path" for p in cls.params)


def _param_rows(prefix: str, op_name: str, values: Mapping[str, Any] | None,
                spec: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    rows = []
    for param in get_operator_schema(op_name).params:
        if param.kind in ("path", "str"):
            continue
        what = (engine_text.range_text(param) if param.min is not None
                else ", ".join(engine_text.value_text(c) for c in param.choices) or engine_text.kind_text(param.kind))
        key = f"{prefix}.{param.name}"
        current = values.get(param.name) if values is not None else None
        row = {"key": key, "kind": param.kind,
               "label": f"{engine_text.key_label(key, spec)} ({what})",
               "current": current, "current_text": engine_text.value_text(current) if current is not None else None,
               "inserted": values is None}
        if values is None:
            row["label"] += " · " + gettext("adds %(op)s") % {"op": engine_text.operator_name(op_name)}
            row["default"] = param.default
            row["default_text"] = engine_text.value_text(param.default)
        rows.append(row)
    return rows


def sweepable_parameters(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every (op, param) a sweep may vary, for the form: the base spec's own first, then
    those of the operators it lacks (`inserted`: the operator is added, with its
    defaults, at its usual place), in pipeline order. Labels are in the active language."""
    rows = [{"key": "seed", "label": gettext("seed (grain and other randomness)"), "kind": "int",
             "inserted": False}]
    seen: dict[str, int] = {}
    for i, op in enumerate(spec.get("ops", [])):
        seen[op["op"]] = seen.get(op["op"], 0) + 1
        prefix = op["op"] if seen[op["op"]] == 1 else f"#{i + 1}"
        rows.extend(_param_rows(prefix, op["op"], op["params"], spec))
    known = all_operator_schemas()
    missing = [n for n in PIPELINE_ORDER if n in known and n not in seen]
    missing += [n for n in known if n not in PIPELINE_ORDER and n not in seen]
    for name in missing:
        if _insertable(name):
            rows.extend(_param_rows(name, name, None, spec))
    return rows


def plan(clip: Clip, version: PresetVersion, axes: Mapping[str, Sequence[Any]], *,
         start: int | None = None, end: int | None = None, cap: int = MAX_VARIANTS) -> SweepPlan:
    """Validate a sweep fully (every combination's spec, the excerpt) before creating anything."""
    if clip.status != Clip.Status.READY or not clip.frame_count:
        raise SweepError(gettext("%(clip)s is not ready (status %(status)s)")
                         % {"clip": clip, "status": clip.get_status_display()})
    combos = expand(axes, cap=cap) if axes else [{}]
    for key in axes:
        _param_schema(version.spec, key)
    for combo in combos:
        try:
            apply_overrides(version.spec, combo, insert=True)
        except SpecError as exc:
            raise SweepError(gettext("combination %(combo)s: %(error)s") % {"combo": combo, "error": exc}) from None
    if start is None and end is None:
        start, end = suggest_excerpt(clip)
    elif start is None or end is None:
        raise SweepError(gettext("give both the first and the last frame of the excerpt, or neither"))
    if not 0 <= start < end <= clip.frame_count:
        raise SweepError(gettext("the excerpt [%(start)s, %(end)s) must lie within the clip's %(frames)s frames "
                                 "and not be empty") % {"start": start, "end": end, "frames": clip.frame_count})
    return SweepPlan(combos, int(start), int(end))


def _label(version: PresetVersion, combo: Mapping[str, Any]) -> str:
    if not combo:
        return str(version)
    return f"{version} · " + ", ".join(f"{k}={v}" for k, v in combo.items())


def create_sweep(clip: Clip, version: PresetVersion, axes: Mapping[str, Sequence[Any]], *,
                 start: int | None = None, end: int | None = None, user: Any = None,
                 dispatch: bool = True, cap: int = MAX_VARIANTS) -> list[Variant]:
    """Create (or reuse) one Variant per combination and queue their renders.

    A combination that was rendered before on the same excerpt (same effective spec
    hash) is reused, not rendered twice; one that failed or was cancelled is queued
    again.
    """
    sweep = plan(clip, version, axes, start=start, end=end, cap=cap)
    encode = parse_spec(version.spec).encode.to_dict()
    variants: list[Variant] = []
    to_render: list[Variant] = []
    with transaction.atomic():
        lock_version(version)
        for combo in sweep.overrides:
            effective = apply_overrides(version.spec, combo, insert=True)
            variant, created = Variant.objects.get_or_create(
                clip=clip, spec_hash=effective.spec_hash, start_frame=sweep.start,
                end_frame=sweep.end,
                defaults={"preset_version": version, "label": _label(version, combo)[:200],
                          "overrides": combo, "spec": effective.to_dict(), "encode": encode,
                          "created_by": user if getattr(user, "pk", None) else None})
            variants.append(variant)
            busy = variant.jobs.exclude(status__in=TERMINAL).exists()
            if created or (variant.status in (Variant.Status.FAILED, Variant.Status.CANCELLED,
                                              Variant.Status.PENDING) and not busy):
                to_render.append(variant)
        if dispatch:
            for variant in to_render:
                dispatch_variant(variant, user=user)
    return variants


def latest_job(variant: Variant) -> RenderJob | None:
    return variant.jobs.order_by("-created_at").first()
