"""face_restore: model loading and errors, what changes where, colour kept, detail
restored, temporal smoothing, faces aligned by their landmarks."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine import metrics, models, mtcnn
from gpu_worker.engine.faces import Box, detect_faces
from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.ops.face_restore import (
    FFHQ_TEMPLATE,
    Cut,
    FaceRestore,
    aligned_crop,
    classical_restore,
    ellipse_mask,
    paste_aligned,
    similarity_to_template,
    transfer_detail,
)
from gpu_worker.engine.pipeline import build_operators
from gpu_worker.engine.registry import OpContext, SpecError
from gpu_worker.engine.spec import parse_spec
from tests.conftest import media_file

FAST = {"profile": False}  # side views are not what these tests are about


def _make(**params) -> FaceRestore:  # type: ignore[no-untyped-def]
    cls = get_operator("face_restore")
    return cls(cls.validate_params({**FAST, **params}), OpContext())  # type: ignore[return-value]


def _run(op: FaceRestore, x: torch.Tensor) -> torch.Tensor:
    return op.process(x, torch.zeros(1, 1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64))


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0


def _image(t: torch.Tensor) -> np.ndarray:
    return (t[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    img = cv2.imread(str(media_file("clean/astronaut.png")), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img[20:340, 60:380, ::-1])  # 320x320 RGB around her face


@pytest.fixture(scope="module")
def degraded(astronaut: np.ndarray) -> np.ndarray:
    """Old-film damage: soft focus, lost resolution, grain."""
    f = astronaut.astype(np.float32) / 255.0
    f = cv2.GaussianBlur(f, (0, 0), 1.2)
    f = cv2.resize(cv2.resize(f, (160, 160), interpolation=cv2.INTER_AREA), (320, 320),
                   interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(3)
    f = f + 0.035 * rng.standard_normal(f.shape[:2])[..., None].astype(np.float32)
    return (np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def default_op() -> FaceRestore:
    return _make(fidelity=1.0)


def _face_region(img: np.ndarray) -> tuple[slice, slice]:
    faces = detect_faces(img, profile=False)
    assert len(faces) == 1
    b = faces[0]
    return slice(int(b.y), int(b.y + b.h)), slice(int(b.x), int(b.x + b.w))


# -- building -----------------------------------------------------------------------------
def test_schema_and_radius() -> None:
    cls = get_operator("face_restore")
    assert not cls.changes_size and not cls.changes_rate
    names = {p.name for p in cls.params}
    assert {"model", "fidelity", "temporal", "smooth", "min_face", "keep_colour"} <= names
    op = _make(smooth=2, temporal=1)
    assert op.temporal_radius() == 3
    assert op.model is not None and op.model.info.name == "face_restore_v1"
    assert op.model.info.purpose == "Restoration" and op.model.info.builtin


def test_bad_params_and_models_fail_before_decoding(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError, match=r"face_restore\.fidelity: 1\.5 is outside"):
        parse_spec([{"op": "face_restore", "params": {"fidelity": 1.5}}])
    spec = parse_spec([{"op": "face_restore", "params": {"model": "no_such_face_model"}}])
    with pytest.raises(SpecError, match=r"op #1 \(face_restore\): face_restore\.model: .*"
                       r"no_such_face_model.*not found") as err:
        build_operators(spec, width=64, height=64, fps=24, device=torch.device("cpu"))
    assert err.value.param == "model" and err.value.op == "face_restore"
    # A 2x super-resolution checkpoint is not a face restorer.
    from safetensors.torch import save_file
    from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact

    net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              str(tmp_path / "tiny_x2.safetensors"))
    models.clear_cache()
    spec = parse_spec([{"op": "face_restore", "params": {"model": "tiny_x2"}}])
    with pytest.raises(SpecError, match="is a SR model"):
        build_operators(spec, width=64, height=64, fps=24, device=torch.device("cpu"),
                        models_dir=tmp_path)
    assert _make(model="classical").model is None


# -- what changes where ---------------------------------------------------------------------
@pytest.mark.media
def test_fidelity_zero_and_faceless_frames_are_untouched(degraded: np.ndarray) -> None:
    x = _tensor(degraded)
    assert torch.equal(_run(_make(fidelity=0.0), x), x)
    flat = torch.linspace(0, 1, 160).view(1, 1, 1, 160).expand(1, 3, 120, 160).contiguous()
    assert torch.equal(_run(_make(), flat), flat)


@pytest.mark.media
def test_only_the_face_changes(default_op: FaceRestore, degraded: np.ndarray) -> None:
    x = _tensor(degraded)
    y = _run(default_op, x)
    diff = (y - x).abs()[0].amax(0)
    ys, xs = _face_region(degraded)
    assert float(diff[ys, xs].mean()) > 0.005  # the face was worked on
    # Far from the face (the expanded cut is 1.8x the face) nothing moved at all.
    assert float(diff[:, :40].max()) == 0.0 and float(diff[-30:, :].max()) == 0.0


@pytest.mark.media
def test_restoration_brings_the_face_closer_to_the_clean_one(
        default_op: FaceRestore, astronaut: np.ndarray, degraded: np.ndarray) -> None:
    ys, xs = _face_region(degraded)
    restored = _image(_run(default_op, _tensor(degraded)))
    classical = _image(_run(_make(model="classical", fidelity=1.0), _tensor(degraded)))
    before = metrics.psnr(degraded[ys, xs], astronaut[ys, xs])
    after = metrics.psnr(restored[ys, xs], astronaut[ys, xs])
    after_classical = metrics.psnr(classical[ys, xs], astronaut[ys, xs])
    assert after > before + 1.0, (before, after)
    assert after_classical > before, (before, after_classical)
    # Grain goes down on the face.
    assert metrics.noise_sigma(restored[ys, xs]) < 0.7 * metrics.noise_sigma(degraded[ys, xs])


@pytest.mark.media
def test_a_face_under_a_colour_cast_keeps_its_tone(default_op: FaceRestore,
                                                   degraded: np.ndarray) -> None:
    # A strong cyan-green cast (faded dyes): the restoration must not pull the skin
    # back to "normal" or anywhere else.
    cast = np.clip(degraded.astype(np.float32) * np.array([0.7, 1.0, 1.1]), 0, 255)
    cast = cast.astype(np.uint8)
    out = _image(_run(default_op, _tensor(cast)))
    ys, xs = _face_region(degraded)

    def chroma(img: np.ndarray) -> np.ndarray:
        ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        return ycc[ys, xs].reshape(-1, 3).mean(0)

    before, after = chroma(cast), chroma(out)
    assert abs(after[1] - before[1]) < 1.0 and abs(after[2] - before[2]) < 1.0  # Cr, Cb
    assert abs(after[0] - before[0]) < 1.5  # mean luma: same exposure
    assert float(np.abs(out.astype(int) - cast.astype(int))[ys, xs].mean()) > 1.0


def test_transfer_detail_keeps_low_frequencies_and_colour() -> None:
    g = torch.Generator().manual_seed(0)
    original = (torch.rand(1, 3, 64, 64, generator=g) * 0.2 + torch.tensor(
        [0.6, 0.4, 0.3]).view(1, 3, 1, 1))
    # A "model" that brightens, shifts colour and adds fine detail.
    detail = 0.05 * torch.sign(torch.randn(1, 1, 64, 64, generator=g))
    restored = (original * torch.tensor([0.8, 1.1, 1.3]).view(1, 3, 1, 1) + 0.1 + detail)
    out = transfer_detail(original, restored.clamp(0, 1), 1.0, keep_colour=True)
    assert torch.allclose(out.mean((2, 3)), original.mean((2, 3)), atol=0.01)
    assert float((out - original).abs().mean()) > 0.01  # the detail did come through
    free = transfer_detail(original, restored.clamp(0, 1), 1.0, keep_colour=False)
    assert torch.allclose(free, restored.clamp(0, 1))
    assert torch.equal(transfer_detail(original, restored, 0.0, True), original)


def test_ellipse_mask_and_classical_restore_shapes() -> None:
    m = ellipse_mask(64, 32, 32, 20, 25, 0.3, torch.device("cpu"))
    assert m.shape == (64, 64) and float(m[32, 32]) == 1.0 and float(m[0, 0]) == 0.0
    x = torch.rand(2, 3, 48, 48)
    y = classical_restore(x)
    assert y.shape == x.shape and 0.0 <= float(y.min()) and float(y.max()) <= 1.0


# -- over time ------------------------------------------------------------------------------
@pytest.mark.media
def test_a_window_of_identical_frames_equals_the_single_frame(
        default_op: FaceRestore, degraded: np.ndarray) -> None:
    x = _tensor(degraded)
    single = _run(default_op, x)
    frames = x.repeat(3, 1, 1, 1)
    windows = torch.tensor([[0, 1, 2]])
    out = default_op.process(frames, windows, torch.tensor([1]))
    assert torch.allclose(out, single, atol=1e-5)


@pytest.mark.media
def test_temporal_smoothing_steadies_restored_grain(astronaut: np.ndarray) -> None:
    # The same face with fresh grain in every frame: with temporal averaging the
    # restored face varies less from frame to frame than without.
    rng = np.random.default_rng(5)
    base = astronaut.astype(np.float32) / 255.0
    n = 7
    frames = []
    for _ in range(n):
        f = base + 0.05 * rng.standard_normal(base.shape[:2])[..., None].astype(np.float32)
        frames.append(_tensor((np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8))[0])
    x = torch.stack(frames)

    def windows(radius: int) -> torch.Tensor:  # windows around frames 2, 3, 4, clamped
        return torch.tensor([[min(max(c + k, 0), n - 1) for k in range(-radius, radius + 1)]
                             for c in (2, 3, 4)])

    ys, xs = slice(70, 120), slice(140, 190)  # the middle of her face
    spread = {}
    for temporal in (0, 1):
        op = _make(fidelity=1.0, temporal=temporal, smooth=2)
        out = op.process(x, windows(op.temporal_radius()), torch.arange(3))
        spread[temporal] = float((out[1] - out[0]).abs()[:, ys, xs].mean()
                                 + (out[2] - out[1]).abs()[:, ys, xs].mean())
    grain = float((x[3] - x[2]).abs()[:, ys, xs].mean() + (x[4] - x[3]).abs()[:, ys, xs].mean())
    assert spread[0] < 0.6 * grain  # restoring alone already steadies the face
    assert spread[1] < 0.85 * spread[0], spread


# -- alignment by landmarks ------------------------------------------------------------------
needs_mtcnn = pytest.mark.skipif(
    mtcnn.weights_dir() is None,
    reason="MTCNN weights not installed (pip install --no-deps facenet-pytorch==2.6.0)")


def test_similarity_to_template_recovers_a_known_transform() -> None:
    angle, scale, t = math.radians(-25.0), 0.4, np.array([130.0, 75.0])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    points = scale * FFHQ_TEMPLATE @ rot.T + t
    s, a, tx, ty = similarity_to_template(points, FFHQ_TEMPLATE)
    assert s == pytest.approx(scale) and a == pytest.approx(angle)
    assert (tx, ty) == pytest.approx(tuple(t))


def test_aligned_crop_and_paste_are_inverse() -> None:
    rng = np.random.default_rng(0)
    frame = torch.from_numpy(rng.random((3, 90, 120), dtype=np.float32))
    cut = Cut(60.0, 45.0, 40.0, math.radians(30.0), True)
    crop = aligned_crop(frame, cut, 40)
    # Pixel (u, v) of the crop is the frame at the rotated position.
    u, v = 25, 12
    dx, dy = (u + 0.5) - 20, (v + 0.5) - 20
    x = 60 + math.cos(cut.angle) * dx - math.sin(cut.angle) * dy
    y = 45 + math.sin(cut.angle) * dx + math.cos(cut.angle) * dy
    assert cut.to_cut(x, y, 40) == pytest.approx((u + 0.5, v + 0.5))
    # A constant change pasted back lands inside the rotated square only.
    out = torch.zeros(3, 90, 120)
    paste_aligned(out, cut, torch.full((3, 40, 40), 0.5))
    assert float(out[:, 45, 60].min()) == pytest.approx(0.5)
    assert float(out[:, :, :30].abs().max()) == 0.0 and float(out[:, :10].abs().max()) == 0.0
    assert crop.shape == (3, 40, 40)


@needs_mtcnn
@pytest.mark.media
def test_a_tilted_face_is_cut_upright_for_face_sr_models(
        astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    op = _make()
    monkeypatch.setattr(op, "_face_sr", lambda: True)  # GFPGAN / RestoreFormer
    tilt = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((160, 110), 20, 1.0),
                          (320, 320), borderMode=cv2.BORDER_REFLECT)
    (upright,) = detect_faces(astronaut, profile=False)
    (tilted,) = detect_faces(tilt, profile=False)
    a, b = op._geometry(upright), op._geometry(tilted)
    assert a.aligned and b.aligned
    # OpenCV's +20 degrees turns the picture counter-clockwise: the eye line by -20.
    assert math.degrees(a.angle - b.angle) == pytest.approx(20.0, abs=3.0)
    ca = aligned_crop(_tensor(astronaut)[0], a, 96)
    cb = aligned_crop(_tensor(tilt)[0], b, 96)
    plain = aligned_crop(_tensor(tilt)[0], Cut(b.cx, b.cy, b.side), 96)
    # The two aligned cuts show the same upright face; the unrotated cut of the tilted
    # picture differs from it far more.
    aligned_err = float((ca - cb).abs().mean())
    assert aligned_err < 0.6 * float((ca - plain).abs().mean())
    # Other models keep plain squares (no resampling of the grain they remove).
    monkeypatch.setattr(op, "_face_sr", lambda: False)
    assert not op._geometry(tilted).aligned


@needs_mtcnn
@pytest.mark.media
def test_face_sr_models_get_the_ffhq_framing(astronaut: np.ndarray,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    op = _make()
    monkeypatch.setattr(op, "_face_sr", lambda: True)
    (face,) = detect_faces(astronaut, profile=False)
    cut = op._geometry(face)
    placed = np.array([cut.to_cut(x, y, 512) for x, y in face.landmarks])
    # Each landmark lands near its template position in the 512 px input.
    assert np.abs(placed - FFHQ_TEMPLATE).max() < 20.0
    # Without landmarks (the Haar fallback) the cut stays a plain square.
    plain = op._geometry(Box(face.x, face.y, face.w, face.h))
    assert not plain.aligned and plain.angle == 0.0
