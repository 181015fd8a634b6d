"""The SR trainer: a few steps produce a checkpoint spandrel loads, and a model card."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from gpu_worker.engine import models
from gpu_worker.engine.device import DeviceError
from gpu_worker.training import data, sr


def test_fidelity_loss_is_zero_for_a_perfect_output_and_grows_with_error():
    x = torch.rand(2, 3, 32, 32)
    assert float(sr.fidelity_loss(x, x)) < 1e-6
    assert float(sr.fidelity_loss(x + 0.1, x)) > float(sr.fidelity_loss(x + 0.01, x)) > 0


def test_a_short_run_writes_a_spandrel_compact_checkpoint_and_card(tmp_path, monkeypatch):
    stills = [data.CleanImage(n, "stills", data.as_rgb(data.TRAIN_STILLS[n]()))
              for n in ("camera", "brick")]
    monkeypatch.setattr(data, "training_images", lambda: stills)
    monkeypatch.setattr(data, "validation_images", lambda: stills[:1])
    out = tmp_path / "tiny-x2.safetensors"
    facts = sr.train(sr.parse_args([
        "--scale", "2", "--features", "4", "--convs", "1", "--steps", "4", "--batch", "2",
        "--patch", "16", "--val-every", "2", "--log-every", "2", "--minutes", "0",
        "--out", str(out)]))
    assert facts["steps_run"] == 4 and facts["steps"] in (2, 4)
    info = models.describe_model(out)
    assert (info.architecture, info.scale, info.purpose) == ("RealESRGAN Compact", 2, "SR")
    assert info.parameters == facts["parameters"]
    card = out.with_suffix(".md").read_text()
    assert "Held out" in card and "camera" in card and "Lanczos" in card
    assert facts["hardware"].startswith("CPU only")  # --device defaults to the CPU


def test_asking_for_a_missing_gpu_fails_before_training(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match="CUDA"):
        sr.train(sr.parse_args(["--scale", "2", "--steps", "1", "--device", "cuda",
                                "--out", str(tmp_path / "x.safetensors")]))
    assert not (tmp_path / "x.safetensors").exists()


def test_init_copies_every_matching_tensor(tmp_path):
    x2 = sr.build_model(2, 4, 1)
    sr.save_checkpoint(x2, tmp_path / "x2.safetensors", {"scale": 2})
    x4 = sr.build_model(4, 4, 1)
    taken = sr.load_init(x4, tmp_path / "x2.safetensors")
    saved = load_file(str(tmp_path / "x2.safetensors"))
    last = f"body.{len(x4.body) - 1}"
    assert f"{last}.weight" not in taken  # the pixel-shuffle conv differs between scales
    assert set(taken) == set(saved) - {f"{last}.weight", f"{last}.bias"}
    for k in taken:
        assert torch.equal(x4.state_dict()[k], saved[k])


def test_interpolation_init_starts_as_an_interpolator():
    import torch.nn.functional as F

    torch.manual_seed(0)
    smooth = F.interpolate(torch.rand(1, 3, 6, 6), size=(32, 32), mode="bicubic",
                           align_corners=False).clamp(0, 1)
    for scale in (2, 4):
        model = sr.build_model(scale, 8, 2)
        sr.interpolation_init(model, scale)
        with torch.no_grad():
            out = model(smooth)
        ref = F.interpolate(smooth, scale_factor=scale, mode="bicubic", align_corners=False)
        nearest = F.interpolate(smooth, scale_factor=scale, mode="nearest")
        inner = (..., slice(4 * scale, -4 * scale), slice(4 * scale, -4 * scale))
        err = float((out - ref)[inner].abs().mean())
        assert err < 0.2 * float((nearest - ref)[inner].abs().mean()), scale
