"""Full-film render: scene-aligned segments, resume without redoing finished ones, and
one assembled file whose frames, length and sound match the sources."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files.storage import default_storage

from gpu_worker.engine.media import stream_times
from restoration.models import Film, RenderJob
from restoration.rendering import assembly
from restoration.rendering import film as film_render
from restoration.services import presets
from tests.factories import FilmFactory, technician
from tests.restoration.clip_helpers import cheap_spec, ready_clip

pytestmark = pytest.mark.django_db
FPS = 24
RATE = 48000


def two_scene_clip(path: Path, *, frames: int, cut: int, flashes: list[int], audio_seconds: float,
                   pattern: int) -> Path:
    """A clip with a scene cut at `cut`, white flash frames, and a beep at each flash.

    The audio may be shorter than the picture (`audio_seconds`): the assembly must pad
    it, or every later clip's sound would start early.
    """
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=RATE)
        audio.layout = "mono"
        yy, xx = np.mgrid[0:48, 0:64]
        for i in range(frames):
            if i in flashes:
                rgb = np.full((48, 64, 3), 255, np.uint8)
            elif i < cut:  # scene 1: a horizontal gradient drifting right
                rgb = np.stack([(xx * 4 + i * 2 + pattern * 40) % 200 + 20] * 3, -1).astype(np.uint8)
            else:  # scene 2: a checkerboard, a different picture altogether
                board = ((xx // 8 + yy // 8 + pattern) % 2) * 150 + 40
                rgb = np.stack([board, board // 2 + 60, 255 - board], -1).astype(np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        samples = int(RATE * audio_seconds)
        tone = np.zeros(samples, np.float32)
        for f in flashes:
            start = int(f / FPS * RATE)
            n = min(int(0.04 * RATE), max(0, samples - start))
            tone[start:start + n] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(n) / RATE)
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = RATE, start
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path


def flash_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(f.pts * stream.time_base) for f in container.decode(stream)
                if f.to_ndarray(format="gray").mean() > 200]


def beep_onsets(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks, first = [], None
        for frame in container.decode(stream):
            if first is None:
                first = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
            samples = frame.to_ndarray()
            if not frame.format.is_planar:  # interleaved (PCM): one row, channels mixed
                samples = samples.reshape(-1, len(frame.layout.channels)).T
            if samples.dtype.kind == "i":  # integer PCM: to [-1, 1]
                samples = samples / float(np.iinfo(samples.dtype).max)
            chunks.append(samples.mean(axis=0))
        signal = np.concatenate(chunks)
        rate = stream.rate
    loud = np.abs(signal) > 0.1
    onsets, last = [], -1.0
    for i in np.flatnonzero(loud):
        t = first + i / rate
        if t - last > 0.1:
            onsets.append(t)
        last = t
    return onsets


@pytest.fixture
def film(tmp_path) -> Film:
    film = FilmFactory(title="Two reels")
    ready_clip(two_scene_clip(tmp_path / "a.mp4", frames=60, cut=30, flashes=[12, 45],
                              audio_seconds=60 / FPS - 0.3, pattern=0), film=film, title="reel 1")
    ready_clip(two_scene_clip(tmp_path / "b.mp4", frames=50, cut=25, flashes=[5, 40],
                              audio_seconds=50 / FPS, pattern=1), film=film, title="reel 2")
    return film


@pytest.fixture
def small_segments(monkeypatch):
    monkeypatch.setattr(film_render, "SEGMENT_MIN_FRAMES", 10)


def test_plan_segments_cuts_merges_and_splits():
    assert film_render.plan_segments(100, [40, 70], min_frames=10, max_frames=100) == [(0, 40), (40, 70), (70, 100)]
    # A 5-frame scene joins its neighbour; a last short piece joins the one before.
    assert film_render.plan_segments(100, [5, 96], min_frames=10, max_frames=100) == [(0, 100)]
    assert film_render.plan_segments(100, [5, 50], min_frames=10, max_frames=100) == [(0, 50), (50, 100)]
    # Long scenes are split evenly.
    assert film_render.plan_segments(300, [], min_frames=10, max_frames=100) == [(0, 100), (100, 200), (200, 300)]
    assert film_render.plan_segments(0, []) == []


def test_full_film_render_of_two_multi_scene_clips(film, small_segments, eager_celery,
                                                   django_capture_on_commit_callbacks):
    version = presets.create_preset("Film look", cheap_spec(seed=7), user=None)
    with django_capture_on_commit_callbacks(execute=True):
        job = film_render.start_film_render(film, version, user=None)
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    segments = list(job.segments.order_by("index"))
    # Each clip split at its scene cut: 2 + 2 segments, all done.
    assert [(s.clip.title, s.start_frame, s.end_frame) for s in segments] == [
        ("reel 1", 0, 30), ("reel 1", 30, 60), ("reel 2", 0, 25), ("reel 2", 25, 50)]
    film.refresh_from_db()
    version.refresh_from_db()
    assert film.adopted_preset == version and version.locked
    output = Path(default_storage.path(job.output.name))
    times = stream_times(output)
    assert times.frames == 110 and abs(times.video_duration - 110 / FPS) < 1 / FPS
    assert job.result["check"]["frames"] == 110
    # Sync: every flash frame still has its beep within one frame.
    flashes = flash_times(output)
    beeps = beep_onsets(output)
    expected = [12 / FPS, 45 / FPS, (60 + 5) / FPS, (60 + 40) / FPS]
    assert np.allclose(flashes, expected, atol=0.5 / FPS)
    assert len(beeps) == 4
    assert max(abs(b - f) for b, f in zip(beeps, flashes, strict=True)) < 1 / FPS


def test_full_film_render_with_interpolation_doubles_frames_and_keeps_sync(
        film, small_segments, eager_celery, django_capture_on_commit_callbacks):
    spec = {**cheap_spec(seed=3), "ops": [*cheap_spec()["ops"],
                                          {"op": "interpolate", "params": {"multiplier": 2}}]}
    version = presets.create_preset("Smooth film", spec, user=None)
    with django_capture_on_commit_callbacks(execute=True):
        job = film_render.start_film_render(film, version, user=None)
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    assert job.frames_total == 220
    segments = list(job.segments.order_by("index"))
    assert [s.frames for s in segments] == [60, 60, 50, 50]
    output = Path(default_storage.path(job.output.name))
    times = stream_times(output)
    # Twice the frames in the same time: the picture lasts as long as the sources.
    assert times.frames == 220 and abs(times.video_duration - 110 / FPS) < 1 / FPS
    assert abs(times.fps - 2 * FPS) < 0.01
    assert job.result["check"]["expected_frames"] == 220
    # Sync: each beep still has a flash frame within one source frame.
    flashes = flash_times(output)
    beeps = beep_onsets(output)
    assert len(beeps) == 4
    for beep in beeps:
        assert min(abs(beep - f) for f in flashes) < 1 / FPS


def test_finished_segments_are_not_redone_after_a_failure(film, small_segments, eager_celery,
                                                          django_capture_on_commit_callbacks, monkeypatch):
    import gpu_worker.engine.pipeline as pipeline

    real_render = pipeline.render
    calls: list[tuple[int, int]] = []
    crash = {"armed": True}

    def render(input_path, output_path, spec, *, start=None, end=None, **kwargs):
        calls.append((start, end))
        if crash["armed"] and start == 30:
            crash["armed"] = False
            raise pipeline.RenderError("GPU fell over")
        return real_render(input_path, output_path, spec, start=start, end=end, **kwargs)

    monkeypatch.setattr(pipeline, "render", render)
    version = presets.create_preset("Film look", cheap_spec(), user=None)
    with django_capture_on_commit_callbacks(execute=True):
        job = film_render.start_film_render(film, version, user=None)
    job.refresh_from_db()
    assert job.status == RenderJob.Status.FAILED and "GPU fell over" in job.error
    done_before = {s.index: Path(default_storage.path(s.output.name)).stat().st_mtime_ns
                   for s in job.segments.filter(status="done")}
    assert len(done_before) == 3
    calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        film_render.resume_film_render(job)
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    assert calls == [(30, 60)]  # only the failed segment was rendered again
    for index, stamp in done_before.items():
        segment = job.segments.get(index=index)
        assert Path(default_storage.path(segment.output.name)).stat().st_mtime_ns == stamp


def test_start_refuses_unready_films_and_returns_the_running_job(film, monkeypatch):
    version = presets.create_preset("Film look", cheap_spec(), user=None)
    monkeypatch.setattr("restoration.tasks.plan_film_render.delay", lambda job_id: None)
    job = film_render.start_film_render(film, version)
    assert film_render.start_film_render(film, version).pk == job.pk
    other = presets.create_preset("Other", cheap_spec(seed=1), user=None)
    with pytest.raises(film_render.FilmRenderError, match="under way"):
        film_render.start_film_render(film, other)
    with pytest.raises(film_render.FilmRenderError, match="no clips"):
        film_render.start_film_render(FilmFactory(), version)


def test_check_refuses_a_file_that_does_not_match(tmp_path):
    from tests.media_factory import make_video

    path = make_video(tmp_path / "short.mp4", frames=20, width=64, height=48, audio=True)
    with pytest.raises(film_render.FilmRenderError, match="20 frames instead of 24"):
        assembly.check_film_output(path, frames=24, duration=1.0, audio=True, audio_expected=1.0, fps=24)


# --- preflight ---------------------------------------------------------------------------

def test_preflight_refuses_clips_that_differ_in_size_rate_or_pixel_format(tmp_path, monkeypatch):
    """Found before anything renders, naming the clips, not as "540 frames instead of
    1140" at the end of the assembly."""
    from tests.media_factory import make_video

    monkeypatch.setattr("restoration.queue.send_after_commit", lambda *a: pytest.fail("sent"))
    film = FilmFactory(title="Mixed reels")
    ready_clip(make_video(tmp_path / "a.mp4", frames=24, width=64, height=48), film=film, title="reel 1")
    ready_clip(make_video(tmp_path / "b.mp4", frames=24, width=96, height=48, fps=25), film=film,
               title="reel 2")
    ready_clip(make_video(tmp_path / "c.mp4", frames=24, width=64, height=48, pix_fmt="yuv444p"),
               film=film, title="reel 3")
    version = presets.create_preset("Film look", cheap_spec(), user=None)
    with pytest.raises(film_render.FilmRenderError) as info:
        film_render.start_film_render(film, version)
    message = str(info.value)
    assert "“reel 2” has size 96x48, frame rate 25" in message
    assert "“reel 3” has pixel format yuv444p" in message and "reel 1" in message
    assert not RenderJob.objects.filter(film=film).exists()


