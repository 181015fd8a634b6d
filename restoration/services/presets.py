"""Presets: named, versioned pipeline specs composed from the engine's operator registry.

A PresetVersion stores the canonical spec (every default filled in) and its hash, so
two versions that would render the same pixels are recognisably the same. A version
is locked the moment a render uses it and can never change afterwards: a vote, a
variant or a film render always refers to exactly what was rendered. Editing a
preset therefore always saves a *new* version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext

from gpu_worker.engine.schema import SpecError, get_operator_schema, operator_schemas
from gpu_worker.engine.spec import REGIONS, PipelineSpec, parse_spec
from restoration.models import Clip, Preset, PresetVersion

EXPORT_FORMAT = "reel-arena-preset"
EXPORT_FORMAT_VERSION = 1
STARTS = ("auto", "faithful", "clean")
MAX_IMPORT_BYTES = 256 * 1024


class PresetError(ValueError):
    """A preset cannot be saved, imported or used as asked; the message says why."""


def validate_spec(raw: Any) -> PipelineSpec:
    """The engine's validation, with its message kept as it is (it names op and param),
    and every file the spec names confined to the configured folders."""
    try:
        parsed = parse_spec(raw)
    except SpecError as exc:
        raise PresetError(gettext("invalid spec: %(problem)s") % {"problem": exc}) from None
    problem = spec_file_problem(parsed)
    if problem:
        raise PresetError(gettext("invalid spec: %(problem)s") % {"problem": problem})
    return parsed


def spec_file_roots() -> list[Path]:
    """Folders a spec's file parameters (LUTs, masks, reference frames) may name files in."""
    return [Path(root).resolve() for root in settings.SPEC_FILE_ROOTS]


def spec_file_problem(spec: PipelineSpec) -> str | None:
    """Why a spec's file parameters are refused, or None.

    A ``path`` parameter is read by the GPU worker, so without a fence it could name any
    file that process can read (another film, a secret, ``/dev/zero`` to exhaust its
    memory). It must resolve (symbolic links followed) to a regular file, or a file not
    yet there, inside one of ``SPEC_FILE_ROOTS``; a relative path is taken from the first.
    Checkpoint names (``model``) are file names in the models folder, never paths.
    """
    roots = spec_file_roots()
    for op in spec.ops:
        for param in get_operator_schema(op.op).params:
            value = op.params.get(param.name)
            if not value or not isinstance(value, str):
                continue
            where = f"{op.op}.{param.name}"
            if param.kind == "path":
                candidate = Path(value) if Path(value).is_absolute() else roots[0] / value
                resolved = candidate.resolve()
                if not any(resolved.is_relative_to(root) for root in roots):
                    return f"{where}: {value!r} is outside the folders spec files may come from"
                if resolved.exists() and not resolved.is_file():
                    return f"{where}: {value!r} is not a regular file"
            elif param.name == "model" and param.kind == "str" and (
                    "/" in value or "\\" in value or value.startswith(".")):
                return f"{where}: {value!r} must be a checkpoint's file name in the models folder"
    return None


def operator_catalog() -> list[dict[str, Any]]:
    """Every operator's schema (name, category, help, params with ranges and units)."""
    return operator_schemas()


# --- built-in presets ---------------------------------------------------------------

def ensure_builtin_presets() -> list[PresetVersion]:
    """Create the engine's static presets in the database; idempotent.

    When the engine ships a new spec for a preset, it becomes a new version; versions
    already used stay as they were. "auto" has no fixed spec (it is built per clip
    from the analysis), so it is offered as a starting point, not stored here.
    """
    from gpu_worker.engine.presets import list_presets

    versions = []
    for shipped in list_presets():
        if shipped["needs_analysis"]:
            continue
        preset, _ = Preset.objects.get_or_create(
            name=shipped["name"], defaults={"description": shipped["description"], "builtin": True})
        versions.append(save_version(preset, shipped["spec"], user=None,
                                     note=f"engine preset {shipped['name']} v{shipped['version']}"))
    return versions


