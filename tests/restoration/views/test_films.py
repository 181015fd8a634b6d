"""Pages for films and clips: the clip's analysis plot, drawn in the page's language
with a font that has its glyphs; the clip page of an image sequence still being encoded."""

from __future__ import annotations

import warnings

import pytest
from django.core.cache import cache
from django.urls import reverse

from frontend.plotting import cjk_font_families
from restoration.services import clip_analysis
from tests.factories import ClipFactory, UserFactory, technician
from tests.media_factory import make_video
from tests.restoration.clip_helpers import ready_clip

pytestmark = pytest.mark.django_db


@pytest.fixture
def analysed_clip(tmp_path):
    clip = ready_clip(make_video(tmp_path / "c.mp4", frames=30, width=64, height=48))
    return clip_analysis.analyze_clip(clip)


def fetch_plot(client, clip, language: str) -> tuple[bytes, list[str]]:
    cache.clear()  # drawn now, not taken from an earlier test's cache
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = client.get(reverse("clip-analysis-plot", args=[clip.pk]) + f"?lang={language}")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    return response.content, [str(w.message) for w in caught if "Glyph" in str(w.message)]


def test_the_analysis_plot_is_drawn_in_each_language_with_its_glyphs(client, analysed_clip):
    if not cjk_font_families():
        pytest.skip("no CJK font on this machine: scripts/install adds fonts-noto-cjk")
    client.force_login(technician())
    plots = {}
    for language in ("en", "zh-hans", "zh-hant"):
        plots[language], missing = fetch_plot(client, analysed_clip, language)
        assert plots[language].startswith(b"\x89PNG") and missing == [], (language, missing)
    assert len(set(plots.values())) == 3
    # Cached per language: the same bytes again.
    with warnings.catch_warnings(record=True):
        again = client.get(reverse("clip-analysis-plot", args=[analysed_clip.pk]) + "?lang=zh-hans")
    assert again.content == plots["zh-hans"]


def test_without_the_cjk_fallback_the_chinese_plot_is_missing_glyphs(client, analysed_clip, monkeypatch):
    # The check above can fail: Latin-only fonts draw the Chinese words as empty boxes.
    monkeypatch.setattr(clip_analysis, "plot_font_family", lambda: ["DejaVu Sans"])
    client.force_login(technician())
    _png, missing = fetch_plot(client, analysed_clip, "zh-hans")
    assert missing and "missing from font" in missing[0]


def test_the_plot_needs_a_finished_analysis_and_the_staff_roles(client, tmp_path, analysed_clip):
    client.force_login(UserFactory())
    assert client.get(reverse("clip-analysis-plot", args=[analysed_clip.pk])).status_code == 403
    client.force_login(technician())
    fresh = ready_clip(make_video(tmp_path / "d.mp4", frames=8, width=64, height=48))
    assert client.get(reverse("clip-analysis-plot", args=[fresh.pk])).status_code == 404


def test_the_clip_page_words_the_findings_and_links_the_plot_in_its_language(client, analysed_clip):
    client.force_login(technician())
    page = client.get(analysed_clip.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-HK").content.decode()
    assert reverse("clip-analysis-plot", args=[analysed_clip.pk]) + "?lang=zh-hant" in page
    findings = analysed_clip.analysis["findings"]
    assert findings, "the test clip should have findings"
    for finding in findings:
        assert finding["text"] not in page


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
