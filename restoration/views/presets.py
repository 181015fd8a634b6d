"""Preset pages: list, editor, versions, import and export, and the operator catalogue
the editor is built from. Thin: the work is in restoration.services.presets."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from accounts.roles import CURATOR, TECHNICIAN, role_required
from gpu_worker.engine.encoding import CODECS
from restoration import engine_text
from restoration.models import Clip, Preset, PresetVersion
from restoration.services import presets

# --- presets -----------------------------------------------------------------------------

@role_required(TECHNICIAN, CURATOR)
def preset_list(request: HttpRequest) -> HttpResponse:
    presets.ensure_builtin_presets()
    items = list(Preset.objects.prefetch_related("versions").order_by("-builtin", "name"))
    for preset in items:  # the engine's presets by their names in the reader's language
        preset.label = engine_text.preset_name(preset)
        preset.shown_description = engine_text.builtin_preset_description(preset)
    return render(request, "restoration/preset_list.html", {"presets": items})


def _editor(request: HttpRequest, *, spec: dict[str, Any], title: str, preset: Preset | None,
            clip: Clip | None = None, start: str = "", error: str = "") -> HttpResponse:
    try:
        rows = presets.editor_rows(spec)
    except presets.PresetError as exc:
        rows, error = [], error or str(exc)
    # The engine's codes stay in the form's names and values; the page shows their words.
    for row in rows:
        shown = engine_text.operator_for_page({**row["schema"], "params": row["params"]})
        row["schema"], row["params"] = shown, shown["params"]
        row["region_labels"] = [(r, engine_text.region_name(r)) for r in row["regions"]]
    catalog = [engine_text.operator_for_page(op) for op in presets.operator_catalog()]
    return render(request, "restoration/preset_edit.html", {
        "rows": rows, "spec": spec, "catalog": catalog, "title": title, "preset": preset,
        "clip": clip, "start": start, "error": error, "codecs": list(CODECS),
        "encode": spec.get("encode") or {}, "seed": spec.get("seed", 0),
        "name": request.POST.get("name", ""), "note": request.POST.get("note", ""),
        "description": request.POST.get("description", ""),
    })


@role_required(TECHNICIAN)
def preset_new(request: HttpRequest) -> HttpResponse:
    """Compose a new preset starting from auto (a clip's analysis), faithful or clean."""
    start = request.GET.get("start", "faithful")
    clip = Clip.objects.filter(pk=request.GET.get("clip") or 0).first()
    if request.method == "POST":
        return _save_from_editor(request, preset=None, clip=clip, start=start)
    try:
        spec = presets.starting_spec(start, clip)
    except presets.PresetError as exc:
        messages.error(request, str(exc))
        return redirect(clip.get_absolute_url() if clip else "preset-list")
    return _editor(request, spec=spec, title=gettext("New preset (from %(start)s)") % {
        "start": engine_text.BUILTIN_PRESETS.get(start, start)}, preset=None, clip=clip,
                   start=start)


@role_required(TECHNICIAN)
def preset_version_edit(request: HttpRequest, version_id: int) -> HttpResponse:
    """Edit from a version; saving always makes a new version (used ones are locked)."""
    version = get_object_or_404(PresetVersion.objects.select_related("preset"), pk=version_id)
    if request.method == "POST":
        return _save_from_editor(request, preset=version.preset, clip=None, start="")
    return _editor(request, spec=version.spec, title=gettext("New version of %(name)s (from v%(number)s)")
                   % {"name": version.preset.name, "number": version.number}, preset=version.preset)


def _save_from_editor(request: HttpRequest, *, preset: Preset | None, clip: Clip | None,
                      start: str) -> HttpResponse:
    try:
        spec = presets.spec_from_form(request.POST)
    except presets.PresetError as exc:
        fallback = presets.starting_spec(start, clip) if preset is None and start else (
            preset.latest.spec if preset and preset.latest else {"ops": []})
        return _editor(request, spec=fallback, title=gettext("Fix the preset"), preset=preset, clip=clip,
                       start=start, error=str(exc))
    if request.POST.get("action") != "save":  # "add operator" and "apply" re-show the form
        title = (gettext("New version of %(name)s") % {"name": preset.name}) if preset else gettext("New preset")
        return _editor(request, spec=spec, title=title, preset=preset, clip=clip, start=start)
    try:
        if preset is None:
            version = presets.create_preset(request.POST.get("name", ""), spec, user=request.user,
                                            description=request.POST.get("description", ""),
                                            note=request.POST.get("note", ""))
        else:
            version = presets.save_version(preset, spec, user=request.user,
                                           note=request.POST.get("note", ""))
    except presets.PresetError as exc:
        return _editor(request, spec=spec, title=gettext("Fix the preset"), preset=preset, clip=clip,
                       start=start, error=str(exc))
    messages.success(request, gettext("Saved %(version)s.") % {"version": version})
    return redirect("preset-detail", preset_id=version.preset_id)


@role_required(TECHNICIAN, CURATOR)
def preset_detail(request: HttpRequest, preset_id: int) -> HttpResponse:
    preset = get_object_or_404(Preset, pk=preset_id)
    versions = list(preset.versions.order_by("-number"))
    for version in versions:  # the operators by their names in the reader's language
        version.op_labels = [engine_text.operator_name(op.get("op", "")) for op in (version.spec or {}).get("ops", [])
                             if isinstance(op, dict)]
    return render(request, "restoration/preset_detail.html", {
        "preset": preset, "versions": versions,
        "preset_name": engine_text.preset_name(preset),
        "preset_description": engine_text.builtin_preset_description(preset)})


@role_required(TECHNICIAN, CURATOR)
def preset_version_export(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(PresetVersion.objects.select_related("preset"), pk=version_id)
    response = JsonResponse(presets.export_preset(version), json_dumps_params={"indent": 2})
    slug = "".join(ch if ch.isalnum() else "-" for ch in version.preset.name).strip("-") or "preset"
    response["Content-Disposition"] = f'attachment; filename="{slug}-v{version.number}.json"'
    return response


@role_required(TECHNICIAN)
@require_POST
def preset_import(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    raw: bytes | str = upload.read(presets.MAX_IMPORT_BYTES + 1) if upload else request.POST.get("json", "")
    try:
        version = presets.import_preset(raw, user=request.user, name=request.POST.get("name") or None)
    except presets.PresetError as exc:
        messages.error(request, gettext("Import failed: %(error)s") % {"error": exc})
        return redirect("preset-list")
    messages.success(request, gettext("Imported %(version)s.") % {"version": version})
    return redirect("preset-detail", preset_id=version.preset_id)


def operator_catalog_json(request: HttpRequest) -> HttpResponse:
    """The operator schemas (public: they describe the engine, not anyone's data)."""
    return HttpResponse(json.dumps(presets.operator_catalog()), content_type="application/json")