# --- composing ----------------------------------------------------------------------

def starting_spec(start: str, clip: Clip | None = None) -> dict[str, Any]:
    """The spec the editor opens with: a shipped preset, or "auto" from a clip's analysis."""
    from gpu_worker.engine.presets import get_preset

    if start not in STARTS:
        raise PresetError(gettext("unknown starting point %(start)r; choose one of %(starts)s")
                          % {"start": start, "starts": ", ".join(STARTS)})
    if start != "auto":
        return get_preset(start)
    if clip is None or not clip.analysis:
        raise PresetError(gettext("the auto preset is built from a clip's analysis: open it from a "
                                  "clip whose analysis has finished"))
    try:
        return get_preset("auto", analysis=clip.analysis)
    except SpecError as exc:
        raise PresetError(gettext("the analysis of %(clip)s gave no usable spec: %(error)s")
                          % {"clip": clip, "error": exc}) from None
    except Exception as exc:  # the analysis format is the engine's; report, don't crash
        raise PresetError(gettext("could not build the auto preset from the analysis of %(clip)s: %(error)s")
                          % {"clip": clip, "error": exc}) from None


AUTO_PRESET = "auto"


def auto_spec(clip: Clip) -> PipelineSpec:
    """The `auto` spec of `clip`, validated, or PresetError saying why there is none."""
    if not clip.analysis or (isinstance(clip.analysis, dict) and clip.analysis.get("error")):
        raise PresetError(gettext("%(clip)s has no analysis yet, so there is no auto spec to start "
                                  "from: wait for the analysis to finish (or run it again from the "
                                  "clip page), or choose a preset") % {"clip": clip})
    return validate_spec(starting_spec(AUTO_PRESET, clip))


def auto_version(clip: Clip, *, user: Any = None) -> PresetVersion:
    """The `auto` spec of `clip` (built from its analysis) saved as a version of the
    built-in "auto" preset, so a sweep or a render can start from it directly.

    The same spec (a clip analysed again to the same result, or two clips alike)
    reuses its version; the version is locked by the render that uses it, like any other.
    """
    parsed = auto_spec(clip)
    preset, _ = Preset.objects.get_or_create(
        name=AUTO_PRESET, defaults={"builtin": True, "description": (
            "Built per clip from its analysis: repairs what the analysis measured. Each "
            "version is the auto spec of the clip named in its note.")})
    same = preset.versions.filter(spec_hash=parsed.spec_hash).order_by("number").first()
    if same is not None:
        return same
    return save_version(preset, parsed.to_dict(), user=user,
                        note=f"auto from the analysis of clip {clip.pk} ({clip})")


def _coerce(kind: str, raw: str | None, where: str) -> Any:
    """A form field's text as the type the operator's parameter schema asks for."""
    if kind == "bool":
        return raw not in (None, "", "0", "false", "off")
    if raw is None:
        raise PresetError(gettext("%(where)s: missing value") % {"where": where})
    text = raw.strip()
    if kind in ("float", "int"):
        try:
            number = float(text)
        except ValueError:
            raise PresetError(gettext("%(where)s: %(value)r is not a number") % {"where": where, "value": raw}) from None
        if kind == "int":
            if not number.is_integer():
                raise PresetError(gettext("%(where)s: %(value)r is not a whole number")
                                  % {"where": where, "value": raw})
            return int(number)
        return number
    return text


