"""The messages the site and the GPU worker exchange: job, progress and result.

The site builds a `JobRequest` and sends its `to_dict()` to the `gpu` queue; the
worker reads it back with `JobRequest.from_dict()`, reports `JobProgress` a couple of
times a second and finishes with one `JobResult`. On the wire each is a JSON object
carrying `version`, so a worker and a site of different releases refuse each
other's messages with a clear error instead of misreading them.

Every message is checked when it is built, whether by its constructor or by
`from_dict`: a field of the wrong type or outside its range raises
`JobContractError` naming the field. A bad job is a bug on the sending side, so the
worker fails it at once and never retries it.

This module needs only the standard library (and the worker's URI parser, itself
standard-library only): the site imports it without torch, and the worker without
Django.

Job, as sent (frames [start, end) of the input, `control_uri` a folder for the
markers `attempts`, `cancel` and `result.json`):

    {"version": 1, "job_id": 12, "kind": "variant" | "segment", "segment": null | 3,
     "input_uri": "file:///…/source.mp4" | "s3://bucket/key",
     "output_uri": "…/renders/….mp4", "control_uri": "…/renders/control/job-12/",
     "spec": {"ops": [...], "seed": 0, "encode": {...}}, "seed": 0,
     "start": 10, "end": 34, "audio": true, "scene_cuts": null | [120, 388],
     "max_attempts": 3, "device": null, "lease": null | "9f2c…", "lease_seconds": null | 300}

`lease` is the token of the site's lease on this unit of work (restoration.leases):
the worker copies it into every progress report and the result, so the site can
tell the current dispatch from an older one; the site also writes it to the marker
`lease` under `control_uri`, and a delivery whose token is no longer there has been
superseded and does nothing. `lease_seconds`: how long the lease lasts without a
sign of life; the worker sends a heartbeat (its last progress again) well within it.

Progress (`restoration.tasks.record_progress`):

    {"version": 1, "job_id": 12, "segment": null, "attempt": 1, "status": "running",
     "frames_done": 8, "frames_total": 24, "fps": 7.9, "eta": 2.0}

Result (`restoration.tasks.record_result`, and the task's return value):

    {"version": 1, "job_id": 12, "segment": null, "kind": "variant",
     "status": "done" | "failed" | "cancelled", "output_uri": "…",
     "proxy_uri": "….proxy.mp4" | null (the H.264 copy of a master browsers cannot play,
     variants only: see needs_proxy), "attempt": 1, "reused": false, "frames": 24, "fps": 7.9, "seconds": 3.0, "duration": 0.97,
     "size": 81234, "width": 192, "height": 144, "device": "cpu", "spec_hash": "…",
     "scene_cuts": [], "metrics": {...}, "error": ""}
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from gpu_worker.worker.storage import StorageURIError, parse_uri

__all__ = ["JOB_VERSION", "DEFAULT_MAX_ATTEMPTS", "JobContractError", "JobKind", "JobStatus",
           "JobRequest", "JobProgress", "JobResult", "needs_proxy", "proxy_uri_for"]

JOB_VERSION = 1
# Messages from before `version` was sent are in this format; a message without the
# field is read as this version, never as the current one.
UNVERSIONED = 1
DEFAULT_MAX_ATTEMPTS = 3

JobKind = Literal["variant", "segment"]
JobStatus = Literal["done", "failed", "cancelled"]
ProgressStatus = Literal["running"]

MessageT = TypeVar("MessageT", bound="Message")


class JobContractError(ValueError):
    """A message does not follow the contract; `field` names the offending field
    (empty when the message as a whole is unusable, e.g. not a JSON object)."""

    def __init__(self, field_name: str, problem: str, *, message_name: str = "job") -> None:
        self.field = field_name
        where = f"{message_name}.{field_name}" if field_name else message_name
        super().__init__(f"{where}: {problem}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _conform(name: str, value: Any, hint: Any, message_name: str) -> Any:
    """`value` checked against the annotation `hint`, in the dataclass's own form:
    lists become tuples for tuple fields, ints become floats for float fields, and
    dicts are copied so the message does not share them with its sender."""
    def refuse(expected: str) -> JobContractError:
        return JobContractError(name, f"expected {expected}, got {type(value).__name__} {value!r}",
                                message_name=message_name)

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _conform(name, value, inner, message_name)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise JobContractError(name, f"must be one of {', '.join(map(repr, typing.get_args(hint)))}, "
                                         f"got {value!r}", message_name=message_name)
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise refuse("a list")
        item_hint = typing.get_args(hint)[0]
        return tuple(_conform(f"{name}[{i}]", item, item_hint, message_name)
                     for i, item in enumerate(value))
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise refuse("a JSON object")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise refuse("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise refuse("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise refuse("a finite number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise refuse("a string")
        return value
    raise TypeError(f"{name}: no check for the annotation {_type_name(hint)}")


@dataclass(frozen=True)
class Message:
    """What the three messages share: type checks from the annotations, the version,
    and the round trip to a JSON-ready dict."""

    message_name: ClassVar[str] = "message"
    required: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for spec in dataclasses.fields(self):
            value = _conform(spec.name, getattr(self, spec.name), hints[spec.name], self.message_name)
            object.__setattr__(self, spec.name, value)
        self.check()

    def check(self) -> None:
        """Range checks beyond the field types; a subclass raises `self.refuse(...)`."""

    def refuse(self, field_name: str, problem: str) -> JobContractError:
        return JobContractError(field_name, problem, message_name=self.message_name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object sent on the wire (tuples as lists), with `version`."""
        data: dict[str, Any] = {"version": JOB_VERSION}
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            data[spec.name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_dict(cls: type[MessageT], data: Any) -> MessageT:
        """The message in `data` (a decoded JSON object), checked field by field.

        Refused: a non-object, another version, an unknown field (a typo would
        otherwise silently fall back to a default), a missing required field, and
        any field of the wrong type or out of range.
        """
        if not isinstance(data, Mapping):
            raise JobContractError("", f"must be a JSON object, got {type(data).__name__}",
                                   message_name=cls.message_name)
        version = data.get("version", UNVERSIONED)
        if version != JOB_VERSION:
            raise JobContractError("version", f"{version!r} is not supported "
                                              f"(this worker reads version {JOB_VERSION})",
                                   message_name=cls.message_name)
        known = {spec.name for spec in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"version"})
        if unknown:
            raise JobContractError(unknown[0], f"unknown field(s) {', '.join(unknown)}",
                                   message_name=cls.message_name)
        missing = [name for name in cls.required if name not in data]
        if missing:
            raise JobContractError(missing[0], f"is missing (required: {', '.join(missing)})",
                                   message_name=cls.message_name)
        return cls(**{name: value for name, value in data.items() if name != "version"})


