"""Server-side SVG plots of a contest (matplotlib, Agg backend: no display needed).

Each plot is a pure function of the tally payload (or ballot timestamps) returning SVG
bytes; the views cache them under the ratings version, so a page full of plots costs
one drawing per new tally, not per visitor.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from django.utils.translation import gettext  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from frontend.plotting import plot_font_family  # noqa: E402

INK, ACCENT, MUTED = "#1d1a16", "#9b3d1f", "#7a7065"
matplotlib.rcParams["svg.hashsalt"] = "reel-arena"  # stable element ids: identical input, identical SVG


def _svg(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()


def _fonts(draw: Callable[..., bytes]) -> Callable[..., bytes]:
    """Draw with a CJK fallback font: the labels are in the visitor's language
    (gettext), Chinese included (frontend.plotting)."""
    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> bytes:
        with matplotlib.rc_context({"font.family": plot_font_family()}):
            return draw(*args, **kwargs)
    return wrapper


def _empty(message: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED)
    return _svg(fig)


@_fonts
def ratings_plot(tally: dict[str, Any]) -> bytes:
    """Each variant's rating (log-strength) with its bootstrap interval, best on top."""
    items = tally.get("items") or []
    if not tally.get("n_comparisons"):
        return _empty(gettext("No votes yet"))
    fig, ax = plt.subplots(figsize=(6, 0.55 * len(items) + 1.1))
    winner = tally.get("decision", {}).get("winner")
    for row, item in enumerate(reversed(items)):
        colour = ACCENT if item["label"] == winner else INK
        if item["lower"] is not None:
            ax.plot([item["lower"], item["upper"]], [row, row], color=colour, lw=2.5, solid_capstyle="round")
        ax.plot([item["score"]], [row], "o", color=colour, ms=7)
    ax.set_yticks(range(len(items)), [i["label"] for i in reversed(items)])
    ax.axvline(0, color=MUTED, lw=0.8, ls=":")
    ax.set_xlabel(gettext("rating (log-strength) with %(level)s interval")
                  % {"level": f"{tally.get('confidence', 0.95):.0%}"})
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


@_fonts
def votes_plot(times: Sequence[tuple[datetime, bool]]) -> bytes:
    """Cumulative ballots over time; golden (known-answer) ballots drawn separately."""
    if not times:
        return _empty(gettext("No votes yet"))
    fig, ax = plt.subplots(figsize=(6, 2.6))
    contest_times = [t for t, golden in times if not golden]
    golden_times = [t for t, golden in times if golden]
    if contest_times:
        ax.step(contest_times, range(1, len(contest_times) + 1), where="post", color=INK, label=gettext("contest pairs"),
                marker="o" if len(contest_times) < 30 else None, ms=3)
    if golden_times:
        ax.step(golden_times, range(1, len(golden_times) + 1), where="post", color=ACCENT, label=gettext("golden pairs"),
                marker="o" if len(golden_times) < 30 else None, ms=3)
    ax.set_ylabel(gettext("ballots"))
    ax.set_ylim(bottom=0)
    span = (times[-1][0] - times[0][0]).total_seconds()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S" if span < 600 else "%d %b %H:%M"))
    ax.legend(frameon=False, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


@_fonts
def position_bias_plot(tally: dict[str, Any], sides: dict[str, int]) -> bytes:
    """Share of left / right / same answers, and the model's position-bias estimate."""
    total = sum(sides.values())
    if not total:
        return _empty(gettext("No votes yet"))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(6, 2.4), gridspec_kw={"width_ratios": [3, 2]})
    names = ["left", "right", "same"]
    words = {"left": gettext("left"), "right": gettext("right"), "same": gettext("same")}
    ax.bar([words[n] for n in names], [sides[n] / total for n in names], color=[INK, INK, MUTED])
    ax.axhline(0.5, color=MUTED, lw=0.8, ls=":")
    ax.set_ylabel(gettext("share of answers"))
    ax.spines[["top", "right"]].set_visible(False)
    bias = tally.get("position_bias") or {}
    est = bias.get("estimate") or 0.0
    lo, hi = bias.get("lower"), bias.get("upper")
    if lo is not None:
        ax2.plot([lo, hi], [0, 0], color=ACCENT, lw=2.5, solid_capstyle="round")
    ax2.plot([est], [0], "o", color=ACCENT)
    ax2.axvline(0, color=MUTED, lw=0.8, ls=":")
    ax2.set_yticks([])
    ax2.set_xlabel(gettext("left-side bias (log-odds)"))
    ax2.spines[["top", "right", "left"]].set_visible(False)
    return _svg(fig)
