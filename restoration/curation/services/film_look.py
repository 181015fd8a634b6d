"""The film-level look: is the restoration consistent from clip to clip?

Per clip, the colour statistics of the restored picture are measured on a few frames
of its newest film render (or its winning or newest variant) through the engine, and
each clip that sits further than a tolerance from the median of the others is
flagged. Decoding video is slow, so measurements are cached under the output's name
(outputs never change under a name).
"""

from __future__ import annotations

import io
import logging
import statistics
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch

from frontend.plotting import plot_font_family
from restoration.curation.services.review import film_offsets
from restoration.models import Clip, Film, RenderJob, Variant
from restoration.storage import local_path
from voting.models import Contest

log = logging.getLogger(__name__)


LOOK_METRICS = ("luma", "contrast", "saturation", "cast_r", "cast_b")
#: How far a clip may sit from the median of the other clips before it is flagged. In
#: [0, 1] units: 0.06 of mean luma is a visible exposure jump between shots; casts are
#: relative channel offsets, 0.05 is a cast a viewer notices side by side.
LOOK_TOLERANCE = {"luma": 0.06, "contrast": 0.10, "saturation": 0.05, "cast_r": 0.05, "cast_b": 0.05}
SAMPLES_PER_CLIP = 6


@dataclass
class ClipLook:
    clip: Clip
    preset: str
    source: str  # what was measured: "film render" or "variant …"
    stats: dict[str, float] = field(default_factory=dict)
    flags: dict[str, float] = field(default_factory=dict)  # metric -> deviation, when flagged
    error: str = ""

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def cells(self) -> list[tuple[str, float | None, bool]]:
        """(metric, value, flagged) in LOOK_METRICS order, for tables."""
        return [(m, self.stats.get(m), m in self.flags) for m in LOOK_METRICS]


def measure_look(path: str, start: int, frames: int, samples: int = SAMPLES_PER_CLIP) -> dict[str, float]:
    """Mean colour statistics (gpu_worker.engine.metrics.colour_stats) of a few frames
    spread evenly over [start, start+frames) of a video file."""
    # The engine (torch, PyAV) loads only when a look is measured, not with the web
    # process: most requests are served from the cache.
    from gpu_worker.engine.io import extract_frame
    from gpu_worker.engine.metrics import colour_stats

    if frames <= 0:
        return {}
    count = max(1, min(samples, frames))
    picks = sorted({start + int((i + 0.5) * frames / count) for i in range(count)})
    rows = [colour_stats(extract_frame(path, n)) for n in picks]
    return {m: round(statistics.fmean(r[m] for r in rows), 4) for m in LOOK_METRICS}


def flag_outliers(looks: list[ClipLook], tolerance: dict[str, float] | None = None) -> list[ClipLook]:
    """Flag, per metric, each clip that sits further than the tolerance from the median of
    the *other* clips (the median of the rest, so one odd clip cannot drag the reference
    towards itself)."""
    tolerance = tolerance or LOOK_TOLERANCE
    measured = [look for look in looks if look.stats]
    for look in measured:
        look.flags = {}
        others = [o for o in measured if o is not look]
        if not others:
            continue
        for metric in LOOK_METRICS:
            reference = statistics.median(o.stats[metric] for o in others)
            deviation = look.stats[metric] - reference
            if abs(deviation) > tolerance[metric]:
                look.flags[metric] = round(deviation, 4)
    return looks


def _cached_measure(name: str, start: int, frames: int) -> dict[str, float]:
    key = f"look:{name}:{start}:{frames}:{SAMPLES_PER_CLIP}"
    stats = cache.get(key)
    if stats is None:
        with local_path(name) as path:
            stats = measure_look(str(path), start, frames)
        cache.set(key, stats, timeout=7 * 24 * 3600)  # outputs never change under a name
    return stats


def film_look(film: Film) -> dict[str, Any]:
    """Per clip: the preset its restoration used and the colour statistics of the
    restored picture, with outliers flagged.

    Measured on the newest finished full-film render (each clip at its place in the
    film). A clip with no film render yet is measured on the variant that won its
    contest, else its newest finished variant, so the page is useful before the film
    is rendered.
    """
    job = (RenderJob.objects.filter(film=film, kind=RenderJob.Kind.FILM, status=RenderJob.Status.DONE)
           .exclude(output="").select_related("preset_version__preset").order_by("-finished_at", "-pk").first())
    winners = _contest_winners(film)
    looks: list[ClipLook] = []
    offsets = dict((c.pk, o) for c, o in film_offsets(job)) if job else {}
    clips = list(film.clips.prefetch_related(Prefetch(
        "variants", queryset=Variant.objects.filter(status=Variant.Status.DONE).exclude(output="")
        .select_related("preset_version__preset").order_by("-finished_at", "-pk"))).order_by("created_at", "pk"))
    for clip in clips:
        if job is not None and clip.pk in offsets:
            look = ClipLook(clip, str(job.preset_version) if job.preset_version else "", "film render")
            name, start, frames = job.output.name, offsets[clip.pk], clip.frame_count or 0
        else:
            done = list(clip.variants.all())
            variant = next((v for v in done if v.pk in winners), done[0] if done else None)
            if variant is None:
                looks.append(ClipLook(clip, "", "", error="no restored render yet"))
                continue
            look = ClipLook(clip, str(variant.preset_version),
                            f"{'winning ' if variant.pk in winners else ''}variant {variant.pk}")
            name, start, frames = variant.output.name, 0, variant.frames or (
                (variant.end_frame or 0) - variant.start_frame)
        try:
            look.stats = _cached_measure(name, start, frames)
        except Exception as exc:  # an unreadable output is shown, not fatal to the page
            log.warning("measuring %s failed", name, exc_info=True)
            look.error = f"could not measure: {exc}"
        looks.append(look)
    flag_outliers(looks)
    return {"job": job, "looks": looks, "metrics": LOOK_METRICS, "tolerance": LOOK_TOLERANCE,
            "tolerance_row": [LOOK_TOLERANCE[m] for m in LOOK_METRICS],
            "n_flagged": sum(1 for look in looks if look.flagged)}


def _contest_winners(film: Film) -> set[int]:
    return set(Contest.objects.filter(clip__film=film, winner__isnull=False)
               .values_list("winner__variant_id", flat=True))


def look_plot_svg(look: dict[str, Any]) -> str:
    """Small multiples: one panel per metric, a dot per clip, the tolerance band around
    the median shaded and flagged clips in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in look["looks"] if r.stats]
    metrics = look["metrics"]
    # Clip titles may be Chinese: a CJK font as fallback draws them (frontend.plotting).
    with matplotlib.rc_context({"font.family": plot_font_family()}):
        return _draw_look_plot(plt, rows, metrics, look)


def _draw_look_plot(plt: Any, rows: list, metrics: list[str], look: dict[str, Any]) -> str:
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.3 * len(metrics), 2.6), squeeze=False)
    names = [str(r.clip)[:14] for r in rows]
    for ax, metric in zip(axes[0], metrics, strict=True):
        values = [r.stats[metric] for r in rows]
        if values:
            median = statistics.median(values)
            tol = look["tolerance"][metric]
            ax.axhspan(median - tol, median + tol, color="#e3dccd", zorder=0)
            ax.axhline(median, color="#7a7065", lw=0.8)
            colours = ["#a2261b" if metric in r.flags else "#1d1a16" for r in rows]
            ax.scatter(range(len(values)), values, c=colours, s=22, zorder=2)
        ax.set_title(metric, fontsize=9)
        ax.set_xticks(range(len(names)), names, rotation=60, fontsize=6, ha="right")
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    return buffer.getvalue()
