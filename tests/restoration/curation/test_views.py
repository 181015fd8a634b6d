"""Curation views: the anonymous page cache, gallery addresses in any script."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from restoration.curation import views
from tests.restoration.curation.factories import PublicationFactory

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


def test_a_work_with_a_chinese_title_has_a_working_gallery_address(client):
    pub = PublicationFactory(title="《武状元苏乞儿》", slug="武状元苏乞儿")
    assert pub.get_absolute_url() == "/gallery/%E6%AD%A6%E7%8A%B6%E5%85%83%E8%8B%8F%E4%B9%9E%E5%84%BF/"
    page = client.get(pub.get_absolute_url())
    assert page.status_code == 200 and "《武状元苏乞儿》" in page.content.decode()
    assert client.get("/gallery/武状元苏乞儿/").status_code == 200  # typed as is, unencoded
    gallery = client.get("/gallery/").content.decode()
    assert 'href="/gallery/%E6%AD%A6%E7%8A%B6%E5%85%83%E8%8B%8F%E4%B9%9E%E5%84%BF/"' in gallery
    assert client.get("/api/publications/武状元苏乞儿/").json()["title"] == "《武状元苏乞儿》"
    assert client.get("/gallery/武状元/").status_code == 404


def test_the_anonymous_page_cache_keeps_a_copy_per_language(client):
    cache.clear()
    english = client.get("/gallery/", HTTP_ACCEPT_LANGUAGE="en")
    simplified = client.get("/gallery/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    traditional = client.get("/gallery/", HTTP_ACCEPT_LANGUAGE="zh-HK")
    assert [r["X-Page-Cache"] for r in (english, simplified, traditional)] == ["miss"] * 3
    again = client.get("/gallery/", HTTP_ACCEPT_LANGUAGE="zh-HK")
    assert again["X-Page-Cache"] == "hit" and "修復的影片" in again.content.decode()
    assert "Accept-Language" in again["Vary"] and again["Content-Language"] == "zh-hant"
    assert "Restored films" in client.get("/gallery/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
