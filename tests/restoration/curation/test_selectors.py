"""restoration.curation.selectors: the gallery's cache and query counts, the dashboard."""

from __future__ import annotations

import pytest
from django.urls import reverse

from restoration.curation.models import Publication, Review
from restoration.curation.selectors import dashboard_films
from restoration.curation.services import publishing
from restoration.curation.services import review as rv
from restoration.models import Film, RenderJob, Variant
from tests.factories import (
    ClipFactory,
    FilmFactory,
    RenderJobFactory,
    VariantFactory,
    curator,
    technician,
)
from tests.restoration.curation.factories import (
    PublicationFactory,
    ReviewFactory,
)

pytestmark = pytest.mark.django_db


# --- gallery: caching and query counts -----------------------------------------------------------------------

def _many_publications(n: int) -> list[Publication]:
    out = []
    for k in range(n):
        film = FilmFactory(title=f"Film {k}")
        job = RenderJobFactory(film=film, status=RenderJob.Status.DONE, output=f"renders/film-{k}.mp4")
        review = ReviewFactory(variant=None, render_job=job, status=Review.Status.PUBLISHED)
        out.append(PublicationFactory(
            review=review, film=film, slug=f"film-{k}", title=f"Film {k}", restored=job.output.name,
            poster=f"publications/{k}/poster.jpg", is_public=True, published_at=job.created_at,
            vote_record={"available": True, "contests": []}))
    return out


def test_gallery_query_count_does_not_grow_with_the_catalogue(client, django_assert_max_num_queries):
    _many_publications(12)
    with django_assert_max_num_queries(2):
        response = client.get(reverse("gallery"))
    assert response.status_code == 200
    assert response.content.decode().count('class="work"') == 12
    publication = Publication.objects.first()
    with django_assert_max_num_queries(3):
        assert client.get(publication.get_absolute_url()).status_code == 200


def test_anonymous_gallery_is_cached_and_refreshed_on_publish(client, django_capture_on_commit_callbacks,
                                                             django_assert_num_queries):
    (pub,) = _many_publications(1)
    first = client.get(reverse("gallery"))
    assert first["X-Page-Cache"] == "miss" and "public" in first["Cache-Control"]
    assert "max-age=60" in first["Cache-Control"] and "Cookie" in first["Vary"]
    with django_assert_num_queries(0):
        second = client.get(reverse("gallery"))
    assert second["X-Page-Cache"] == "hit" and second.content == first.content
    with django_capture_on_commit_callbacks(execute=True):
        publishing.unpublish(pub, curator())
    third = client.get(reverse("gallery"))
    assert third["X-Page-Cache"] == "miss" and b"Film 0" not in third.content
    assert client.get(pub.get_absolute_url()).status_code == 404


def test_logged_in_pages_are_private(client):
    _many_publications(1)
    client.force_login(curator())
    response = client.get(reverse("gallery"))
    assert "private" in response["Cache-Control"] and "X-Page-Cache" not in response


def test_dashboard_query_count_is_bounded(client, django_assert_max_num_queries, clip, variants, film_job):
    cur = curator()
    rv.add_note(rv.open_review(variants[0], cur), cur, frame=0, x=0.1, y=0.1, text="too warm")
    rv.open_review(film_job, cur)
    client.force_login(technician())
    with django_assert_max_num_queries(20) as small:
        client.get(reverse("dashboard"))
    for k in range(4):  # more films, clips, variants and reviews: the same number of queries
        film = FilmFactory(title=f"extra {k}")
        extra = ClipFactory(film=film, source=clip.source.name, status="ready")
        variant = VariantFactory(clip=extra, preset_version=variants[0].preset_version,
                                 spec=variants[0].spec, end_frame=24,
                                 status=Variant.Status.DONE, output=variants[0].output.name)
        rv.add_note(rv.open_review(variant, cur), cur, frame=0, x=0.5, y=0.5, text=f"note {k}")
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(reverse("dashboard"))
    page = response.content.decode()
    assert "too warm" in page and "note 3" in page and "pending review" in page
    assert len(list(dashboard_films())) == Film.objects.count()
