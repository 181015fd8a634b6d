"""frontend.plotting: a CJK fallback font for matplotlib, found once, with one warning
(and no failure) where none is installed."""

from __future__ import annotations

import logging

import pytest

from frontend import plotting


@pytest.fixture(autouse=True)
def _fresh_lookup():
    plotting.cjk_font_families.cache_clear()
    yield
    plotting.cjk_font_families.cache_clear()


def cjk_font_installed() -> bool:
    from matplotlib import font_manager

    return any("cjk" in path.lower() for path in font_manager.findSystemFonts())


@pytest.mark.skipif(not cjk_font_installed(), reason="no CJK font on this machine: scripts/install adds fonts-noto-cjk")
def test_the_installed_cjk_font_draws_chinese():
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    families = plotting.cjk_font_families()
    assert families, "a CJK font file is installed but matplotlib does not see it"
    assert plotting.plot_font_family() == ["DejaVu Sans", *families]
    path = font_manager.findfont(font_manager.FontProperties(family=families[0]), fallback_to_default=False)
    font = FT2Font(path)
    for char in "武状元苏乞儿蘇兒修復影片":  # Simplified and Traditional forms
        assert font.get_char_index(ord(char)) != 0, char


def test_without_a_cjk_font_plots_still_work_and_one_warning_says_what_to_install(monkeypatch, caplog):
    from matplotlib import font_manager

    monkeypatch.setattr(plotting, "CJK_FAMILIES", ("No Such CJK Family",))
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    with caplog.at_level(logging.WARNING, logger="frontend.plotting"):
        assert plotting.plot_font_family() == ["DejaVu Sans"]
        assert plotting.plot_font_family() == ["DejaVu Sans"]
    warnings = [r for r in caplog.records if r.name == "frontend.plotting"]
    assert len(warnings) == 1 and "fonts-noto-cjk" in warnings[0].getMessage()
