"""Read-side queries for curation: the public gallery and the technician dashboard.

Every list here is built with a fixed number of queries however many films, clips or
publications there are (tests assert the bounds), so the pages stay fast as the
catalogue grows.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from restoration.curation.models import Publication, Review, ReviewNote
from restoration.models import Clip, Film, RenderJob, Variant
from voting.selectors import contests_for_dashboard

# --- gallery ---------------------------------------------------------------------------------

def gallery_publications() -> QuerySet[Publication]:
    return (Publication.objects.filter(is_public=True).select_related("film", "clip")
            .order_by("-published_at", "-pk"))


def is_public_media(name: str) -> bool:
    """Whether a stored file is part of a published work (registered with
    frontend.media in CurationConfig.ready): its restored film, excerpts or poster."""
    if not name:
        return False
    return Publication.objects.filter(is_public=True).filter(
        Q(restored=name) | Q(before=name) | Q(after=name) | Q(poster=name)).exists()


def public_publication(slug: str) -> Publication | None:
    return gallery_publications().filter(slug=slug).first()


# --- technician dashboard ------------------------------------------------------------------------

def _reviews_prefetch(prefix: str = "") -> Prefetch:
    return Prefetch(f"{prefix}reviews", queryset=Review.objects.annotate(
        n_notes=Count("notes"), n_open_notes=Count("notes", filter=Q(notes__resolved=False))))


def dashboard_films() -> QuerySet[Film]:
    """Films with their clips, variants (with review state), full-film renders and the
    adopted preset, in a constant number of queries."""
    variants = (Variant.objects.select_related("preset_version__preset")
                .prefetch_related(_reviews_prefetch()).order_by("created_at"))
    clips = Clip.objects.prefetch_related(Prefetch("variants", queryset=variants)).order_by("created_at", "pk")
    jobs = (RenderJob.objects.filter(kind=RenderJob.Kind.FILM).select_related("preset_version__preset")
            .prefetch_related(_reviews_prefetch()).order_by("-created_at"))
    return (Film.objects.select_related("adopted_preset__preset")
            .prefetch_related(Prefetch("clips", queryset=clips), Prefetch("jobs", queryset=jobs, to_attr="film_jobs"))
            .order_by("-created_at"))


def dashboard_contests() -> list[Any]:
    """Open and recent contests."""
    return list(contests_for_dashboard().select_related("adopted_preset__preset")[:50])


def dashboard_reviews() -> QuerySet[Review]:
    return (Review.objects.select_related("render_job__film", "variant__clip__film",
                                          "render_job__preset_version__preset",
                                          "variant__preset_version__preset")
            .prefetch_related(Prefetch("notes", queryset=ReviewNote.objects.select_related("author")),
                              Prefetch("events", to_attr="event_list"))
            .order_by("-updated_at"))


def reviewable_renders() -> dict[str, list[Any]]:
    """Finished film renders and variants a curator can open for review."""
    jobs = (RenderJob.objects.filter(kind=RenderJob.Kind.FILM, status=RenderJob.Status.DONE)
            .exclude(output="").select_related("film", "preset_version__preset")
            .prefetch_related("reviews").order_by("-finished_at", "-pk"))
    variants = (Variant.objects.filter(status=Variant.Status.DONE).exclude(output="")
                .select_related("clip__film", "preset_version__preset")
                .prefetch_related("reviews").order_by("-finished_at", "-pk"))
    return {"jobs": list(jobs[:100]), "variants": list(variants[:200])}
