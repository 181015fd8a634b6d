"""config.api.curation: the public publications and the curator's publish/unpublish."""

from __future__ import annotations

import pytest

from restoration.curation.models import Review
from tests.factories import curator, technician
from tests.restoration.curation.factories import PublicationFactory, ReviewFactory

pytestmark = pytest.mark.django_db


def test_the_public_sees_published_work_and_a_curator_unpublishes_it(client):
    publication = PublicationFactory(is_public=True, title="The Film", slug="the-film")
    listed = client.get("/api/publications/").json()
    assert [p["slug"] for p in listed] == ["the-film"]
    assert client.get("/api/publications/the-film/").json()["title"] == "The Film"
    client.force_login(technician())
    assert client.post(f"/api/publications/{publication.pk}/unpublish/").status_code == 403
    client.force_login(curator())
    gone = client.post(f"/api/publications/{publication.pk}/unpublish/", {"reason": "rights"},
                       content_type="application/json")
    assert gone.status_code == 200 and gone.json()["is_public"] is False
    client.logout()
    assert client.get("/api/publications/").json() == []
    assert client.get("/api/publications/the-film/").status_code == 404


def test_only_an_approved_review_is_published(client):
    review = ReviewFactory(status=Review.Status.PENDING)
    client.force_login(curator())
    refused = client.post(f"/api/reviews/{review.pk}/publish/", {"title": "Too soon"},
                          content_type="application/json")
    assert refused.status_code == 400 and "approved" in refused.json()["error"]
