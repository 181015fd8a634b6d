"""Films, clips, resumable uploads, presets, sweeps, variants and render jobs.

Thin: each operation checks its input's shape (the schemas), finds its rows and calls
restoration's services; what a service refuses becomes a 400/409/422 with its message.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Status, UploadedFile
from ninja.errors import HttpError

from accounts.roles import CURATOR, TECHNICIAN
from config.api.schemas import (
    ClipList,
    ClipOut,
    CompareIn,
    ComparisonOut,
    Deleted,
    Error,
    FilmIn,
    FilmOut,
    FilmRenderIn,
    FrameRate,
    Id,
    JobOut,
    PresetIn,
    PresetOut,
    SweepIn,
    Title,
    UploadConflict,
    UploadIn,
    UploadOut,
    VariantOut,
    VersionIn,
    VersionOut,
)
from config.api.security import signed_in
from restoration.models import Clip, Film, Preset, PresetVersion, RenderJob, UploadSession, Variant
from restoration.rendering import distinctness, jobs, sweeps, variants
from restoration.rendering import film as film_render
from restoration.selectors import clip_payload
from restoration.services import films, presets, uploads
from restoration.services.uploads import UploadInProgress, UploadRejected

router = Router(tags=["restoration"])
STAFF = signed_in(TECHNICIAN, CURATOR)
TECH = signed_in(TECHNICIAN)
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
LIST_LIMIT = 200


def _url(field) -> str | None:
    return field.url if field else None


def film_json(film: Film) -> dict[str, Any]:
    return {"id": film.pk, "title": film.title, "year": film.year, "description": film.description,
            "created_at": film.created_at, "adopted_preset": film.adopted_preset_id,
            "clips": [c.pk for c in film.clips.all()], "url": film.get_absolute_url()}


def clip_json(clip: Clip) -> dict[str, Any]:
    return {**clip_payload(clip), "id": clip.pk, "film": clip.film_id, "title": clip.title,
            "original_filename": clip.original_filename, "size_bytes": clip.size_bytes,
            "sha256": clip.sha256, "url": clip.get_absolute_url()}


def session_json(session: UploadSession) -> dict[str, Any]:
    return {"id": session.id, "filename": session.filename, "size": session.size,
            "received": session.received, "status": session.status, "error": session.error,
            "chunk_size": settings.UPLOAD_CHUNK_SIZE,
            "clip": clip_json(session.clip) if session.clip_id else None}


def version_json(version: PresetVersion) -> dict[str, Any]:
    return {"id": version.pk, "preset": version.preset_id, "number": version.number,
            "spec": version.spec, "spec_hash": version.spec_hash, "note": version.note,
            "locked": version.locked, "created_at": version.created_at}


def preset_json(preset: Preset) -> dict[str, Any]:
    return {"id": preset.pk, "name": preset.name, "description": preset.description,
            "builtin": preset.builtin,
            "versions": [version_json(v) for v in preset.versions.order_by("number")]}


def job_json(job: RenderJob) -> dict[str, Any]:
    total = job.frames_total or 0
    return {"id": job.pk, "kind": job.kind, "status": job.status, "variant": job.variant_id,
            "film": job.film_id, "preset_version": job.preset_version_id,
            "frames_done": job.frames_done, "frames_total": total,
            "progress": round(min(1.0, job.frames_done / total), 4) if total else 0.0,
            "fps": round(job.fps, 2), "eta_seconds": job.eta_seconds, "attempts": job.attempts,
            "error": job.error, "output_url": _url(job.output), "created_at": job.created_at,
            "finished_at": job.finished_at}


def variant_json(variant: Variant) -> dict[str, Any]:
    job = sweeps.latest_job(variant)
    return {"id": variant.pk, "clip": variant.clip_id, "preset_version": variant.preset_version_id,
            "label": variant.label, "overrides": variant.overrides, "spec": variant.spec,
            "start_frame": variant.start_frame, "end_frame": variant.end_frame,
            "status": variant.status, "frames": variant.frames, "metrics": variant.metrics,
            "error": variant.error, "output_url": _url(variant.output),
            "latest_job": job_json(job) if job else None}


def _film(film_id: int) -> Film:
    film = Film.objects.filter(pk=film_id).first()
    if film is None:
        raise HttpError(400, _("no film with id %(id)r") % {"id": film_id})
    return film


# --- films ----------------------------------------------------------------------------------------

@router.get("/films/", response=list[FilmOut], auth=STAFF, url_name="films")
def film_list(request: HttpRequest):
    return [film_json(f) for f in Film.objects.prefetch_related("clips").order_by("-created_at")[:LIST_LIMIT]]


@router.post("/films/", response={201: FilmOut}, auth=TECH, url_name="films")
def film_create(request: HttpRequest, body: FilmIn):
    film = films.create_film(title=body.title, year=body.year, description=body.description,
                             user=request.auth)
    return Status(201, film_json(film))


@router.get("/films/{film_id}/", response=FilmOut, auth=STAFF, url_name="film")
def film_detail(request: HttpRequest, film_id: Id):
    return film_json(get_object_or_404(Film, pk=film_id))


@router.post("/films/{film_id}/render/", response={201: JobOut, 400: Error}, auth=TECH,
             url_name="film-render")
def film_render_start(request: HttpRequest, film_id: Id, body: FilmRenderIn):
    """Start the full-film render with a preset version (split at scene cuts, then joined)."""
    film = get_object_or_404(Film, pk=film_id)
    version = get_object_or_404(PresetVersion, pk=body.preset_version)
    try:
        job = film_render.start_film_render(film, version, request.auth)
    except (film_render.FilmRenderError, jobs.RenderingError) as exc:
        raise HttpError(400, str(exc)) from None
    return Status(201, job_json(job))


# --- clips and uploads -------------------------------------------------------------------------------

@router.get("/clips/", response=ClipList, auth=STAFF, url_name="clips")
def clip_list(request: HttpRequest, film: int | None = None):
    rows = Clip.objects.select_related("film").order_by("-created_at")
    if film is not None:
        rows = rows.filter(film_id=film)
    return {"clips": [clip_json(c) for c in rows[:LIST_LIMIT]]}


@router.post("/clips/", response={201: ClipOut, 400: Error, 422: Error}, auth=TECH, url_name="clips")
def clip_upload(request: HttpRequest, film: Form[int], file: File[UploadedFile],
                title: Title = Form(""),  # noqa: B008 (ninja; `Form[Title] = ""` stays required)
                frame_rate: FrameRate = Form("")):  # noqa: B008
    """Single-request upload (multipart: file, film, title; frame_rate for a zip of
    DPX/TIFF/EXR/PNG frames, e.g. 24 or 24000/1001). Repeat the `file` field to send
    several image files as one sequence (their names give the order)."""
    files = request.FILES.getlist("file") or [file]
    try:
        clip = uploads.upload_file_objects(
            user=request.auth, film=_film(film), title=title, frame_rate=frame_rate,
            files=[(f, f.name or "upload", f.size or 0) for f in files])
    except UploadRejected as exc:
        raise HttpError(422, str(exc)) from None
    return Status(201, clip_json(clip))


@router.get("/clips/{clip_id}/", response=ClipOut, auth=STAFF, url_name="clip")
def clip_detail(request: HttpRequest, clip_id: Id):
    return clip_json(get_object_or_404(Clip, pk=clip_id))


@router.post("/uploads/", response={201: UploadOut, 400: Error}, auth=TECH, url_name="upload-start")
def upload_start(request: HttpRequest, body: UploadIn):
    """Start a resumable upload: then PUT chunks, then POST complete. For several image
    files as one sequence, name them in `members` and send their bytes one after
    another as if they were one file."""
    try:
        session = uploads.start_upload(
            user=request.auth, film=_film(body.film),
            filename=body.filename or "upload", size=body.size,
            title=body.title, frame_rate=body.frame_rate,
            members=[list(m) for m in body.members] if body.members is not None else None)
    except UploadRejected as exc:
        raise HttpError(400, str(exc)) from None
    return Status(201, session_json(session))


def _own_session(request: HttpRequest, session_id: UUID) -> UploadSession:
    return get_object_or_404(UploadSession, pk=session_id, created_by=request.auth)


@router.get("/uploads/{session_id}/", response=UploadOut, auth=TECH, url_name="upload-session")
def upload_status(request: HttpRequest, session_id: UUID):
    """Where to resume: `received` bytes are stored."""
    return session_json(_own_session(request, session_id))


@router.put("/uploads/{session_id}/", response={200: UploadOut, 400: Error, 409: UploadConflict},
            auth=TECH, url_name="upload-session",
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "parameters": [{"in": "header", "name": "Content-Range", "required": True,
                                "schema": {"type": "string", "pattern": r"^bytes \d+-\d+/\d+$"}}]})
def upload_chunk(request: HttpRequest, session_id: UUID):
    """Append one chunk, `Content-Range: bytes START-END/SIZE`; 409 with `received` when out of place."""
    session = _own_session(request, session_id)
    match = CONTENT_RANGE.fullmatch(request.headers.get("Content-Range", ""))
    if not match:
        raise HttpError(400, _("a chunk needs a header Content-Range: bytes START-END/SIZE"))
    start, end, total = (int(g) for g in match.groups())
    if total != session.size or end < start:
        raise HttpError(400, _("Content-Range does not match this upload"))
    if end - start + 1 > settings.UPLOAD_CHUNK_SIZE:
        raise HttpError(413, _("a chunk is at most %(n)s bytes") % {"n": settings.UPLOAD_CHUNK_SIZE})
    try:
        with transaction.atomic():
            locked = UploadSession.objects.select_for_update().get(pk=session.pk)
            # The bytes are counted as they arrive: a body longer than its Content-Range
            # (whatever Content-Length said) is refused, not written.
            uploads.append_chunk(locked, start, iter(lambda: request.read(1024 * 1024), b""),
                                 max_bytes=end - start + 1)
    except UploadRejected as exc:
        session.refresh_from_db()
        return Status(409, {"error": str(exc), "received": session.received})
    locked.refresh_from_db()
    return Status(200, session_json(locked))


@router.delete("/uploads/{session_id}/", response=Deleted, auth=TECH, url_name="upload-session")
def upload_abandon(request: HttpRequest, session_id: UUID):
    uploads.abandon_upload(_own_session(request, session_id))
    return {"deleted": True}


@router.post("/uploads/{session_id}/complete/", response={201: UploadOut, 409: Error, 422: Error},
             auth=TECH, url_name="upload-complete")
def upload_complete(request: HttpRequest, session_id: UUID):
    """Validate the whole file: the clip, 422 with the reason it was refused, or 409
    while another request is completing it (ask again: the answer is then the clip)."""
    session = _own_session(request, session_id)
    try:
        clip = uploads.finish_upload(session)
    except UploadRejected as exc:
        raise HttpError(422, str(exc)) from None
    except UploadInProgress as exc:
        raise HttpError(409, str(exc)) from None
    return Status(201, session_json(UploadSession.objects.get(pk=session.pk)) | {"clip": clip_json(clip)})


# --- presets ---------------------------------------------------------------------------------------------

@router.get("/operators/", response=list[dict[str, Any]], url_name="operators")
def operator_list(request: HttpRequest):
    """Every operator of the engine and its parameter schema (public, like the page)."""
    return presets.operator_catalog()


@router.get("/presets/", response=list[PresetOut], auth=STAFF, url_name="presets")
def preset_list(request: HttpRequest):
    return [preset_json(p) for p in Preset.objects.order_by("name")[:LIST_LIMIT]]


@router.post("/presets/", response={201: VersionOut, 400: Error}, auth=TECH, url_name="presets")
def preset_create(request: HttpRequest, body: PresetIn):
    """A new preset and its first version (the spec is validated against the operators)."""
    try:
        version = presets.create_preset(body.name, body.spec, user=request.auth,
                                        description=body.description, note=body.note)
    except presets.PresetError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(201, version_json(version))


@router.get("/presets/{preset_id}/", response=PresetOut, auth=STAFF, url_name="preset")
def preset_detail(request: HttpRequest, preset_id: Id):
    return preset_json(get_object_or_404(Preset, pk=preset_id))


@router.post("/presets/{preset_id}/versions/", response={201: VersionOut, 400: Error}, auth=TECH,
             url_name="preset-versions")
def preset_version_save(request: HttpRequest, preset_id: Id, body: VersionIn):
    """Save a spec as the next version (the latest version if the spec is unchanged)."""
    preset = get_object_or_404(Preset, pk=preset_id)
    if preset.builtin:
        raise HttpError(400, _("built-in presets cannot be changed: create a preset of your own"))
    try:
        version = presets.save_version(preset, body.spec, user=request.auth, note=body.note)
    except presets.PresetError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(201, version_json(version))


@router.get("/preset-versions/{version_id}/", response=VersionOut, auth=STAFF, url_name="preset-version")
def preset_version_detail(request: HttpRequest, version_id: Id):
    return version_json(get_object_or_404(PresetVersion, pk=version_id))


# --- sweeps, variants, render jobs ------------------------------------------------------------------------

@router.post("/clips/{clip_id}/sweeps/", response={201: list[VariantOut], 400: Error}, auth=TECH,
             url_name="clip-sweeps")
def sweep_create(request: HttpRequest, clip_id: Id, body: SweepIn):
    """One variant per combination of the axes' values (`{"grain.strength": [0, 3, 6]}`), queued
    for rendering over the excerpt (the analysis's suggestion when start/end are absent).

    The base is `preset_version`, or `"base": "auto"` (the clip's spec from its analysis,
    saved as a version of the "auto" preset). An axis of an operator the base lacks adds
    that operator, with its defaults, at its usual place."""
    clip = get_object_or_404(Clip, pk=clip_id)
    if (body.preset_version is None) == (body.base is None):
        raise HttpError(400, _('give either "preset_version" or "base": "auto"'))
    version = None if body.base else get_object_or_404(PresetVersion, pk=body.preset_version)
    try:
        with transaction.atomic():  # no "auto" version is left behind by a refused sweep
            version = version or presets.auto_version(clip, user=request.auth)
            made = sweeps.create_sweep(clip, version, body.axes, start=body.start, end=body.end,
                                       user=request.auth)
    except (sweeps.SweepError, jobs.RenderingError, presets.PresetError, ValueError) as exc:
        raise HttpError(400, str(exc)) from None
    return Status(201, [variant_json(v) for v in made])


def comparison_json(row: dict[str, Any]) -> dict[str, Any]:
    c = row["comparison"]
    return {"id": c.pk, "variant_a": c.variant_a_id, "variant_b": c.variant_b_id, "status": c.status,
            "jod": c.jod, "difference": c.difference, "indistinct": row["indistinct"],
            "suggestion": row["suggestion"], "details": c.details, "map_url": _url(c.diff_map),
            "error": c.error, "created_at": c.created_at, "finished_at": c.finished_at}


@router.get("/clips/{clip_id}/comparisons/", response=list[ComparisonOut], auth=STAFF,
            url_name="clip-comparisons")
def comparison_list(request: HttpRequest, clip_id: Id):
    """How different each pair of the clip's variants looks (ColorVideoVDP, in JOD), with
    `indistinct` set below the just-noticeable threshold and a suggestion of wider values."""
    clip = get_object_or_404(Clip, pk=clip_id)
    return [comparison_json(r) for r in distinctness.pair_rows(list(clip.variants.all()))]


@router.post("/clips/{clip_id}/comparisons/", response={202: list[ComparisonOut], 400: Error},
             auth=TECH, url_name="clip-comparisons")
def comparison_create(request: HttpRequest, clip_id: Id, body: CompareIn):
    """Queue the comparisons of every pair of rendered variants of `variant`'s sweep (those
    measured already are kept unless `again`)."""
    clip = get_object_or_404(Clip, pk=clip_id)
    variant = Variant.objects.filter(pk=body.variant, clip=clip).first()
    if variant is None:
        raise HttpError(400, _("clip %(clip)s has no variant %(variant)s") % {"clip": clip.pk, "variant": body.variant})
    sweep = distinctness.sweep_of(variant)
    try:
        made = distinctness.compare_variants(sweep, again=body.again)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    if not made:
        raise HttpError(400, _("fewer than two variants of this sweep have rendered"))
    ids = {c.pk for c in made}
    return Status(202, [comparison_json(r) for r in distinctness.pair_rows(sweep)
                        if r["comparison"].pk in ids])


@router.get("/variants/", response=list[VariantOut], auth=STAFF, url_name="variants")
def variant_list(request: HttpRequest, clip: int | None = None):
    rows = Variant.objects.order_by("-created_at")
    if clip is not None:
        rows = rows.filter(clip_id=clip)
    return [variant_json(v) for v in rows[:LIST_LIMIT]]


@router.get("/variants/{variant_id}/", response=VariantOut, auth=STAFF, url_name="variant")
def variant_detail(request: HttpRequest, variant_id: Id):
    return variant_json(get_object_or_404(Variant, pk=variant_id))


@router.post("/variants/{variant_id}/rerender/", response={201: JobOut, 409: Error}, auth=TECH,
             url_name="variant-rerender")
def variant_rerender(request: HttpRequest, variant_id: Id):
    variant = get_object_or_404(Variant, pk=variant_id)
    try:
        job = variants.rerender_variant(variant, user=request.auth)
    except jobs.RenderingError as exc:
        raise HttpError(409, str(exc)) from None
    return Status(201, job_json(job))


@router.get("/jobs/", response=list[JobOut], auth=STAFF, url_name="jobs")
def job_list(request: HttpRequest, status: str | None = None):
    rows = RenderJob.objects.order_by("-created_at")
    if status:
        rows = rows.filter(status=status)
    return [job_json(j) for j in rows[:LIST_LIMIT]]


@router.get("/jobs/{job_id}/", response=JobOut, auth=STAFF, url_name="job")
def job_detail(request: HttpRequest, job_id: Id):
    """A render's state and progress (frames, fps, ETA); the pages get the same live over websockets."""
    return job_json(get_object_or_404(RenderJob, pk=job_id))


@router.post("/jobs/{job_id}/cancel/", response=JobOut, auth=TECH, url_name="job-cancel")
def job_cancel(request: HttpRequest, job_id: Id):
    return job_json(jobs.cancel_job(get_object_or_404(RenderJob, pk=job_id)))


@router.post("/jobs/{job_id}/resume/", response={200: JobOut, 400: Error}, auth=TECH,
             url_name="job-resume")
def job_resume(request: HttpRequest, job_id: Id):
    """Dispatch again the segments of a full-film render that did not finish."""
    job = get_object_or_404(RenderJob, pk=job_id, kind=RenderJob.Kind.FILM)
    try:
        film_render.resume_film_render(job)
    except (film_render.FilmRenderError, jobs.RenderingError) as exc:
        raise HttpError(400, str(exc)) from None
    job.refresh_from_db()
    return Status(200, job_json(job))
