"""Probing and frame-accurate decoding (gpu_worker.engine.io)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gpu_worker.engine import io
from gpu_worker.engine.encoding import EncodeSettings
from tests.conftest import media_file

MUYBRIDGE = "old_film/muybridge_buffalo.mp4"
ROUNDHAY = "old_film/roundhay_garden_scene.mp4"
COCKATOO = "clean/cockatoo_720p.mp4"


def numbered_frame(i: int, width: int = 64, height: int = 48) -> np.ndarray:
    """A frame whose mean brightness encodes its number, robust to lossy coding."""
    img = np.zeros((height, width, 3), np.uint8)
    img[...] = 20 + 5 * (i % 44)  # distinct for 44 frames, 5 levels apart
    img[: height // 4, : width // 4] = 255 if i % 2 else 0  # motion so it is not static
    return img


def frame_number_of(img: np.ndarray) -> int:
    h, w = img.shape[:2]
    level = float(img[h // 2:, w // 2:].mean())
    return int(round((level - 20) / 5))


def write_clip(path: Path, n: int, *, rate: Fraction | int = 25, width: int = 64,
               height: int = 48, container: str | None = None, audio: bool = False,
               gop: int = 12, frame_fn=numbered_frame,
               preset_options: dict[str, str] | None = None) -> Path:
    """Encode a small H.264 clip with PyAV (keyframe every `gop` frames)."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {"crf": "10", "preset": "ultrafast", "bf": "2", **(preset_options or {})}
        astream = out.add_stream("aac", rate=48000) if audio else None
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(frame_fn(i, width, height), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if astream is not None:
            seconds = n / float(rate)
            samples = int(seconds * 48000)
            t = np.arange(samples) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for s in range(0, samples, 1024):
                chunk = np.stack([tone[s:s + 1024]] * 2)
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp",
                                                layout="stereo")
                af.sample_rate = 48000
                af.pts = s
                for packet in astream.encode(af):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return path


# -- probe on real files -------------------------------------------------------------

def test_probe_muybridge_real_file():
    info = io.probe(media_file(MUYBRIDGE))
    assert (info.width, info.height) == (400, 300)
    assert info.fps == pytest.approx(28.47, abs=0.01)
    assert Fraction(info.fps_fraction) == Fraction(29700000, 1043171)
    assert info.frame_count == 330
    assert info.has_audio and info.audio_codec == "aac"
    assert info.video_codec == "h264"
    assert info.duration == pytest.approx(11.59, abs=0.05)
    assert info.to_dict()["frame_count"] == 330


def test_probe_roundhay_without_frame_count_in_header():
    # A fragmented MP4 declares no frame count: it is derived from duration and rate.
    info = io.probe(media_file(ROUNDHAY))
    assert (info.width, info.height, info.frame_count, info.has_audio) == (192, 144, 52, False)
    assert info.audio_codec is None


def test_probe_deep_counts_every_frame():
    info = io.probe(media_file(ROUNDHAY), deep=True)
    assert info.frame_count == 52 and info.frame_count_exact


def test_probe_cockatoo():
    info = io.probe(media_file(COCKATOO))
    assert (info.width, info.height, info.frame_count, info.fps) == (1280, 720, 280, 20.0)


# -- rejections ----------------------------------------------------------------------

def test_rejects_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(io.MediaError, match="empty"):
        io.probe(path)


def test_rejects_missing_file(tmp_path):
    with pytest.raises(io.MediaError, match="not found"):
        io.probe(tmp_path / "nope.mp4")


def test_rejects_text_named_like_video(tmp_path):
    path = tmp_path / "film.mp4"
    path.write_text("this is not a film, only some words\n" * 20)
    with pytest.raises(io.MediaError, match="not a media file"):
        io.probe(path)


def test_identifies_by_content_not_extension(tmp_path):
    path = write_clip(tmp_path / "clip.txt", 10, container="matroska")
    assert io.probe(path).container.startswith("matroska")


def test_rejects_audio_only(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        silence = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp",
                                             layout="stereo")
        silence.sample_rate = 48000
        for packet in stream.encode(silence):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(io.MediaError, match="audio only"):
        io.probe(path)


def test_rejects_tiny_dimensions(tmp_path):
    path = write_clip(tmp_path / "tiny.mkv", 5, width=8, height=8)
    with pytest.raises(io.MediaError, match="absurd dimensions 8x8"):
        io.probe(path)


def test_rejects_huge_dimensions_by_pixel_limit(tmp_path):
    path = write_clip(tmp_path / "big.mkv", 3, width=256, height=256)
    with pytest.raises(io.MediaError, match="absurd dimensions 256x256"):
        io.probe(path, max_pixels=128 * 128)


def test_rejects_undecodable_video(tmp_path):
    # A valid container whose video packets are noise: opens, but nothing decodes.
    path = tmp_path / "noise.mkv"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
        for i in range(20):
            packet = av.Packet(rng.integers(0, 255, 500, dtype=np.uint8).tobytes())
            packet.stream, packet.pts, packet.dts = stream, i, i
            packet.time_base = Fraction(1, 25)
            out.mux(packet)
    with pytest.raises(io.MediaError, match=r"cannot decode the video \(mpeg4\)"):
        io.probe(path)


