"""Pages for presets, sweeps, render progress and the full-film render. Thin: the work
is in restoration.services.{presets, sweeps, rendering, film_render}."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import CURATOR, TECHNICIAN
from gpu_worker.engine.io import CODECS
from restoration.models import Clip, Film, Preset, PresetVersion, RenderJob, Variant
from restoration.permissions import role_required
from restoration.services import film_render, presets, rendering, sweeps

SWEEP_AXES = 3  # rows offered by the sweep form


# --- helpers used by the clip page -------------------------------------------------------

def clip_render_context(clip: Clip) -> dict[str, Any]:
    """What the clip page shows under the metadata: analysis and variants with their jobs."""
    variants = list(clip.variants.select_related("preset_version__preset").order_by("-created_at"))
    rows = [{"variant": v, "job": sweeps.latest_job(v)} for v in variants]
    analysis = clip.analysis if isinstance(clip.analysis, dict) else None
    return {
        "variant_rows": rows,
        "analysis_summary": (analysis or {}).get("summary"),
        "analysis_findings": (analysis or {}).get("findings") or [],
        "analysis_error": (analysis or {}).get("error"),
    }


# --- presets -----------------------------------------------------------------------------

@role_required(TECHNICIAN, CURATOR)
def preset_list(request: HttpRequest) -> HttpResponse:
    presets.ensure_builtin_presets()
    items = Preset.objects.prefetch_related("versions").order_by("-builtin", "name")
    return render(request, "frontend/preset_list.html", {"presets": items})


def _editor(request: HttpRequest, *, spec: dict[str, Any], title: str, preset: Preset | None,
            clip: Clip | None = None, start: str = "", error: str = "") -> HttpResponse:
    try:
        rows = presets.editor_rows(spec)
    except presets.PresetError as exc:
        rows, error = [], error or str(exc)
    catalog = presets.operator_catalog()
    return render(request, "frontend/preset_edit.html", {
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
    return _editor(request, spec=spec, title=f"New preset (from {start})", preset=None, clip=clip,
                   start=start)


@role_required(TECHNICIAN)
def preset_version_edit(request: HttpRequest, version_id: int) -> HttpResponse:
    """Edit from a version; saving always makes a new version (used ones are locked)."""
    version = get_object_or_404(PresetVersion.objects.select_related("preset"), pk=version_id)
    if request.method == "POST":
        return _save_from_editor(request, preset=version.preset, clip=None, start="")
    return _editor(request, spec=version.spec, title=f"New version of {version.preset.name} "
                   f"(from v{version.number})", preset=version.preset)


def _save_from_editor(request: HttpRequest, *, preset: Preset | None, clip: Clip | None,
                      start: str) -> HttpResponse:
    try:
        spec = presets.spec_from_form(request.POST)
    except presets.PresetError as exc:
        fallback = presets.starting_spec(start, clip) if preset is None and start else (
            preset.latest.spec if preset and preset.latest else {"ops": []})
        return _editor(request, spec=fallback, title="Fix the preset", preset=preset, clip=clip,
                       start=start, error=str(exc))
    if request.POST.get("action") != "save":  # "add operator" and "apply" re-show the form
        title = f"New version of {preset.name}" if preset else "New preset"
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
        return _editor(request, spec=spec, title="Fix the preset", preset=preset, clip=clip,
                       start=start, error=str(exc))
    messages.success(request, f"Saved {version}.")
    return redirect("preset-detail", preset_id=version.preset_id)


@role_required(TECHNICIAN, CURATOR)
def preset_detail(request: HttpRequest, preset_id: int) -> HttpResponse:
    preset = get_object_or_404(Preset, pk=preset_id)
    return render(request, "frontend/preset_detail.html", {
        "preset": preset, "versions": preset.versions.order_by("-number")})


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
        messages.error(request, f"Import failed: {exc}")
        return redirect("preset-list")
    messages.success(request, f"Imported {version}.")
    return redirect("preset-detail", preset_id=version.preset_id)


# --- sweeps and variant jobs ----------------------------------------------------------------

@role_required(TECHNICIAN)
def clip_sweep(request: HttpRequest, clip_id: int) -> HttpResponse:
    clip = get_object_or_404(Clip.objects.select_related("film"), pk=clip_id)
    presets.ensure_builtin_presets()
    versions = PresetVersion.objects.select_related("preset").order_by("preset__name", "-number")
    chosen = versions.filter(pk=request.POST.get("version") or request.GET.get("version") or 0).first() \
        or versions.first()
    error = ""
    try:
        suggested = sweeps.suggest_excerpt(clip) if clip.frame_count else (0, 0)
    except ValueError:
        suggested = (0, 0)
    if request.method == "POST" and chosen is not None and request.POST.get("action") == "create":
        try:
            axes = {}
            for i in range(SWEEP_AXES):
                key = request.POST.get(f"axis-{i}-key", "").strip()
                text = request.POST.get(f"axis-{i}-values", "").strip()
                if key and text:
                    if key in axes:
                        raise sweeps.SweepError(f"{key} is chosen twice")
                    axes[key] = sweeps.parse_values(chosen.spec, key, text)
            start_text, end_text = request.POST.get("start", ""), request.POST.get("end", "")
            start = int(start_text) if start_text.strip() else None
            end = int(end_text) if end_text.strip() else None
            variants = sweeps.create_sweep(clip, chosen, axes, start=start, end=end, user=request.user)
        except (sweeps.SweepError, ValueError) as exc:
            error = str(exc)
        else:
            messages.success(request, f"{len(variants)} variants queued for rendering.")
            return redirect(clip.get_absolute_url())
    params = sweeps.sweepable_parameters(chosen.spec) if chosen else []
    return render(request, "frontend/clip_sweep.html", {
        "clip": clip, "versions": versions, "chosen": chosen, "params": params, "error": error,
        "axes": range(SWEEP_AXES), "suggested": suggested, "cap": sweeps.MAX_VARIANTS,
        "post": request.POST})


@role_required(TECHNICIAN)
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(RenderJob, pk=job_id)
    rendering.cancel_job(job)
    messages.info(request, f"Render job {job.pk} cancelled.")
    return redirect(request.POST.get("next") or "home")


@role_required(TECHNICIAN)
@require_POST
def variant_rerender(request: HttpRequest, variant_id: int) -> HttpResponse:
    variant = get_object_or_404(Variant, pk=variant_id)
    try:
        rendering.rerender_variant(variant, user=request.user)
    except rendering.RenderingError as exc:
        messages.error(request, str(exc))
    return redirect(variant.clip.get_absolute_url())


# --- full-film render -------------------------------------------------------------------------

@role_required(TECHNICIAN, CURATOR)
def film_render_page(request: HttpRequest, film_id: int) -> HttpResponse:
    film = get_object_or_404(Film, pk=film_id)
    presets.ensure_builtin_presets()
    versions = PresetVersion.objects.select_related("preset").order_by("preset__name", "-number")
    if request.method == "POST":
        if not request.user.has_role(TECHNICIAN):
            raise Http404
        version = versions.filter(pk=request.POST.get("version") or 0).first()
        if version is None:
            messages.error(request, "Choose a preset version.")
        else:
            try:
                film_render.start_film_render(film, version, request.user)
            except film_render.FilmRenderError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"Full-film render with {version} queued.")
        return redirect("film-render", film_id=film.pk)
    jobs = film.jobs.filter(kind=RenderJob.Kind.FILM).prefetch_related("segments__clip")[:5]
    return render(request, "frontend/film_render.html", {
        "film": film, "versions": versions, "jobs": jobs,
        "selected": film.adopted_preset_id})


@role_required(TECHNICIAN)
@require_POST
def film_render_resume(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(RenderJob, pk=job_id, kind=RenderJob.Kind.FILM)
    try:
        pending = film_render.resume_film_render(job)
    except film_render.FilmRenderError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Resumed: {len(pending)} unfinished segment(s) queued again.")
    return redirect("film-render", film_id=job.film_id)


def operator_catalog_json(request: HttpRequest) -> HttpResponse:
    """The operator schemas (public: they describe the engine, not anyone's data)."""
    return HttpResponse(json.dumps(presets.operator_catalog()), content_type="application/json")
