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
from restoration import leases, queue
from restoration.models import Clip, Film, PresetVersion, RenderJob, RenderSegment, WorkLease
from restoration.rendering.jobs import (
    TERMINAL,
    RenderingError,
    build_job,
    clip_rate,
    control_name,
    expected_frames,
    job_key,
    job_signature,
    master_suffix,
    new_task_id,
    publish_job,
    take_lease,
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


def clip_format(clip: Clip) -> tuple[str, str, str]:
    """What the segments of a film must share to be joined without re-encoding:
    frame size, exact frame rate and pixel format."""
    return (f"{clip.width}x{clip.height}", str(clip_rate(clip)), clip.pix_fmt or "unknown")


def preflight(film: Film) -> list[Clip]:
    """The clips a full-film render will join, checked before anything is rendered.

    Refused, with a message naming the clips: a film with no clips; clips that failed
    their probe or are not probed yet (they would be missing from the film, or counted
    in its total and never rendered); clips whose frame size, frame rate or pixel
    format differ from the first clip's (their segments could not be joined into one
    stream: re-encode them to the film's format and upload them again).
    """
    clips = film_clips(film)
    if not clips:
        raise FilmRenderError(gettext("%(film)s has no clips to render") % {"film": film})
    not_ready = [c for c in clips if c.status != Clip.Status.READY or not c.frame_count]
    if not_ready:
        names = "; ".join(f"“{c}” ({c.get_status_display()}{': ' + c.error if c.error else ''})"
                          for c in not_ready)
        raise FilmRenderError(gettext(
            "these clips are not ready to render: %(names)s. Wait until every clip is "
            "probed, or remove the clips that failed") % {"names": names})
    reference = clip_format(clips[0])
    differ = [c for c in clips[1:] if clip_format(c) != reference]
    if differ:
        labels = (gettext("size"), gettext("frame rate"), gettext("pixel format"))

        def describe(clip: Clip) -> str:
            own = clip_format(clip)
            return ", ".join(f"{label} {mine}" for label, mine, ref in zip(labels, own, reference,
                                                                          strict=True)
                             if mine != ref)

        names = "; ".join(gettext("“%(clip)s” has %(format)s") % {"clip": c, "format": describe(c)}
                          for c in differ)
        raise FilmRenderError(gettext(
            "the clips of a film must share frame size, frame rate and pixel format to be "
            "joined; “%(first)s” has %(size)s, %(fps)s fps, %(pix_fmt)s, but %(names)s. "
            "Re-encode them to the film's format and upload them again") % {
                "first": clips[0], "size": reference[0], "fps": reference[1],
                "pix_fmt": reference[2], "names": names})
    return clips


def start_film_render(film: Film, preset_version: PresetVersion, user: Any = None) -> RenderJob:
    """Adopt `preset_version` for the film and render the whole film with it.

    The entry point for the technician's page and for the voting app when a contest
    is decided. Returns the film's RenderJob; if the same render is already under
    way, that job is returned instead of starting a second one.
    """
    clips = preflight(film)
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
    """A segment is written in the render's master codec and container (ProRes in
    .mov, FFV1 in .mkv, else .mp4), so the assembly joins them without re-encoding."""
    return (f"renders/films/film-{job.film_id}/job-{job_key(job)}/seg-{index:05d}"
            f"{master_suffix(job.preset_version.spec.get('encode'))}")


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


def _segment_payload(job: RenderJob, segment: RenderSegment, cuts: list[int],
                     lease: str | None = None) -> dict[str, Any]:
    return build_job(job, input_name=segment.clip.source.name,
                     output_name=segment.output.name, spec=job.preset_version.spec,
                     start=segment.start_frame, end=segment.end_frame, audio=False,
                     segment=segment, scene_cuts=cuts, lease=lease)


def _segment_signatures(job: RenderJob, segments: list[RenderSegment], *,
                        fresh: bool) -> tuple[list, list[str]]:
    """One Celery signature per segment, each under a newly taken lease."""
    cuts_by_clip: dict[int, list[int]] = {}
    signatures, task_ids = [], []
    for segment in segments:
        if segment.clip_id not in cuts_by_clip:
            cuts_by_clip[segment.clip_id] = clip_cuts(segment.clip)
        task_id = new_task_id(job, segment)
        task_ids.append(task_id)
        lease = take_lease(job, task_id, segment, fresh=fresh)
        signatures.append(job_signature(
            _segment_payload(job, segment, cuts_by_clip[segment.clip_id], lease.token), task_id))
    return signatures, task_ids


def dispatch_pending_segments(job: RenderJob) -> list[RenderSegment]:
    pending = list(job.segments.exclude(status=RenderJob.Status.DONE).select_related("clip"))
    if not pending:
        with transaction.atomic():
            job = RenderJob.objects.select_for_update().get(pk=job.pk)
            _maybe_assemble(job)
        return []
    with transaction.atomic():
        signatures, task_ids = _segment_signatures(job, pending, fresh=True)
        job.segments.filter(pk__in=[s.pk for s in pending]).update(
            status=RenderJob.Status.QUEUED, error="", fps=0.0)
        RenderJob.objects.filter(pk=job.pk).update(task_ids=task_ids, status=RenderJob.Status.QUEUED,
                                                   error="", cancel_requested=False,
                                                   finished_at=None)
        transaction.on_commit(lambda: group(signatures).apply_async())
    return pending


def redispatch_segment(segment: RenderSegment) -> None:
    """Send one segment whose lease expired again (restoration.sweeper): a new lease
    token, one more attempt; its finished neighbours are left alone."""
    job = segment.job
    with transaction.atomic():
        (signature,), (task_id,) = _segment_signatures(job, [segment], fresh=False)
        RenderSegment.objects.filter(pk=segment.pk).update(status=RenderJob.Status.QUEUED, fps=0.0)
        RenderJob.objects.filter(pk=job.pk).update(task_ids=[*(job.task_ids or []), task_id])
        transaction.on_commit(signature.apply_async)


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
    # An assembly interrupted by a crash (or one that failed) left its flag set: the
    # resumed render must find the assembly among what is left to do.
    job.refresh_from_db()
    job.result = {k: v for k, v in job.result.items() if k != "assembling"}
    RenderJob.objects.filter(pk=job.pk).update(result=job.result)
    if not job.segments.exists():
        RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.QUEUED, error="",
                                                   cancel_requested=False)
        queue.send_after_commit(queue.PLAN_FILM_RENDER, job.pk)
        return []
    RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.QUEUED, error="",
                                               finished_at=None, cancel_requested=False)
    job.refresh_from_db()
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
        if not leases.is_current(WorkLease.Kind.SEGMENT, segment.pk, result.lease):
            log.info("ignored a stale result of job %s segment %s (lease %s, attempt %s)",
                     job.pk, segment.index, result.lease, result.attempt)
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
        leases.release(WorkLease.Kind.SEGMENT, segment.pk, error=segment.error)
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
    queue_assembly(job, fresh=True)


def queue_assembly(job: RenderJob, *, fresh: bool) -> None:
    """Send a film's assembly under a lease: an assembly killed with its worker is
    sent again by the sweeper."""
    leases.take(WorkLease.Kind.ASSEMBLY, job.pk, holder=f"assemble-{job.pk}", fresh=fresh,
                max_attempts=job.max_attempts or None)
    queue.send_after_commit(queue.ASSEMBLE_FILM, job.pk)


