"""The site's side of GPU rendering: jobs out, progress and results in.

The site never renders. It turns a Variant (or a film segment) into a JSON job whose
files are storage URIs (gpu_worker.storage), sends it to the `gpu` queue, and records
what comes back through two tiny `default`-queue tasks: `record_progress` (frames
done, fps, ETA, pushed live to the job's topic) and `record_result`. See
gpu_worker.tasks for the job and result formats and the delivery guarantees.
"""

from __future__ import annotations

import logging
import uuid
from fractions import Fraction
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from gpu_worker.tasks import DEFAULT_MAX_ATTEMPTS, JOB_VERSION, render_job
from restoration import live
from restoration.models import Clip, RenderJob, RenderSegment, Variant
from restoration.services.presets import lock_version

log = logging.getLogger(__name__)

TERMINAL = {RenderJob.Status.DONE, RenderJob.Status.FAILED, RenderJob.Status.CANCELLED}
FRAME_COUNT_TOLERANCE = 0  # an excerpt must have exactly the frames asked for


class RenderingError(ValueError):
    """A render cannot be started or changed as asked."""


# --- storage names ↔ URIs --------------------------------------------------------------

def storage_uri(name: str, storage: Storage = default_storage) -> str:
    """The worker-side URI of a stored file (or of a name not written yet; a name
    ending in "/" is a folder-like prefix and keeps its slash)."""
    slash = "/" if name.endswith("/") else ""
    try:
        from gpu_worker.storage import file_uri

        return file_uri(storage.path(name)) + slash
    except NotImplementedError:
        pass
    bucket = getattr(storage, "bucket_name", None)
    if not bucket:
        raise RenderingError(f"storage {type(storage).__name__} is neither a local folder nor "
                             "S3-compatible; GPU workers cannot reach it")
    normalize = getattr(storage, "_normalize_name", None)
    key = normalize(name) if normalize else name
    return f"s3://{bucket}/{key.strip('/')}{slash}"


def job_key(job: RenderJob) -> str:
    """A name for the job's files that no other database's job can share.

    Row ids restart with a fresh database while the media folder or bucket may stay
    (tests, a reinstalled site): a marker or output named by id alone could then be
    taken for this job's (a stale "cancel", an old output "reused"). The creation
    time in microseconds makes the name unique and stays the same for every delivery
    of the job.
    """
    return f"{job.pk}-{int(job.created_at.timestamp() * 1_000_000):x}"


def control_name(job: RenderJob, segment: RenderSegment | None = None) -> str:
    """Folder (storage name prefix) of one job's markers: attempts, cancel, result.json."""
    base = f"renders/control/job-{job_key(job)}"
    return f"{base}/seg-{segment.index:05d}/" if segment is not None else f"{base}/"


def variant_output_name(job: RenderJob) -> str:
    variant = job.variant
    return (f"renders/variants/clip-{variant.clip_id}/"
            f"job-{job_key(job)}-{variant.spec_hash[:12]}-{variant.start_frame}-{variant.end_frame}.mp4")


def build_job(job: RenderJob, *, input_name: str, output_name: str, spec: dict[str, Any],
              start: int, end: int, audio: bool, segment: RenderSegment | None = None,
              scene_cuts: list[int] | None = None) -> dict[str, Any]:
    """The JSON job a GPU worker executes (format documented in gpu_worker.tasks)."""
    return {
        "version": JOB_VERSION,
        "job_id": job.pk,
        "kind": "segment" if segment is not None else "variant",
        "segment": segment.index if segment is not None else None,
        "input_uri": storage_uri(input_name),
        "output_uri": storage_uri(output_name),
        "control_uri": storage_uri(control_name(job, segment)),
        "spec": spec,
        "seed": int(spec.get("seed", 0)),
        "start": int(start),
        "end": int(end),
        "audio": audio,
        "scene_cuts": scene_cuts,
        "max_attempts": job.max_attempts or DEFAULT_MAX_ATTEMPTS,
        "device": None,
    }


def clip_rate(clip: Clip) -> Fraction:
    """A clip's exact frame rate as probed (its rational form when known)."""
    from gpu_worker.engine.rate import as_rate

    for value in (clip.fps_fraction, clip.fps):
        try:
            if value:
                return as_rate(value)
        except (ValueError, ZeroDivisionError):
            continue
    return Fraction(24)


def expected_frames(spec: dict[str, Any], clip: Clip, start: int, end: int) -> int:
    """Frames a render of clip frames [start, end) with `spec` writes: end - start,
    or more when the spec raises the frame rate (frame interpolation). Ranges that
    tile a clip give counts that add up to the whole clip's."""
    from gpu_worker.engine.rate import expected_output_frames
    from gpu_worker.engine.registry import SpecError

    try:
        return expected_output_frames(spec, end - start, clip_rate(clip), start=start)
    except SpecError as exc:
        raise RenderingError(f"the spec cannot render {clip}: {exc}") from None


