"""Every built-in operator's parameters are documented, bounded and validated."""

from __future__ import annotations

import pytest

from gpu_worker.engine.ops import get_operator
from gpu_worker.engine.registry import SpecError
from gpu_worker.engine.schema import BUILTIN_SCHEMAS

OPERATOR_NAMES = [s.name for s in BUILTIN_SCHEMAS]


@pytest.mark.parametrize("name", OPERATOR_NAMES)
def test_every_parameter_is_documented_and_bounded(name: str) -> None:
    cls = get_operator(name)
    schema = cls.schema()
    assert schema["description"] and schema["category"]
    for p in cls.params:
        assert len(p.description) > 20, (name, p.name)
        if p.kind in ("float", "int"):
            assert p.min is not None and p.max is not None and p.min < p.max, (name, p.name)
            assert p.min <= p.default <= p.max
        if p.kind == "choice":
            assert p.default in p.choices
    # Defaults validate, and spec values are checked against the declared ranges.
    assert cls.validate_params({}) == {p.name: p.default for p in cls.params}
    numeric = [p for p in cls.params if p.kind in ("float", "int")]
    if numeric:
        with pytest.raises(SpecError, match=f"{name}.{numeric[0].name}"):
            cls.validate_params({numeric[0].name: numeric[0].max + 1})
