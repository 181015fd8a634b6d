"""Default-queue (CPU) tasks of the restoration app. Thin: they call services."""

from __future__ import annotations

from celery import shared_task

from restoration.models import Clip
from restoration.services import clips


@shared_task(name="restoration.tasks.probe_clip", acks_late=True, max_retries=3)
def probe_clip(clip_id: int) -> None:
    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None:  # deleted before the task ran
        return
    clips.probe_and_poster(clip)
