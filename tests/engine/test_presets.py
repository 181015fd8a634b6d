"""Shipped presets validate against the real operators and render."""

from __future__ import annotations

import json

import pytest

from gpu_worker.engine import io, pipeline, presets
from gpu_worker.engine.ops import all_operators
from gpu_worker.engine.registry import SpecError
from gpu_worker.engine.spec import parse_spec
from tests.conftest import media_file
from tests.engine.test_io import write_clip


@pytest.mark.parametrize("name", ["faithful", "clean"])
def test_static_presets_validate_against_registered_operators(name):
    spec = presets.get_preset(name)
    registered = all_operators()
    for op in spec["ops"]:
        assert op["op"] in registered
        assert not registered[op["op"]].changes_rate
    # get_preset returns the canonical form: parsing it again changes nothing.
    assert parse_spec(spec).to_dict() == spec
    assert presets.missing_operators() == set()


def test_faithful_keeps_the_period_look_and_clean_does_not():
    faithful = {o["op"]: o["params"] for o in presets.get_preset("faithful")["ops"]}
    clean = {o["op"]: o["params"] for o in presets.get_preset("clean")["ops"]}
    assert faithful["denoise"]["detail"] > 0 and clean["denoise"]["detail"] == 0
    assert faithful["colour_correct"]["white_balance"] == 0
    assert clean["colour_correct"]["white_balance"] > 0
    assert "sharpen" in clean and "sharpen" not in faithful


def test_list_presets_is_json_ready_and_versioned():
    listed = presets.list_presets()
    assert [p["name"] for p in listed] == ["faithful", "clean", "auto"]
    assert all(isinstance(p["version"], int) and p["version"] >= 1 for p in listed)
    assert json.loads(json.dumps(listed)) == listed
    assert listed[2]["needs_analysis"] and listed[2]["spec"] is None


def test_unknown_preset_and_auto_without_analysis_are_clear_errors():
    with pytest.raises(SpecError, match="unknown preset 'vintage'; available: faithful"):
        presets.get_preset("vintage")
    with pytest.raises(SpecError, match="auto preset needs an analysis"):
        presets.get_preset("auto")


def test_auto_preset_from_an_analysis_report():
    analysis = pytest.importorskip("gpu_worker.engine.analysis")
    report = analysis.analyze(media_file("old_film/roundhay_garden_scene.mp4"), max_frames=24)
    spec = presets.get_preset("auto", analysis=report)
    assert parse_spec(spec).to_dict() == spec
    assert spec["ops"], "the analysis of a damaged old film suggests some repair"


@pytest.mark.parametrize("name", ["faithful", "clean"])
def test_static_presets_render_a_small_clip(tmp_path, name):
    clip = write_clip(tmp_path / "in.mp4", 6, width=64, height=48)
    out = tmp_path / f"{name}.mp4"
    spec = presets.get_preset(name)
    spec["encode"]["preset"] = "ultrafast"
    result = pipeline.render(clip, out, spec)
    assert result.frames == 6 and io.probe(out).frame_count == 6


def test_auto_preset_applies_inverse_telecine_to_a_pulled_down_clip(tmp_path):
    from tests.media_factory import make_telecined, moving_pictures

    src = make_telecined(tmp_path / "tc.nut", moving_pictures(24, step=5))
    spec = presets.get_preset("auto", analysis=src)
    assert spec["ops"][0]["op"] == "ivtc"
    assert spec["ops"][0]["params"]["offset"] == 0
