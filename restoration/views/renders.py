"""Pages for sweeps, render jobs and the full-film render. Thin: the work is in
restoration.rendering."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.roles import CURATOR, TECHNICIAN, role_required
from restoration import engine_text
from restoration.models import Clip, Film, PresetVersion, RenderJob, Variant
from restoration.rendering import distinctness, jobs, sweeps, variants
from restoration.rendering import film as film_render
from restoration.services import presets

SWEEP_AXES = 3  # rows offered by the sweep form


# --- helpers used by the clip page -------------------------------------------------------

def clip_render_context(clip: Clip) -> dict[str, Any]:
    """What the clip page shows under the metadata: analysis and variants with their jobs."""
    variants = list(clip.variants.select_related("preset_version__preset").order_by("-created_at"))
    rows = []
    for v in variants:
        job = sweeps.latest_job(v)
        rows.append({"variant": v, "job": job, "label": engine_text.variant_label(v),
                     "device": engine_text.device_name((v.metrics or {}).get("device")),
                     "error": engine_text.failure_reason(job.error) if job and job.error else None})
    comparisons = distinctness.pair_rows(variants)
    for row in comparisons:
        error = row["comparison"].error
        row["error"] = engine_text.failure_reason(error) if error else None
    analysis = clip.analysis if isinstance(clip.analysis, dict) else None
    summary = (analysis or {}).get("summary")
    error = (analysis or {}).get("error")
    return {
        "variant_rows": rows,
        "comparison_rows": comparisons,
        "jnd_jod": distinctness.threshold(),
        "analysis_summary": summary,
        "analysis_levels": engine_text.summary_levels(summary),
        "analysis_findings": engine_text.findings(analysis),
        "analysis_error": engine_text.failure_reason(str(error)) if error else None,
        "clip_error": engine_text.failure_reason(clip.error) if clip.error else None,
    }


# --- sweeps and variant jobs ----------------------------------------------------------------

AUTO = presets.AUTO_PRESET


@role_required(TECHNICIAN)
def clip_sweep(request: HttpRequest, clip_id: int) -> HttpResponse:
    """The sweep form. The base is a saved preset version or "auto": the clip's own
    spec from its analysis, saved as a version of the "auto" preset when the sweep is made."""
    clip = get_object_or_404(Clip.objects.select_related("film"), pk=clip_id)
    presets.ensure_builtin_presets()
    versions = PresetVersion.objects.select_related("preset").order_by("preset__name", "-number")
    picked = request.POST.get("version") or request.GET.get("version") or ""
    error = ""
    chosen: PresetVersion | None = None
    base_spec: dict[str, Any] | None = None
    if picked == AUTO:
        try:
            base_spec = presets.auto_spec(clip).to_dict()
        except presets.PresetError as exc:
            error = str(exc)
    else:
        chosen = versions.filter(pk=picked if picked.isdigit() else 0).first() or versions.first()
        base_spec = chosen.spec if chosen else None
    try:
        suggested = sweeps.suggest_excerpt(clip) if clip.frame_count else (0, 0)
    except ValueError:
        suggested = (0, 0)
    if request.method == "POST" and base_spec is not None and request.POST.get("action") == "create":
        try:
            axes = {}
            for i in range(SWEEP_AXES):
                key = request.POST.get(f"axis-{i}-key", "").strip()
                text = request.POST.get(f"axis-{i}-values", "").strip()
                if key and text:
                    if key in axes:
                        raise sweeps.SweepError(_("%(key)s is chosen twice") % {"key": key})
                    axes[key] = sweeps.parse_values(base_spec, key, text)
            start_text, end_text = request.POST.get("start", ""), request.POST.get("end", "")
            start = int(start_text) if start_text.strip() else None
            end = int(end_text) if end_text.strip() else None
            with transaction.atomic():  # no "auto" version is left behind by a refused sweep
                base = chosen or presets.auto_version(clip, user=request.user)
                variants = sweeps.create_sweep(clip, base, axes, start=start, end=end,
                                               user=request.user)
        except (sweeps.SweepError, ValueError) as exc:
            error = str(exc)
        else:
            messages.success(request, ngettext("%(n)d variant queued for rendering.", "%(n)d variants queued for rendering.",
                                              len(variants)) % {"n": len(variants)})
            return redirect(clip.get_absolute_url())
    params = sweeps.sweepable_parameters(base_spec) if base_spec else []
    return render(request, "restoration/clip_sweep.html", {
        "clip": clip, "chosen": chosen, "params": params, "error": error,
        "version_rows": [{"version": v, "name": engine_text.version_name(v)} for v in versions],
        "base_ops": [engine_text.operator_name(op["op"]) for op in (base_spec or {}).get("ops", [])],
        "axes": range(SWEEP_AXES), "suggested": suggested, "cap": sweeps.MAX_VARIANTS,
        "post": request.POST, "auto": picked == AUTO, "base_spec": base_spec,
        "picked": AUTO if picked == AUTO else (chosen.pk if chosen else "")})


@role_required(TECHNICIAN)
@require_POST
def clip_compare_variants(request: HttpRequest, clip_id: int) -> HttpResponse:
    """Measure (again) how different the clip's rendered variants of one sweep look."""
    clip = get_object_or_404(Clip, pk=clip_id)
    variant = get_object_or_404(Variant, pk=request.POST.get("variant") or 0, clip=clip)
    made = distinctness.compare_variants(distinctness.sweep_of(variant),
                                         again=bool(request.POST.get("again")))
    if made:
        messages.info(request, ngettext("%(n)d comparison of the sweep of “%(variant)s” queued.",
                                        "%(n)d comparisons of the sweep of “%(variant)s” queued.", len(made))
                      % {"n": len(made), "variant": variant})
    else:
        messages.error(request, _("Fewer than two variants of this sweep have rendered."))
    return redirect(clip.get_absolute_url())


@role_required(TECHNICIAN)
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(RenderJob, pk=job_id)
    jobs.cancel_job(job)
    messages.info(request, _("Render job %(id)s cancelled.") % {"id": job.pk})
    return redirect(request.POST.get("next") or "home")


@role_required(TECHNICIAN)
@require_POST
def variant_rerender(request: HttpRequest, variant_id: int) -> HttpResponse:
    variant = get_object_or_404(Variant, pk=variant_id)
    try:
        variants.rerender_variant(variant, user=request.user)
    except jobs.RenderingError as exc:
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
            messages.error(request, _("Choose a preset version."))
        else:
            try:
                film_render.start_film_render(film, version, request.user)
            except film_render.FilmRenderError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("Full-film render with %(version)s queued.") % {"version": version})
        return redirect("film-render", film_id=film.pk)
    jobs = film.jobs.filter(kind=RenderJob.Kind.FILM).prefetch_related("segments__clip")[:5]
    return render(request, "restoration/film_render.html", {
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
        messages.success(request, ngettext("Resumed: %(n)d unfinished segment queued again.",
                                          "Resumed: %(n)d unfinished segments queued again.",
                                          len(pending)) % {"n": len(pending)})
    return redirect("film-render", film_id=job.film_id)