def spec_from_form(data: Mapping[str, str]) -> dict[str, Any]:
    """Build a spec from the editor's POST data.

    Fields: op_count; per op i: op-i-op (name), op-i-keep (checkbox), op-i-order,
    op-i-region (all, face, person or background; absent means all), and op-i-<param>
    for each parameter in the operator's schema; add_op (append an operator with its
    defaults); seed; encode-codec, encode-crf.
    """
    try:
        count = int(data.get("op_count", "0"))
    except ValueError:
        raise PresetError(gettext("op_count must be a number")) from None
    rows = []
    for i in range(count):
        name = data.get(f"op-{i}-op", "")
        if not data.get(f"op-{i}-keep"):
            continue
        try:
            cls = get_operator_schema(name)
        except SpecError as exc:
            raise PresetError(str(exc)) from None
        params = {}
        for param in cls.params:
            params[param.name] = _coerce(param.kind, data.get(f"op-{i}-{param.name}"),
                                         f"op #{i + 1} ({name}).{param.name}")
        try:
            order = float(data.get(f"op-{i}-order", i))
        except ValueError:
            order = i
        row: dict[str, Any] = {"op": name, "params": params}
        region = data.get(f"op-{i}-region") or "all"
        if region not in REGIONS:
            raise PresetError(gettext("op #%(n)d (%(op)s).region: %(region)r is not one of %(regions)s")
                              % {"n": i + 1, "op": name, "region": region, "regions": ", ".join(REGIONS)})
        if region != "all":
            row["region"] = region
        rows.append((order, i, row))
    rows.sort(key=lambda row: (row[0], row[1]))
    ops = [row[2] for row in rows]
    if data.get("add_op"):
        try:
            get_operator_schema(data["add_op"])
        except SpecError as exc:
            raise PresetError(str(exc)) from None
        ops.append({"op": data["add_op"], "params": {}})
    spec: dict[str, Any] = {"ops": ops, "seed": _coerce("int", data.get("seed", "0") or "0", "seed")}
    encode: dict[str, Any] = {}
    if data.get("encode-codec"):
        encode["codec"] = data["encode-codec"]
    if data.get("encode-crf"):
        encode["crf"] = _coerce("int", data["encode-crf"], "encode.crf")
    if encode:
        spec["encode"] = encode
    return spec


def editor_rows(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spec's ops joined with their schemas, for rendering the editor form."""
    parsed = validate_spec(spec)
    rows = []
    for i, op in enumerate(parsed.ops):
        schema = get_operator_schema(op.op).schema()
        params = [{**p, "value": op.params.get(p["name"], p["default"])} for p in schema["params"]]
        # Ops that change the frame size or rate cannot be limited to a region.
        regions = list(REGIONS) if not (schema["changes_size"] or schema["changes_rate"]) \
            else ["all"]
        rows.append({"index": i, "op": op.op, "schema": schema, "params": params,
                     "region": op.region, "regions": regions})
    return rows


# --- versions -----------------------------------------------------------------------

def save_version(preset: Preset, spec: Any, *, user: Any, note: str = "") -> PresetVersion:
    """Save `spec` as the next version of `preset` (validated and canonical).

    Saving the same spec as the latest version returns that version instead of a
    duplicate, so the idempotent built-in seeding and double form submits are safe.
    """
    parsed = validate_spec(spec)
    canonical, spec_hash = parsed.to_dict(), parsed.spec_hash
    for _ in range(3):  # two saves racing for the same number: the loser retries
        latest = preset.versions.order_by("-number").first()
        if latest is not None and latest.spec_hash == spec_hash:
            return latest
        number = (preset.versions.aggregate(m=Max("number"))["m"] or 0) + 1
        try:
            with transaction.atomic():
                return PresetVersion.objects.create(
                    preset=preset, number=number, spec=canonical, spec_hash=spec_hash,
                    note=note[:300], created_by=user if getattr(user, "pk", None) else None)
        except IntegrityError:
            continue
    raise PresetError(gettext("could not save a new version of %(name)s: too many concurrent saves")
                      % {"name": preset.name})


def create_preset(name: str, spec: Any, *, user: Any, description: str = "",
                  note: str = "") -> PresetVersion:
    name = (name or "").strip()
    if not name:
        raise PresetError(gettext("a preset needs a name"))
    if Preset.objects.filter(name=name).exists():
        raise PresetError(gettext("a preset named %(name)r exists already: save a new version of it, "
                                  "or choose another name") % {"name": name})
    validate_spec(spec)  # before creating the preset row
    with transaction.atomic():
        preset = Preset.objects.create(name=name, description=description,
                                       created_by=user if getattr(user, "pk", None) else None)
        return save_version(preset, spec, user=user, note=note or "first version")


def lock_version(version: PresetVersion) -> PresetVersion:
    """Mark a version as used by a render: from now on it can never change."""
    if not version.locked:
        PresetVersion.objects.filter(pk=version.pk).update(locked=True)
        version.locked = True
    return version


def edit_version(version: PresetVersion, spec: Any) -> PresetVersion:
    """Change an unused version in place (a locked one refuses: save a new version)."""
    version.refresh_from_db(fields=["locked"])
    if version.locked:
        raise PresetError(gettext("%(version)s has been used by a render and is immutable; save a new "
                                  "version instead") % {"version": version})
    parsed = validate_spec(spec)
    version.spec, version.spec_hash = parsed.to_dict(), parsed.spec_hash
    version.save()
    return version


# --- import / export ------------------------------------------------------------------

def export_preset(version: PresetVersion) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT, "format_version": EXPORT_FORMAT_VERSION,
        "name": version.preset.name, "description": version.preset.description,
        "version": version.number, "note": version.note,
        "spec": version.spec, "spec_hash": version.spec_hash,
    }


