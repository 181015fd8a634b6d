"""The streaming render pipeline, with tiny test-only operators."""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from gpu_worker.engine import io, pipeline
from gpu_worker.engine.device import CPU_THREADS_ENV
from gpu_worker.engine.pipeline import FrameItem, Stage
from gpu_worker.engine.registry import OpContext, Operator, Param, SpecError, register
from tests.conftest import media_file
from tests.engine.test_io import frame_number_of, grainy_frames, write_clip

# -- test-only operators -------------------------------------------------------------

WINDOW_LOG: list[list[int]] = []


@register
class _TemporalMean(Operator):
    name = "test_temporal_mean"
    params = (Param("radius", "int", 1, min=0, max=6),)

    def temporal_radius(self) -> int:
        return self.p["radius"]

    def process(self, frames, windows, frame_numbers):
        return frames[windows].mean(dim=1)


@register
class _WindowRecorder(Operator):
    """Records which absolute frames each window holds, passes the centre through."""

    name = "test_window_recorder"
    params = (Param("radius", "int", 2, min=0, max=6),)

    def temporal_radius(self) -> int:
        return self.p["radius"]

    def process(self, frames, windows, frame_numbers):
        # Each test frame carries its number in its pixel value (see _item).
        numbers = (frames[:, 0, 0, 0] * 1000).round().long()
        for row in windows:
            WINDOW_LOG.append(numbers[row].tolist())
        return self.centre(frames, windows)


@register
class _SeededNoise(Operator):
    """Adds noise seeded by the op seed and the frame number, like a grain op."""

    name = "test_seeded_noise"
    params = (Param("amount", "float", 0.05, min=0.0, max=0.5),)

    def process(self, frames, windows, frame_numbers):
        out = self.centre(frames, windows).clone()
        for b, n in enumerate(frame_numbers.tolist()):
            gen = torch.Generator().manual_seed(self.ctx.seed + n)
            noise = torch.randn(out.shape[1:], generator=gen) * self.p["amount"]
            out[b] += noise.to(out.device)
        return out.clamp(0, 1)


@register
class _HeapChurn(Operator):
    """Passes frames through, allocating and freeing buffers of seeded random sizes
    and bytes, as heavier operators do: the encoder then works in memory that held
    something else on each render."""

    name = "test_heap_churn"
    params = (Param("churn", "int", 0, min=0, max=1000),)

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self._rng = np.random.default_rng(self.p["churn"])
        self._kept: list[np.ndarray] = []

    def process(self, frames, windows, frame_numbers):
        for _ in range(16 * len(frame_numbers)):
            size = int(self._rng.integers(1_000, 400_000))
            self._kept.append(self._rng.integers(0, 256, size, dtype=np.uint8))
        del self._kept[:-8]
        return self.centre(frames, windows)


@register
class _Halve(Operator):
    name = "test_halve"
    changes_size = True

    def output_size(self, width, height):
        return width // 2, height // 2

    def process(self, frames, windows, frame_numbers):
        return torch.nn.functional.avg_pool2d(self.centre(frames, windows), 2)


@register
class _LinearRate(Operator):
    """Raises the rate by `ratio`, each new frame the linear mix of its two neighbours
    at its phase, so pixel values tell which frames and phase made each output."""

    name = "test_linear_rate"
    changes_rate = True
    params = (Param("ratio", "choice", "2", choices=("2", "3", "5/2", "1001/400", "1/2")),)

    @classmethod
    def rate_ratio(cls, params, fps):
        return Fraction(params["ratio"])

    def temporal_radius(self) -> int:
        return 1

    def process(self, frames, windows, frame_numbers):  # pragma: no cover - not called
        raise AssertionError("a rate op runs through process_rate")

    def process_rate(self, frames, windows, rows, phases):
        a = frames[windows[rows, 1]]
        b = frames[windows[rows, 2]]
        t = phases.view(-1, 1, 1, 1)
        return a * (1 - t) + b * t


FAST = {"preset": "ultrafast", "crf": 12}


def _item(index: int, scene: int) -> FrameItem:
    return FrameItem(index=index, pts=index * 10, duration=10, scene=scene,
                     tensor=torch.full((3, 4, 4), index / 1000.0))


