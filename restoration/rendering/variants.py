"""Variant renders: an excerpt of one clip rendered with one preset version plus
overrides; dispatch, the result that finishes it, and rendering it again."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from gpu_worker.jobs import JobResult
from restoration import leases
from restoration.models import RenderJob, Variant, WorkLease
from restoration.rendering.jobs import (
    FRAME_COUNT_TOLERANCE,
    TERMINAL,
    RenderingError,
    build_job,
    expected_frames,
    job_key,
    master_suffix,
    new_task_id,
    publish_job,
    send_job,
    storage_name_from_uri,
    take_lease,
)
from restoration.services.presets import lock_version

log = logging.getLogger(__name__)


def variant_output_name(job: RenderJob) -> str:
    variant = job.variant
    return (f"renders/variants/clip-{variant.clip_id}/"
            f"job-{job_key(job)}-{variant.spec_hash[:12]}-{variant.start_frame}-"
            f"{variant.end_frame}{master_suffix(variant.encode or variant.spec.get('encode'))}")


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
        job.output.name = variant_output_name(job)
        job.save(update_fields=["output"])
        _send(job, fresh=True)
        Variant.objects.filter(pk=variant.pk).update(status=Variant.Status.QUEUED, error="")
    return job


def _send(job: RenderJob, *, fresh: bool) -> None:
    """Send a variant job to the GPU queue under a new lease (after the commit)."""
    variant = job.variant
    spec = dict(variant.spec)
    if variant.encode:
        spec["encode"] = variant.encode
    task_id = new_task_id(job)
    lease = take_lease(job, task_id, fresh=fresh)
    payload = build_job(job, input_name=variant.clip.source.name, output_name=job.output.name,
                        spec=spec, start=variant.start_frame, end=variant.end_frame, audio=True,
                        lease=lease.token)
    RenderJob.objects.filter(pk=job.pk).update(task_ids=[*(job.task_ids or []), task_id])
    job.task_ids = [*(job.task_ids or []), task_id]
    transaction.on_commit(lambda: send_job(payload, task_id))


def redispatch_variant(job: RenderJob) -> RenderJob:
    """Send a variant job whose lease expired again: the same job and output, a new
    lease token and one more attempt (restoration.sweeper). A worker finding the
    output already published reports it instead of rendering it again."""
    with transaction.atomic():
        _send(job, fresh=False)
    return job


def record_variant_result(result: JobResult) -> RenderJob | None:
    """A GPU worker's result for a variant render: the job and its variant finish here.
    A result for a job already finished (a redelivered job reported again) changes nothing."""
    with transaction.atomic():
        job = RenderJob.objects.select_for_update().filter(pk=result.job_id).first()
        if job is None:
            return None
        if job.status in TERMINAL:
            return job  # a redelivered job reported again: nothing new
        if not leases.is_current(WorkLease.Kind.VARIANT, job.pk, result.lease):
            # From a dispatch the sweeper has since replaced: the newer one reports.
            log.info("ignored a stale result of job %s (lease %s, attempt %s)", job.pk,
                     result.lease, result.attempt)
            return job
        status = result.status
        now = timezone.now()
        job.attempts = max(job.attempts, result.attempt)
        job.result = result.to_dict()
        job.finished_at = now
        variant = job.variant
        if status == "done":
            expected = job.frames_total
            frames = result.frames
            name = storage_name_from_uri(result.output_uri or "") or job.output.name
            if abs(frames - expected) > FRAME_COUNT_TOLERANCE:
                status = "failed"
                result = replace(result, status="failed",
                                 error=f"the render has {frames} frames; {expected} were asked for")
            else:
                job.status = RenderJob.Status.DONE
                job.frames_done = frames
                job.fps = result.fps
                job.eta_seconds = 0.0
                job.output.name = name
                job.error = ""
                if variant is not None:
                    variant.status = Variant.Status.DONE
                    variant.output.name = name
                    variant.proxy.name = ((storage_name_from_uri(result.proxy_uri) or "")
                                          if result.proxy_uri else "")
                    variant.frames = frames
                    variant.metrics = result.metrics or {}
                    variant.error = ""
                    variant.finished_at = now
        if status == "failed":
            job.status = RenderJob.Status.FAILED
            job.error = result.error or "the render failed"
            if variant is not None:
                variant.status, variant.error, variant.finished_at = Variant.Status.FAILED, job.error, now
        elif status == "cancelled":
            job.status = RenderJob.Status.CANCELLED
            if variant is not None:
                variant.status, variant.finished_at = Variant.Status.CANCELLED, now
        job.save()
        if variant is not None:
            variant.save()
        leases.release(WorkLease.Kind.VARIANT, job.pk, error=job.error)
    publish_job(job)
    return job


def rerender_variant(variant: Variant, *, user: Any = None) -> RenderJob:
    """Render a failed or cancelled variant again, as a new job (fresh attempt counter)."""
    if variant.status in (Variant.Status.QUEUED, Variant.Status.RENDERING):
        raise RenderingError(gettext("this variant is already being rendered"))
    if variant.status == Variant.Status.DONE:
        raise RenderingError(gettext("this variant is already rendered"))
    return dispatch_variant(variant, user=user)
