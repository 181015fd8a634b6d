"""Jobs out to the GPU workers: storage URIs, the job a worker executes, sending it,
control markers, expected frame counts, cancelling, and the live progress event.

The site never renders. It turns a Variant (or a film segment) into a job whose files
are storage URIs, sends it to the `gpu` queue, and records what comes back
(restoration.rendering.progress and .results).
"""

from __future__ import annotations

import logging
import uuid
from fractions import Fraction
from typing import Any

from celery import Signature, current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.utils import timezone

from frontend.live import outbox
from gpu_worker.jobs import DEFAULT_MAX_ATTEMPTS, JobContractError, JobRequest
from gpu_worker.worker.tasks import render_job
from restoration import leases
from restoration.models import Clip, RenderJob, RenderSegment, Variant, WorkLease

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
        from gpu_worker.worker.storage import file_uri

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


def take_lease(job: RenderJob, task_id: str, segment: RenderSegment | None = None, *,
               fresh: bool) -> WorkLease:
    """Take the lease of a render being dispatched (restoration.leases) and write its
    token to the job's `lease` marker: a delivery of an older dispatch that reaches a
    worker finds another token there and does nothing."""
    kind, object_id = unit_of(job, segment)
    lease = leases.take(kind, object_id, holder=task_id, max_attempts=job.max_attempts or None,
                        fresh=fresh)
    name = control_name(job, segment) + "lease"
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(lease.token.encode()))
    return lease


def unit_of(job: RenderJob, segment: RenderSegment | None = None) -> tuple[str, int]:
    """The lease kind and id of a render: the segment, or the variant job."""
    if segment is not None:
        return WorkLease.Kind.SEGMENT, segment.pk
    return WorkLease.Kind.VARIANT, job.pk


# Masters in a codec MP4 does not carry well go in the container made for them.
MASTER_SUFFIX = {"prores": ".mov", "ffv1": ".mkv"}


def master_suffix(encode: dict[str, Any] | None) -> str:
    """The file suffix of a render encoded with `encode` (a spec's "encode" section):
    .mov for ProRes, .mkv for FFV1, .mp4 for the delivery codecs."""
    codec = (encode or {}).get("codec") or "h264"
    return MASTER_SUFFIX.get(codec, ".mp4")


def build_job(job: RenderJob, *, input_name: str, output_name: str, spec: dict[str, Any],
              start: int, end: int, audio: bool, segment: RenderSegment | None = None,
              scene_cuts: list[int] | None = None, lease: str | None = None) -> dict[str, Any]:
    """The message a GPU worker executes: a gpu_worker.jobs.JobRequest, checked here
    as the worker checks it, sent as JSON. The site's own limits (files the spec may
    name, output frame size and count) are checked first: nothing too large is sent."""
    clip = segment.clip if segment is not None else (job.variant.clip if job.variant_id else None)
    check_output_limits(spec, clip, start, end)
    try:
        request = JobRequest(
            job_id=job.pk, kind="segment" if segment is not None else "variant",
            segment=segment.index if segment is not None else None,
            input_uri=storage_uri(input_name), output_uri=storage_uri(output_name),
            control_uri=storage_uri(control_name(job, segment)),
            spec=spec, seed=int(spec.get("seed", 0)), start=int(start), end=int(end),
            audio=audio, scene_cuts=tuple(scene_cuts) if scene_cuts is not None else None,
            max_attempts=job.max_attempts or DEFAULT_MAX_ATTEMPTS, device=None,
            lease=lease, lease_seconds=leases.lease_seconds() if lease else None)
    except JobContractError as exc:
        raise RenderingError(f"cannot send this render: {exc}") from None
    return request.to_dict()


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
    from gpu_worker.engine.schema import SpecError
    from gpu_worker.engine.spec import expected_output_frames

    try:
        return expected_output_frames(spec, end - start, clip_rate(clip), start=start)
    except SpecError as exc:
        raise RenderingError(f"the spec cannot render {clip}: {exc}") from None


def check_output_limits(spec: dict[str, Any], clip: Clip | None, start: int, end: int) -> None:
    """Refuse a render whose spec names files outside the allowed folders, or whose
    output (chained resizes, super-resolution, frame interpolation) would exceed the
    global caps ``MAX_OUTPUT_PIXELS`` per frame or ``MAX_OUTPUT_FRAMES``."""
    from gpu_worker.engine.schema import SpecError
    from gpu_worker.engine.spec import expected_output_size, parse_spec
    from restoration.services.presets import spec_file_problem

    try:
        problem = spec_file_problem(parse_spec(spec))
    except SpecError as exc:
        raise RenderingError(f"invalid spec: {exc}") from None
    if problem:
        raise RenderingError(f"invalid spec: {problem}")
    if clip is None:
        return
    frames = expected_frames(spec, clip, start, end)
    if frames > settings.MAX_OUTPUT_FRAMES:
        raise RenderingError(f"this render would write {frames} frames; the limit is {settings.MAX_OUTPUT_FRAMES}")
    if clip.width and clip.height:
        width, height = expected_output_size(spec, clip.width, clip.height)
        if width * height > settings.MAX_OUTPUT_PIXELS:
            raise RenderingError(f"this render would write {width}x{height} frames; the limit is "
                                 f"{settings.MAX_OUTPUT_PIXELS} pixels per frame")


def new_task_id(job: RenderJob, segment: RenderSegment | None = None) -> str:
    # Fresh per dispatch: an id revoked by an earlier cancel would be dropped by workers.
    part = f"-seg{segment.index}" if segment is not None else ""
    return f"render-{job.pk}{part}-{uuid.uuid4().hex[:8]}"


def send_job(payload: dict[str, Any], task_id: str) -> None:
    """Send one job to the `gpu` queue."""
    render_job.apply_async(args=[payload], task_id=task_id)


def job_signature(payload: dict[str, Any], task_id: str) -> Signature:
    """One job as a Celery signature, for sending many together (a film's segments)."""
    return render_job.s(payload).set(task_id=task_id)


def publish_job(job: RenderJob) -> None:
    """Push a job's progress to everyone watching it (its page, its clip's or film's page)."""
    payload = job.progress_payload()
    outbox.publish(job.topic, payload)
    if job.variant_id:
        # The clip page also hears about its variants' renders (one socket for all rows).
        clip_id = job.variant.clip_id if job.variant else None
        if clip_id:
            outbox.publish(f"clip-{clip_id}", payload)
    if job.film_id:
        outbox.publish(f"film-{job.film_id}", payload)


def storage_name_from_uri(uri: str) -> str | None:
    """Inverse of storage_uri for the default storage (None when it is not ours)."""
    from gpu_worker.worker.storage import parse_uri

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


# --- cancel ---------------------------------------------------------------------------

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
        leases.release_all(WorkLease.Kind.SEGMENT, list(job.segments.values_list("pk", flat=True)))
        leases.release(WorkLease.Kind.ASSEMBLY, job.pk)
    else:
        write_marker(control_name(job) + "cancel")
        leases.release(WorkLease.Kind.VARIANT, job.pk)
    for task_id in job.task_ids or []:
        try:
            current_app.control.revoke(task_id)
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
    publish_job(job)
    return job
