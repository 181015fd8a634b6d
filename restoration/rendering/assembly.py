"""Assembly of a full-film render: when the last segment is recorded, the segment
files are joined without re-encoding (ffmpeg's concat demuxer) and the clips' audio
is laid under them, cut or padded to each clip's picture length so every clip starts
in sync. The file is checked (frame count, duration, audio start and length) before
the job is marked done.
"""

from __future__ import annotations

import subprocess
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from django.utils import timezone

from restoration.models import RenderJob
from restoration.rendering.film import FilmRenderError, film_clips
from restoration.rendering.jobs import expected_frames, job_key, publish_job
from restoration.storage import local_path, save_file

FFMPEG = "ffmpeg"
AUDIO_RATE = 48000


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
    return f"renders/films/film-{job.film_id}/film-{job.film_id}-job-{job_key(job)}.mp4"


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
                frames += expected_frames(job.preset_version.spec, clip, 0, times.frames)
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
        publish_job(job)
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
    publish_job(job)
    return job
