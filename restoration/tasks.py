"""Default-queue (CPU) tasks of the restoration app. Thin: they call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

import gpu_worker.tasks  # noqa: F401  registers gpu_worker.tasks.render_job on the site's app
from restoration.models import Clip
from restoration.services import clips


@shared_task(name="restoration.tasks.probe_clip", acks_late=True, max_retries=3)
def probe_clip(clip_id: int) -> None:
    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None:  # deleted before the task ran
        return
    clip = clips.probe_and_poster(clip)
    if clip.status == Clip.Status.READY and getattr(settings, "ANALYZE_AFTER_PROBE", True):
        # The damage analysis decodes the whole clip: its own task, so the clip is
        # usable (ready, with a poster) while it runs.
        from restoration.services.clip_analysis import AnalysisStatus

        Clip.objects.filter(pk=clip.pk).update(analysis_status=AnalysisStatus.QUEUED)
        analyze_clip.delay(clip.pk)


# --- analysis and rendering bookkeeping (restoration.services.*) -----------------------

@shared_task(name="restoration.tasks.analyze_clip", acks_late=True, max_retries=2)
def analyze_clip(clip_id: int) -> None:
    from restoration.services.clip_analysis import analyze_clip as run_analysis

    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is not None:
        run_analysis(clip)


@shared_task(name="restoration.tasks.record_progress", acks_late=True, ignore_result=True)
def record_progress(data: dict) -> None:
    """Sent by GPU workers (gpu_worker.tasks) a couple of times a second per render."""
    from restoration.services.rendering import record_progress as record

    record(data)


@shared_task(name="restoration.tasks.record_result", acks_late=True, max_retries=5,
             autoretry_for=(OperationalError,), retry_backoff=True)
def record_result(data: dict) -> None:
    """Sent by GPU workers when a render job ends (done, failed or cancelled)."""
    from restoration.services.rendering import record_result as record

    record(data)


@shared_task(name="restoration.tasks.plan_film_render", acks_late=True)
def plan_film_render(job_id: int) -> None:
    from restoration.models import RenderJob
    from restoration.services.film_render import plan_and_dispatch

    job = RenderJob.objects.filter(pk=job_id).first()
    if job is not None:
        plan_and_dispatch(job)


@shared_task(name="restoration.tasks.assemble_film", acks_late=True)
def assemble_film(job_id: int) -> None:
    from restoration.models import RenderJob
    from restoration.services.film_render import FilmRenderError
    from restoration.services.film_render import assemble_film as assemble

    job = RenderJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    try:
        assemble(job)
    except FilmRenderError:
        pass  # recorded on the job and shown on the film page