def _check_uri(message: Message, field_name: str) -> None:
    try:
        parse_uri(getattr(message, field_name))
    except StorageURIError as exc:
        raise message.refuse(field_name, str(exc)) from None


def _check_not_negative(message: Message, *field_names: str) -> None:
    for name in field_names:
        value = getattr(message, name)
        if value is not None and value < 0:
            raise message.refuse(name, f"must not be negative, got {value!r}")


@dataclass(frozen=True)
class JobRequest(Message):
    """One render: frames [start, end) of `input_uri` through `spec` into `output_uri`.

    `kind` "segment" is one piece of a film render (`segment` is its index); a
    "variant" is a whole excerpt (`segment` is None). `seed`, when set, overrides the
    spec's. `max_attempts` bounds how often a job that kills its worker is started.
    `device` pins a device (the worker's REEL_DEVICE wins over it).
    """

    message_name: ClassVar[str] = "job"
    required: ClassVar[tuple[str, ...]] = ("job_id", "input_uri", "output_uri", "control_uri",
                                           "spec", "start", "end")

    job_id: int
    input_uri: str
    output_uri: str
    control_uri: str
    spec: dict[str, Any]
    start: int
    end: int
    kind: JobKind = "variant"
    segment: int | None = None
    seed: int | None = None
    audio: bool = True
    scene_cuts: tuple[int, ...] | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    device: str | None = None
    lease: str | None = None
    lease_seconds: int | None = None

    def check(self) -> None:
        if self.lease_seconds is not None and self.lease_seconds < 1:
            raise self.refuse("lease_seconds", f"must be at least 1, got {self.lease_seconds}")
        for name in ("input_uri", "output_uri", "control_uri"):
            _check_uri(self, name)
        if not 0 <= self.start < self.end:
            raise self.refuse("end", f"frame range [{self.start}, {self.end}) is invalid "
                                     "(need 0 <= start < end)")
        if self.kind == "segment" and self.segment is None:
            raise self.refuse("segment", "a segment job needs its segment index")
        if self.kind == "variant" and self.segment is not None:
            raise self.refuse("segment", f"a variant job has no segment, got {self.segment!r}")
        _check_not_negative(self, "job_id", "segment")
        if self.max_attempts < 1:
            raise self.refuse("max_attempts", f"must be at least 1, got {self.max_attempts}")
        if self.scene_cuts is not None and any(cut < 0 for cut in self.scene_cuts):
            raise self.refuse("scene_cuts", f"frame numbers must not be negative, got "
                                            f"{list(self.scene_cuts)}")

    @property
    def frames_total(self) -> int:
        """Input frames in the range (the output may have more, see the engine's rate)."""
        return self.end - self.start