def import_preset(raw: str | bytes | Mapping[str, Any], *, user: Any,
                  name: str | None = None) -> PresetVersion:
    """Import an exported preset (or a bare spec) as a new preset or a new version.

    A name that exists gets a new version (unless the spec is identical to its latest);
    built-in presets cannot be extended by import. Errors say what is wrong and where.
    """
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > MAX_IMPORT_BYTES:
            raise PresetError(gettext("the file is too large for a preset (%(size)d bytes; at most %(most)d)")
                              % {"size": len(raw), "most": MAX_IMPORT_BYTES})
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PresetError(gettext("the file is not UTF-8 text (a preset is a JSON file)")) from None
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise PresetError(gettext("not valid JSON: %(error)s at line %(line)d column %(column)d")
                              % {"error": exc.msg, "line": exc.lineno, "column": exc.colno}) from None
    else:
        data = dict(raw)
    if not isinstance(data, dict):
        raise PresetError(gettext("a preset file must be a JSON object"))
    if "format" in data:
        if data["format"] != EXPORT_FORMAT:
            raise PresetError(gettext("unknown format %(format)r; expected %(expected)r")
                              % {"format": data["format"], "expected": EXPORT_FORMAT})
        if data.get("format_version") != EXPORT_FORMAT_VERSION:
            raise PresetError(gettext("format_version %(version)r is not supported (this site reads version %(ours)s)")
                              % {"version": data.get("format_version"), "ours": EXPORT_FORMAT_VERSION})
        if "spec" not in data:
            raise PresetError(gettext("the preset file has no \"spec\""))
        spec = data["spec"]
    elif "spec" in data:
        spec = data["spec"]
    else:  # a bare spec, {"ops": [...], ...}, perhaps with a name beside it
        spec = {k: v for k, v in data.items() if k not in ("name", "description")}
    parsed = validate_spec(spec)
    if "spec_hash" in data and data["spec_hash"] != parsed.spec_hash:
        # Not an error: the engine may fill in new defaults since the export.
        note_suffix = " (spec hash differs from the exported one: engine defaults changed)"
    else:
        note_suffix = ""
    name = (name or data.get("name") or "").strip()
    if not name:
        raise PresetError(gettext("the preset has no name: give one"))
    preset = Preset.objects.filter(name=name).first()
    note = f"imported{note_suffix}"
    if preset is None:
        return create_preset(name, parsed.to_dict(), user=user,
                             description=str(data.get("description", ""))[:2000], note=note)
    if preset.builtin:
        raise PresetError(gettext("%(name)r is a built-in preset; import under another name") % {"name": name})
    return save_version(preset, parsed.to_dict(), user=user, note=note)
