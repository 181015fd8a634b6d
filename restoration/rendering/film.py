"""The full-film render: scene-aligned segments across GPU workers, then one file.

    job = start_film_render(film, preset_version, user)

1. plan (default queue): each clip of the film, in order, is split at its scene cuts
   (from the analysis, or detected now) into RenderSegment rows. Tiny scenes are
   merged with their neighbour (a segment has a fixed cost), very long ones split
   (so the work spreads over many GPUs); the pipeline gets the cuts, so no operator
   blends across a cut wherever the segment boundaries fall.
2. render (gpu queue): the segments not yet done are sent as a Celery group, one
   job each, without audio. Segments that finished are never sent again: after a
   crash or a restart, `resume_film_render` dispatches only the rest, and a
   redelivered segment whose output exists is reported, not re-rendered.
3. assemble (default queue, restoration.rendering.assembly): when the last segment
   is recorded, the segment files are joined with the clips' audio and checked.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any

from celery import group
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from gpu_worker.jobs import JobResult
from restoration import queue
from restoration.models import Clip, Film, PresetVersion, RenderJob, RenderSegment
from restoration.rendering.jobs import (
    TERMINAL,
    RenderingError,
    build_job,
    control_name,
    expected_frames,
    job_key,
    job_signature,
    new_task_id,
    publish_job,
)
from restoration.rendering.progress import refresh_film_totals
from restoration.services.clip_analysis import scene_cuts as analysed_cuts
from restoration.services.presets import lock_version
from restoration.storage import local_path

log = logging.getLogger(__name__)

SEGMENT_MIN_FRAMES = 48  # ~2 s: shorter scenes join their neighbour
SEGMENT_MAX_FRAMES = 1440  # ~1 min: longer scenes are split to spread the work


class FilmRenderError(RuntimeError):
    """A film render cannot start, or its output failed the final check."""


# --- planning ---------------------------------------------------------------------------

def plan_segments(total: int, cuts: list[int], *, min_frames: int | None = None,
                  max_frames: int | None = None) -> list[tuple[int, int]]:
    """[start, end) ranges covering 0..total, cut at scene cuts, merged and split by size."""
    min_frames = SEGMENT_MIN_FRAMES if min_frames is None else min_frames
    max_frames = SEGMENT_MAX_FRAMES if max_frames is None else max_frames
    if total <= 0:
        return []
    bounds = [0, *sorted({c for c in cuts if 0 < c < total}), total]
    merged: list[list[int]] = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        if merged and merged[-1][1] - merged[-1][0] < min_frames:
            merged[-1][1] = end  # the previous piece is too short: grow it
        else:
            merged.append([start, end])
    if len(merged) > 1 and merged[-1][1] - merged[-1][0] < min_frames:
        last = merged.pop()
        merged[-1][1] = last[1]
    out: list[tuple[int, int]] = []
    for start, end in merged:
        parts = max(1, math.ceil((end - start) / max_frames))
        edges = [start + round(i * (end - start) / parts) for i in range(parts + 1)]
        out.extend(zip(edges, edges[1:], strict=False))
    return out


def detect_cuts(clip: Clip) -> list[int]:
    """Scene cuts of a clip that has no analysis (one decoding pass, on the CPU)."""
    from gpu_worker.engine.io import read_frames
    from gpu_worker.engine.scenes import SceneCutDetector

    detector = SceneCutDetector()
    with local_path(clip.source.name) as source:
        for frame in read_frames(source):
            detector.push(frame[::2, ::2] if frame.shape[1] > 960 else frame)
    return list(detector.cuts)


def clip_cuts(clip: Clip) -> list[int]:
    cuts = analysed_cuts(clip)
    return cuts if cuts is not None else detect_cuts(clip)


def film_clips(film: Film) -> list[Clip]:
    return list(film.clips.order_by("created_at", "pk"))


def start_film_render(film: Film, preset_version: PresetVersion, user: Any = None) -> RenderJob:
    """Adopt `preset_version` for the film and render the whole film with it.

    The entry point for the technician's page and for the voting app when a contest
    is decided. Returns the film's RenderJob; if the same render is already under
    way, that job is returned instead of starting a second one.
    """
    clips = film_clips(film)
    if not clips:
        raise FilmRenderError(gettext("%(film)s has no clips to render") % {"film": film})
    not_ready = [c for c in clips if c.status != Clip.Status.READY or not c.frame_count]
    if not_ready:
        raise FilmRenderError(gettext("clip %(clip)s is not ready (%(status)s); wait until every clip is probed")
                              % {"clip": not_ready[0], "status": not_ready[0].get_status_display()})
    active = RenderJob.objects.filter(film=film, kind=RenderJob.Kind.FILM).exclude(
        status__in=TERMINAL).first()
    if active is not None:
        if active.preset_version_id == preset_version.pk:
            return active
        raise FilmRenderError(gettext("a full-film render with %(version)s is under way; cancel it first")
                              % {"version": active.preset_version})
    try:
        frames_total = sum(expected_frames(preset_version.spec, c, 0, c.frame_count)
                           for c in clips)
    except RenderingError as exc:
        raise FilmRenderError(str(exc)) from None
    lock_version(preset_version)
    with transaction.atomic():
        Film.objects.filter(pk=film.pk).update(adopted_preset=preset_version)
        film.adopted_preset = preset_version
        job = RenderJob.objects.create(
            kind=RenderJob.Kind.FILM, film=film, preset_version=preset_version,
            frames_total=frames_total,
            created_by=user if getattr(user, "pk", None) else None)
        queue.send_after_commit(queue.PLAN_FILM_RENDER, job.pk)
    publish_job(job)
    return job


def segment_output_name(job: RenderJob, index: int) -> str:
    return f"renders/films/film-{job.film_id}/job-{job_key(job)}/seg-{index:05d}.mp4"


def plan_and_dispatch(job: RenderJob) -> list[RenderSegment]:
    """Create the segments (once) and send the ones not done to the GPU queue."""
    if job.status in TERMINAL:
        return []
    if not job.segments.exists():
        rows: list[RenderSegment] = []
        index = 0
        for clip in film_clips(job.film):
            for start, end in plan_segments(clip.frame_count, clip_cuts(clip)):
                rows.append(RenderSegment(job=job, index=index, clip=clip, start_frame=start,
                                          end_frame=end, output=segment_output_name(job, index)))
                index += 1
        with transaction.atomic():
            if not job.segments.exists():  # a redelivered plan task: keep the first plan
                RenderSegment.objects.bulk_create(rows)
                job.frames_total = sum(segment_frames(job, r) for r in rows)
                job.save(update_fields=["frames_total", "updated_at"])
    return dispatch_pending_segments(job)


def segment_frames(job: RenderJob, segment: RenderSegment) -> int:
    """Frames the render of a segment writes (more than its source frames when the
    spec raises the frame rate; the segments of a clip add up to the whole clip's)."""
    return expected_frames(job.preset_version.spec, segment.clip, segment.start_frame,
                                     segment.end_frame)


def _segment_payload(job: RenderJob, segment: RenderSegment, cuts: list[int]) -> dict[str, Any]:
    return build_job(job, input_name=segment.clip.source.name,
                               output_name=segment.output.name, spec=job.preset_version.spec,
                               start=segment.start_frame, end=segment.end_frame, audio=False,
                               segment=segment, scene_cuts=cuts)


def dispatch_pending_segments(job: RenderJob) -> list[RenderSegment]:
    pending = list(job.segments.exclude(status=RenderJob.Status.DONE).select_related("clip"))
    if not pending:
        _maybe_assemble(job)
        return []
    cuts_by_clip: dict[int, list[int]] = {}
    signatures, task_ids = [], []
    for segment in pending:
        if segment.clip_id not in cuts_by_clip:
            cuts_by_clip[segment.clip_id] = clip_cuts(segment.clip)
        task_id = new_task_id(job, segment)
        task_ids.append(task_id)
        signatures.append(job_signature(
            _segment_payload(job, segment, cuts_by_clip[segment.clip_id]), task_id))
    with transaction.atomic():
        job.segments.filter(pk__in=[s.pk for s in pending]).update(
            status=RenderJob.Status.QUEUED, error="", fps=0.0)
        RenderJob.objects.filter(pk=job.pk).update(task_ids=task_ids, status=RenderJob.Status.QUEUED,
                                                   error="", cancel_requested=False,
                                                   finished_at=None)
        transaction.on_commit(lambda: group(signatures).apply_async())
    return pending


def resume_film_render(job: RenderJob) -> list[RenderSegment]:
    """Continue a failed or interrupted film render: only unfinished segments are sent,
    each with a fresh attempt counter."""
    if job.kind != RenderJob.Kind.FILM:
        raise FilmRenderError(gettext("only a full-film render can be resumed"))
    if job.status == RenderJob.Status.DONE:
        raise FilmRenderError(gettext("this film render is finished"))
    from django.core.files.storage import default_storage

    for segment in job.segments.exclude(status=RenderJob.Status.DONE):
        for marker in ("cancel", "attempts"):
            name = control_name(job, segment) + marker
            if default_storage.exists(name):
                default_storage.delete(name)
    if not job.segments.exists():
        RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.QUEUED, error="",
                                                   cancel_requested=False)
        queue.send_after_commit(queue.PLAN_FILM_RENDER, job.pk)
        return []
    job.refresh_from_db()
    job.status = RenderJob.Status.QUEUED
    return dispatch_pending_segments(job)


