"""Assembly of a full-film render: when the last segment is recorded, the segment
files are joined without re-encoding and the clips' audio is laid under them
(gpu_worker.engine.media.concat_segments), cut or padded to each clip's picture length so every clip starts
in sync. The file is checked (frame count, duration, audio start and length) before
the job is marked done.

Safe to repeat, and resumable: a finished job is left as it is; the file is built in
a temporary folder and moved into place under the job's own name (never a second
copy beside a first); the job is marked done only after that. The assembly holds its
lease (restoration.leases) while it runs, so one killed with its worker is sent again
by the sweeper; a failed one clears the film's "assembling" flag, so a resumed render
finds it among what is left to do.
"""

from __future__ import annotations

import errno
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.utils import timezone

from gpu_worker.engine.io import MediaError, probe
from gpu_worker.engine.media import (
    ClipAudio,
    concat_segments,
    make_proxy,
    stream_times,
    write_poster,
)
from gpu_worker.jobs import needs_proxy, proxy_uri_for
from restoration import leases
from restoration.models import RenderJob, WorkLease
from restoration.rendering.film import FilmRenderError, film_clips
from restoration.rendering.jobs import (
    TERMINAL,
    expected_frames,
    job_key,
    master_suffix,
    publish_job,
)
from restoration.storage import local_path, replace_file

# --- assembly -----------------------------------------------------------------------------



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
    """The assembled film, in its segments' container (the render's master codec)."""
    return (f"renders/films/film-{job.film_id}/film-{job.film_id}-job-{job_key(job)}"
            f"{master_suffix(job.preset_version.spec.get('encode'))}")


def assemble_film(job: RenderJob) -> RenderJob:
    """Concatenate the finished segments with the audio, check, store, mark done
    (nothing to do when the job has already ended)."""
    job.refresh_from_db()
    if job.status in TERMINAL:
        leases.release(WorkLease.Kind.ASSEMBLY, job.pk)
        return job
    with leases.held(WorkLease.Kind.ASSEMBLY, job.pk):
        return _assemble(job)


def _assemble(job: RenderJob) -> RenderJob:
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
                frames += expected_frames(job.preset_version.spec, clip, 0, times.frames)
                duration += times.video_duration
                fps = fps or times.fps or info.fps
                if info.has_audio and times.audio_duration is not None and len(clips) == 1:
                    audio_expected = min(times.audio_duration, times.video_duration)
                else:
                    audio_expected += times.video_duration
            has_audio = any(row[2] for row in clip_rows)
            output = Path(tmp) / f"film{Path(seg_paths[0]).suffix}"
            concat_segments(seg_paths, output, clips=[ClipAudio(*row) for row in clip_rows])
            report = check_film_output(output, frames=frames, duration=duration, audio=has_audio,
                                       audio_expected=audio_expected if has_audio else None,
                                       fps=fps)
            stored = replace_file(output, film_output_name(job))
            # The players get a copy every browser plays when the master is not one
            # (a ProRes, FFV1, H.265, AV1 or 10-bit render); the master stays the download.
            proxy_name = ""
            encode = (job.preset_version.spec or {}).get("encode") if job.preset_version_id else None
            if needs_proxy(stored, encode):
                proxy = make_proxy(output, Path(tmp) / "film.proxy.mp4", audio=has_audio)
                proxy_name = replace_file(proxy, proxy_uri_for(stored))
            poster = write_poster(output, Path(tmp) / "poster.jpg")
            poster_name = replace_file(poster, f"{stored.rpartition('.')[0]}.poster.jpg")
    except (FilmRenderError, MediaError, OSError, MemoryError) as exc:
        message = str(exc)
        if isinstance(exc, MemoryError) or getattr(exc, "errno", None) == errno.ENOSPC:
            message = (f"the assembly ran out of {'memory' if isinstance(exc, MemoryError) else 'disk space'}"
                       f" ({exc}); free some and resume the render")
        job.refresh_from_db()
        RenderJob.objects.filter(pk=job.pk).update(
            status=RenderJob.Status.FAILED, error=message, finished_at=timezone.now(),
            result={k: v for k, v in job.result.items() if k != "assembling"})
        job.refresh_from_db()
        publish_job(job)
        leases.release(WorkLease.Kind.ASSEMBLY, job.pk, error=message)
        raise FilmRenderError(message) from exc
    now = timezone.now()
    job.refresh_from_db()
    job.output.name = stored
    job.proxy.name = proxy_name
    job.poster.name = poster_name
    job.status = RenderJob.Status.DONE
    job.frames_done = job.frames_total
    job.eta_seconds = 0.0
    job.fps = 0.0
    job.result = {**job.result, "assembling": False, "check": report}
    job.error = ""
    job.finished_at = now
    job.save()
    publish_job(job)
    return job
