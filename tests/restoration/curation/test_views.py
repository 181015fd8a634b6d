"""Curation views: the anonymous page cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from restoration.curation import views

pytestmark = pytest.mark.django_db


def test_fresh_query_strings_do_not_create_cache_entries(client, monkeypatch):
    keys = []
    real_set = cache.set
    monkeypatch.setattr(views.cache, "set", lambda key, *a, **k: keys.append(key) or real_set(key, *a, **k))
    cache.clear()
    first = client.get("/gallery/?x=1")
    assert first.status_code == 200 and first["X-Page-Cache"] == "miss"
    for n in range(2, 30):
        response = client.get(f"/gallery/?x={n}&junk={'a' * n}")
        assert response.status_code == 200 and response["X-Page-Cache"] == "hit"
    assert len(keys) == 1 and "?" not in keys[0] and "junk" not in keys[0]
