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
3. assemble (default queue): when the last segment is recorded, the segment files
   are joined without re-encoding (ffmpeg's concat demuxer) and the clips' audio is
   laid under them, cut or padded to each clip's picture length so every clip
   starts in sync. The file is checked (frame count, duration, audio start and
   length) before the job is marked done.
"""

from __future__ import annotations

import logging
import math
import subprocess
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from celery import group
from django.db import transaction
from django.utils import timezone

from restoration import live
from restoration.models import Clip, Film, PresetVersion, RenderJob, RenderSegment
from restoration.services import rendering
from restoration.services.clip_analysis import scene_cuts as analysed_cuts
from restoration.services.presets import lock_version
from restoration.storage import local_path, save_file

log = logging.getLogger(__name__)

SEGMENT_MIN_FRAMES = 48  # ~2 s: shorter scenes join their neighbour
SEGMENT_MAX_FRAMES = 1440  # ~1 min: longer scenes are split to spread the work
FFMPEG = "ffmpeg"
AUDIO_RATE = 48000


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
        raise FilmRenderError(f"{film} has no clips to render")
    not_ready = [c for c in clips if c.status != Clip.Status.READY or not c.frame_count]
    if not_ready:
        raise FilmRenderError(f"clip {not_ready[0]} is not ready ({not_ready[0].status}); "
                              "wait until every clip is probed")
    active = RenderJob.objects.filter(film=film, kind=RenderJob.Kind.FILM).exclude(
        status__in=rendering.TERMINAL).first()
    if active is not None:
        if active.preset_version_id == preset_version.pk:
            return active
        raise FilmRenderError(f"a full-film render with {active.preset_version} is under way; "
                              "cancel it first")
    try:
        frames_total = sum(rendering.expected_frames(preset_version.spec, c, 0, c.frame_count)
                           for c in clips)
    except rendering.RenderingError as exc:
        raise FilmRenderError(str(exc)) from None
    lock_version(preset_version)
    with transaction.atomic():
        Film.objects.filter(pk=film.pk).update(adopted_preset=preset_version)
        film.adopted_preset = preset_version
        job = RenderJob.objects.create(
            kind=RenderJob.Kind.FILM, film=film, preset_version=preset_version,
            frames_total=frames_total,
            created_by=user if getattr(user, "pk", None) else None)
        from restoration.tasks import plan_film_render

        transaction.on_commit(lambda: plan_film_render.delay(job.pk))
    _publish(job)
    return job


def segment_output_name(job: RenderJob, index: int) -> str:
    return f"renders/films/film-{job.film_id}/job-{rendering.job_key(job)}/seg-{index:05d}.mp4"


def plan_and_dispatch(job: RenderJob) -> list[RenderSegment]:
    """Create the segments (once) and send the ones not done to the GPU queue."""
    if job.status in rendering.TERMINAL:
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
    return rendering.expected_frames(job.preset_version.spec, segment.clip, segment.start_frame,
                                     segment.end_frame)


def _segment_payload(job: RenderJob, segment: RenderSegment, cuts: list[int]) -> dict[str, Any]:
    return rendering.build_job(job, input_name=segment.clip.source.name,
                               output_name=segment.output.name, spec=job.preset_version.spec,
                               start=segment.start_frame, end=segment.end_frame, audio=False,
                               segment=segment, scene_cuts=cuts)


def dispatch_pending_segments(job: RenderJob) -> list[RenderSegment]:
    from gpu_worker.tasks import render_job

    pending = list(job.segments.exclude(status=RenderJob.Status.DONE).select_related("clip"))
    if not pending:
        _maybe_assemble(job)
        return []
    cuts_by_clip: dict[int, list[int]] = {}
    signatures, task_ids = [], []
    for segment in pending:
        if segment.clip_id not in cuts_by_clip:
            cuts_by_clip[segment.clip_id] = clip_cuts(segment.clip)
        task_id = rendering.new_task_id(job, segment)
        task_ids.append(task_id)
        signatures.append(render_job.s(_segment_payload(job, segment, cuts_by_clip[segment.clip_id]))
                          .set(task_id=task_id))
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
        raise FilmRenderError("only a full-film render can be resumed")
    if job.status == RenderJob.Status.DONE:
        raise FilmRenderError("this film render is finished")
    from django.core.files.storage import default_storage

    for segment in job.segments.exclude(status=RenderJob.Status.DONE):
        for marker in ("cancel", "attempts"):
            name = rendering.control_name(job, segment) + marker
            if default_storage.exists(name):
                default_storage.delete(name)
    if not job.segments.exists():
        from restoration.tasks import plan_film_render

        RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.QUEUED, error="",
                                                   cancel_requested=False)
        transaction.on_commit(lambda: plan_film_render.delay(job.pk))
        return []
    job.refresh_from_db()
    job.status = RenderJob.Status.QUEUED
    return dispatch_pending_segments(job)


# --- results ----------------------------------------------------------------------------

def _publish(job: RenderJob) -> None:
    payload = job.progress_payload()
    live.publish(job.topic, payload)
    if job.film_id:
        live.publish(f"film-{job.film_id}", payload)


def record_segment_result(data: dict[str, Any]) -> RenderJob | None:
    """One segment's result. Finished segments are kept whatever happens to the job, so
    a resumed render never redoes them; the last one triggers the assembly."""
    with transaction.atomic():
        job = RenderJob.objects.select_for_update().filter(pk=data.get("job_id")).first()
        if job is None:
            return None
        segment = job.segments.filter(index=data["segment"]).first()
        if segment is None or segment.status == RenderJob.Status.DONE:
            return job
        status = data.get("status")
        segment.attempts = max(segment.attempts, int(data.get("attempt") or 0))
        segment.result = data
        expected = segment_frames(job, segment)
        if status == "done" and int(data.get("frames") or 0) != expected:
            status = "failed"
            data = {**data, "error": f"segment has {data.get('frames')} frames; {expected} expected"}
        if status == "done":
            segment.status = RenderJob.Status.DONE
            segment.frames = segment.frames_done = expected
            segment.fps = 0.0
            segment.error = ""
        elif status == "cancelled":
            segment.status = RenderJob.Status.CANCELLED
        else:
            segment.status = RenderJob.Status.FAILED
            segment.error = data.get("error") or "failed"
            if job.status not in rendering.TERMINAL:
                job.status = RenderJob.Status.FAILED
                job.error = (f"segment {segment.index} ({segment.clip}, frames "
                             f"{segment.start_frame}–{segment.end_frame - 1}) failed: {segment.error}")
                job.finished_at = timezone.now()
        segment.save()
        job.attempts = max(job.attempts, segment.attempts)
        job.save()
        rendering._refresh_film_totals(job)
        _maybe_assemble(job)
    _publish(job)
    return job


def _maybe_assemble(job: RenderJob) -> None:
    """Queue the assembly once every segment is done (called under the job's row lock)."""
    if job.status in rendering.TERMINAL or job.segments.exclude(status=RenderJob.Status.DONE).exists():
        return
    if job.result.get("assembling"):
        return
    job.result = {**job.result, "assembling": True}
    job.save(update_fields=["result", "updated_at"])
    from restoration.tasks import assemble_film

    transaction.on_commit(lambda: assemble_film.delay(job.pk))


# --- assembly -----------------------------------------------------------------------------

@dataclass
class StreamTimes:
    frames: int
    video_start: float
    video_duration: float
    audio_start: float | None
    audio_duration: float | None
    fps: float


def stream_times(path: Path) -> StreamTimes:
    """Frame count and stream start/length read from the packets (not container tags)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        vtb = float(video.time_base)
        pts, last_end = [], None
        for packet in container.demux(video):
            if packet.pts is None:
                continue
            pts.append(packet.pts)
            end = packet.pts + (packet.duration or 0)
            last_end = end if last_end is None else max(last_end, end)
        audio_start = audio_duration = None
        if container.streams.audio:
            container.seek(0)
            audio = container.streams.audio[0]
            atb = float(audio.time_base)
            first, a_end = None, None
            for packet in container.demux(audio):
                if packet.pts is None:
                    continue
                first = packet.pts if first is None else min(first, packet.pts)
                end = packet.pts + (packet.duration or 0)
                a_end = end if a_end is None else max(a_end, end)
            if first is not None:
                audio_start = first * atb
                audio_duration = (a_end - first) * atb
        fps = float(video.average_rate or video.guessed_rate or 0) or 0.0
    start = min(pts) * vtb if pts else 0.0
    return StreamTimes(len(pts), start, ((last_end or 0) * vtb) - start, audio_start,
                       audio_duration, fps)


def _ffmpeg(args: list[str]) -> None:
    proc = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True, timeout=6 * 3600)
    if proc.returncode != 0:
        raise FilmRenderError(f"ffmpeg failed: {proc.stderr.strip()[-2000:]}")


def concat_with_audio(segment_paths: list[Path], clips: list[tuple[Path, float, bool]],
                      output: Path, workdir: Path) -> None:
    """Join the segments' video (copied) and lay each clip's audio under its picture.

    clips: (source path, picture duration in seconds, has audio) in film order. One
    clip with audio: its audio is copied as it is. Several: each clip's audio is cut
    or padded with silence to exactly its picture duration (silence for a clip with
    no audio), then joined and encoded to AAC, so clip k's sound starts when its
    picture does.
    """
    listing = workdir / "segments.txt"
    listing.write_text("".join(f"file '{p.as_posix()}'\n" for p in segment_paths))
    args = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    with_audio = [c for c in clips if c[2]]
    if not with_audio:
        args += ["-map", "0:v:0", "-c:v", "copy", "-an"]
    elif len(clips) == 1:
        total = clips[0][1]
        args += ["-i", str(clips[0][0]), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                 "-c:a", "copy", "-t", f"{total:.6f}"]
    else:
        filters, labels = [], []
        next_input = 1  # input 0 is the concatenated video
        for i, (path, duration, has_audio) in enumerate(clips):
            if has_audio:
                args += ["-i", str(path)]
                n, next_input = next_input, next_input + 1
                filters.append(f"[{n}:a:0]aresample={AUDIO_RATE},aformat=sample_fmts=fltp:"
                               f"channel_layouts=stereo,asetpts=PTS-STARTPTS,"
                               f"apad=whole_dur={duration:.6f},atrim=0:{duration:.6f}[a{i}]")
            else:
                filters.append(f"aevalsrc=0:d={duration:.6f}:s={AUDIO_RATE}:c=stereo,"
                               f"aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}]")
            labels.append(f"[a{i}]")
        filters.append(f"{''.join(labels)}concat=n={len(clips)}:v=0:a=1[aout]")
        args += ["-filter_complex", ";".join(filters), "-map", "0:v:0", "-map", "[aout]",
                 "-c:v", "copy", "-c:a", "aac", "-b:a", "192k"]
    args += ["-movflags", "+faststart", str(output)]
    _ffmpeg(args)


def check_film_output(path: Path, *, frames: int, duration: float, audio: bool,
                      audio_expected: float | None, fps: float) -> dict[str, Any]:
    """Refuse an assembled file whose frames, length or audio do not match the sources."""
    times = stream_times(path)
    frame_time = 1.0 / fps if fps else 0.05
    problems = []
    if times.frames != frames:
        problems.append(f"{times.frames} frames instead of {frames}")
    if abs(times.video_duration - duration) > 1.5 * frame_time:
        problems.append(f"picture lasts {times.video_duration:.3f}s instead of {duration:.3f}s")
    if audio:
        if times.audio_start is None:
            problems.append("the audio is missing")
        else:
            # AAC priming can put the first packet a little before zero.
            if abs(times.audio_start - times.video_start) > frame_time:
                problems.append(f"audio starts at {times.audio_start:.3f}s, picture at "
                                f"{times.video_start:.3f}s")
            target = audio_expected if audio_expected is not None else duration
            if abs(times.audio_duration - target) > max(2 * frame_time, 0.1):
                problems.append(f"audio lasts {times.audio_duration:.3f}s, expected {target:.3f}s")
    report = {"frames": times.frames, "video_duration": round(times.video_duration, 4),
              "audio_start": times.audio_start, "audio_duration": times.audio_duration,
              "expected_frames": frames, "expected_duration": round(duration, 4)}
    if problems:
        raise FilmRenderError("the assembled film failed its check: " + "; ".join(problems))
    return report


def film_output_name(job: RenderJob) -> str:
    return f"renders/films/film-{job.film_id}/film-{job.film_id}-job-{rendering.job_key(job)}.mp4"


def assemble_film(job: RenderJob) -> RenderJob:
    """Concatenate the finished segments with the audio, check, store, mark done."""
    from gpu_worker.engine.io import probe

    segments = list(job.segments.select_related("clip").order_by("index"))
    if not segments or any(s.status != RenderJob.Status.DONE for s in segments):
        raise FilmRenderError("not every segment is rendered yet")
    clips = film_clips(job.film)
    try:
        with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="film-") as tmp:
            seg_paths = [stack.enter_context(local_path(s.output.name)) for s in segments]
            clip_rows, frames, duration, audio_expected, fps = [], 0, 0.0, 0.0, 0.0
            for clip in clips:
                source = stack.enter_context(local_path(clip.source.name))
                times = stream_times(source)
                info = probe(source)
                clip_rows.append((source, times.video_duration, info.has_audio))
                # A spec that raises the frame rate writes more frames in the same time.
                frames += rendering.expected_frames(job.preset_version.spec, clip, 0, times.frames)
                duration += times.video_duration
                fps = fps or times.fps or info.fps
                if info.has_audio and times.audio_duration is not None and len(clips) == 1:
                    audio_expected = min(times.audio_duration, times.video_duration)
                else:
                    audio_expected += times.video_duration
            has_audio = any(row[2] for row in clip_rows)
            output = Path(tmp) / "film.mp4"
            concat_with_audio(seg_paths, clip_rows, output, Path(tmp))
            report = check_film_output(output, frames=frames, duration=duration, audio=has_audio,
                                       audio_expected=audio_expected if has_audio else None,
                                       fps=fps)
            stored = save_file(output, film_output_name(job))
    except FilmRenderError as exc:
        RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.FAILED, error=str(exc),
                                                   finished_at=timezone.now())
        job.refresh_from_db()
        _publish(job)
        raise
    now = timezone.now()
    job.refresh_from_db()
    job.output.name = stored
    job.status = RenderJob.Status.DONE
    job.frames_done = job.frames_total
    job.eta_seconds = 0.0
    job.fps = 0.0
    job.result = {**job.result, "assembling": False, "check": report}
    job.error = ""
    job.finished_at = now
    job.save()
    _publish(job)
    return job