@dataclass(frozen=True)
class JobProgress(Message):
    """How far a running job is; best-effort and throttled, so a lost one is harmless."""

    message_name: ClassVar[str] = "progress"
    required: ClassVar[tuple[str, ...]] = ("job_id", "attempt", "frames_done", "frames_total")

    job_id: int
    attempt: int
    frames_done: int
    frames_total: int
    segment: int | None = None
    status: ProgressStatus = "running"
    fps: float = 0.0
    eta: float | None = None
    lease: str | None = None

    def check(self) -> None:
        _check_not_negative(self, "job_id", "segment", "attempt", "frames_done", "frames_total",
                            "fps", "eta")

    @classmethod
    def of(cls, job: JobRequest, attempt: int, *, frames_done: int, frames_total: int,
           fps: float = 0.0, eta: float | None = None) -> JobProgress:
        """Progress of `job` in its `attempt`."""
        return cls(job_id=job.job_id, segment=job.segment, attempt=attempt,
                   frames_done=frames_done, frames_total=frames_total, fps=fps, eta=eta,
                   lease=job.lease)


@dataclass(frozen=True)
class JobResult(Message):
    """How a job ended. `job_id` is None only when the job itself was unreadable.

    `attempt` is the start that produced it (0: never started), `reused` says the
    output was already published by an earlier delivery. The measures (`seconds`
    onwards) are filled in for a finished render and None otherwise.
    """

    message_name: ClassVar[str] = "result"
    required: ClassVar[tuple[str, ...]] = ("job_id", "status")

    job_id: int | None
    status: JobStatus
    segment: int | None = None
    kind: JobKind = "variant"
    output_uri: str | None = None
    proxy_uri: str | None = None  # the browser copy of a master no browser plays
    attempt: int = 0
    reused: bool = False
    frames: int = 0
    fps: float = 0.0
    seconds: float | None = None
    duration: float | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    device: str | None = None
    spec_hash: str | None = None
    scene_cuts: tuple[int, ...] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    lease: str | None = None

    def check(self) -> None:
        _check_not_negative(self, "job_id", "segment", "attempt", "frames", "fps", "seconds",
                            "duration", "size", "width", "height")
        if self.status != "done" and not self.error:
            raise self.refuse("error", f"a {self.status} result must say why")

    @classmethod
    def of(cls, job: JobRequest, status: JobStatus, attempt: int, **measures: Any) -> JobResult:
        """The result of `job`, with its identity copied from the job."""
        return cls(job_id=job.job_id, segment=job.segment, kind=job.kind,
                   output_uri=job.output_uri, status=status, attempt=attempt,
                   **{"lease": job.lease, **measures})

    @property
    def done(self) -> bool:
        return self.status == "done"


def needs_proxy(output_uri: str, encode: Mapping[str, Any] | None) -> bool:
    """Whether a render's master needs a browser copy: anything but H.264 4:2:0 in
    MP4 (ProRes, FFV1, H.265, AV1, 10-bit, MKV/MOV) is not played by most browsers and
    phones, so the players get an H.264 proxy and the master stays for download."""
    encode = encode or {}
    codec = encode.get("codec") or "h264"
    pix_fmt = encode.get("pix_fmt") or "yuv420p"
    return not (codec == "h264" and pix_fmt == "yuv420p"
                and output_uri.lower().endswith((".mp4", ".m4v")))


def proxy_uri_for(output_uri: str) -> str:
    """Where the proxy of a master goes: beside it, `NAME.proxy.mp4`."""
    stem, dot, _suffix = output_uri.rpartition(".")
    return f"{stem if dot else output_uri}.proxy.mp4"
