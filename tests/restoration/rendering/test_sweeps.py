"""Sweeps: expansion and its cap, validation before anything is created, reuse."""

from __future__ import annotations

import pytest
from django.utils import translation

from restoration.models import RenderJob, Variant
from restoration.rendering import sweeps
from restoration.services import presets
from tests.media_factory import make_video
from tests.restoration.clip_helpers import cheap_spec, ready_clip

pytestmark = pytest.mark.django_db


@pytest.fixture
def clip(tmp_path):
    return ready_clip(make_video(tmp_path / "c.mp4", frames=30, width=64, height=48))


@pytest.fixture
def version():
    return presets.create_preset("Sweep base", cheap_spec(), user=None)


def test_expand_is_the_cartesian_product():
    combos = sweeps.expand({"grain.strength": [0, 3, 6], "colour_scheme.look": ["neutral", "warm_period"]})
    assert len(combos) == 6
    assert combos[0] == {"grain.strength": 0, "colour_scheme.look": "neutral"}
    assert combos[-1] == {"grain.strength": 6, "colour_scheme.look": "warm_period"}


def test_expand_cap_has_a_clear_message():
    with pytest.raises(sweeps.SweepError, match=r"4 × 4 = 16 variants; at most 12"):
        sweeps.expand({"a.x": [1, 2, 3, 4], "b.y": [1, 2, 3, 4]})
    with pytest.raises(sweeps.SweepError, match="listed twice"):
        sweeps.expand({"a.x": [1, 1]})
    with pytest.raises(sweeps.SweepError, match="at least one value"):
        sweeps.expand({"a.x": []})


def test_parse_values_uses_the_parameter_types(version):
    assert sweeps.parse_values(version.spec, "colour_scheme.amount", "0, 0.5,1") == [0, 0.5, 1]
    assert sweeps.parse_values(version.spec, "colour_scheme.look", "neutral,sepia") == ["neutral", "sepia"]
    # The form shows choices by name in the reader's language; either is understood.
    with translation.override("zh-hant"):
        assert sweeps.parse_values(version.spec, "colour_scheme.look", "暖調舊拷貝, sepia") == ["warm_period", "sepia"]
        assert sweeps.parse_values(version.spec, "denoise.align", "是,否, true") == [True, False, True]
    with pytest.raises(sweeps.SweepError, match="not a number"):
        sweeps.parse_values(version.spec, "colour_scheme.amount", "much")
    # An operator the base lacks can be swept too (it is inserted at its usual place).
    assert sweeps.parse_values(version.spec, "denoise.strength", "0.3, 2") == [0.3, 2]
    with pytest.raises(sweeps.SweepError, match="unknown operator 'nosuch'"):
        sweeps.parse_values(version.spec, "nosuch.strength", "1")
    with pytest.raises(sweeps.SweepError, match="same for every variant"):
        sweeps.parse_values(version.spec, "encode.crf", "18,20")
    keys = {row["key"] for row in sweeps.sweepable_parameters(version.spec)}
    assert {"seed", "colour_scheme.amount", "colour_scheme.look"} <= keys


def test_create_sweep_makes_one_variant_per_combination(clip, version):
    axes = {"colour_scheme.amount": [0.0, 0.5], "colour_scheme.look": ["neutral", "warm_period"]}
    variants = sweeps.create_sweep(clip, version, axes, start=5, end=17, dispatch=False)
    assert len(variants) == 4 and len({v.spec_hash for v in variants}) == 4
    assert all((v.start_frame, v.end_frame) == (5, 17) for v in variants)
    assert len({str(v.encode) for v in variants}) == 1  # identical encode settings
    assert variants[1].spec["ops"][0]["params"]["look"] == "warm_period"
    assert variants[2].spec["ops"][0]["params"]["amount"] == 0.5
    version.refresh_from_db()
    assert version.locked  # used by variants: immutable from now on
    again = sweeps.create_sweep(clip, version, axes, start=5, end=17, dispatch=False)
    assert [v.pk for v in again] == [v.pk for v in variants]  # reused, not duplicated