def new_task_id(job: RenderJob, segment: RenderSegment | None = None) -> str:
    # Fresh per dispatch: an id revoked by an earlier cancel would be dropped by workers.
    part = f"-seg{segment.index}" if segment is not None else ""
    return f"render-{job.pk}{part}-{uuid.uuid4().hex[:8]}"


def _send(payload: dict[str, Any], task_id: str) -> None:
    render_job.apply_async(args=[payload], task_id=task_id)


# --- variants -------------------------------------------------------------------------

def dispatch_variant(variant: Variant, *, user: Any = None) -> RenderJob:
    """Queue a render of a variant's excerpt; returns its RenderJob.

    The preset version is locked first (a render now refers to it). The message is
    sent after the transaction commits, so the worker's bookkeeping tasks find the rows.
    """
    if variant.end_frame is None or variant.end_frame <= variant.start_frame:
        raise RenderingError(f"variant {variant.pk}: the excerpt [{variant.start_frame}, "
                             f"{variant.end_frame}) is empty")
    frames_total = expected_frames(variant.spec, variant.clip, variant.start_frame,
                                   variant.end_frame)
    lock_version(variant.preset_version)
    with transaction.atomic():
        job = RenderJob.objects.create(
            kind=RenderJob.Kind.VARIANT, variant=variant, preset_version=variant.preset_version,
            frames_total=frames_total,
            created_by=user if getattr(user, "pk", None) else None)
        output = variant_output_name(job)
        spec = dict(variant.spec)
        if variant.encode:
            spec["encode"] = variant.encode
        payload = build_job(job, input_name=variant.clip.source.name, output_name=output, spec=spec,
                            start=variant.start_frame, end=variant.end_frame, audio=True)
        task_id = new_task_id(job)
        job.output.name = output
        job.task_ids = [task_id]
        job.save(update_fields=["output", "task_ids"])
        Variant.objects.filter(pk=variant.pk).update(status=Variant.Status.QUEUED, error="")
        transaction.on_commit(lambda: _send(payload, task_id))
    return job


# --- bookkeeping from workers ------------------------------------------------------------

def _publish(job: RenderJob) -> None:
    payload = job.progress_payload()
    live.publish(job.topic, payload)
    if job.variant_id:
        # The clip page also hears about its variants' renders (one socket for all rows).
        clip_id = job.variant.clip_id if job.variant else None
        if clip_id:
            live.publish(f"clip-{clip_id}", payload)


def record_progress(data: dict[str, Any]) -> RenderJob | None:
    """A progress message from a GPU worker: update the job (and segment), push it live.

    Late messages (after the result) are ignored, so a job never goes back from done.
    """
    job = RenderJob.objects.filter(pk=data.get("job_id")).first()
    if job is None or job.status in TERMINAL or job.cancel_requested:
        return None
    now = timezone.now()
    attempt = int(data.get("attempt") or 0)
    if data.get("segment") is None:
        job.status = RenderJob.Status.RUNNING
        job.frames_done = int(data.get("frames_done") or 0)
        # The site's count (from the spec: interpolation writes more frames than it
        # reads) is the one the result is checked against; a worker's count only fills in.
        job.frames_total = job.frames_total or int(data.get("frames_total") or 0)
        job.fps = float(data.get("fps") or 0.0)
        job.eta_seconds = data.get("eta")
        job.attempts = max(job.attempts, attempt)
        job.started_at = job.started_at or now
        job.save(update_fields=["status", "frames_done", "frames_total", "fps", "eta_seconds",
                                "attempts", "started_at", "updated_at"])
        if job.variant_id:
            Variant.objects.filter(pk=job.variant_id).exclude(status__in=[
                Variant.Status.DONE, Variant.Status.FAILED, Variant.Status.CANCELLED,
            ]).update(status=Variant.Status.RENDERING)
    else:
        updated = RenderSegment.objects.filter(job=job, index=data["segment"]).exclude(
            status__in=TERMINAL).update(
            status=RenderJob.Status.RUNNING, frames_done=int(data.get("frames_done") or 0),
            fps=float(data.get("fps") or 0.0), attempts=attempt)
        if not updated:
            return None
        _refresh_film_totals(job, started=True)
    _publish(job)
    return job


def _refresh_film_totals(job: RenderJob, *, started: bool = False) -> None:
    """A film job's progress is the sum over its segments."""
    segments = job.segments.all()
    done = segments.aggregate(n=Sum("frames_done"))["n"] or 0
    running_fps = segments.filter(status=RenderJob.Status.RUNNING).aggregate(f=Sum("fps"))["f"] or 0.0
    job.frames_done = done
    job.fps = float(running_fps)
    job.eta_seconds = ((job.frames_total - done) / running_fps) if running_fps > 0 else None
    fields = ["frames_done", "fps", "eta_seconds", "updated_at"]
    if started and job.status == RenderJob.Status.QUEUED:
        job.status = RenderJob.Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        fields += ["status", "started_at"]
    job.save(update_fields=fields)


