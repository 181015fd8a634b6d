"""restoration.curation.services.film_look: outliers and measured looks."""

from __future__ import annotations

import warnings

import pytest

from restoration.curation.services import film_look as film_look_service
from restoration.curation.services.film_look import (
    LOOK_METRICS,
    LOOK_TOLERANCE,
    ClipLook,
    film_look,
    flag_outliers,
    look_plot_svg,
)
from tests.factories import ClipFactory
from tests.media_factory import make_video
from tests.restoration.clip_helpers import ready_clip

pytestmark = pytest.mark.django_db


# --- film look ------------------------------------------------------------------------------------------------

def test_outliers_are_flagged_against_the_median_of_the_others():
    def look(luma, cast_r=0.0):
        return ClipLook(clip=None, preset="", source="", stats={
            "luma": luma, "contrast": 0.7, "saturation": 0.1, "cast_r": cast_r, "cast_b": 0.0})

    looks = flag_outliers([look(0.45), look(0.47), look(0.46), look(0.62, cast_r=0.2)])
    assert [bool(x.flags) for x in looks] == [False, False, False, True]
    assert set(looks[3].flags) == {"luma", "cast_r"} and looks[3].flags["luma"] == pytest.approx(0.16)


def test_film_look_measures_the_restored_clips(clip, variants, film_job, tmp_path):
    second = ready_clip(make_video(tmp_path / "b.mp4", frames=12, width=64, height=48), clip.film, "Reel 2")
    result = film_look(clip.film)
    assert result["job"] == film_job
    first_row, second_row = result["looks"]
    assert first_row.clip == clip and first_row.source == "film render"
    assert 0 < first_row.stats["luma"] < 1 and first_row.preset == str(film_job.preset_version)
    # this film render stops after the first clip: the second cannot be measured, and says so
    assert second_row.clip == second and second_row.error.startswith("could not measure")
    assert not second_row.stats and not second_row.flags


# --- the plot -------------------------------------------------------------------------------------

def _chinese_look() -> dict:
    titles = ["武状元苏乞儿 第一卷", "醉拳 第二卷", "東邪西毒"]
    looks = [ClipLook(clip=ClipFactory.build(title=t), preset="", source="", stats={
        "luma": 0.4 + 0.1 * n, "contrast": 0.7, "saturation": 0.1, "cast_r": 0.0, "cast_b": 0.0})
        for n, t in enumerate(titles)]
    return {"looks": flag_outliers(looks), "metrics": LOOK_METRICS, "tolerance": LOOK_TOLERANCE}


def _draw(look: dict) -> tuple[str, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        svg = look_plot_svg(look)
    return svg, [str(w.message) for w in caught if "Glyph" in str(w.message)]


def test_chinese_clip_titles_are_drawn_with_a_font_that_has_their_glyphs():
    from frontend.plotting import cjk_font_families

    if not cjk_font_families():
        pytest.skip("no CJK font on this machine: scripts/install adds fonts-noto-cjk")
    svg, missing = _draw(_chinese_look())
    assert missing == []
    assert svg.startswith("<?xml") and "<svg" in svg


def test_without_the_cjk_fallback_the_same_titles_are_missing_glyphs(monkeypatch):
    # The check above can fail: Latin-only fonts leave Chinese titles as empty boxes.
    monkeypatch.setattr(film_look_service, "plot_font_family", lambda: ["DejaVu Sans"])
    _svg, missing = _draw(_chinese_look())
    assert missing and "missing from font" in missing[0]
