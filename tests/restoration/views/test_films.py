"""restoration.views.films: the clip page of an image sequence still being encoded."""

from __future__ import annotations

import pytest

from tests.factories import ClipFactory, technician

pytestmark = pytest.mark.django_db


def test_an_ingesting_clip_shows_its_encode_progress_and_no_player(client):
    clip = ClipFactory(ingesting=True)
    client.force_login(technician())
    page = client.get(f"/clips/{clip.pk}/").content.decode()
    assert 'id="clip-status" class="status status-ingesting"' in page
    assert '<progress id="clip-ingest-bar" max="240" value="40">' in page
    assert "40 of 240 frames" in page
    assert 'id="clip-video"' not in page  # no source to play yet


def test_a_ready_clip_has_its_player_and_no_encode_progress(client):
    clip = ClipFactory()
    client.force_login(technician())
    page = client.get(f"/clips/{clip.pk}/").content.decode()
    assert 'id="clip-video"' in page and 'id="clip-ingest"' not in page
