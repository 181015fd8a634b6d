"""Pipeline specs: the JSON a preset, a variant and a render job carry.

    {"ops": [{"op": "deflicker", "params": {"strength": 0.8}}, ...],
     "seed": 7,
     "encode": {"codec": "h264", "crf": 18}}

A bare list of ops is accepted too (seed 0, default encoding). Everything is
validated before a single frame is decoded; each error names the op, its position
(1-based, as a technician counts), the parameter and what is allowed.

The canonical form fills in every default and sorts keys, so two specs that render
the same thing have the same `spec_hash` (the idempotency key of a render).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from gpu_worker.engine.encoding import EncodeError, EncodeSettings
from gpu_worker.engine.rate import as_rate, output_rate_ratio
from gpu_worker.engine.schema import SpecError, get_operator_schema, insertion_index

__all__ = ["OpSpec", "PipelineSpec", "parse_spec", "load_spec", "mix_seed",
           "apply_overrides", "SpecError", "SPEC_KEYS", "output_frame_rate", "expected_output_frames"]

SPEC_KEYS = ("ops", "seed", "encode")
OP_KEYS = ("op", "params", "region")
# Where in the picture an op acts (see gpu_worker.engine.regions): "all" is the whole
# frame and is left out of the canonical form, so specs without regions keep their hash.
REGIONS = ("all", "face", "person", "background")
MAX_SEED = 2**63 - 1
MAX_OPS = 64


def mix_seed(seed: int, index: int) -> int:
    """Seed of the op at `index`: a stable hash, so two grain ops in one spec differ
    and moving an op changes only that op's noise."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & MAX_SEED


@dataclass
class OpSpec:
    op: str
    params: dict[str, Any] = field(default_factory=dict)
    region: str = "all"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "params": dict(self.params)}
        if self.region != "all":
            out["region"] = self.region
        return out


@dataclass
class PipelineSpec:
    """A validated spec: params complete (defaults filled in), encoding checked."""

    ops: list[OpSpec]
    seed: int = 0
    encode: EncodeSettings = field(default_factory=EncodeSettings)

    def to_dict(self) -> dict[str, Any]:
        return {"ops": [o.to_dict() for o in self.ops], "seed": self.seed,
                "encode": self.encode.to_dict()}

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True, allow_nan=False)

    @property
    def uses_regions(self) -> bool:
        return any(o.region != "all" for o in self.ops)

    @property
    def spec_hash(self) -> str:
        """sha256 of the canonical JSON: equal for specs that render identically."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def op_seed(self, index: int) -> int:
        return mix_seed(self.seed, index)


def _where(position: int, name: str | None) -> str:
    return f"op #{position}" + (f" ({name})" if name else "")


def _parse_op(raw: Any, position: int) -> OpSpec:
    if isinstance(raw, str):  # "denoise" is shorthand for {"op": "denoise"}
        raw = {"op": raw}
    if not isinstance(raw, Mapping):
        raise SpecError(f"{_where(position, None)}: expected an object like "
                        f'{{"op": "denoise", "params": {{...}}}}, got {raw!r}',
                        position=position)
    unknown = sorted(set(raw) - set(OP_KEYS))
    if unknown:
        raise SpecError(f"{_where(position, raw.get('op'))}: unknown key {unknown[0]!r}; "
                        f"allowed: {', '.join(OP_KEYS)}", position=position,
                        op=raw.get("op") if isinstance(raw.get("op"), str) else None)
    name = raw.get("op")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{_where(position, None)}: missing operator name (\"op\")",
                        position=position)
    try:
        cls = get_operator_schema(name)
    except SpecError as exc:
        raise SpecError(f"{_where(position, name)}: {exc}", op=name,
                        position=position) from None
    params = raw.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise SpecError(f"{_where(position, name)}: \"params\" must be an object, got "
                        f"{params!r}", op=name, position=position)
    try:
        validated = cls.validate_params(params)
    except SpecError as exc:
        raise SpecError(f"{_where(position, name)}: {exc}", op=name, param=exc.param,
                        position=position) from None
    region = raw.get("region", "all")
    if region is None:
        region = "all"
    if region not in REGIONS:
        raise SpecError(f"{_where(position, name)}: region {region!r} is not one of "
                        f"{', '.join(REGIONS)}", op=name, param="region", position=position)
    if region != "all" and (cls.changes_size or cls.changes_rate):
        what = "frame size" if cls.changes_size else "frame rate"
        raise SpecError(f"{_where(position, name)}: {name} changes the {what}, so it "
                        f"cannot be limited to a region (region {region!r}); only ops "
                        "that keep size and rate can", op=name, param="region",
                        position=position)
    return OpSpec(op=name, params=validated, region=region)


def parse_spec(raw: Any) -> PipelineSpec:
    """Validate a spec given as a dict, a list of ops, or JSON text/bytes.

    Raises SpecError with a message fit to show a technician.
    """
    if isinstance(raw, PipelineSpec):
        return raw
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SpecError(f"the spec is not valid JSON: {exc.msg} at line {exc.lineno} "
                            f"column {exc.colno}") from None
    if isinstance(raw, list):
        raw = {"ops": raw}
    if not isinstance(raw, Mapping):
        raise SpecError("a spec must be an object {\"ops\": [...], \"seed\": ..., "
                        "\"encode\": {...}} or a list of ops")
    unknown = sorted(set(raw) - set(SPEC_KEYS))
    if unknown:
        raise SpecError(f"unknown spec key {unknown[0]!r}; allowed: {', '.join(SPEC_KEYS)}")
    ops_raw = raw.get("ops")
    if not isinstance(ops_raw, list):
        raise SpecError("\"ops\" must be a list of operators (it may be empty)")
    if len(ops_raw) > MAX_OPS:
        raise SpecError(f"too many operators: {len(ops_raw)} (at most {MAX_OPS})")
    ops = [_parse_op(o, i + 1) for i, o in enumerate(ops_raw)]
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise SpecError(f"seed: {seed!r} must be a whole number in [0, {MAX_SEED}]",
                        param="seed")
    enc_raw = raw.get("encode") or {}
    if not isinstance(enc_raw, Mapping):
        raise SpecError(f"\"encode\" must be an object, got {enc_raw!r}", param="encode")
    try:
        encode = EncodeSettings.from_dict(dict(enc_raw))
    except EncodeError as exc:
        raise SpecError(str(exc), param=str(exc).split(":")[0]) from None
    except TypeError as exc:  # wrong type for a dataclass field
        raise SpecError(f"encode: {exc}", param="encode") from None
    return PipelineSpec(ops=ops, seed=seed, encode=encode)


def load_spec(path: str | os.PathLike[str]) -> PipelineSpec:
    """Read and validate a spec file (JSON)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec file {p}: {exc.strerror or exc}") from None
    return parse_spec(text)


