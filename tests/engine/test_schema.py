"""The torch-free schema layer: one declaration per operator, usable by the web
process without loading the engine, and the implementations built on it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import pytest

from gpu_worker.engine import ops, registry, schema
from gpu_worker.engine.ops import OPERATORS
from gpu_worker.engine.ops.colour_scheme import LOOKS
from gpu_worker.engine.ops.interpolate import DIS_PRESETS

ROOT = Path(__file__).resolve().parents[2]
DECLARED = ("name", "category", "description", "params", "changes_size", "changes_rate")


def test_spec_presets_and_schemas_work_without_torch() -> None:
    code = textwrap.dedent("""
        import sys
        import gpu_worker.engine.presets as presets
        import gpu_worker.engine.rate as rate
        import gpu_worker.engine.schema as schema
        import gpu_worker.engine.spec as spec

        for preset in presets.list_presets():
            if preset["spec"] is not None:
                parsed = spec.parse_spec(presets.get_preset(preset["name"]))
                assert parsed.ops and len(parsed.spec_hash) == 64
        varied = spec.apply_overrides(presets.get_preset("clean"), {"sharpen.amount": 1.0})
        assert varied.ops[-1].params["amount"] == 1.0
        names = [s["name"] for s in schema.operator_schemas()]
        assert len(names) == 17 and "interpolate" in names and "ivtc" in names, names
        assert schema.get_operator_schema("denoise").params
        ops = [{"op": "interpolate", "params": {"fps": 59.94}}]
        assert spec.expected_output_frames(ops, 1001, "24000/1001") == 2503
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "av", "cv2"))
        assert not loaded, loaded
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_every_declared_operator_has_exactly_one_implementation() -> None:
    implemented = {cls.name: cls for cls in OPERATORS}
    declared = {s.name: s for s in schema.BUILTIN_SCHEMAS}
    assert len(implemented) == len(OPERATORS) and implemented.keys() == declared.keys()
    for name, cls in implemented.items():
        assert issubclass(cls, declared[name]) and issubclass(cls, registry.Operator)
        assert ops.get_operator(name) is cls
        assert schema.get_operator_schema(name) is declared[name]


def test_implementations_declare_nothing_of_their_own() -> None:
    # One source of truth: an implementation inherits its declaration from the schema.
    for cls in OPERATORS:
        redeclared = [attr for attr in DECLARED if attr in vars(cls)]
        assert not redeclared, (cls.name, redeclared)
        assert cls.schema() == schema.get_operator_schema(cls.name).schema()


def test_choice_lists_match_what_the_implementations_offer() -> None:
    assert schema.LOOK_NAMES == tuple(LOOKS)
    assert schema.DIS_QUALITIES == tuple(DIS_PRESETS)


def test_registry_and_schema_list_the_same_operators() -> None:
    assert registry.operator_schemas() == schema.operator_schemas()
    assert list(ops.all_operators()) == list(schema.all_operator_schemas())


def test_unknown_operator_is_a_spec_error_naming_the_known_ones() -> None:
    with pytest.raises(schema.SpecError, match="unknown operator 'nope'; known: .*denoise"):
        schema.get_operator_schema("nope")


def test_rate_rule_of_interpolate_is_part_of_its_schema() -> None:
    interp = schema.get_operator_schema("interpolate")
    params = interp.validate_params({"fps": 59.94})
    assert interp.rate_ratio(params, Fraction(24000, 1001)) == Fraction(5, 2)
    with pytest.raises(schema.SpecError, match="interpolate.fps"):
        interp.rate_ratio(params, Fraction(120))
    assert schema.get_operator_schema("denoise").rate_ratio({}, Fraction(24)) == 1


def test_a_second_declaration_of_a_name_is_refused() -> None:
    class Other(schema.OperatorSchema):
        name = "denoise"

    with pytest.raises(ValueError, match="registered twice"):
        schema.add_schema(Other)
