#!/usr/bin/env python
"""Write docs/operators.md from the operator registry, so the table never drifts.

    python scripts/gen_operator_docs.py           # rewrite docs/operators.md
    python scripts/gen_operator_docs.py --check   # exit 1 if it is out of date (CI)
    python scripts/gen_operator_docs.py --stdout  # print instead of writing

Everything comes from each operator's declared schema (the same one the web form and
the spec validator use): name, category, description, parameters with kind, default,
range or choices, unit and help text; plus temporal radius and size/rate changes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpu_worker.engine.ops import all_operators  # noqa: E402
from gpu_worker.engine.registry import OpContext, Operator, Param  # noqa: E402

OUTPUT = ROOT / "docs" / "operators.md"


def _cell(text: Any) -> str:
    """Markdown-table-safe text."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _fmt_number(v: float | None) -> str:
    if v is None:
        return ""
    if float(v).is_integer():
        return str(int(v))
    return f"{v:g}"


def _fmt_default(p: Param) -> str:
    if p.kind == "bool":
        return "true" if p.default else "false"
    if p.kind in ("str", "path", "choice"):
        return f"`{p.default}`" if p.default != "" else "(empty)"
    return f"`{_fmt_number(p.default)}`"


def _fmt_allowed(p: Param) -> str:
    if p.kind == "choice":
        return ", ".join(f"`{c}`" for c in p.choices)
    if p.kind == "bool":
        return "true / false"
    if p.kind == "path":
        return "file path (relative to the project's assets)"
    if p.kind == "str":
        return "text"
    lo, hi = _fmt_number(p.min), _fmt_number(p.max)
    if lo and hi:
        return f"{lo} … {hi}"
    if lo:
        return f"≥ {lo}"
    if hi:
        return f"≤ {hi}"
    return "any"


def _temporal_radius(cls: type[Operator]) -> str:
    """Temporal radius with default parameters, without touching any file."""
    if cls.temporal_radius is Operator.temporal_radius:
        return "0"
    try:
        op = cls(cls.validate_params({}), OpContext())
        return str(op.temporal_radius())
    except Exception:  # an operator that needs files to exist even to be built
        return "?"


def _source_file(cls: type[Operator]) -> str:
    """The operator's module as a path from the repository root."""
    return cls.__module__.replace(".", "/") + ".py"


def render() -> str:
    ops = all_operators()
    lines = [
        "# Operators",
        "",
        "Generated from the operator registry by `scripts/gen_operator_docs.py`; do not edit",
        "by hand (run the script after adding or changing an operator).",
        "",
        "A pipeline spec is an ordered list of `{\"op\": name, \"params\": {...}}`. Frames are",
        "RGB in [0, 1]; *code values* are on the 0–255 scale whatever the file's bit depth.",
        "*Temporal radius* is the number of frames needed before and after each frame with",
        "default parameters (windows never cross a scene cut).",
        "Every operator is declared (name, parameters, size and rate changes) in",
        "`gpu_worker/engine/schema.py` and implemented in `gpu_worker/engine/ops/<name>.py`.",
        "",
        "| operator | category | temporal radius | changes size | changes rate | what it does |",
        "|---|---|---|---|---|---|",
    ]
    for name, cls in ops.items():  # GitHub keeps underscores in heading anchors
        lines.append(
            f"| [`{name}`](#{name}) | {_cell(cls.category)} | "
            f"{_temporal_radius(cls)} | {'yes' if cls.changes_size else 'no'} | "
            f"{'yes' if cls.changes_rate else 'no'} | {_cell(cls.description)} |")
    for name, cls in ops.items():
        lines += ["", f"## {name}", "", _cell(cls.description) or "(no description)", "",
                  f"Implemented in `{_source_file(cls)}`.", ""]
        if not cls.params:
            lines.append("No parameters.")
            continue
        lines += ["| parameter | type | default | allowed | unit | meaning |",
                  "|---|---|---|---|---|---|"]
        for p in cls.params:
            lines.append(f"| `{p.name}` | {p.kind} | {_fmt_default(p)} | "
                         f"{_cell(_fmt_allowed(p))} | {_cell(p.unit)} | "
                         f"{_cell(p.description)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true",
                       help="exit with status 1 if docs/operators.md is out of date")
    group.add_argument("--stdout", action="store_true", help="print instead of writing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is out of date; run scripts/gen_operator_docs.py",
                  file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(all_operators())} operators)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
