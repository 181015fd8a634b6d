"""The neural-checkpoint registry: finding, safe loading, capability checks, tiling."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from spandrel.architectures.Compact import Compact

from gpu_worker.engine import models
from gpu_worker.engine.models import ModelError


def compact_state(scale: int = 2, *, channels: int = 3, features: int = 8, convs: int = 2,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = Compact(num_in_ch=channels, num_out_ch=channels, num_feat=features,
                  num_conv=convs, upscale=scale)
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def write_compact(path, scale: int = 2, **kw) -> os.PathLike:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = compact_state(scale, **kw)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A stand-in for the shipped weights folder (tests never write into the repo)."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    monkeypatch.setattr(models, "BUILTIN_DIR", folder)
    monkeypatch.delenv("MODELS_DIR", raising=False)
    models.clear_cache()
    yield folder
    models.clear_cache()


@pytest.fixture
def user(tmp_path):
    folder = tmp_path / "user"
    folder.mkdir()
    return folder


# -- finding ---------------------------------------------------------------------------

def test_user_folder_wins_over_shipped(shipped, user):
    write_compact(shipped / "sr.safetensors")
    write_compact(user / "sr.pth")
    assert models.find_model("sr", user) == user / "sr.pth"
    assert models.find_model("sr") == shipped / "sr.safetensors"  # no user folder
    assert models.find_model("sr.safetensors", user) == shipped / "sr.safetensors"


def test_models_dir_from_environment(shipped, user, monkeypatch):
    write_compact(user / "mine.pth")
    monkeypatch.setenv("MODELS_DIR", str(user))
    assert models.find_model("mine") == user / "mine.pth"


def test_suffix_order_within_a_folder(shipped):
    write_compact(shipped / "m.pth", seed=1)
    write_compact(shipped / "m.safetensors", seed=2)
    assert models.find_model("m") == shipped / "m.safetensors"
    listed = models.list_models(describe=False)
    assert [(m.name, m.path) for m in listed] == [("m", str(shipped / "m.safetensors"))]


def test_absolute_path(shipped, tmp_path):
    path = write_compact(tmp_path / "elsewhere" / "x.safetensors")
    assert models.find_model(str(path)) == path
    with pytest.raises(ModelError, match="does not exist"):
        models.find_model(str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("ref", ["sub/model.pth", "../model.pth", "..", ".", "a/../b"])
def test_relative_paths_are_refused(shipped, user, ref):
    with pytest.raises(ModelError, match="not a relative path"):
        models.find_model(ref, user)


def test_not_found_names_the_folders_and_known_models(shipped, user):
    write_compact(shipped / "known.safetensors")
    with pytest.raises(ModelError) as err:
        models.find_model("nope", user)
    text = str(err.value)
    assert "'nope' not found" in text and str(user) in text and "known" in text
    with pytest.raises(ModelError, match="no model named"):
        models.find_model("  ")


# -- loading and capabilities ----------------------------------------------------------

def test_load_reports_capabilities_and_runs(shipped):
    write_compact(shipped / "x2.safetensors", scale=2)
    m = models.load_model("x2", purpose=("SR",), scale=2)
    info = m.info
    assert (info.name, info.scale, info.purpose, info.builtin) == ("x2", 2, "SR", True)
    assert info.architecture == "RealESRGAN Compact"
    assert info.supports_half and info.supports_bfloat16 and info.tiling == "supported"
    assert (info.input_channels, info.output_channels) == (3, 3)
    assert info.parameters == sum(v.numel() for v in compact_state().values())
    assert m.dtype == torch.float32 and m.device.type == "cpu"
    out = m(torch.rand(2, 3, 10, 14))
    assert out.shape == (2, 3, 20, 28) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert models.describe_model(shipped / "x2.safetensors").to_dict()["scale"] == 2


def test_pickled_state_dicts_in_the_usual_wrappers_load(shipped):
    # Real-ESRGAN releases wrap the weights in {"params_ema": ...}.
    torch.save({"params_ema": compact_state(4)}, shipped / "wrapped.pth")
    torch.save(compact_state(4), shipped / "plain.pt")
    torch.save({"state_dict": compact_state(4)}, shipped / "lightning.ckpt")
    for name in ("wrapped", "plain", "lightning"):
        assert models.load_model(name, scale=4).info.scale == 4


def test_wrong_scale_purpose_and_channels(shipped):
    write_compact(shipped / "x2.safetensors", scale=2)
    write_compact(shipped / "x1.safetensors", scale=1)
    write_compact(shipped / "grey.safetensors", scale=2, channels=1)
    with pytest.raises(ModelError, match=r"upscales 2x; this operator asked for 4x"):
        models.load_model("x2", purpose=("SR",), scale=4)
    with pytest.raises(ModelError, match=r"is a Restoration model .* needs SR"):
        models.load_model("x1", purpose=("SR",))
    with pytest.raises(ModelError, match=r"takes 1 and gives 1 channels; RGB video needs 3"):
        models.load_model("grey", scale=2)


class _Payload:
    """Unpickling this creates a file: what a hostile checkpoint would do."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".ckpt"])
