"""Read-side queries of the restoration app, and its live topics' snapshots (the
topics are registered in RestorationConfig.ready, see frontend.live.topics)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.roles import is_staff_role
from restoration.models import Clip, Film, RenderJob


def staff_may_watch(user: Any, _object_id: int) -> bool:
    """Clip, job and film topics carry unpublished work: technicians and curators only."""
    return is_staff_role(user)


def clip_snapshot(clip_id: int) -> dict | None:
    clip = Clip.objects.filter(pk=clip_id).first()
    return clip_payload(clip) if clip else None


def job_snapshot(job_id: int) -> dict | None:
    job = RenderJob.objects.filter(pk=job_id).first()
    return job.progress_payload() if job else None


def film_snapshot(film_id: int) -> dict | None:
    jobs = RenderJob.objects.filter(film_id=film_id, kind=RenderJob.Kind.FILM)
    return {"type": "film.jobs", "jobs": [job.progress_payload() for job in jobs[:5]]}




def clip_payload(clip: Clip) -> dict[str, Any]:
    return {
        "type": "clip.status",
        "clip": clip.pk,
        "status": clip.status,
        "error": clip.error,
        "metadata": clip_metadata(clip),
        "poster_url": clip.poster.url if clip.poster else None,
        "analysis_status": clip.analysis_status,
        "ingest": {"done": clip.ingest_done, "total": clip.ingest_total},
    }


METADATA_FIELDS = (
    "container", "video_codec", "width", "height", "fps", "fps_fraction", "frame_count",
    "frame_count_exact", "duration", "has_audio", "audio_codec", "pix_fmt", "color_range",
    "color_space", "color_primaries", "color_trc", "sample_aspect_ratio", "bit_rate",
)


def clip_metadata(clip: Clip) -> dict[str, Any]:
    return {name: getattr(clip, name) for name in METADATA_FIELDS}


def films_with_clips() -> QuerySet[Film]:
    """Every film with its clips, newest first (the films index on the home page)."""
    return Film.objects.prefetch_related("clips").order_by("-created_at")
