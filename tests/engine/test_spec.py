"""Spec parsing, validation messages, canonical form and hash."""

from __future__ import annotations

import json

import pytest

from gpu_worker.engine import spec as specs
from gpu_worker.engine.registry import Operator, Param, SpecError, register


@register
class _SpecProbe(Operator):
    name = "test_spec_probe"
    params = (
        Param("strength", "float", 0.5, min=0.0, max=1.0),
        Param("mode", "choice", "soft", choices=("soft", "hard")),
        Param("radius", "int", 2, min=0, max=8, unit="frames"),
    )


def test_bare_list_and_object_forms_are_equivalent():
    a = specs.parse_spec([{"op": "test_spec_probe"}])
    b = specs.parse_spec({"ops": [{"op": "test_spec_probe", "params": {}}], "seed": 0})
    c = specs.parse_spec(json.dumps(["test_spec_probe"]))
    assert a == b == c
    assert a.ops[0].params == {"strength": 0.5, "mode": "soft", "radius": 2}


def test_hash_ignores_spelling_of_defaults_and_key_order():
    a = specs.parse_spec({"ops": [{"op": "test_spec_probe"}], "seed": 3})
    b = specs.parse_spec({"seed": 3, "ops": [{"params": {"radius": 2, "strength": 0.5},
                                               "op": "test_spec_probe"}],
                          "encode": {"codec": "h264"}})
    assert a.canonical_json() == b.canonical_json()
    assert a.spec_hash == b.spec_hash and len(a.spec_hash) == 64


def test_hash_changes_with_params_seed_and_encode():
    base = specs.parse_spec([{"op": "test_spec_probe"}]).spec_hash
    assert specs.parse_spec([{"op": "test_spec_probe", "params": {"strength": 0.6}}]
                            ).spec_hash != base
    assert specs.parse_spec({"ops": ["test_spec_probe"], "seed": 1}).spec_hash != base
    assert specs.parse_spec({"ops": ["test_spec_probe"], "encode": {"crf": 20}}
                            ).spec_hash != base


def test_round_trip_through_json():
    s = specs.parse_spec({"ops": [{"op": "test_spec_probe", "params": {"mode": "hard"}}],
                          "seed": 9, "encode": {"codec": "av1", "film_grain": 8}})
    again = specs.parse_spec(s.canonical_json())
    assert again == s and again.encode.film_grain == 8


@pytest.mark.parametrize("raw,pattern,attrs", [
    ([{"op": "test_spec_probe"}, {"op": "test_spec_probe", "params": {"strength": 2}}],
     r"op #2 \(test_spec_probe\): test_spec_probe.strength: 2.0 is outside the allowed "
     r"range \[0.0, 1.0\]", {"op": "test_spec_probe", "param": "strength", "position": 2}),
    ([{"op": "test_spec_probe", "params": {"mode": "medium"}}],
     r"op #1 \(test_spec_probe\).*'medium' is not one of soft, hard",
     {"param": "mode", "position": 1}),
    ([{"op": "test_spec_probe", "params": {"radius": 1.5}}], r"whole number",
     {"param": "radius"}),
    ([{"op": "test_spec_probe", "params": {"colour": 1}}],
     r"unknown parameter 'colour'; known: strength, mode, radius", {"param": "colour"}),
    ([{"op": "no_such_op"}], r"op #1 \(no_such_op\): unknown operator 'no_such_op'",
     {"op": "no_such_op", "position": 1}),
    ([{"params": {}}], r"op #1: missing operator name", {"position": 1}),
    ([{"op": "test_spec_probe", "extra": 1}], r"unknown key 'extra'", {"position": 1}),
    ([42], r"op #1: expected an object", {"position": 1}),
    ({"ops": [], "seed": -1}, r"seed: -1", {"param": "seed"}),
    ({"ops": [], "seed": True}, r"seed: True", {"param": "seed"}),
    ({"ops": {}}, r'"ops" must be a list', {}),
    ({"ops": [], "colour": 1}, r"unknown spec key 'colour'", {}),
    ({"ops": [], "encode": {"crf": 99}}, r"encode.crf: 99 is outside the allowed range "
     r"\[0, 51\]", {}),
    ({"ops": [], "encode": {"codec": "mpeg2"}}, r"encode.codec: 'mpeg2' is not one of", {}),
    ({"ops": [], "encode": {"film_grain": 10}}, r"film-grain synthesis needs codec av1", {}),
    ({"ops": [], "encode": {"codec": "av1", "preset": "fast"}}, r"\[0, 13\]", {}),
    ({"ops": [], "encode": {"speed": 1}}, r"unknown setting 'speed'", {}),
    ("{not json", r"not valid JSON", {}),
    ("3", r"a spec must be an object", {}),
])
def test_errors_name_op_position_param_and_range(raw, pattern, attrs):
    with pytest.raises(SpecError, match=pattern) as info:
        specs.parse_spec(raw)
    for key, value in attrs.items():
        assert getattr(info.value, key) == value


def test_mix_seed_is_stable_and_distinct_per_position():
    assert specs.mix_seed(7, 0) == specs.mix_seed(7, 0)
    seeds = {specs.mix_seed(7, i) for i in range(50)} | {specs.mix_seed(8, 0)}
    assert len(seeds) == 51
    assert all(0 <= s < 2**63 for s in seeds)
    spec = specs.parse_spec({"ops": ["test_spec_probe", "test_spec_probe"], "seed": 7})
    assert spec.op_seed(0) != spec.op_seed(1)


