"""The face-restoration trainer: a short run writes a NAFNet spandrel loads, with its metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from skimage import data as skdata

from gpu_worker.engine import models
from gpu_worker.engine.device import DeviceError
from gpu_worker.training import faces


def small_images() -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    astronaut = skdata.astronaut()[:128, :128]
    coffee = skdata.coffee()[:128, :128]
    return [("astronaut", astronaut), ("coffee", coffee)], [("coffee", coffee)]


def test_a_batch_pairs_degraded_crops_with_their_clean_originals():
    train, _ = small_images()
    bad, clean = faces.make_batch(train, 3, 48, np.random.default_rng(0))
    assert bad.shape == clean.shape == (3, 3, 48, 48)
    assert bad.dtype == clean.dtype == torch.float32
    assert float((bad - clean).abs().mean()) > 0.005  # the damage is really there


def test_a_short_run_writes_weights_spandrel_loads_and_its_metrics(tmp_path, monkeypatch):
    monkeypatch.setattr(faces, "load_images", small_images)
    out = tmp_path / "tiny-face.safetensors"
    report = faces.train(out, minutes=5, max_steps=3, batch=1, patch=32, lr=1e-3, seed=0,
                         val_every=2, threads=1)
    assert report["steps"] == 3 and report["device"] == "cpu"
    info = models.describe_model(out)
    assert info.architecture == "NAFNet" and info.parameters == report["parameters"]
    saved = json.loads(out.with_suffix(".metrics.json").read_text())
    assert set(saved["val_final"]) == set(faces.VAL_LEVELS)


def test_asking_for_a_missing_gpu_fails_before_training(tmp_path, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setattr(faces, "load_images", small_images)
    with pytest.raises(DeviceError, match="CUDA"):
        faces.train(tmp_path / "x.safetensors", minutes=1, max_steps=1, batch=1, patch=32,
                    lr=1e-3, seed=0, val_every=1, threads=1, device="cuda")
    assert not (tmp_path / "x.safetensors").exists()
