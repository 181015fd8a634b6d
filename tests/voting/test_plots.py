"""Server-side SVG plots: valid SVG, deterministic, and they show the data."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from frontend.plotting import cjk_font_families
from voting import plots

TALLY = {
    "n_comparisons": 12, "confidence": 0.95,
    "items": [{"label": "B", "score": 0.8, "lower": 0.3, "upper": 1.4},
              {"label": "A", "score": -0.1, "lower": -0.6, "upper": 0.4},
              {"label": "C", "score": -0.7, "lower": None, "upper": None}],
    "decision": {"winner": "B"},
    "position_bias": {"estimate": 0.1, "lower": -0.2, "upper": 0.4},
}


def test_ratings_plot_labels_every_variant_and_is_deterministic():
    svg = plots.ratings_plot(TALLY)
    assert svg.rstrip().endswith(b"</svg>") and b"95% interval" in svg
    assert svg == plots.ratings_plot(TALLY)  # cacheable: same tally, same bytes
    assert plots.ratings_plot({**TALLY, "n_comparisons": 0}) != svg


def test_votes_and_bias_plots_and_their_empty_states():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    times = [(t0 + timedelta(seconds=10 * k), k % 5 == 0) for k in range(20)]
    assert b"golden pairs" in plots.votes_plot(times)
    assert b"No votes yet" not in plots.votes_plot(times)
    assert b"left-side bias" in plots.position_bias_plot(TALLY, {"left": 5, "right": 4, "same": 3})
    assert b"No votes yet" in plots.position_bias_plot(TALLY, {"left": 0, "right": 0, "same": 0})


@pytest.mark.parametrize(("language", "label"), [("zh-hans", "评分（对数强度）及 95% 区间"),
                                                  ("zh-hant", "評分（對數強度）及 95% 區間")])
def test_plots_speak_the_visitors_language_with_glyphs_for_it(language, label):
    if not cjk_font_families():
        pytest.skip("no CJK font on this machine: scripts/install adds fonts-noto-cjk")
    with translation.override(language), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        svg = plots.ratings_plot(TALLY).decode()
        bias = plots.position_bias_plot(TALLY, {"left": 3, "right": 2, "same": 1}).decode()
    assert label in svg  # matplotlib writes each text as a comment beside its glyph paths
    assert {"zh-hans": "左边", "zh-hant": "左邊"}[language] in bias
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