def _stage(op_cls, params=None, batch=4) -> Stage:
    op = op_cls(op_cls.validate_params(params or {}), OpContext())
    return Stage(op, batch)


# -- stages --------------------------------------------------------------------------

def test_windows_are_clamped_at_scene_cuts():
    WINDOW_LOG.clear()
    stage = _stage(_WindowRecorder, {"radius": 2}, batch=3)
    scenes = [0] * 5 + [1] * 4  # cut before frame 5
    out = []
    for i, s in enumerate(scenes):
        out += stage.push(_item(i, s))
    out += stage.finish()
    assert [o.index for o in out] == list(range(9))
    assert WINDOW_LOG[0] == [0, 0, 0, 1, 2]  # start of the clip: edge repeated
    assert WINDOW_LOG[4] == [2, 3, 4, 4, 4]  # last frame of scene 0: never sees 5
    assert WINDOW_LOG[5] == [5, 5, 5, 6, 7]  # first of scene 1: never sees 4
    assert WINDOW_LOG[8] == [6, 7, 8, 8, 8]
    for window, scene_of_centre in zip(WINDOW_LOG, scenes, strict=True):
        assert {scenes[n] for n in window} == {scene_of_centre}


def test_stage_memory_is_bounded_by_radius_and_batch():
    stage = _stage(_TemporalMean, {"radius": 3}, batch=5)
    emitted = 0
    for i in range(400):
        emitted += len(stage.push(_item(i, i // 50)))
    emitted += len(stage.finish())
    assert emitted == 400
    assert stage.peak_frames <= 5 + 2 * 3 + 1


def test_output_does_not_depend_on_batch_size():
    def run(batch: int) -> list[torch.Tensor]:
        stage = _stage(_TemporalMean, {"radius": 2}, batch=batch)
        rng = np.random.default_rng(1)
        out = []
        for i in range(23):
            item = _item(i, 0 if i < 11 else 1)
            item.tensor = torch.from_numpy(rng.random((3, 4, 4), dtype=np.float32))
            out += stage.push(item)
        return [o.tensor for o in out + stage.finish()]

    a, b = run(1), run(7)
    assert len(a) == len(b) == 23
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_chain_of_stages_keeps_order_and_count():
    stages = [_stage(_TemporalMean, {"radius": 1}, 4), _stage(_TemporalMean, {"radius": 3}, 2)]
    out = list(pipeline.process_frames((_item(i, i // 10) for i in range(37)), stages))
    assert [o.index for o in out] == list(range(37))


# -- render --------------------------------------------------------------------------

@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "in.mp4", 40, rate=Fraction(24000, 1001), audio=True)


def test_render_copies_frames_timing_and_audio(clip, tmp_path):
    out = tmp_path / "out.mp4"
    calls = []
    result = pipeline.render(clip, out, {"ops": [], "encode": FAST},
                             progress=lambda *a: calls.append(a))
    assert result.frames == 40 and out.is_file() and result.size == out.stat().st_size
    info = io.probe(out)
    assert info.fps_fraction == "24000/1001"  # exactly, not 23.976...
    assert info.frame_count == 40 and info.has_audio and info.audio_codec == "aac"
    got = [frame_number_of(f) for f in io.read_frames(out)]
    assert got == list(range(40))
    assert calls[-1][0] == calls[-1][1] == 40 and calls[-1][3] == 0.0
    with av.open(str(out)) as c, av.open(str(clip)) as src:  # audio copied untouched
        a_out = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
        a_in = [bytes(p) for p in src.demux(src.streams.audio[0]) if p.size]
    assert a_out == a_in


def test_render_excerpt_trims_video_and_audio(clip, tmp_path):
    out = tmp_path / "excerpt.mp4"
    result = pipeline.render(clip, out, {"ops": [{"op": "test_temporal_mean",
                                                   "params": {"radius": 0}}],
                                         "encode": FAST}, start=13, end=25)
    assert (result.start, result.end, result.frames) == (13, 25, 12)
    assert [frame_number_of(f) for f in io.read_frames(out)] == list(range(13, 25))
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.start_time == 0
        video_seconds = float(v.duration * v.time_base)
        audio_seconds = float(a.duration * a.time_base)
    assert video_seconds == pytest.approx(12 * 1001 / 24000, abs=1e-3)
    assert abs(audio_seconds - video_seconds) < 0.05  # one AAC packet is ~21 ms


def test_excerpt_matches_full_render_with_temporal_op(tmp_path):
    clip = write_clip(tmp_path / "in.mkv", 30,
                      frame_fn=lambda i, w, h: np.random.default_rng(i).integers(
                          0, 255, (h, w, 3), dtype=np.uint8), width=64, height=48)
    spec = {"ops": [{"op": "test_temporal_mean", "params": {"radius": 2}}],
            "encode": {"preset": "ultrafast", "crf": 0, "pix_fmt": "yuv444p"}}
    full, part = tmp_path / "full.mkv", tmp_path / "part.mkv"
    pipeline.render(clip, full, spec, scene_cuts=[])
    pipeline.render(clip, part, spec, start=10, end=14, scene_cuts=[])
    full_frames = list(io.read_frames(full))[10:14]
    part_frames = list(io.read_frames(part))
    assert len(part_frames) == 4
    # Context frames are decoded around the excerpt, so the windows are the same.
    for a, b in zip(full_frames, part_frames, strict=True):
        assert np.abs(a.astype(int) - b).max() <= 1


def test_render_is_byte_identical_for_same_seed(clip, tmp_path):
    spec = {"ops": [{"op": "test_seeded_noise"}, {"op": "test_temporal_mean"}],
            "seed": 42, "encode": {"preset": "fast", "crf": 20}}
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    pipeline.render(clip, a, spec, batch_size=4)
    pipeline.render(clip, b, spec, batch_size=4)
    pipeline.render(clip, c, {**spec, "seed": 43}, batch_size=4)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_render_is_byte_identical_whatever_memory_and_thread_counts(tmp_path, monkeypatch):
    # The default encode (x264 medium: B-frames, macroblock tree) of grainy frames,
    # rendered with different leftovers in memory and different torch and OpenCV
    # thread counts. x264's AVX-512 code made these files, and their pictures, differ.
    import cv2

    frames = grainy_frames(32)
    clip = write_clip(tmp_path / "grain.mp4", 32, width=96, height=64,
                      frame_fn=lambda i, w, h: frames[i])
    cv_threads = cv2.getNumThreads()
    outputs, pictures = [], []
    try:
        for churn, threads in ((1, 1), (2, 2), (3, 1)):
            monkeypatch.setenv(CPU_THREADS_ENV, str(threads))
            cv2.setNumThreads(threads)
            out = tmp_path / f"out-{churn}.mp4"
            pipeline.render(clip, out, {"ops": [{"op": "test_seeded_noise"},
                                                {"op": "test_heap_churn",
                                                 "params": {"churn": churn}},
                                                {"op": "test_temporal_mean"}],
                                        "seed": 42}, device="cpu")
            outputs.append(out.read_bytes())
            pictures.append(np.stack(list(io.read_frames(out))))
    finally:
        cv2.setNumThreads(cv_threads)
    assert pictures[0].shape == (32, 64, 96, 3)
    assert all(np.array_equal(pictures[0], p) for p in pictures[1:])
    assert outputs[0] == outputs[1] == outputs[2]


def test_cpu_render_runs_on_one_torch_thread_and_restores_the_setting(clip, tmp_path,
                                                                     monkeypatch):
    from gpu_worker.engine.device import CPU_THREADS_ENV

    monkeypatch.delenv(CPU_THREADS_ENV, raising=False)
    before = torch.get_num_threads()
    seen = []
    pipeline.render(clip, tmp_path / "t.mp4", {"ops": [{"op": "test_temporal_mean"}]},
                    device="cpu", progress=lambda *a: seen.append(torch.get_num_threads()))
    assert seen[0] == 1  # the first progress call comes from inside the frame loop
    assert torch.get_num_threads() == before


def test_scene_cut_detected_and_never_blended(tmp_path):
    def two_shots(i, w, h):
        y, x = np.mgrid[0:h, 0:w]
        if i < 12:  # a soft gradient with a bar drifting slowly to the right
            shot = 40 + x * 2 + ((x - i) % 32 < 4) * 60
            return np.repeat(shot.astype(np.uint8)[:, :, None], 3, axis=2)
        pattern = ((x // 8 + y // 8) % 2 * 200 + 30).astype(np.uint8)
        return np.repeat(pattern[:, :, None], 3, axis=2)

    clip = write_clip(tmp_path / "cut.mp4", 24, frame_fn=two_shots)
    out = tmp_path / "out.mp4"
    spec = {"ops": [{"op": "test_temporal_mean", "params": {"radius": 3}}],
            "encode": {"preset": "ultrafast", "crf": 0, "pix_fmt": "yuv444p"}}
    result = pipeline.render(clip, out, spec)
    assert result.scene_cuts == [12]
    frames = list(io.read_frames(out))
    checker = two_shots(12, 64, 48).astype(int)
    # The first frame of the second shot averages only second-shot frames.
    assert np.abs(frames[12].astype(int) - checker).mean() < 3
    assert np.abs(frames[11].astype(int) - checker).mean() > 30


def test_size_changing_op(clip, tmp_path):
    out = tmp_path / "small.mp4"
    result = pipeline.render(clip, out, {"ops": [{"op": "test_halve"}], "encode": FAST},
                             end=5)
    assert (result.width, result.height) == (32, 24)
    assert (io.probe(out).width, io.probe(out).height) == (32, 24)


def _rate_stage(ratio: str, batch: int = 3) -> pipeline.RateStage:
    op = _LinearRate(_LinearRate.validate_params({"ratio": ratio}), OpContext())
    return pipeline.RateStage(op, Fraction(ratio), batch)


@pytest.mark.parametrize("ratio", ["2", "3", "5/2", "1001/400"])
def test_rate_stage_numbers_phases_and_timestamps(ratio):
    r = Fraction(ratio)
    stage = _rate_stage(ratio)
    out = list(pipeline.process_frames((_item(i, 0) for i in range(10)), [stage]))
    assert [o.index for o in out] == list(range(math.ceil(10 * r)))
    p = r.numerator
    for o in out:
        position = Fraction(o.index) / r  # on the input frame axis
        i = math.floor(position)
        assert o.source == i
        # Input frame i is at pts 10·i (duration 10), in a time base p times finer.
        assert Fraction(o.pts, p) == 10 * position
        if i < 9:  # the last input frame has no next frame: held
            assert float(o.tensor[0, 0, 0]) == pytest.approx(float(position) / 1000, abs=1e-6)
        else:
            assert float(o.tensor[0, 0, 0]) == pytest.approx(9 / 1000, abs=1e-6)
    # Outputs follow each other without gap or overlap and end with the last input.
    for a, b in zip(out, out[1:], strict=False):
        assert a.pts + a.duration == b.pts
    assert out[-1].pts + out[-1].duration == 100 * p


def test_rate_stage_holds_the_last_frame_of_a_scene():
    stage = _rate_stage("2", batch=2)
    scenes = [0] * 4 + [1] * 4
    out = list(pipeline.process_frames((_item(i, s) for i, s in enumerate(scenes)), [stage]))
    values = [round(float(o.tensor[0, 0, 0]) * 1000, 3) for o in out]
    assert values[6:10] == [3.0, 3.0, 4.0, 4.5]  # frame 3 held, never mixed with 4
    assert [o.scene for o in out] == [s for s in scenes for _ in range(2)]


def test_rate_stage_output_does_not_depend_on_batch_size():
    def run(batch):
        return [(o.index, o.pts, o.duration, float(o.tensor.sum()))
                for o in pipeline.process_frames((_item(i, i // 7) for i in range(20)),
                                                 [_rate_stage("5/2", batch)])]

    assert run(1) == run(4) == run(9)


def test_rate_stage_then_temporal_stage_keeps_order():
    stages = [_rate_stage("3", 4), _stage(_TemporalMean, {"radius": 2}, 3)]
    out = list(pipeline.process_frames((_item(i, i // 6) for i in range(13)), stages))
    assert [o.index for o in out] == list(range(39))


def test_rate_lowering_op_is_refused_before_decoding(clip, tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(SpecError, match=r"op #1 \(test_linear_rate\): lowers the frame rate"):
        pipeline.render(clip, out, [{"op": "test_linear_rate", "params": {"ratio": "1/2"}}])
    assert not out.exists()


def test_render_with_rate_op_keeps_duration_and_audio(clip, tmp_path):
    out = tmp_path / "fast.mp4"
    spec = {"ops": [{"op": "test_linear_rate", "params": {"ratio": "5/2"}}], "encode": FAST}
    assert pipeline.expected_output_frames(spec, 40, Fraction(24000, 1001)) == 100
    result = pipeline.render(clip, out, spec)
    assert result.frames == 100 and (result.start, result.end) == (0, 40)
    info = io.probe(out)
    assert Fraction(info.fps_fraction) == Fraction(60000, 1001)
    assert info.frame_count == 100
    src = io.probe(clip)
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        video_seconds = float(v.duration * v.time_base)
        audio_seconds = float(a.duration * a.time_base)
        times = [float(pk.pts * v.time_base) for pk in c.demux(v) if pk.pts is not None]
    assert video_seconds == pytest.approx(40 * 1001 / 24000, abs=1e-4)
    assert audio_seconds == pytest.approx(src.duration, abs=0.05)
    assert sorted(times) == pytest.approx([m * 1001 / 60000 for m in range(100)], abs=1e-6)


def test_render_excerpt_with_rate_op_is_the_same_frames_as_the_full_render(clip, tmp_path):
    spec = {"ops": [{"op": "test_linear_rate", "params": {"ratio": "5/2"}}],
            "encode": {"preset": "ultrafast", "crf": 0, "pix_fmt": "yuv444p"}}
    full, part = tmp_path / "full.mkv", tmp_path / "part.mkv"
    pipeline.render(clip, full, spec, scene_cuts=[])
    result = pipeline.render(clip, part, spec, start=13, end=25, scene_cuts=[])
    # Outputs ceil(13·2.5)=33 .. ceil(25·2.5)=63 (exclusive).
    assert result.frames == 30 == pipeline.expected_output_frames(spec, 12, Fraction(24000, 1001),
                                                                   start=13)
    full_frames = list(io.read_frames(full))[33:63]
    part_frames = list(io.read_frames(part))
    assert len(part_frames) == 30
    for a, b in zip(full_frames, part_frames, strict=True):
        assert np.abs(a.astype(int) - b).max() <= 1
    with av.open(str(part)) as c:
        v = c.streams.video[0]
        ends = [(pk.pts, pk.pts + pk.duration) for pk in c.demux(v) if pk.pts is not None]
        time_base = v.time_base  # PyAV 18.1.1 refuses stream attributes once the file is closed
    # 30 outputs of 1/(60000/1001) s each, from zero (mkv stores milliseconds).
    assert min(e[0] for e in ends) == 0
    assert float(max(e[1] for e in ends) * time_base) == pytest.approx(30 * 1001 / 60000, abs=2e-3)


def test_bad_spec_fails_before_touching_input(tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(SpecError, match=r"op #2 \(test_temporal_mean\).*radius.*\[0, 6\]"):
        pipeline.render(tmp_path / "does-not-exist.mp4", out,
                        [{"op": "test_halve"}, {"op": "test_temporal_mean",
                                                "params": {"radius": 9}}])
    assert not out.exists()


def test_cancel_leaves_no_file(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "CANCEL_INTERVAL", 0.0)
    out = tmp_path / "out" / "x.mp4"
    out.parent.mkdir()
    polls = []

    def cancel() -> bool:
        polls.append(1)
        return len(polls) >= 5

    with pytest.raises(pipeline.RenderCancelled):
        pipeline.render(clip, out, {"ops": [], "encode": FAST}, should_cancel=cancel)
    assert list(out.parent.iterdir()) == []


def test_unwritable_output_is_a_clear_error(clip, tmp_path):
    with pytest.raises(pipeline.RenderError, match="does not exist"):
        pipeline.render(clip, tmp_path / "missing" / "x.mp4", [])


def test_frame_range_outside_clip(clip, tmp_path):
    with pytest.raises(SpecError, match="start: frame 99"):
        pipeline.render(clip, tmp_path / "x.mp4", [], start=99)


@pytest.mark.parametrize("encode,suffix,codec,pix_fmt", [
    ({"codec": "h265", "preset": "ultrafast"}, ".mkv", "hevc", "yuv420p"),
    ({"codec": "av1", "preset": "12", "film_grain": 10}, ".mkv", "av1", "yuv420p"),
    ({"codec": "prores", "prores_profile": 1}, ".mov", "prores", "yuv422p10le"),
])
def test_other_encoders(tmp_path, encode, suffix, codec, pix_fmt):
    clip = write_clip(tmp_path / "in.mp4", 6, width=64, height=64)
    out = tmp_path / f"out{suffix}"
    pipeline.render(clip, out, {"ops": [], "encode": encode})
    info = io.probe(out)
    assert (info.video_codec, info.pix_fmt, info.frame_count) == (codec, pix_fmt, 6)


def test_prores_in_mp4_is_refused(clip, tmp_path):
    with pytest.raises(SpecError, match="ProRes needs a .mov"):
        pipeline.render(clip, tmp_path / "x.mp4", {"ops": [], "encode": {"codec": "prores"}})


def test_real_old_film_keeps_rate_and_colour_tags(tmp_path):
    src = media_file("old_film/roundhay_garden_scene.mp4")
    out = tmp_path / "roundhay.mp4"
    pipeline.render(src, out, {"ops": [{"op": "test_temporal_mean"}], "encode": FAST})
    a, b = io.probe(src), io.probe(out)
    assert b.fps_fraction == a.fps_fraction and b.frame_count == a.frame_count == 52


def test_variable_rate_excerpt_keeps_timestamps_and_tags(tmp_path):
    src = media_file("old_film/muybridge_buffalo.mp4")
    out = tmp_path / "muy.mp4"
    pipeline.render(src, out, {"ops": [], "encode": FAST}, start=20, end=32)
    src_pts = io.frame_pts_table(src)[20:32]
    with av.open(str(out)) as c:
        out_pts = sorted(p.pts for p in c.demux(c.streams.video[0]) if p.size)
    assert out_pts == [p - src_pts[0] for p in src_pts]  # uneven gaps preserved
    info = io.probe(out)
    assert (info.color_space, info.color_primaries, info.color_trc, info.color_range) == (
        "smpte170m", "smpte170m", "bt709", "tv")


def test_device_choice():
    from gpu_worker.engine.device import DeviceError, pick_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device(None).type == expected
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="unsupported device|unknown device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU is available"):
            pick_device("cuda")


def test_muybridge_full_render_keeps_its_odd_rate_exactly(tmp_path):
    # 330 frames over 1043171/90000 s: 28.47 fps as the exact fraction, with audio.
    src = media_file("old_film/muybridge_buffalo.mp4")
    out = tmp_path / "muybridge.mp4"
    pipeline.render(src, out, {"ops": [], "encode": {"preset": "ultrafast", "crf": 30}})
    info = io.probe(out)
    assert info.fps_fraction == "29700000/1043171" == io.probe(src).fps_fraction
    assert (info.frame_count, info.has_audio) == (330, True)


# --- high bit depth ------------------------------------------------------------------


@pytest.mark.parametrize(("src_codec", "src_fmt", "suffix"), [
    ("ffv1", "yuv444p10le", ".mkv"), ("prores_ks", "yuv422p10le", ".mov")])
@pytest.mark.parametrize(("encode", "out_suffix"), [
    ({"codec": "prores"}, ".mov"), ({"codec": "ffv1"}, ".mkv"),
    ({"codec": "h265", "pix_fmt": "yuv420p10le", "preset": "ultrafast"}, ".mkv")])
def test_ten_bit_gradient_stays_ten_bit(tmp_path, src_codec, src_fmt, suffix, encode,
                                        out_suffix):
    from tests.media_factory import luma_levels, make_gradient

    src = make_gradient(tmp_path / f"g{suffix}", frames=3, codec=src_codec, pix_fmt=src_fmt)
    assert io.probe(src).bit_depth == 10 and luma_levels(src)[1] > 800
    out = tmp_path / f"out{out_suffix}"
    pipeline.render(src, out, {"ops": [{"op": "deflicker"}], "encode": encode})
    fmt, levels = luma_levels(out)
    assert fmt.endswith("10le")
    assert levels > 256, "an 8-bit step on the way would leave at most 256 levels"


def test_eight_bit_output_of_a_ten_bit_source_and_ten_bit_decode(tmp_path):
    from tests.media_factory import luma_levels, make_gradient

    src = make_gradient(tmp_path / "g.mkv", frames=2)
    deep = next(io.iter_decoded(src, high_bit_depth=True)).image
    assert deep.dtype == np.uint16 and len(np.unique(deep[0, :, 1])) > 800
    assert next(io.iter_decoded(src)).image.dtype == np.uint8  # default stays 8-bit
    out = tmp_path / "out.mp4"
    pipeline.render(src, out, {"ops": [], "encode": {"codec": "h264", "crf": 0}})
    assert luma_levels(out)[0] == "yuv420p"


def test_colour_description_is_carried_into_a_ten_bit_master(tmp_path):
    from tests.media_factory import make_gradient

    # BT.2020 primaries and matrix, BT.2020 10-bit transfer, limited range.
    src = make_gradient(tmp_path / "hdr.mkv", frames=2, colour={
        "color_primaries": 9, "color_trc": 14, "colorspace": 9, "color_range": 1})
    out = tmp_path / "master.mov"
    pipeline.render(src, out, {"ops": [], "encode": {"codec": "prores", "prores_profile": 4}})
    a, b = io.probe(src), io.probe(out)
    assert (b.color_primaries, b.color_trc, b.color_space, b.color_range) == (
        "bt2020", "bt2020-10", "bt2020nc", "tv") == (
        a.color_primaries, a.color_trc, a.color_space, a.color_range)
    # FFmpeg's ProRes decoder gives 4444 as 12-bit planes.
    assert b.pix_fmt in ("yuv444p10le", "yuv444p12le") and b.bit_depth >= 10


# --- image sequences -------------------------------------------------------------------


def test_tiff16_sequence_to_prores_and_back_to_sequences(tmp_path):
    from gpu_worker.engine.sequence import find_sequence
    from tests.media_factory import luma_levels, make_image_sequence

    pattern = make_image_sequence(tmp_path / "scan", kind="tiff16", frames=5, width=512)
    master = tmp_path / "master.mov"
    result = pipeline.render(find_sequence(pattern, Fraction(24000, 1001)), master,
                             {"ops": [{"op": "deflicker"}], "encode": {"codec": "prores"}})
    info = io.probe(master)
    assert result.frames == 5 and info.fps_fraction == "24000/1001"
    assert luma_levels(master)[1] > 256
    for codec, suffix, pix_fmt in (("exr", ".exr", "gbrpf32le"), ("dpx", ".dpx", "gbrp10le"),
                                   ("tiff", ".tif", "rgb48le")):
        folder = tmp_path / codec
        folder.mkdir()
        out = pipeline.render(pattern, folder / f"f_%04d{suffix}",
                              {"ops": [], "encode": {"codec": codec}})
        names = sorted(p.name for p in folder.iterdir())
        assert names == [f"f_{n:04d}{suffix}" for n in range(5)], names  # no part folder left
        assert out.frames == 5 and out.size > 0 and not out.audio
        back = io.probe(folder / f"f_%04d{suffix}")
        assert back.pix_fmt == pix_fmt and back.frame_count == 5
        a = next(io.iter_decoded(pattern, high_bit_depth=True)).image.astype(int)
        b = next(io.iter_decoded(folder / f"f_%04d{suffix}", high_bit_depth=True)).image
        # Within a 10-bit step (64 codes of 16 bits): DPX is 10-bit, and swscale's
        # 16-bit to float conversion for EXR is a few dozen codes off.
        assert np.abs(a - b.astype(int)).max() <= {"dpx": 64, "exr": 40, "tiff": 1}[codec]


def test_sequence_output_needs_a_pattern_and_a_matching_codec(tmp_path):
    from tests.media_factory import make_image_sequence

    pattern = make_image_sequence(tmp_path / "scan", kind="png", frames=2)
    with pytest.raises(SpecError, match="numbered pattern"):
        pipeline.render(pattern, tmp_path / "one.tif", {"ops": [], "encode": {"codec": "tiff"}})
    with pytest.raises(SpecError, match="needs an image-sequence output"):
        pipeline.render(pattern, tmp_path / "x.mkv", {"ops": [], "encode": {"codec": "exr"}})
    with pytest.raises(SpecError, match="needs a video file"):
        pipeline.render(pattern, tmp_path / "%04d.tif", {"ops": [], "encode": {"codec": "h264"}})
