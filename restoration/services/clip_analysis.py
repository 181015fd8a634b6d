"""Damage analysis of an uploaded clip (engine: gpu_worker.engine.analysis), stored on
the Clip with its plot, and the excerpt it suggests for variant renders."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import get_language

from frontend.live import outbox
from frontend.plotting import plot_font_family
from restoration import engine_text
from restoration.models import Clip
from restoration.selectors import clip_payload
from restoration.storage import local_path, save_file

log = logging.getLogger(__name__)

MAX_STORED_FRAME_RECORDS = 4000  # longer clips keep an evenly thinned per-frame series
EXCERPT_SECONDS = 2.0
FULLY_MEASURED_FRAMES = 96  # clips up to this long get every frame measured


def sample_every(frame_count: int | None) -> int:
    """How often the costly per-frame measures run (cuts, repeats and exposure are
    still followed on every frame): every frame for short clips, up to every 8th for
    long ones, which keeps the analysis of a reel a background job of minutes."""
    if not frame_count or frame_count <= FULLY_MEASURED_FRAMES:
        return 1
    return min(8, -(-frame_count // FULLY_MEASURED_FRAMES))


class AnalysisStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _set_status(clip: Clip, status: str) -> None:
    Clip.objects.filter(pk=clip.pk).update(analysis_status=status)
    clip.analysis_status = status
    outbox.publish(f"clip-{clip.pk}", clip_payload(clip))


def thin_report(report: dict[str, Any], limit: int = MAX_STORED_FRAME_RECORDS) -> dict[str, Any]:
    """The report with at most `limit` per-frame records (the plot keeps the detail)."""
    frames = report.get("frames") or []
    if len(frames) <= limit:
        return report
    step = len(frames) / limit
    kept = [frames[int(i * step)] for i in range(limit)]
    return {**report, "frames": kept, "frames_thinned_from": len(frames)}


def analyze_clip(clip: Clip) -> Clip:
    """Analyse the clip's source and store the report and its plot; publish the status."""
    from gpu_worker.engine import analysis

    if clip.status != Clip.Status.READY:
        return clip
    _set_status(clip, AnalysisStatus.RUNNING)
    try:
        with local_path(clip.source.name) as source:
            report = analysis.analyze(source, sample_every=sample_every(clip.frame_count))
        report.get("source", {}).pop("path", None)  # a temporary path means nothing later
        with tempfile.TemporaryDirectory() as tmp:
            plot = analysis.plot_report(report, Path(tmp) / "analysis.png")
            stored = save_file(Path(plot), f"{Path(clip.source.name).parent}/analysis.png")
        if clip.analysis_plot and clip.analysis_plot.name != stored:
            clip.analysis_plot.storage.delete(clip.analysis_plot.name)
        clip.analysis = thin_report(report)
        clip.analysis_plot.name = stored
        clip.analysis_status = AnalysisStatus.DONE
    except Exception as exc:  # a failed analysis must not hide the clip; say why
        log.exception("analysis of clip %s failed", clip.pk)
        clip.analysis = {"error": f"{type(exc).__name__}: {exc}"}
        clip.analysis_status = AnalysisStatus.FAILED
    with transaction.atomic():
        clip.save(update_fields=["analysis", "analysis_plot", "analysis_status"])
    outbox.publish(f"clip-{clip.pk}", clip_payload(clip))
    return clip


PLOT_CACHE_SECONDS = 24 * 3600


def analysis_plot_png(clip: Clip) -> bytes | None:
    """The analysis plot (per-frame measures, findings, the suggested repairs) drawn
    from the stored report in the active language, with a font that has its glyphs;
    None when the clip has no finished analysis. The plot stored with the report is the
    engine's English one; this one is drawn per language and cached per report."""
    from gpu_worker.engine import analysis

    report = clip.analysis if isinstance(clip.analysis, dict) else None
    if not report or "summary" not in report or "frames" not in report:
        return None
    language = get_language() or "en"
    digest = hashlib.sha256(json.dumps([report.get("summary"), report.get("findings"),
                                        len(report.get("frames") or [])], sort_keys=True,
                                       default=str).encode()).hexdigest()[:16]
    key = f"analysis-plot:{clip.pk}:{digest}:{language}"
    png = cache.get(key)
    if png is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = analysis.plot_report(
                report, Path(tmp) / "analysis.png", text=engine_text.plot_words(),
                findings=[f["text"] for f in engine_text.findings(report)],
                levels={code: str(name) for code, name in engine_text.LEVELS.items()},
                op_names={op: str(name) for op, name in engine_text.OPERATORS.items()},
                font_family=plot_font_family())
            png = path.read_bytes()
        cache.set(key, png, PLOT_CACHE_SECONDS)
    return png


def scene_cuts(clip: Clip) -> list[int] | None:
    """Scene cuts from the analysis, or None when the clip has not been analysed."""
    try:
        return [int(c) for c in clip.analysis["summary"]["scenes"]["cuts"]]
    except (TypeError, KeyError, ValueError):
        return None


def _damage_score(rec: dict[str, Any]) -> float:
    # Weights put each measure on a comparable scale: a 2 % exposure jump, ten specks
    # and one scratch count about the same.
    return (abs(rec.get("flicker", 0.0)) * 50 + rec.get("dust", 0) / 10
            + rec.get("blotches", 0) + rec.get("scratches", 0))


def suggest_excerpt(clip: Clip, length: int | None = None) -> tuple[int, int]:
    """A short [start, end) range worth comparing variants on.

    With an analysis: the window inside one scene with the most damage (so the
    variants differ visibly). Without: a window in the middle of the clip, away from
    leaders at either end.
    """
    total = int(clip.frame_count or 0)
    if total <= 0:
        raise ValueError(f"{clip} has no frame count yet")
    if length is None:
        length = int(round((clip.fps or 24.0) * EXCERPT_SECONDS))
    length = max(1, min(length, total))
    frames = (clip.analysis or {}).get("frames") if isinstance(clip.analysis, dict) else None
    if frames and len(frames) == total:
        cuts = sorted(set(scene_cuts(clip) or []))
        scores = [_damage_score(r) for r in frames]
        prefix = [0.0]
        for s in scores:
            prefix.append(prefix[-1] + s)
        best, best_start = -1.0, None
        bounds = [0, *[c for c in cuts if 0 < c < total], total]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            if hi - lo < length:
                continue
            for start in range(lo, hi - length + 1):
                value = prefix[start + length] - prefix[start]
                if value > best:
                    best, best_start = value, start
        if best_start is not None:
            return best_start, best_start + length
    start = max(0, (total - length) // 2)
    return start, start + length