def test_hostile_pickle_is_refused_and_runs_nothing(shipped, tmp_path, suffix):
    marker = tmp_path / "pwned"
    state = {**compact_state(), "extra": _Payload(str(marker))}
    torch.save(state, shipped / f"evil{suffix}")
    for protocol in (2, 5):  # bare pickles, no zip container
        with open(shipped / f"bare{protocol}{suffix}", "wb") as f:
            pickle.dump({"scale": 2, "extra": _Payload(str(marker))}, f, protocol=protocol)
    for name in ("evil", "bare2"):
        with pytest.raises(ModelError, match=r"refused: it holds Python objects .*open"):
            models.load_model(name)
        assert not marker.exists()
    with pytest.raises(ModelError, match=r"refused: not a plain tensor checkpoint"):
        models.load_model("bare5")  # its framing is refused before any global is read
    assert not marker.exists()
    # the listing reads every file too, and must not run the payload either
    listed = models.list_models(include_unreadable=True)
    assert {m.name for m in listed if m.error} == {"evil", "bare2", "bare5"}
    assert not marker.exists()


def test_torchscript_is_refused(shipped):
    torch.jit.save(torch.jit.trace(torch.nn.Conv2d(3, 3, 1), torch.rand(1, 3, 4, 4)),
                   str(shipped / "scripted.pt"))
    with pytest.raises(ModelError, match="TorchScript"):
        models.load_model("scripted")


@pytest.mark.parametrize("name, content", [
    ("random.pth", os.urandom(2048)),
    ("text.pth", b"this is not a checkpoint\n"),
    ("empty.pth", b""),
    ("text.safetensors", b"not safetensors at all"),
    ("empty.safetensors", b""),
])
def test_garbage_files_give_a_model_error(shipped, name, content):
    (shipped / name).write_bytes(content)
    with pytest.raises(ModelError, match=name.replace(".", r"\.")):
        models.load_model(name)


def test_unknown_architecture_and_non_dicts(shipped):
    save_file({"foo.weight": torch.zeros(3, 3)}, str(shipped / "mystery.safetensors"))
    with pytest.raises(ModelError, match="does not recognise"):
        models.load_model("mystery")
    torch.save(torch.zeros(3), shipped / "tensor.pth")
    with pytest.raises(ModelError, match="not a state dict"):
        models.load_model("tensor")
    state = compact_state()
    state["body.0.weight"] = torch.zeros(8, 3, 5, 5)  # a known layout, wrong shapes
    save_file(state, str(shipped / "broken.safetensors"))
    with pytest.raises(ModelError, match="broken.safetensors"):
        models.load_model("broken")


def test_list_models(shipped, user):
    write_compact(shipped / "a.safetensors", scale=2)
    write_compact(shipped / "b.safetensors", scale=4)
    write_compact(user / "b.pth", scale=2)  # the user's b hides the shipped b
    (user / "c.pth").write_bytes(b"junk")
    (user / "notes.txt").write_text("not a model")
    infos = models.list_models(user)
    assert [(m.name, m.scale, m.builtin) for m in infos] == [("b", 2, False), ("a", 2, True)]
    with_errors = models.list_models(user, include_unreadable=True)
    assert [m.name for m in with_errors] == ["b", "c", "a"]
    assert "c.pth" in with_errors[1].error and with_errors[0].error == ""
    assert [m.name for m in models.list_models(user, describe=False)] == ["b", "c", "a"]


def test_cache_returns_the_loaded_model_until_the_file_changes(shipped):
    path = write_compact(shipped / "m.safetensors", seed=1)
    first = models.load_model("m")
    assert models.load_model("m") is first
    write_compact(path, seed=2)
    os.utime(path, (1e9, 1e9))  # a new modification time, whatever the clock's resolution
    second = models.load_model("m")
    assert second is not first
    x = torch.rand(1, 3, 8, 8)
    assert not torch.equal(first(x), second(x))
    models.clear_cache()
    assert models.load_model("m") is not second


