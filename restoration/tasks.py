"""Default-queue (CPU) tasks of the restoration app. Thin: they call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

import gpu_worker.worker.tasks  # noqa: F401  registers the render task on the site's app
from restoration import leases, queue, sweeper
from restoration.models import Clip, RenderJob, WorkLease
from restoration.rendering import assembly, distinctness, film, progress, results
from restoration.services import clip_analysis, clips, uploads
from restoration.services.clip_analysis import AnalysisStatus


@shared_task(name=queue.PROBE_CLIP, acks_late=True, max_retries=3)
def probe_clip(clip_id: int) -> None:
    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None:  # deleted before the task ran
        leases.release(WorkLease.Kind.PROBE, clip_id)
        return
    with leases.held(WorkLease.Kind.PROBE, clip.pk):
        clip = clips.probe_and_poster(clip)
    if clip.status == Clip.Status.READY and getattr(settings, "ANALYZE_AFTER_PROBE", True):
        # The damage analysis decodes the whole clip: its own task, so the clip is
        # usable (ready, with a poster) while it runs.
        Clip.objects.filter(pk=clip.pk).update(analysis_status=AnalysisStatus.QUEUED)
        leases.take(WorkLease.Kind.ANALYSIS, clip.pk, holder="analyze", fresh=True)
        analyze_clip.delay(clip.pk)


@shared_task(name=queue.ENCODE_SEQUENCE, acks_late=True, max_retries=2)
def encode_sequence(clip_id: int) -> None:
    """An image-sequence upload's FFV1 master, encoded here rather than in the web
    request; the probe follows (services.uploads.encode_sequence_clip)."""
    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None:
        leases.release(WorkLease.Kind.SEQUENCE, clip_id)
        return
    with leases.held(WorkLease.Kind.SEQUENCE, clip.pk):
        uploads.encode_sequence_clip(clip)


# --- analysis and rendering bookkeeping ------------------------------------------------

@shared_task(name=queue.ANALYZE_CLIP, acks_late=True, max_retries=2)
def analyze_clip(clip_id: int) -> None:
    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None:
        leases.release(WorkLease.Kind.ANALYSIS, clip_id)
        return
    with leases.held(WorkLease.Kind.ANALYSIS, clip.pk):
        clip_analysis.analyze_clip(clip)


@shared_task(name=queue.RECORD_PROGRESS, acks_late=True, ignore_result=True)
def record_progress(data: dict) -> None:
    """Sent by GPU workers (gpu_worker.worker.tasks) a couple of times a second per render."""
    progress.record_progress(data)


@shared_task(name=queue.RECORD_RESULT, acks_late=True, max_retries=5,
             autoretry_for=(OperationalError,), retry_backoff=True)
def record_result(data: dict) -> None:
    """Sent by GPU workers when a render job ends (done, failed or cancelled)."""
    results.record_result(data)


@shared_task(name=queue.RECORD_COMPARISON, acks_late=True, max_retries=5,
             autoretry_for=(OperationalError,), retry_backoff=True)
def record_comparison(data: dict) -> None:
    """Sent by GPU workers when two variants have been compared (distinctness)."""
    distinctness.record_comparison(data)


@shared_task(name=queue.PLAN_FILM_RENDER, acks_late=True)
def plan_film_render(job_id: int) -> None:
    job = RenderJob.objects.filter(pk=job_id).first()
    if job is not None:
        film.plan_and_dispatch(job)


@shared_task(name=queue.ASSEMBLE_FILM, acks_late=True)
def assemble_film(job_id: int) -> None:
    job = RenderJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    try:
        assembly.assemble_film(job)
    except film.FilmRenderError:
        pass  # recorded on the job and shown on the film page


@shared_task(name=queue.SWEEP, ignore_result=True)
def sweep() -> None:
    """Celery beat's periodic sweep (every SWEEP_INTERVAL_SECONDS): see restoration.sweeper."""
    sweeper.sweep()
