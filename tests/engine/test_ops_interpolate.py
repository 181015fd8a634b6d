"""The frame interpolation operator, alone and in a real render."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine import io, metrics, pipeline
from gpu_worker.engine.ops.interpolate import (
    IRREGULAR_HIGH,
    IRREGULAR_LOW,
    Interpolate,
    _splat_torch,
    consistency,
    is_duplicate,
    motion_irregularity,
    splat,
    timing_spread,
)
from gpu_worker.engine.pipeline import FrameItem, RateStage
from gpu_worker.engine.rate import as_rate
from gpu_worker.engine.registry import OpContext, SpecError
from gpu_worker.engine.spec import apply_overrides, expected_output_frames, parse_spec
from tests.engine.test_io import write_clip

_rng = np.random.default_rng(0)
TEXTURE = cv2.GaussianBlur(_rng.random((200, 300, 3)).astype(np.float32), (0, 0), 2.0)
TEXTURE = (TEXTURE - TEXTURE.min()) / (TEXTURE.max() - TEXTURE.min())


def scene(k: float) -> np.ndarray:
    """Frame k of a moving shot: the background pans left 3 px a frame and a textured
    patch moves right 6 px a frame over it (so it covers and uncovers background)."""
    x0 = int(round(10 + 3 * k))
    img = TEXTURE[20:116, x0:x0 + 128].copy()
    x = int(round(20 + 6 * k))
    img[30:60, x:x + 30] = TEXTURE[150:180, 200:230][:, :, ::-1] * 0.6 + 0.4
    return img


def tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def make_op(**params) -> Interpolate:  # type: ignore[no-untyped-def]
    return Interpolate(Interpolate.validate_params(params), OpContext(rate=Fraction(24)))


def test_middle_frame_is_close_to_the_true_one_and_far_better_than_a_blend():
    a, truth, b = tensor(scene(0)), tensor(scene(1)), tensor(scene(2))
    mid = make_op().interpolate_pair(a[None], b[None], [0.5])[0]
    ours = metrics.psnr(mid, truth)
    blend = metrics.psnr((a + b) / 2, truth)
    assert ours > 27.0
    assert ours > blend + 5.0
    assert metrics.ssim(mid, truth) > metrics.ssim((a + b) / 2, truth) + 0.1


@pytest.mark.parametrize("t", [1 / 3, 2 / 3])
def test_frames_at_thirds_follow_the_motion(t):
    a, b = tensor(scene(0)), tensor(scene(3))
    truth = tensor(scene(3 * t))
    out = make_op().interpolate_pair(a[None], b[None], [t])[0]
    assert metrics.psnr(out, truth) > metrics.psnr((1 - t) * a + t * b, truth) + 5.0


def test_farneback_method_also_follows_the_motion():
    a, truth, b = tensor(scene(0)), tensor(scene(1)), tensor(scene(2))
    mid = make_op(method="farneback").interpolate_pair(a[None], b[None], [0.5])[0]
    assert metrics.psnr(mid, truth) > metrics.psnr((a + b) / 2, truth) + 3.0


def test_reduced_flow_size_still_follows_the_motion():
    a, truth, b = tensor(scene(0)), tensor(scene(1)), tensor(scene(2))
    mid = make_op(flow_size=64).interpolate_pair(a[None], b[None], [0.5])[0]
    assert metrics.psnr(mid, truth) > metrics.psnr((a + b) / 2, truth) + 3.0


def test_unrelated_frames_fall_back_to_the_nearer_frame():
    a = tensor(scene(0))
    b = tensor(np.ascontiguousarray(TEXTURE[100:196, 150:278][::-1]))  # another picture
    op = make_op(max_unreliable=0.0)
    early, late = op.interpolate_pair(a[None], b[None], [0.25, 0.75])
    assert torch.equal(early, a) and torch.equal(late, b)
    blend = make_op(max_unreliable=0.0, fallback="blend").interpolate_pair(
        a[None], b[None], [0.25])[0]
    assert torch.allclose(blend, 0.75 * a + 0.25 * b, atol=1e-6)


def test_consistency_is_zero_for_matching_flows_and_large_for_contradicting_ones():
    f = torch.zeros(1, 2, 8, 8)
    f[:, 0] = 2.0
    assert float(consistency(f, -f).max()) < 1e-5
    assert float(consistency(f, f).min()) > 3.9


def test_splat_moves_values_and_conserves_weight():
    values = torch.arange(16, dtype=torch.float32).view(1, 4, 4)
    flow = torch.zeros(2, 4, 4)
    flow[0] = 1.0  # everything one pixel right; the last column leaves the frame
    num, den = splat(values, flow, torch.ones(4, 4))
    assert torch.equal(den[:, 0], torch.zeros(4)) and torch.equal(den[:, 1:], torch.ones(4, 3))
    assert torch.equal(num[0, :, 1:], values[0, :, :3])


def test_splat_on_the_cpu_matches_the_torch_splat_used_on_other_devices():
    gen = torch.Generator().manual_seed(3)
    values = torch.rand(2, 20, 30, generator=gen)
    flow = torch.randn(2, 20, 30, generator=gen) * 4  # fractional, some off the frame
    weight = torch.rand(20, 30, generator=gen)
    num, den = splat(values, flow, weight)
    num_t, den_t = _splat_torch(values, flow, weight)
    assert float(den.sum()) > 100
    assert torch.allclose(num, num_t, atol=1e-4) and torch.allclose(den, den_t, atol=1e-4)


def test_process_rate_holds_at_a_cut_and_keeps_phase_zero_frames():
    op = make_op()
    frames = torch.stack([tensor(scene(0)), tensor(scene(2)), tensor(scene(4))])
    # Window 0: frame 0 then 1 (same scene). Window 1: frame 1 is the last of its
    # scene (its next is itself, as the pipeline clamps at a cut).
    windows = torch.tensor([[0, 0, 1], [0, 1, 1]])
    rows = torch.tensor([0, 0, 1, 1])
    phases = torch.tensor([0.0, 0.5, 0.0, 0.5])
    out = op.process_rate(frames, windows, rows, phases)
    assert torch.equal(out[0], frames[0]) and torch.equal(out[2], frames[1])
    assert torch.equal(out[3], frames[1])  # held: no blend across the cut
    assert metrics.psnr(out[1], tensor(scene(1))) > 27.0


def test_rate_stage_with_a_scene_cut_duplicates_instead_of_blending():
    op = make_op()
    other = np.ascontiguousarray(TEXTURE[100:196, 150:278][::-1])
    shots = [scene(0), scene(2), scene(4), other, other]
    items = [FrameItem(index=i, pts=i * 1001, duration=1001, scene=0 if i < 3 else 1,
                       tensor=tensor(img)) for i, img in enumerate(shots)]
    out = list(pipeline.process_frames(iter(items), [RateStage(op, Fraction(2), 2)]))
    assert len(out) == 10
    assert torch.equal(out[5].tensor, items[2].tensor)  # last of shot 1, held
    assert metrics.psnr(out[1].tensor, tensor(scene(1))) > 27.0  # inside the shot


def test_output_is_deterministic():
    a, b = tensor(scene(0)), tensor(scene(2))
    first = make_op().interpolate_pair(a[None], b[None], [0.25, 0.5])
    for _ in range(2):
        assert torch.equal(make_op().interpolate_pair(a[None], b[None], [0.25, 0.5]), first)


def pan(x: float, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """The texture seen through a (w, h) window panned `x` px to the right (sub-pixel
    positions resampled; the texture is smooth enough for that to be exact)."""
    m = np.float32([[1, 0, 20 + x], [0, 1, 20]])
    return cv2.warpAffine(TEXTURE, m, size, flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)


def luma(img: np.ndarray, scale: float = 1.0) -> np.ndarray:
    y = cv2.cvtColor((img * 255).round().astype(np.uint8), cv2.COLOR_RGB2GRAY)
    return cv2.resize(y, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale != 1 else y


def test_repeated_frames_are_found_and_cross_faded_without_flow():
    a = scene(0)
    noisy = np.clip(a + _rng.normal(0, 0.5 / 255, a.shape).astype(np.float32), 0, 1)
    assert is_duplicate(luma(a), luma(noisy))  # codec-level noise: the same picture
    moved = scene(0)
    moved[40:50, 40:50] = 1.0  # a small object appears: not a repeat
    assert not is_duplicate(luma(a), luma(moved))
    assert not is_duplicate(luma(scene(0)), luma(scene(1)))
    mid = make_op().interpolate_pair(tensor(a)[None], tensor(noisy)[None], [0.25])[0]
    assert torch.allclose(mid, 0.75 * tensor(a) + 0.25 * tensor(noisy), atol=1e-6)


def test_motion_irregularity_is_low_for_a_steady_pan_and_high_for_uneven_timing():
    # Panning 4 px per frame interval: frames taken on time ...
    steady = [luma(pan(4 * k)) for k in (-1, 0, 1, 2)]
    assert motion_irregularity(*steady) < IRREGULAR_LOW
    # ... or at uneven times (b taken a quarter interval after a, as when a phone
    # drops a frame and the next one comes late or early).
    uneven = [luma(pan(4 * k)) for k in (-1, 0, 0.25, 2)]
    assert motion_irregularity(*uneven) > IRREGULAR_HIGH
    # One known neighbour is enough; none gives no evidence.
    assert motion_irregularity(None, *steady[1:]) < IRREGULAR_LOW
    assert motion_irregularity(None, uneven[1], uneven[2], None) == 0.0


def test_timing_spread_grows_with_the_irregularity_up_to_the_limit():
    assert timing_spread(IRREGULAR_LOW, 0.1) == 0.0
    assert timing_spread(IRREGULAR_HIGH + 1, 0.1) == pytest.approx(0.1)
    mid = (IRREGULAR_LOW + IRREGULAR_HIGH) / 2
    assert timing_spread(mid, 0.1) == pytest.approx(0.05)
    assert timing_spread(5.0, 0.0) == 0.0


def test_uneven_timing_blurs_the_new_frame_along_the_motion_and_steady_timing_does_not():
    frames = {k: tensor(pan(4 * k))[None] for k in (-1, 0, 0.25, 1, 2)}
    op = make_op()
    # Steady: the neighbours change nothing.
    plain = op.interpolate_pair(frames[0], frames[1], [0.5])[0]
    steady = op.interpolate_pair(frames[0], frames[1], [0.5], prev=frames[-1],
                                 after=frames[2])[0]
    assert torch.equal(plain, steady)
    # Uneven: blurred along the motion (horizontal), not across it.
    sharp = op.interpolate_pair(frames[0], frames[0.25], [0.5])[0]
    blurred = op.interpolate_pair(frames[0], frames[0.25], [0.5], prev=frames[-1],
                                  after=frames[2])[0]
    assert not torch.equal(sharp, blurred)
    off = make_op(timing_blur=0.0).interpolate_pair(frames[0], frames[0.25], [0.5],
                                                     prev=frames[-1], after=frames[2])[0]
    assert torch.equal(off, sharp)

    def gradient(img: torch.Tensor, dim: int) -> float:
        return float(img.diff(dim=dim).abs()[:, 10:-10, 10:-10].mean())
    assert gradient(blurred, 2) < gradient(sharp, 2)  # along x: softer
    assert gradient(blurred, 1) == pytest.approx(gradient(sharp, 1), rel=0.05)


FINE = cv2.GaussianBlur(_rng.random((240, 400, 3)).astype(np.float32), (0, 0), 1.0)


def fine_pan(half_px: int) -> np.ndarray:
    """A detailed picture panned by half pixels: a window of a texture at twice the
    size, moved by whole pixels there and area-averaged down (as a camera samples)."""
    crop = FINE[10:230, 20 + half_px:340 + half_px]
    return cv2.resize(crop, (160, 110), interpolation=cv2.INTER_AREA)


def test_adaptive_sampling_keeps_the_detail_of_a_slow_sub_pixel_pan():
    # Half a pixel per frame: bilinear resampling at a half-pixel shift softens most.
    a, truth, b = (tensor(fine_pan(k))[None] for k in (0, 1, 2))
    adaptive = make_op().interpolate_pair(a, b, [0.5])[0]
    bilinear = make_op(sampling="bilinear").interpolate_pair(a, b, [0.5])[0]
    assert metrics.psnr(adaptive, truth[0]) > metrics.psnr(bilinear, truth[0]) + 1.0
    # Fast motion: bilinear throughout (the flow is not trusted to a fraction of a pixel).
    a, b = tensor(pan(0.0))[None], tensor(pan(24.0))[None]
    assert torch.allclose(make_op().interpolate_pair(a, b, [0.5]),
                          make_op(sampling="bilinear").interpolate_pair(a, b, [0.5]),
                          atol=0.02)


@pytest.mark.parametrize(("size", "flow_size", "expected"), [
    ((1920, 1080), 320, 320), ((640, 360), 320, 320), ((360, 288), 320, 180),
    ((200, 100), 320, 160), ((128, 96), 320, 128), ((640, 360), 0, 640)])
def test_flow_is_computed_at_flow_size_or_half_the_frame(size, flow_size, expected):
    w, h = size
    assert make_op(flow_size=flow_size).flow_scale(h, w) * w == pytest.approx(expected)


def test_process_rate_gives_the_op_the_frames_around_the_pair():
    frames = torch.stack([tensor(pan(4 * k)) for k in (-1, 0, 0.25, 2)])
    op = make_op()
    # A window of radius 2 around frame 1: the neighbours make the uneven pair blurred.
    out = op.process_rate(frames, torch.tensor([[0, 0, 1, 2, 3]]), torch.tensor([0, 0]),
                          torch.tensor([0.0, 0.5]))
    alone = op.interpolate_pair(frames[1:2], frames[2:3], [0.5])[0]
    with_neighbours = op.interpolate_pair(frames[1:2], frames[2:3], [0.5], prev=frames[0:1],
                                          after=frames[3:4])[0]
    assert torch.equal(out[0], frames[1])
    assert torch.equal(out[1], with_neighbours) and not torch.equal(out[1], alone)


# -- parameters ----------------------------------------------------------------------

def test_ratio_from_multiplier_or_target_rate():
    ntsc = Fraction(24000, 1001)
    assert Interpolate.rate_ratio(Interpolate.validate_params({}), ntsc) == 2
    assert Interpolate.rate_ratio(Interpolate.validate_params({"multiplier": 3}), ntsc) == 3
    assert Interpolate.rate_ratio(Interpolate.validate_params({"fps": 59.94}), ntsc) == Fraction(5, 2)
    assert Interpolate.rate_ratio(Interpolate.validate_params({"fps": 60}), Fraction(24)) == Fraction(5, 2)
    assert Interpolate.rate_ratio(Interpolate.validate_params({"fps": 50}), Fraction(25)) == 2
    assert as_rate(29.97) == Fraction(30000, 1001) and as_rate("24000/1001") == ntsc


@pytest.mark.parametrize("params,message", [
    ({"multiplier": 1}, r"interpolate\.multiplier: 1 is outside the allowed range"),
    ({"multiplier": 2.5}, r"interpolate\.multiplier: expected a whole number"),
    ({"fps": 60, "multiplier": 3}, r"either fps \(60\.0\) or multiplier \(3\), not both"),
    ({"fps": 0.5}, r"interpolate\.fps: 0\.5 is too low"),
    ({"method": "rife"}, r"interpolate\.method: 'rife' is not one of dis, farneback"),
])
def test_invalid_params_are_clear_spec_errors(params, message):
    with pytest.raises(SpecError, match=message):
        parse_spec([{"op": "interpolate", "params": params}])


@pytest.mark.parametrize("fps,message", [
    (20, r"target 20\.000 fps is below the source's 23\.976 fps"),
    (240, r"more than 8x the source's 23\.976 fps"),
])
def test_target_rate_must_fit_the_source(fps, message, tmp_path):
    clip = write_clip(tmp_path / "in.mp4", 4, rate=Fraction(24000, 1001))
    out = tmp_path / "out.mp4"
    with pytest.raises(SpecError, match=r"op #1 \(interpolate\): .*" + message):
        pipeline.render(clip, out, [{"op": "interpolate", "params": {"fps": fps}}])
    assert not out.exists()
    with pytest.raises(SpecError, match=message):
        expected_output_frames([{"op": "interpolate", "params": {"fps": fps}}], 4,
                               Fraction(24000, 1001))


def test_interpolate_cannot_be_limited_to_a_region():
    with pytest.raises(SpecError, match="changes the frame rate, so it cannot be limited"):
        parse_spec([{"op": "interpolate", "region": "face"}])


def test_an_override_of_fps_keeps_the_spec_valid():
    spec = apply_overrides([{"op": "interpolate"}], {"interpolate.fps": 60})
    assert spec.ops[0].params["fps"] == 60.0 and spec.ops[0].params["multiplier"] == 2


def test_expected_output_frames_tiles_segments():
    spec = [{"op": "interpolate", "params": {"fps": 59.94}}]
    rate = Fraction(24000, 1001)
    total = expected_output_frames(spec, 1001, rate)
    assert total == 2503  # ceil(1001 x 2.5)
    parts = [(0, 48), (48, 500), (500, 1001)]
    assert sum(expected_output_frames(spec, e - s, rate, start=s) for s, e in parts) == total
    assert expected_output_frames([{"op": "denoise"}], 77, rate) == 77


# -- real render ---------------------------------------------------------------------

def moving_frame(i: int, w: int, h: int) -> np.ndarray:
    img = TEXTURE[:h, 4 * i:4 * i + w]
    return (img * 255 + 0.5).astype(np.uint8)


def test_render_at_24000_1001_doubles_the_rate_and_keeps_duration_and_audio(tmp_path):
    clip = write_clip(tmp_path / "in.mp4", 12, rate=Fraction(24000, 1001), audio=True,
                      frame_fn=moving_frame)
    out = tmp_path / "out.mp4"
    spec = {"ops": [{"op": "interpolate", "params": {"fps": 59.94}}],
            "encode": {"preset": "ultrafast", "crf": 10}}
    expected = expected_output_frames(spec, 12, Fraction(24000, 1001))
    result = pipeline.render(clip, out, spec)
    assert result.frames == expected == 30
    src, info = io.probe(clip), io.probe(out)
    assert Fraction(info.fps_fraction) == Fraction(60000, 1001)
    assert info.frame_count == 30 and info.has_audio
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        video_seconds = float(v.duration * v.time_base)
        audio_seconds = float(a.duration * a.time_base)
        a_start = float(a.start_time * a.time_base)
    assert video_seconds == pytest.approx(12 * 1001 / 24000, abs=1e-4)
    assert audio_seconds == pytest.approx(src.duration, abs=0.05)
    assert abs(a_start) < 0.03
    # The source frames come through at their own times (every 2.5 outputs).
    frames = list(io.read_frames(out))
    original = list(io.read_frames(clip))
    assert np.abs(frames[5].astype(int) - original[2]).mean() < 3
    # A new frame lies between its neighbours in content, not a double exposure.
    between = frames[1]  # 0.4 of the way from source frame 0 to 1
    truth = moving_frame(0, 64, 48) * 0.6 + moving_frame(1, 64, 48) * 0.4
    assert np.abs(between.astype(float) - truth).mean() < 20


def test_frame_range_render_matches_the_full_render(tmp_path):
    clip = write_clip(tmp_path / "in.mp4", 14, rate=25, frame_fn=moving_frame)
    spec = {"ops": [{"op": "interpolate", "params": {"multiplier": 3}}],
            "encode": {"preset": "ultrafast", "crf": 0, "pix_fmt": "yuv444p"}}
    full, part = tmp_path / "full.mkv", tmp_path / "part.mkv"
    pipeline.render(clip, full, spec, scene_cuts=[])
    result = pipeline.render(clip, part, spec, start=4, end=9, scene_cuts=[])
    assert result.frames == 15 == expected_output_frames(spec, 5, 25, start=4)
    assert (result.start, result.end) == (4, 9)
    full_frames = list(io.read_frames(full))
    assert len(full_frames) == 42
    part_frames = list(io.read_frames(part))
    assert len(part_frames) == 15
    for x, y in zip(full_frames[12:27], part_frames, strict=True):
        assert np.abs(x.astype(int) - y).max() <= 1