def test_working_precision():
    write_info = models.ModelInfo(
        name="m", path="m", builtin=False, architecture="A", purpose="SR", scale=2,
        input_channels=3, output_channels=3, supports_half=True, supports_bfloat16=True,
        tiling="supported", size_multiple_of=1, size_minimum=0, parameters=1)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert models._working_dtype(write_info, cpu, "auto") == torch.float32
    assert models._working_dtype(write_info, cuda, "auto") == torch.float16
    assert models._working_dtype(write_info, cuda, "bfloat16") == torch.bfloat16
    assert models._working_dtype(write_info, cuda, "float32") == torch.float32
    no_half = models.ModelInfo(**{**write_info.to_dict(), "supports_half": False})
    assert models._working_dtype(no_half, cuda, "auto") == torch.bfloat16


# -- tiling ------------------------------------------------------------------------------

def _net(scale: int, convs: int = 3) -> Compact:
    torch.manual_seed(3)
    return Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=convs, upscale=scale).eval()


@pytest.mark.parametrize("scale", [2, 4])
def test_run_tiled_equals_untiled(scale):
    net = _net(scale)  # receptive radius 5 px < overlap / 4
    image = torch.rand(2, 3, 77, 101)
    with torch.no_grad():
        whole = net(image)
        tiled = models.run_tiled(net, image, scale=scale, tile=40, overlap=24)
    assert tiled.shape == whole.shape == (2, 3, 77 * scale, 101 * scale)
    assert float((tiled - whole).abs().max()) < 1e-5


def test_run_tiled_with_a_short_overlap_stays_close_and_seamless():
    net = _net(2, convs=6)  # receptive radius 8 px > overlap / 4: not exact
    image = F.interpolate(torch.rand(1, 3, 12, 16), size=(96, 128), mode="bicubic")
    with torch.no_grad():
        whole = net(image.clamp(0, 1))
        tiled = models.run_tiled(net, image.clamp(0, 1), scale=2, tile=48, overlap=16)
    err = (tiled - whole).abs()
    assert float(err.max()) < 0.02
    # a seam would be a line of larger error along tile borders: there is none
    col_err = err.mean(dim=(0, 1, 2))
    assert float(col_err.max()) < 4 * float(col_err.mean()) + 1e-4


def test_run_tiled_never_shows_tile_borders():
    """A model that marks the pixels near its input's border: the marks must vanish in
    the frame's interior (they fall in the dropped quarter of each overlap)."""
    scale, mark = 2, 3

    def marking(x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=scale, mode="nearest")
        border = torch.ones_like(up)
        m = mark * scale
        border[..., m:-m, m:-m] = 0
        return up + border

    image = torch.rand(1, 3, 90, 130) * 0.5
    tiled = models.run_tiled(marking, image, scale=scale, tile=32, overlap=16)
    expected = F.interpolate(image, scale_factor=scale, mode="nearest")
    m = mark * scale
    inner = (slice(None), slice(None), slice(m, -m), slice(m, -m))
    assert torch.allclose(tiled[inner], expected[inner], atol=1e-6)


def test_run_tiled_bounds_the_tile_size():
    seen: list[tuple[int, int]] = []

    def record(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape[-2:]))
        return F.interpolate(x, scale_factor=4, mode="nearest")

    image = torch.rand(1, 3, 270, 480)
    out = models.run_tiled(record, image, scale=4, tile=128, overlap=32)
    assert out.shape == (1, 3, 1080, 1920)
    assert len(seen) > 1 and max(max(s) for s in seen) <= 128
    assert torch.allclose(out, F.interpolate(image, scale_factor=4, mode="nearest"),
                          atol=1e-6)
    seen.clear()
    models.run_tiled(record, image, scale=4, tile=0)
    assert seen == [(270, 480)]


def test_edge_pad_treats_the_frame_edge_like_the_inside():
    """With the frame extended by reflection, a model whose zero padding darkens a
    tile's border leaves no dark rim at the frame's edge."""

    def darkens_borders(x: torch.Tensor) -> torch.Tensor:
        k = torch.full((3, 1, 3, 3), 1 / 9)
        return F.interpolate(F.conv2d(x, k, padding=1, groups=3), scale_factor=2)

    image = torch.full((1, 3, 40, 60), 0.5)
    plain = models.run_tiled(darkens_borders, image, scale=2, tile=0)
    padded = models.run_tiled(darkens_borders, image, scale=2, tile=24, overlap=8,
                              edge_pad=4)
    assert float(plain[..., 0, :].mean()) < 0.45  # the rim the zero padding leaves
    assert padded.shape == plain.shape
    assert torch.allclose(padded, torch.full_like(padded, 0.5), atol=1e-6)


def test_run_tiled_rejects_a_model_of_another_scale():
    with pytest.raises(ModelError, match="expected 2x"):
        models.run_tiled(lambda x: F.interpolate(x, scale_factor=4), torch.rand(1, 3, 50, 50),
                         scale=2, tile=32, overlap=8)