def test_invalid_values_create_nothing(clip, version):
    with pytest.raises(sweeps.SweepError, match="colour_scheme.amount"):
        sweeps.create_sweep(clip, version, {"colour_scheme.amount": [1.0, -5.0]}, start=0, end=5)
    with pytest.raises(sweeps.SweepError, match="within the clip"):
        sweeps.create_sweep(clip, version, {"colour_scheme.amount": [1.0]}, start=20, end=40)
    assert not Variant.objects.exists() and not RenderJob.objects.exists()


def test_excerpt_is_suggested_when_not_chosen(clip, version):
    variants = sweeps.create_sweep(clip, version, {"seed": [1, 2]}, dispatch=False)
    v = variants[0]
    assert 0 <= v.start_frame < v.end_frame <= 30 and v.end_frame - v.start_frame <= 30


def test_sweep_dispatches_one_job_per_variant(clip, version, django_capture_on_commit_callbacks,
                                              monkeypatch):
    sent = []
    monkeypatch.setattr("restoration.rendering.variants.send_job", lambda payload, task_id: sent.append(payload))
    with django_capture_on_commit_callbacks(execute=True):
        variants = sweeps.create_sweep(clip, version, {"seed": [1, 2, 3]}, start=0, end=6)
    assert len(sent) == 3 and {p["seed"] for p in sent} == {1, 2, 3}
    assert all(v.jobs.count() == 1 for v in variants)
    assert all(p["input_uri"].startswith("file://") and p["end"] == 6 for p in sent)


def test_a_missing_operator_is_swept_at_its_usual_place(clip):
    base = presets.create_preset("No grain", {"ops": [{"op": "colour_scheme"}, {"op": "denoise"}],
                                              "encode": {"crf": 28}}, user=None)
    variants = sweeps.create_sweep(clip, base, {"grain.strength": [0, 0.3, 0.6]}, start=0, end=6,
                                   dispatch=False)
    assert len({v.spec_hash for v in variants}) == 3
    for v, strength in zip(variants, [0, 0.3, 0.6], strict=True):
        # Grain goes last; the base's own (unusual) order is kept as it is.
        assert [o["op"] for o in v.spec["ops"]] == ["colour_scheme", "denoise", "grain"]
        assert v.spec["ops"][2]["params"]["strength"] == strength
    wire = sweeps.create_sweep(clip, base, {"wire.sensitivity": [0.3, 0.6]}, start=0, end=6,
                               dispatch=False)
    # Before the first op that usually comes after it (colour, in this out-of-order base).
    assert [o["op"] for o in wire[0].spec["ops"]] == ["wire", "colour_scheme", "denoise"]


def test_the_form_lists_missing_operators_that_keep_size_and_rate(version):
    rows = {row["key"]: row for row in sweeps.sweepable_parameters(version.spec)}
    assert not rows["colour_scheme.amount"]["inserted"]
    grain = rows["grain.strength"]
    assert grain["inserted"] and grain["default"] == 6.0 and "adds film grain" in grain["label"]
    assert grain["label"].startswith("film grain · strength ([0.0, 40.0] 8-bit levels)")
    assert "denoise.strength" in rows and "deflicker.strength" in rows
    # Changing the size or rate would make variants incomparable; a LUT needs a file.
    assert not any(k.split(".")[0] in ("resize", "super_resolution", "interpolate", "ivtc", "lut",
                                       "colour_transfer") for k in rows)
    inserted = [k.split(".")[0] for k, r in rows.items() if r["inserted"]]
    from gpu_worker.engine.schema import pipeline_rank

    placed = [n for n in inserted if pipeline_rank(n) is not None]
    assert placed == sorted(placed, key=pipeline_rank)  # offered in pipeline order…
    # … and operators the order does not place (plugins, other tests' probes) after them.
    assert inserted[:len(placed)] == placed


def test_a_sweep_can_start_from_auto(clip):
    from gpu_worker.engine.analysis import analyze

    with pytest.raises(presets.PresetError, match="no analysis yet"):
        presets.auto_version(clip)
    clip.analysis = analyze(clip.source.path, faces=False)
    clip.save(update_fields=["analysis"])
    version = presets.auto_version(clip)
    variants = sweeps.create_sweep(clip, version, {"grain.strength": [0, 3]}, start=0, end=6,
                                   dispatch=False)
    version.refresh_from_db()
    assert version.locked and version.preset.name == "auto"
    assert all(v.preset_version_id == version.pk for v in variants)
    assert all(v.spec["ops"][-1]["op"] == "grain" for v in variants)