def test_rejects_truncated_mp4_without_index(tmp_path):
    data = media_file(MUYBRIDGE).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(io.MediaError, match="truncated"):
        io.probe(path)


def test_two_frame_clip_from_a_delayed_decoder_is_not_called_truncated(tmp_path):
    # H.264 with B-frames hands its frames out only when flushed: the end check must
    # flush, or every very short clip (a pair of film frames) reads as cut short.
    path = write_clip(tmp_path / "two.mp4", 2, container="mp4", preset_options={"preset": "medium"})
    info = io.probe(path)
    assert info.frame_count == 2
    assert len(list(io.read_frames(path))) == 2


def test_rejects_truncated_stream_whose_header_declares_more(tmp_path):
    full = write_clip(tmp_path / "full.mkv", 100, width=64, height=48, gop=10,
                      frame_fn=lambda i, w, h: np.random.default_rng(i).integers(
                          0, 255, (h, w, 3), dtype=np.uint8))
    data = full.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.MediaError, match=r"truncated: decoding stopped at frame \d+ of ~100"):
        io.probe(cut)
    assert io.probe(full).frame_count == 100


# -- reading -------------------------------------------------------------------------

def test_read_frames_streams_rgb_in_order(tmp_path):
    path = write_clip(tmp_path / "c.mp4", 30)
    frames = list(io.read_frames(path))
    assert len(frames) == 30
    assert frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    assert [frame_number_of(f) for f in frames] == list(range(30))


@pytest.mark.parametrize("start,end", [(0, 5), (7, 9), (12, 13), (13, 30), (25, None)])
def test_read_frames_is_frame_accurate_across_keyframes(tmp_path, start, end):
    path = write_clip(tmp_path / "c.mp4", 30, gop=12)
    got = [frame_number_of(f) for f in io.read_frames(path, start=start, end=end)]
    assert got == list(range(start, 30 if end is None else end))


def test_extract_frame_matches_sequential_decode_on_variable_rate_file():
    # The Muybridge file has uneven frame durations: seeking by time would miss frames.
    path = media_file(MUYBRIDGE)
    sequential = list(io.read_frames(path, end=200))
    for n in (0, 57, 199):
        assert np.array_equal(io.extract_frame(path, n), sequential[n])


def test_extract_frame_past_end(tmp_path):
    path = write_clip(tmp_path / "c.mp4", 10)
    with pytest.raises(io.MediaError, match="does not exist"):
        io.extract_frame(path, 10)


def test_iter_decoded_reports_timestamps(tmp_path):
    path = write_clip(tmp_path / "c.mp4", 10, rate=Fraction(24000, 1001))
    decoded = list(io.iter_decoded(path, start=2, end=5))
    assert [d.index for d in decoded] == [2, 3, 4]
    assert decoded[1].time == pytest.approx(3 * 1001 / 24000, abs=1e-3)


def test_probe_raw_ntsc_dv(tmp_path):
    # A raw DV file has no index: FFmpeg's "average rate" for it is its time base's tick
    # rate (60000), which once made 60 frames look like 120120 and a truncated file.
    from tests.media_factory import make_dv

    path = make_dv(tmp_path / "tape.dv", frames=60)
    info = io.probe(path)
    assert (info.container, info.video_codec) == ("dv", "dvvideo")
    assert (info.width, info.height) == (720, 480)
    assert info.fps_fraction == "30000/1001"
    assert info.frame_count == 60
    assert info.field_order == "bff"  # DV is bottom field first
    assert io.probe(path, deep=True).frame_count == 60
    assert len(list(io.read_frames(path, start=55))) == 5


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_probe_reads_declared_field_order(tmp_path, order):
    from tests.media_factory import make_interlaced

    path = make_interlaced(tmp_path / f"{order}.mpg", frames=6, field_order=order)
    assert io.probe(path).field_order == order


def test_probe_progressive_or_undeclared_field_order(tmp_path):
    path = write_clip(tmp_path / "p.mp4", 4)
    assert io.probe(path).field_order in ("progressive", "unknown")


def test_timecode_is_read_and_kept_in_outputs(tmp_path):
    import subprocess

    from gpu_worker.engine import pipeline

    src = tmp_path / "tc.mov"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x48:rate=25", "-frames:v", "10", "-timecode",
                    "01:00:00:00", str(src)], check=True)
    assert io.probe(src).timecode == "01:00:00:00"
    spec = {"ops": [], "encode": {"codec": "prores", "prores_profile": 0}}
    pipeline.render(src, tmp_path / "all.mov", spec)
    assert io.probe(tmp_path / "all.mov").timecode == "01:00:00:00"
    # An excerpt starts at its first frame's timecode, in MOV and in Matroska.
    pipeline.render(src, tmp_path / "part.mov", spec, start=4, end=9)
    assert io.probe(tmp_path / "part.mov").timecode == "01:00:00:04"
    pipeline.render(src, tmp_path / "part.mkv", {"ops": []}, start=3)
    assert io.probe(tmp_path / "part.mkv").timecode == "01:00:00:03"
    assert io.probe(write_clip(tmp_path / "none.mp4", 3)).timecode is None


