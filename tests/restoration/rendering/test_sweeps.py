"""Sweeps: expansion and its cap, validation before anything is created, reuse."""

from __future__ import annotations

import pytest

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
    with pytest.raises(sweeps.SweepError, match="not a number"):
        sweeps.parse_values(version.spec, "colour_scheme.amount", "much")
    with pytest.raises(sweeps.SweepError, match="no 'denoise' operator"):
        sweeps.parse_values(version.spec, "denoise.strength", "1")
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
