"""Progress from the GPU workers: frames done, fps and ETA of a job (a film job sums
its segments), pushed live to the pages watching it."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from gpu_worker.jobs import JobContractError, JobProgress
from restoration import leases
from restoration.models import RenderJob, RenderSegment, Variant, WorkLease
from restoration.rendering.jobs import TERMINAL, publish_job

log = logging.getLogger(__name__)


def record_progress(data: dict[str, Any]) -> RenderJob | None:
    """A progress message from a GPU worker: update the job (and segment), push it live.

    Late messages (after the result) are ignored, so a job never goes back from done;
    so is a message that breaks the job contract (progress is best-effort), and one
    from a dispatch the sweeper has replaced. An accepted message renews the lease.
    """
    try:
        progress = JobProgress.from_dict(data)
    except JobContractError:
        log.warning("ignored a progress message that breaks the job contract: %r", data,
                    exc_info=True)
        return None
    job = RenderJob.objects.filter(pk=progress.job_id).first()
    if job is None or job.status in TERMINAL or job.cancel_requested:
        return None
    now = timezone.now()
    attempt = progress.attempt
    if progress.segment is None:
        if not leases.is_current(WorkLease.Kind.VARIANT, job.pk, progress.lease):
            return None
        leases.renew(WorkLease.Kind.VARIANT, job.pk, progress.lease)
        job.status = RenderJob.Status.RUNNING
        job.frames_done = progress.frames_done
        # The site's count (from the spec: interpolation writes more frames than it
        # reads) is the one the result is checked against; a worker's count only fills in.
        job.frames_total = job.frames_total or progress.frames_total
        job.fps = progress.fps
        job.eta_seconds = progress.eta
        job.attempts = max(job.attempts, attempt)
        job.started_at = job.started_at or now
        job.save(update_fields=["status", "frames_done", "frames_total", "fps", "eta_seconds",
                                "attempts", "started_at", "updated_at"])
        if job.variant_id:
            Variant.objects.filter(pk=job.variant_id).exclude(status__in=[
                Variant.Status.DONE, Variant.Status.FAILED, Variant.Status.CANCELLED,
            ]).update(status=Variant.Status.RENDERING)
    else:
        segment = RenderSegment.objects.filter(job=job, index=progress.segment).first()
        if segment is None or not leases.is_current(WorkLease.Kind.SEGMENT, segment.pk,
                                                    progress.lease):
            return None
        leases.renew(WorkLease.Kind.SEGMENT, segment.pk, progress.lease)
        updated = RenderSegment.objects.filter(pk=segment.pk).exclude(
            status__in=TERMINAL).update(
            status=RenderJob.Status.RUNNING, frames_done=progress.frames_done,
            fps=progress.fps, attempts=attempt)
        if not updated:
            return None
        refresh_film_totals(job, started=True)
    publish_job(job)
    return job


def refresh_film_totals(job: RenderJob, *, started: bool = False) -> None:
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