def apply_overrides(spec: Any, overrides: Mapping[str, Any], *, insert: bool = False) -> PipelineSpec:
    """A variant: `spec` with some values replaced, then validated again.

    Keys are "OP.PARAM" (the first op of that name), "#N.PARAM" (the op at 1-based
    position N of `spec`), "encode.SETTING" or "seed"; "OP.region" / "#N.region" set an
    op's region.

    insert: an "OP.PARAM" whose operator `spec` lacks adds that operator, with its
    defaults, at its usual place (schema.PIPELINE_ORDER), so "grain.strength" can be
    varied from a preset without grain. Without it such a key is an error. "#N" keys
    always count the ops of `spec` as given, inserted ones aside.
    """
    base = parse_spec(spec).to_dict()
    out = copy.deepcopy(base)
    positions = list(range(len(out["ops"])))  # where each op of `spec` is now
    for key, value in overrides.items():
        if key == "seed":
            out["seed"] = value
            continue
        target, _, name = key.partition(".")
        if not name:
            raise SpecError(f"override {key!r}: expected OP.PARAM, #N.PARAM, "
                            "encode.SETTING or seed")
        if target == "encode":
            out["encode"][name] = value
            continue
        if target.startswith("#") and target[1:].isdigit():
            number = int(target[1:]) - 1
            if not 0 <= number < len(positions):
                raise SpecError(f"override {key!r}: there is no op #{number + 1}")
            index = positions[number]
        else:
            matches = [i for i, o in enumerate(out["ops"]) if o["op"] == target]
            if matches:
                index = matches[0]
            elif insert:
                get_operator_schema(target)  # an unknown name fails here, named
                index = insertion_index([o["op"] for o in out["ops"]], target)
                out["ops"].insert(index, {"op": target, "params": {}})
                positions = [p + 1 if p >= index else p for p in positions]
            else:
                raise SpecError(f"override {key!r}: the spec has no {target!r} op",
                                op=target)
        if name == "region":
            out["ops"][index]["region"] = value
        else:
            out["ops"][index]["params"][name] = value
    return parse_spec(out)


# --- what a spec renders ---------------------------------------------------------------

def _spec_ratios(spec: Any, fps: Any) -> list[Fraction]:
    """The rate ratio of every rate-changing op of a spec, in order (each op sees the
    rate the ops before it produce)."""
    parsed = parse_spec(spec)
    rate = as_rate(fps)
    ratios = []
    for op_spec in parsed.ops:
        cls = get_operator_schema(op_spec.op)
        if cls.changes_rate:
            r = cls.rate_ratio(op_spec.params, rate)
            ratios.append(r)
            rate *= r
    return ratios


def expected_output_size(spec: Any, width: int, height: int) -> tuple[int, int]:
    """The frame size a render of `spec` writes for a `width` x `height` source (chained
    resizes and super-resolution included), without loading the engine."""
    for op_spec in parse_spec(spec).ops:
        cls = get_operator_schema(op_spec.op)
        if cls.changes_size:
            width, height = cls.size_after(op_spec.params, width, height)
    return int(width), int(height)


def output_frame_rate(spec: Any, fps: Any) -> Fraction:
    """The frame rate a render of `spec` writes for a source at `fps`."""
    return as_rate(fps) * output_rate_ratio(_spec_ratios(spec, fps))


def expected_output_frames(spec: Any, source_frames: int, fps: Any, *, start: int = 0) -> int:
    """How many frames a render of `spec` writes for the `source_frames` input frames
    starting at frame `start` (a whole clip, an excerpt or a film segment).

    Equal to `source_frames` for specs that keep the rate. Raises SpecError for an
    invalid spec (including a target rate below the source's).
    """
    if source_frames <= 0:
        return 0
    lo, hi = int(start), int(start) + int(source_frames)
    rate = as_rate(fps)
    for op_spec in parse_spec(spec).ops:
        cls = get_operator_schema(op_spec.op)
        if cls.changes_rate:
            r = cls.rate_ratio(op_spec.params, rate)
            lo, hi = cls.frames_out(op_spec.params, r, lo, hi)
            rate *= r
    return hi - lo
