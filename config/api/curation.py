"""Publications: the public gallery's works, and the curator's publish/unpublish."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router, Status
from ninja.errors import HttpError

from accounts.roles import CURATOR
from config.api.schemas import Error, Id, PublicationOut, PublishIn, UnpublishIn
from config.api.security import signed_in
from restoration.curation import selectors
from restoration.curation.models import Publication, Review
from restoration.curation.services import publishing
from restoration.curation.services.review import ReviewError

router = Router(tags=["curation"])
CURATORS = signed_in(CURATOR)


def publication_json(publication: Publication) -> dict[str, Any]:
    return {"id": publication.pk, "slug": publication.slug, "title": publication.title,
            "year": publication.year, "film": publication.film_id, "clip": publication.clip_id,
            "credits": publication.credits, "restoration_notes": publication.restoration_notes,
            "is_public": publication.is_public, "published_at": publication.published_at,
            "url": publication.get_absolute_url(),
            "restored_url": publication.restored.url if publication.restored else None,
            "poster_url": publication.poster.url if publication.poster else None,
            "vote_record": publication.vote_record}


@router.get("/publications/", response=list[PublicationOut], url_name="publications")
def publication_list(request: HttpRequest):
    """What the public gallery shows (no login needed)."""
    return [publication_json(p) for p in selectors.gallery_publications()[:200]]


@router.get("/publications/{slug}/", response=PublicationOut, url_name="publication")
def publication_detail(request: HttpRequest, slug: str):
    publication = selectors.public_publication(slug)
    if publication is None:
        raise HttpError(404, _("no published work with this address"))
    return publication_json(publication)


@router.post("/reviews/{review_id}/publish/", response={201: PublicationOut, 400: Error},
             auth=CURATORS, url_name="review-publish")
def review_publish(request: HttpRequest, review_id: Id, body: PublishIn):
    """Publish an approved review: the vote record is frozen, the gallery shows it."""
    review = get_object_or_404(Review, pk=review_id)
    try:
        publication = publishing.publish(review, request.auth, title=body.title, year=body.year,
                                         credits=body.credits, restoration_notes=body.restoration_notes)
    except ReviewError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(201, publication_json(publication))


@router.post("/publications/{publication_id}/unpublish/", response={200: PublicationOut, 400: Error},
             auth=CURATORS, url_name="publication-unpublish")
def publication_unpublish(request: HttpRequest, publication_id: Id, body: UnpublishIn | None = None):
    """Take a work out of the gallery; the row, its record and files are kept."""
    publication = get_object_or_404(Publication, pk=publication_id)
    try:
        publication = publishing.unpublish(publication, request.auth, body.reason if body else "")
    except ReviewError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(200, publication_json(publication))