# -- repeatable encodes ----------------------------------------------------------------


def grainy_frames(n: int, width: int = 96, height: int = 64, seed: int = 0) -> list[np.ndarray]:
    """A textured picture panning one pixel a frame under fresh grain, like a film
    scan: the kind of input on which x264's AVX-512 lookahead lost its repeatability."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, (height, width, 3)).astype(np.float32)
    return [np.clip(np.roll(base, i, axis=1) + rng.normal(0, 12, base.shape), 0, 255)
            .astype(np.uint8) for i in range(n)]


def encode_with_heap_churn(path: Path, frames: list[np.ndarray], churn_seed: int,
                           settings: EncodeSettings | None = None) -> bytes:
    """Encode `frames`, allocating and freeing buffers of seeded random sizes and bytes
    before each frame, as a render's operators do: the encoder's memory then holds
    whatever those left, different for each `churn_seed`."""
    rng = np.random.default_rng(churn_seed)
    kept: list[np.ndarray] = []
    height, width = frames[0].shape[:2]
    with io.VideoWriter(path, width=width, height=height, time_base=Fraction(1, 25),
                        rate=Fraction(25), settings=settings or EncodeSettings()) as writer:
        for i, frame in enumerate(frames):
            for _ in range(16):
                size = int(rng.integers(1_000, 400_000))
                kept.append(rng.integers(0, 256, size, dtype=np.uint8))
            del kept[:12]
            writer.write(frame, i, 1)
    return path.read_bytes()


def test_h264_encode_does_not_depend_on_what_memory_held(tmp_path):
    # With x264's AVX-512 code these three gave three different files (and pictures);
    # on a CPU without AVX-512 the test holds either way.
    frames = grainy_frames(32)
    outputs = [encode_with_heap_churn(tmp_path / f"{seed}.mp4", frames, seed)
               for seed in (1, 2, 3)]
    assert outputs[0] == outputs[1] == outputs[2]
    decoded = [np.stack(list(io.read_frames(tmp_path / f"{seed}.mp4"))) for seed in (1, 2, 3)]
    assert decoded[0].shape == (32, 64, 96, 3)
    assert np.array_equal(decoded[0], decoded[1]) and np.array_equal(decoded[0], decoded[2])


@pytest.fixture
def fresh_x264_asm(monkeypatch):
    io.x264_asm.cache_clear()
    yield monkeypatch
    io.x264_asm.cache_clear()


def test_x264_is_held_to_avx2_on_an_avx512_cpu(fresh_x264_asm):
    fresh_x264_asm.delenv(io.X264_ASM_ENV, raising=False)
    fresh_x264_asm.setattr(io, "_cpu_flags",
                           lambda: frozenset({"sse4_2", "avx2", "avx512f", "avx512bw"}))
    assert io.encoder_options(EncodeSettings(crf=20))["x264-params"] == "asm=AVX2"
    # The spec's own x264 parameters are kept, and its own asm choice wins.
    own = EncodeSettings(options={"x264-params": "keyint=24:bframes=2"})
    assert io.encoder_options(own)["x264-params"] == "keyint=24:bframes=2:asm=AVX2"
    chosen = EncodeSettings(options={"x264-params": "asm=0"})
    assert io.encoder_options(chosen)["x264-params"] == "asm=0"
    # Other encoders are not x264.
    assert "x264-params" not in io.encoder_options(EncodeSettings(codec="h265"))


def test_x264_keeps_its_own_detection_without_avx512(fresh_x264_asm):
    fresh_x264_asm.delenv(io.X264_ASM_ENV, raising=False)
    fresh_x264_asm.setattr(io, "_cpu_flags", lambda: frozenset({"sse4_2", "avx", "avx2"}))
    assert io.x264_asm() is None
    assert io.encoder_options(EncodeSettings(crf=20)) == EncodeSettings(crf=20).codec_options()


@pytest.mark.parametrize(("value", "expected"), [("auto", None), ("AUTO", None),
                                                 ("SSE4.2", "SSE4.2")])
def test_x264_asm_setting_overrides_the_choice(fresh_x264_asm, value, expected):
    fresh_x264_asm.setenv(io.X264_ASM_ENV, value)
    fresh_x264_asm.setattr(io, "_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert io.x264_asm() == expected



@pytest.mark.parametrize(("name", "codec"), [("a.mkv", "ffv1"), ("a.mov", "prores"),
                                             ("a.mp4", "h264")])
def test_containers_carry_no_random_or_version_fields(tmp_path, name, codec):
    # Matroska wrote random segment and track UIDs: every master differed in its header.
    frames = grainy_frames(4)
    files = []
    for run in (1, 2):
        path = tmp_path / f"{run}-{name}"
        files.append(encode_with_heap_churn(path, frames, run, EncodeSettings(codec=codec)))
    assert files[0] == files[1]
    assert b"Lavf6" not in files[0]  # the muxer's version is left out too