def storage_name_from_uri(uri: str) -> str | None:
    """Inverse of storage_uri for the default storage (None when it is not ours)."""
    from gpu_worker.storage import parse_uri

    loc = parse_uri(uri)
    try:
        root = default_storage.path("")
    except NotImplementedError:
        root = None
    if loc.scheme == "file" and root is not None:
        from pathlib import Path

        try:
            return str(Path(loc.path).resolve().relative_to(Path(root).resolve()))
        except ValueError:
            return None
    if loc.scheme == "s3" and root is None:
        location = getattr(default_storage, "location", "") or ""
        key = loc.path
        return key[len(location):].lstrip("/") if location and key.startswith(location) else key
    return None


def record_result(data: dict[str, Any]) -> RenderJob | None:
    """A GPU worker's result; a variant job finishes here, a film segment may complete the film."""
    if data.get("segment") is not None:
        from restoration.services.film_render import record_segment_result

        return record_segment_result(data)
    with transaction.atomic():
        job = RenderJob.objects.select_for_update().filter(pk=data.get("job_id")).first()
        if job is None:
            return None
        if job.status in TERMINAL:
            return job  # a redelivered job reported again: nothing new
        status = data.get("status")
        now = timezone.now()
        job.attempts = max(job.attempts, int(data.get("attempt") or 0))
        job.result = data
        job.finished_at = now
        variant = job.variant
        if status == "done":
            expected = job.frames_total
            frames = int(data.get("frames") or 0)
            name = storage_name_from_uri(data.get("output_uri") or "") or job.output.name
            if abs(frames - expected) > FRAME_COUNT_TOLERANCE:
                status = "failed"
                data = {**data, "error": f"the render has {frames} frames; {expected} were asked for"}
            else:
                job.status = RenderJob.Status.DONE
                job.frames_done = frames
                job.fps = float(data.get("fps") or 0.0)
                job.eta_seconds = 0.0
                job.output.name = name
                job.error = ""
                if variant is not None:
                    variant.status = Variant.Status.DONE
                    variant.output.name = name
                    variant.frames = frames
                    variant.metrics = data.get("metrics") or {}
                    variant.error = ""
                    variant.finished_at = now
        if status == "failed":
            job.status = RenderJob.Status.FAILED
            job.error = data.get("error") or "the render failed"
            if variant is not None:
                variant.status, variant.error, variant.finished_at = Variant.Status.FAILED, job.error, now
        elif status == "cancelled":
            job.status = RenderJob.Status.CANCELLED
            if variant is not None:
                variant.status, variant.finished_at = Variant.Status.CANCELLED, now
        job.save()
        if variant is not None:
            variant.save()
    _publish(job)
    return job


# --- cancel / retry --------------------------------------------------------------------

def write_marker(name: str, content: bytes = b"1") -> None:
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(content))


def cancel_job(job: RenderJob) -> RenderJob:
    """Stop a queued or running render: revoke its tasks and leave a cancel marker the
    running render polls between batches (a revoke alone cannot stop a started task
    without killing the worker process)."""
    if job.status in TERMINAL:
        return job
    RenderJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    if job.kind == RenderJob.Kind.FILM:
        for segment in job.segments.exclude(status__in=TERMINAL):
            write_marker(control_name(job, segment) + "cancel")
        job.segments.exclude(status__in=TERMINAL).update(status=RenderJob.Status.CANCELLED)
    else:
        write_marker(control_name(job) + "cancel")
    from config.celery import app

    for task_id in job.task_ids or []:
        try:
            app.control.revoke(task_id)
        except Exception:  # the marker still stops it; a broker hiccup is not fatal
            log.warning("could not revoke %s", task_id, exc_info=True)
    now = timezone.now()
    RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.CANCELLED,
                                               cancel_requested=True, finished_at=now,
                                               updated_at=now)
    if job.variant_id:
        Variant.objects.filter(pk=job.variant_id).update(status=Variant.Status.CANCELLED,
                                                         finished_at=now)
    job.refresh_from_db()
    _publish(job)
    return job


def rerender_variant(variant: Variant, *, user: Any = None) -> RenderJob:
    """Render a failed or cancelled variant again, as a new job (fresh attempt counter)."""
    if variant.status in (Variant.Status.QUEUED, Variant.Status.RENDERING):
        raise RenderingError("this variant is already being rendered")
    if variant.status == Variant.Status.DONE:
        raise RenderingError("this variant is already rendered")
    return dispatch_variant(variant, user=user)