# --- results ----------------------------------------------------------------------------

def record_segment_result(result: JobResult) -> RenderJob | None:
    """One segment's result. Finished segments are kept whatever happens to the job, so
    a resumed render never redoes them; the last one triggers the assembly."""
    with transaction.atomic():
        job = RenderJob.objects.select_for_update().filter(pk=result.job_id).first()
        if job is None:
            return None
        segment = job.segments.filter(index=result.segment).first()
        if segment is None or segment.status == RenderJob.Status.DONE:
            return job
        status = result.status
        segment.attempts = max(segment.attempts, result.attempt)
        segment.result = result.to_dict()
        expected = segment_frames(job, segment)
        if status == "done" and result.frames != expected:
            status = "failed"
            result = replace(result, status="failed",
                             error=f"segment has {result.frames} frames; {expected} expected")
        if status == "done":
            segment.status = RenderJob.Status.DONE
            segment.frames = segment.frames_done = expected
            segment.fps = 0.0
            segment.error = ""
        elif status == "cancelled":
            segment.status = RenderJob.Status.CANCELLED
        else:
            segment.status = RenderJob.Status.FAILED
            segment.error = result.error or "failed"
            if job.status not in TERMINAL:
                job.status = RenderJob.Status.FAILED
                job.error = (f"segment {segment.index} ({segment.clip}, frames "
                             f"{segment.start_frame}–{segment.end_frame - 1}) failed: {segment.error}")
                job.finished_at = timezone.now()
        segment.save()
        job.attempts = max(job.attempts, segment.attempts)
        job.save()
        refresh_film_totals(job)
        _maybe_assemble(job)
    publish_job(job)
    return job


def _maybe_assemble(job: RenderJob) -> None:
    """Queue the assembly once every segment is done (called under the job's row lock)."""
    if job.status in TERMINAL or job.segments.exclude(status=RenderJob.Status.DONE).exists():
        return
    if job.result.get("assembling"):
        return
    job.result = {**job.result, "assembling": True}
    job.save(update_fields=["result", "updated_at"])
    queue.send_after_commit(queue.ASSEMBLE_FILM, job.pk)


