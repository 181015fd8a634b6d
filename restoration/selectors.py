"""Read-side queries, and the live topics a websocket may watch.

Topics are "<prefix>-<id>". Each prefix registers who may watch it and how to build
the snapshot sent on (re)connect; apps add their own (voting registers "contest").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.models import CURATOR, TECHNICIAN
from restoration.models import Clip, Film, RenderJob


@dataclass(frozen=True)
class TopicKind:
    can_watch: Callable[[Any, int], bool]
    snapshot: Callable[[int], dict | None]


_TOPICS: dict[str, TopicKind] = {}


def register_topic(prefix: str, *, can_watch: Callable[[Any, int], bool],
                   snapshot: Callable[[int], dict | None]) -> None:
    _TOPICS[prefix] = TopicKind(can_watch, snapshot)


def _parse(topic: str) -> tuple[TopicKind, int] | None:
    prefix, _, raw_id = topic.rpartition("-")
    kind = _TOPICS.get(prefix)
    if kind is None or not raw_id.isdigit():
        return None
    return kind, int(raw_id)


def can_watch_topic(user: Any, topic: str) -> bool:
    parsed = _parse(topic)
    return parsed is not None and parsed[0].can_watch(user, parsed[1])


def topic_snapshot(topic: str) -> dict | None:
    parsed = _parse(topic)
    return parsed[0].snapshot(parsed[1]) if parsed else None


def is_staff_role(user: Any) -> bool:
    return bool(user and user.is_authenticated
                and (user.has_role(TECHNICIAN) or user.has_role(CURATOR)))


def clip_snapshot(clip_id: int) -> dict | None:
    clip = Clip.objects.filter(pk=clip_id).first()
    return clip_payload(clip) if clip else None


def job_snapshot(job_id: int) -> dict | None:
    job = RenderJob.objects.filter(pk=job_id).first()
    return job.progress_payload() if job else None


def film_snapshot(film_id: int) -> dict | None:
    jobs = RenderJob.objects.filter(film_id=film_id, kind=RenderJob.Kind.FILM)
    return {"type": "film.jobs", "jobs": [job.progress_payload() for job in jobs[:5]]}


register_topic("clip", can_watch=lambda user, _id: is_staff_role(user), snapshot=clip_snapshot)
register_topic("job", can_watch=lambda user, _id: is_staff_role(user), snapshot=job_snapshot)
register_topic("film", can_watch=lambda user, _id: is_staff_role(user), snapshot=film_snapshot)


def clip_payload(clip: Clip) -> dict[str, Any]:
    return {
        "type": "clip.status",
        "clip": clip.pk,
        "status": clip.status,
        "error": clip.error,
        "metadata": clip_metadata(clip),
        "poster_url": clip.poster.url if clip.poster else None,
        "analysis_status": clip.analysis_status,
    }


METADATA_FIELDS = (
    "container", "video_codec", "width", "height", "fps", "fps_fraction", "frame_count",
    "frame_count_exact", "duration", "has_audio", "audio_codec", "pix_fmt", "color_range",
    "color_space", "color_primaries", "color_trc", "sample_aspect_ratio", "bit_rate",
)


def clip_metadata(clip: Clip) -> dict[str, Any]:
    return {name: getattr(clip, name) for name in METADATA_FIELDS}


def films_for_dashboard() -> QuerySet[Film]:
    return Film.objects.prefetch_related("clips").order_by("-created_at")