def test_preflight_names_failed_and_unready_clips(film, monkeypatch):
    from restoration.models import Clip

    first, second = film_render.film_clips(film)
    Clip.objects.filter(pk=first.pk).update(status=Clip.Status.FAILED, error="moov atom not found")
    Clip.objects.filter(pk=second.pk).update(status=Clip.Status.PROBING)
    version = presets.create_preset("Film look", cheap_spec(), user=None)
    with pytest.raises(film_render.FilmRenderError,
                       match="“reel 1” \\(failed: moov atom not found\\); “reel 2” \\(probing\\)"):
        film_render.start_film_render(film, version)


def test_expected_total_counts_only_the_clips_that_render(film, monkeypatch):
    monkeypatch.setattr("restoration.queue.send_after_commit", lambda *a: None)
    version = presets.create_preset("Film look", cheap_spec(), user=None)
    job = film_render.start_film_render(film, version)
    assert job.frames_total == 60 + 50


# --- assembly: resumable, safe to repeat ------------------------------------------------------

def test_an_assembly_killed_mid_way_is_found_again_by_resume_and_is_safe_to_repeat(
        film, small_segments, eager_celery, django_capture_on_commit_callbacks, monkeypatch):
    from restoration.rendering import assembly

    version = presets.create_preset("Film look", cheap_spec(), user=None)
    real_assemble = assembly.assemble_film
    monkeypatch.setattr(assembly, "assemble_film", lambda job: None)  # the worker died here
    with django_capture_on_commit_callbacks(execute=True):
        job = film_render.start_film_render(film, version, user=None)
    job.refresh_from_db()
    assert job.result.get("assembling") and job.status != RenderJob.Status.DONE
    monkeypatch.setattr(assembly, "assemble_film", real_assemble)
    with django_capture_on_commit_callbacks(execute=True):
        film_render.resume_film_render(job)  # nothing left to render: the assembly is queued
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    first = Path(default_storage.path(job.output.name))
    assert first.is_file() and not job.result.get("assembling")
    # Repeated (a redelivered message): nothing changes, no second file.
    assembly.assemble_film(job)
    RenderJob.objects.filter(pk=job.pk).update(status=RenderJob.Status.RUNNING)
    job.refresh_from_db()
    assembly.assemble_film(job)
    job.refresh_from_db()
    assert job.output.name == assembly.film_output_name(job)
    assert [p.name for p in first.parent.iterdir() if p.suffix == ".mp4" and "film-" in p.name] == [first.name]