def test_overrides_make_a_validated_variant():
    base = {"ops": ["test_spec_probe", "test_spec_probe"], "seed": 1}
    v = specs.apply_overrides(base, {"test_spec_probe.strength": 0.9, "#2.mode": "hard",
                                     "encode.crf": 22, "seed": 5})
    assert v.ops[0].params["strength"] == 0.9 and v.ops[1].params["mode"] == "hard"
    assert v.ops[1].params["strength"] == 0.5
    assert (v.encode.crf, v.seed) == (22, 5)
    with pytest.raises(SpecError, match="outside the allowed range"):
        specs.apply_overrides(base, {"#1.strength": 3})
    with pytest.raises(SpecError, match="no op #3"):
        specs.apply_overrides(base, {"#3.strength": 0.1})
    with pytest.raises(SpecError, match="has no 'grain' op"):
        specs.apply_overrides(base, {"grain.amount": 0.1})


def test_load_spec_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"ops": ["test_spec_probe"], "seed": 4}))
    assert specs.load_spec(path).seed == 4
    with pytest.raises(SpecError, match="cannot read spec file"):
        specs.load_spec(tmp_path / "missing.json")


# --- inserting a missing operator at its usual place -----------------------------------

def _names(spec) -> list[str]:
    return [o.op for o in spec.ops]


def test_pipeline_order_places_every_builtin_operator():
    from gpu_worker.engine.schema import BUILTIN_SCHEMAS, PIPELINE_ORDER

    assert sorted(PIPELINE_ORDER) == sorted(s.name for s in BUILTIN_SCHEMAS)
    assert len(set(PIPELINE_ORDER)) == len(PIPELINE_ORDER)


def test_shipped_presets_follow_the_pipeline_order():
    from gpu_worker.engine.presets import get_preset, list_presets
    from gpu_worker.engine.schema import pipeline_rank

    for shipped in list_presets():
        if shipped["needs_analysis"]:
            continue
        names = _names(specs.parse_spec(get_preset(shipped["name"])))
        assert names == sorted(names, key=pipeline_rank), shipped["name"]


def test_insertion_index_goes_before_the_first_later_operator():
    from gpu_worker.engine.schema import insertion_index

    faithful_like = ["deflicker", "dust", "scratch", "denoise", "colour_correct", "sharpen"]
    assert insertion_index(faithful_like, "grain") == 6  # grain comes last
    assert insertion_index(faithful_like, "wire") == 3  # after scratch, before denoise
    assert insertion_index(faithful_like, "deinterlace") == 0  # fields first
    assert insertion_index(faithful_like, "face_restore") == 5  # after colour, before sharpen
    assert insertion_index(["denoise", "grain"], "interpolate") == 1  # before grain
    assert insertion_index([], "denoise") == 0
    # An operator the order does not place goes last; unplaced ones are stepped over.
    assert insertion_index(["denoise", "test_spec_probe", "grain"], "sharpen") == 2
    assert insertion_index(["denoise", "grain"], "test_spec_probe") == 2


def test_apply_overrides_inserts_a_missing_operator_with_its_defaults():
    base = {"ops": [{"op": "deflicker"}, {"op": "denoise", "params": {"strength": 0.6}},
                    {"op": "sharpen"}], "seed": 4}
    with pytest.raises(SpecError, match="has no 'grain' op"):
        specs.apply_overrides(base, {"grain.strength": 3.0})
    v = specs.apply_overrides(base, {"grain.strength": 3.0, "dust.sensitivity": 0.7}, insert=True)
    assert _names(v) == ["deflicker", "dust", "denoise", "sharpen", "grain"]
    from gpu_worker.engine.schema import get_operator_schema

    grain_defaults = get_operator_schema("grain").validate_params({})
    assert v.ops[4].params == {**grain_defaults, "strength": 3.0}
    assert v.ops[1].params["sensitivity"] == 0.7
    assert v.ops[2].params["strength"] == 0.6 and v.seed == 4  # the rest untouched
    # The same override twice makes the same spec (same hash: a sweep reuses it).
    assert specs.apply_overrides(base, {"grain.strength": 3.0, "dust.sensitivity": 0.7},
                                 insert=True).spec_hash == v.spec_hash
    # A present operator is changed, never added again.
    again = specs.apply_overrides(base, {"denoise.strength": 2.0}, insert=True)
    assert _names(again) == ["deflicker", "denoise", "sharpen"]
    assert again.ops[1].params["strength"] == 2.0


def test_inserted_values_are_validated_and_unknown_operators_named():
    base = [{"op": "denoise"}]
    with pytest.raises(SpecError, match=r"grain.strength: 99.0 is outside"):
        specs.apply_overrides(base, {"grain.strength": 99}, insert=True)
    with pytest.raises(SpecError, match="unknown operator 'nosuch'"):
        specs.apply_overrides(base, {"nosuch.x": 1}, insert=True)


def test_position_keys_count_the_base_ops_after_an_insertion():
    base = [{"op": "deflicker"}, {"op": "denoise"}]
    v = specs.apply_overrides(base, {"dust.sensitivity": 0.4, "#2.strength": 1.5}, insert=True)
    assert _names(v) == ["deflicker", "dust", "denoise"]
    assert v.ops[2].params["strength"] == 1.5  # "#2" is still the base's denoise
