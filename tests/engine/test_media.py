"""Media jobs on small generated files: joined segments keep every frame and the clips'
sound, excerpts have the frames asked for, posters are the frame asked for, proxies
are what a browser plays."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from gpu_worker.engine import media
from gpu_worker.engine.io import MediaError, extract_frame, probe, read_frames
from gpu_worker.engine.media import (
    ClipAudio,
    MediaToolError,
    concat_segments,
    cut_excerpt,
    make_proxy,
    write_poster,
)
from tests.media_factory import make_video


def _audio_seconds(path: Path) -> float | None:
    """Length of the first audio stream from its packets, None without audio."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        first = end = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            first = packet.pts if first is None else min(first, packet.pts)
            stop = packet.pts + (packet.duration or 0)
            end = stop if end is None else max(end, stop)
        return float((end - first) * stream.time_base)


def _frames(path: Path) -> int:
    return probe(path, deep=True).frame_count


def _faststart(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


@pytest.fixture()
def segments(tmp_path: Path) -> list[Path]:
    return [make_video(tmp_path / f"seg{i}.mp4", frames=12) for i in range(2)]


def test_concat_without_audio_keeps_every_frame(tmp_path: Path, segments: list[Path]) -> None:
    out = concat_segments(segments, tmp_path / "film.mp4")
    assert _frames(out) == 24
    assert _audio_seconds(out) is None
    assert _faststart(out)
    # A stream copy: the pictures are the segments' own.
    joined = list(read_frames(out))
    assert np.array_equal(joined[12], next(iter(read_frames(segments[1]))))


@pytest.mark.parametrize("suffix, codec", [(".mkv", "ffv1"), (".mov", "prores_ks"), (".mp4", "libx264")])
def test_joining_the_same_segments_twice_gives_the_same_file(tmp_path: Path, suffix: str,
                                                               codec: str) -> None:
    # Matroska writes random UIDs unless told to be bitexact: a film master joined
    # twice from one render's segments differed in its header bytes.
    pix_fmt = {"ffv1": "yuv444p", "prores_ks": "yuv422p10le"}.get(codec, "yuv420p")
    parts = [make_video(tmp_path / f"part{i}{suffix}", frames=6, codec=codec, pix_fmt=pix_fmt)
             for i in range(2)]
    first = concat_segments(parts, tmp_path / f"a{suffix}")
    second = concat_segments(parts, tmp_path / f"b{suffix}")
    assert _frames(first) == 12
    assert first.read_bytes() == second.read_bytes()


def test_concat_copies_a_single_clips_audio(tmp_path: Path, segments: list[Path]) -> None:
    source = make_video(tmp_path / "source.mp4", frames=24, audio=True)
    out = concat_segments(segments, tmp_path / "film.mp4",
                          clips=[ClipAudio(source, 1.0, True)])
    assert _frames(out) == 24
    info = probe(out)
    assert info.has_audio and info.audio_codec == "aac"
    assert _audio_seconds(out) == pytest.approx(1.0, abs=0.05)


def test_concat_lays_each_clips_sound_under_its_picture(tmp_path: Path,
                                                        segments: list[Path]) -> None:
    # The first clip's sound is shorter than its picture, the second has none: both
    # are padded with silence, so the film's sound lasts as long as its picture.
    short = make_video(tmp_path / "short.mp4", frames=6, audio=True)
    silent = make_video(tmp_path / "silent.mp4", frames=12)
    out = concat_segments(segments, tmp_path / "film.mp4",
                          clips=[ClipAudio(short, 0.5, True), ClipAudio(silent, 0.5, False)])
    assert _frames(out) == 24
    info = probe(out)
    assert info.audio_channels == 2 and info.audio_sample_rate == media.AUDIO_RATE
    assert _audio_seconds(out) == pytest.approx(1.0, abs=0.05)


def test_excerpt_has_the_frames_asked_for(tmp_path: Path) -> None:
    source = make_video(tmp_path / "source.mp4", frames=48, audio=True)
    out = cut_excerpt(source, tmp_path / "cut.mp4", fps=24, start=12, frames=12)
    assert _frames(out) == 12
    assert _audio_seconds(out) == pytest.approx(0.5, abs=0.05)
    assert _faststart(out)
    # Frame-accurate: the excerpt starts on source frame 12 (the test pattern moves 8
    # code values a frame, so a neighbour would be far off).
    first = next(iter(read_frames(out))).astype(float)
    errors = [np.abs(first - extract_frame(source, n)).mean() for n in (11, 12, 13)]
    assert errors[1] < 3 and errors[1] < min(errors[0], errors[2]) / 2


def test_excerpts_of_a_source_and_its_restoration_match(tmp_path: Path) -> None:
    before_src = make_video(tmp_path / "before_src.mp4", frames=36)
    after_src = make_video(tmp_path / "after_src.mp4", frames=72, fps=48)
    before = cut_excerpt(before_src, tmp_path / "before.mp4", fps=24, start=6, frames=12,
                         audio=False)
    after = cut_excerpt(after_src, tmp_path / "after.mp4", fps=48, start=12, frames=24,
                        audio=False)
    assert probe(before).duration == pytest.approx(probe(after).duration, abs=0.03)
    assert _audio_seconds(before) is None


def test_poster_is_the_frame_asked_for(tmp_path: Path) -> None:
    source = make_video(tmp_path / "source.mp4", frames=20)
    png = write_poster(source, tmp_path / "poster.png", frame_number=3)
    assert np.array_equal(cv2.imread(str(png))[..., ::-1], extract_frame(source, 3))
    jpg = write_poster(source, tmp_path / "poster.jpg")  # the middle frame
    image = cv2.imread(str(jpg))[..., ::-1].astype(float)
    assert image.shape == (48, 64, 3)
    assert np.abs(image - extract_frame(source, 10)).mean() < 4
    with pytest.raises(ValueError, match="a poster is a .jpg or .png"):
        write_poster(source, tmp_path / "poster.gif")


def test_proxy_plays_in_a_browser(tmp_path: Path) -> None:
    # Odd size, 4:4:4, lossless codec in Matroska: nothing a browser plays as it is.
    source = make_video(tmp_path / "scan.mkv", frames=10, width=65, height=49, codec="ffv1",
                        pix_fmt="yuv444p", audio=True)
    out = make_proxy(source, tmp_path / "proxy.mp4")
    info = probe(out, deep=True)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height) == (64, 48)
    assert info.frame_count == 10 and info.has_audio and info.audio_codec == "aac"
    assert _faststart(out)
    small = make_proxy(source, tmp_path / "small.mp4", max_height=24, audio=False)
    small_info = probe(small)
    assert small_info.height == 24 and small_info.width % 2 == 0 and not small_info.has_audio


def test_failures_are_media_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="missing.mp4: no such file"):
        cut_excerpt(tmp_path / "missing.mp4", tmp_path / "x.mp4", fps=24, start=0, frames=1)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaToolError, match="cutting the excerpt failed: "):
        cut_excerpt(junk, tmp_path / "x.mp4", fps=24, start=0, frames=1)
    with pytest.raises(ValueError, match="at least one frame"):
        cut_excerpt(junk, tmp_path / "x.mp4", fps=24, start=0, frames=0)
    with pytest.raises(ValueError, match="at least one segment"):
        concat_segments([], tmp_path / "x.mp4")


def test_a_missing_ffmpeg_program_is_a_media_error(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_video(tmp_path / "source.mp4", frames=4)
    monkeypatch.setattr(media, "FFMPEG", str(tmp_path / "no-ffmpeg-here"))
    with pytest.raises(MediaToolError, match="was not found"):
        make_proxy(source, tmp_path / "proxy.mp4")