def test_a_failed_assembly_clears_its_flag_and_releases_its_lease(film, small_segments, eager_celery,
                                                                   django_capture_on_commit_callbacks,
                                                                   monkeypatch):
    from restoration import leases
    from restoration.models import WorkLease
    from restoration.rendering import assembly

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(assembly, "concat_segments", full_disk)
    version = presets.create_preset("Film look", cheap_spec(), user=None)
    with django_capture_on_commit_callbacks(execute=True):
        job = film_render.start_film_render(film, version, user=None)
    job.refresh_from_db()
    assert job.status == RenderJob.Status.FAILED and "ran out of disk space" in job.error
    assert "assembling" not in job.result and not job.output
    assert leases.get(WorkLease.Kind.ASSEMBLY, job.pk).expires_at is None
    assert list(Path(default_storage.path("renders/films")).rglob("film-*-job-*")) == []


def test_a_10_bit_film_render_gets_an_8_bit_h264_proxy_and_a_poster_for_the_players(
        film, small_segments, eager_celery, django_capture_on_commit_callbacks, client):
    # An H.264 film master is MP4 (segments are joined by stream copy); 10-bit H.264 is
    # what most browsers and phones cannot play, so the players need the proxy.
    encode = {"codec": "h264", "pix_fmt": "yuv420p10le", "crf": 28, "preset": "ultrafast", "threads": 1}
    version = presets.create_preset("10-bit master", {**cheap_spec(seed=3), "encode": encode}, user=None)
    with django_capture_on_commit_callbacks(execute=True):
        job = film_render.start_film_render(film, version, user=None)
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    master = Path(default_storage.path(job.output.name))
    proxy = Path(default_storage.path(job.proxy.name))
    assert job.proxy.name.endswith(".proxy.mp4") and job.playable == job.proxy
    with av.open(str(master)) as m, av.open(str(proxy)) as p:
        assert m.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
        assert p.streams.video[0].codec_context.name == "h264"
        assert p.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert len(p.streams.audio) == 1
    assert stream_times(proxy).frames == stream_times(master).frames == 110
    assert job.poster.name.endswith(".poster.jpg")
    assert Path(default_storage.path(job.poster.name)).read_bytes()[:2] == b"\xff\xd8"
    # The film page plays the proxy (with the poster) and offers the master for download.
    client.force_login(technician())
    page = client.get(f"/films/{film.pk}/render/").content.decode()
    assert f'<a href="{job.output.url}">Download the restored film</a>' in page
    assert f'src="{job.proxy.url}" poster="{job.poster.url}"' in page


def test_an_h264_film_render_needs_no_proxy_but_gets_a_poster(film, small_segments, eager_celery,
                                                              django_capture_on_commit_callbacks):
    version = presets.create_preset("Film look", cheap_spec(seed=5), user=None)
    with django_capture_on_commit_callbacks(execute=True):
        job = film_render.start_film_render(film, version, user=None)
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    assert not job.proxy and job.playable == job.output and job.poster


@pytest.mark.parametrize(("encode", "suffix", "codec"), [
    ({"codec": "ffv1"}, ".mkv", "ffv1"),
    ({"codec": "prores", "prores_profile": 0}, ".mov", "prores"),
])
def test_a_film_rendered_in_a_master_codec_is_assembled_in_its_container(
        film, small_segments, eager_celery, django_capture_on_commit_callbacks, encode, suffix,
        codec):
    version = presets.create_preset(f"{codec} master", {**cheap_spec(seed=9), "encode": encode},
                                    user=None)
    with django_capture_on_commit_callbacks(execute=True):
        job = film_render.start_film_render(film, version, user=None)
    job.refresh_from_db()
    assert job.status == RenderJob.Status.DONE, job.error
    # Segments in the master codec, joined by stream copy: nothing re-encoded lossy.
    assert all(s.output.name.endswith(suffix) for s in job.segments.all())
    assert job.output.name.endswith(suffix)
    master = Path(default_storage.path(job.output.name))
    with av.open(str(master)) as m:
        assert m.streams.video[0].codec_context.name == codec
        # Two clips' sound joined: lossless PCM in a master's container.
        assert m.streams.audio[0].codec_context.name == "pcm_s24le"
    times = stream_times(master)
    assert times.frames == job.result["check"]["frames"] == 110
    flashes, beeps = flash_times(master), beep_onsets(master)
    assert len(flashes) == len(beeps) == 4
    assert max(abs(b - f) for b, f in zip(beeps, flashes, strict=True)) < 1 / FPS
    # Browsers get an H.264 copy; the master stays the download.
    assert job.proxy.name.endswith(".proxy.mp4") and job.playable == job.proxy
