"""Shapes of the API's requests and answers (they become the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Path, Schema
from pydantic import Field, StringConstraints, field_validator

# Identifiers fit a 64-bit database integer; text never holds NUL (PostgreSQL refuses it).
Id = Annotated[int, Path(ge=1, le=2**62)]
PosInt = Annotated[int, Field(ge=1, le=2**62)]
NoNul = r"^[^\x00]*$"
Title = Annotated[str, StringConstraints(max_length=200, pattern=NoNul)]
# Frame rate of a zip of image frames (DPX/TIFF/EXR/PNG): 24, 25, 24000/1001; default 24.
FrameRate = Annotated[str, StringConstraints(max_length=32, pattern=r"^[0-9./ ]*$")]
Text = Annotated[str, StringConstraints(max_length=20000, pattern=NoNul)]


class Error(Schema):
    error: str
    detail: Any = None


class Deleted(Schema):
    deleted: bool


# --- tokens -------------------------------------------------------------------------------

class TokenIn(Schema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NoNul)] = "api"
    days: Annotated[int, Field(ge=0, le=3650)] | None = None


class TokenOut(Schema):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


class NewTokenOut(TokenOut):
    key: str


# --- films, clips, uploads ---------------------------------------------------------------------

class FilmIn(Schema):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NoNul)]
    year: Annotated[int, Field(ge=1850, le=2200)] | None = None
    description: Text = ""


class FilmOut(Schema):
    id: int
    title: str
    year: int | None
    description: str
    created_at: datetime
    adopted_preset: int | None
    clips: list[int]
    url: str


class ClipOut(Schema):
    id: int
    film: int
    title: str
    status: str
    error: str
    original_filename: str
    size_bytes: int
    sha256: str
    metadata: dict[str, Any]
    poster_url: str | None
    analysis_status: str
    ingest: dict[str, int] = Field(description="an image sequence's master encode: frames "
                                   "done and total (status ingesting)")
    url: str


class ClipList(Schema):
    clips: list[ClipOut]


class UploadIn(Schema):
    film: PosInt
    filename: Annotated[str, StringConstraints(max_length=255, pattern=NoNul)] = "upload"
    size: Annotated[int, Field(ge=0, le=2**62, description="the file's size in bytes")]
    title: Title = ""
    frame_rate: FrameRate = ""
    members: list[tuple[Annotated[str, StringConstraints(min_length=1, max_length=255,
                                                         pattern=NoNul)],
                        Annotated[int, Field(ge=1, le=2**62)]]] | None = Field(
        default=None, max_length=200_000,
        description="several image files sent as one sequence: [[name, size], ...] in the "
                    "order their bytes follow one another in the upload (size = their sum)")

    @field_validator("size", mode="before")
    @classmethod
    def _size_is_a_byte_count(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("size must be the file's size in bytes")
        return value


class UploadOut(Schema):
    id: UUID
    filename: str
    size: int
    received: int
    status: str
    error: str
    chunk_size: int
    clip: ClipOut | None


class UploadConflict(Error):
    received: int


# --- presets -------------------------------------------------------------------------------------

class VersionOut(Schema):
    id: int
    preset: int
    number: int
    spec: dict[str, Any]
    spec_hash: str
    note: str
    locked: bool
    created_at: datetime


class PresetOut(Schema):
    id: int
    name: str
    description: str
    builtin: bool
    versions: list[VersionOut]


class PresetIn(Schema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=NoNul)]
    spec: dict[str, Any]
    description: Text = ""
    note: Annotated[str, StringConstraints(max_length=300, pattern=NoNul)] = ""


class VersionIn(Schema):
    spec: dict[str, Any]
    note: Annotated[str, StringConstraints(max_length=300, pattern=NoNul)] = ""


# --- sweeps, variants, renders -----------------------------------------------------------------------

class SweepIn(Schema):
    """The base is a preset version, or `"base": "auto"`: the clip's own spec from its
    analysis, saved as a version of the "auto" preset."""

    preset_version: PosInt | None = None
    base: Literal["auto"] | None = None
    axes: dict[Annotated[str, StringConstraints(max_length=200, pattern=NoNul)], list[Any]] = {}
    start: Annotated[int, Field(ge=0, le=2**31)] | None = None
    end: Annotated[int, Field(ge=0, le=2**31)] | None = None


class JobOut(Schema):
    id: int
    kind: str
    status: str
    variant: int | None
    film: int | None
    preset_version: int | None
    frames_done: int
    frames_total: int
    progress: float
    fps: float
    eta_seconds: float | None
    attempts: int
    error: str
    output_url: str | None
    created_at: datetime
    finished_at: datetime | None


class VariantOut(Schema):
    id: int
    clip: int
    preset_version: int
    label: str
    overrides: dict[str, Any]
    spec: dict[str, Any]
    start_frame: int
    end_frame: int | None
    status: str
    frames: int | None
    metrics: dict[str, Any]
    error: str
    output_url: str | None
    latest_job: JobOut | None


class CompareIn(Schema):
    """Compare every pair of the rendered variants of the sweep `variant` belongs to."""

    variant: PosInt
    again: bool = False


class ComparisonOut(Schema):
    id: int
    variant_a: int
    variant_b: int
    status: str
    jod: float | None
    difference: float | None
    indistinct: bool
    suggestion: str
    details: dict[str, Any]
    map_url: str | None
    error: str
    created_at: datetime
    finished_at: datetime | None


class FilmRenderIn(Schema):
    preset_version: PosInt


# --- contests ---------------------------------------------------------------------------------------------

class ContestIn(Schema):
    clip: PosInt
    variants: list[PosInt]
    title: Title = ""
    min_watch_seconds: Annotated[float, Field(ge=0, le=3600)] | None = None
    min_raters: Annotated[int, Field(ge=1, le=100000)] | None = None
    auto_adopt: bool | None = None


class EntryOut(Schema):
    label: str
    variant: int
    decoy: bool


class ContestOut(Schema):
    id: int
    clip: int
    title: str
    status: str
    slug: str
    vote_url: str
    entries: list[EntryOut]
    winner: str | None
    decision_reason: str
    adopted_preset: int | None
    created_at: datetime
    # When opened: pairs of its variants measured as hard to tell apart (advice only).
    warnings: list[str] = []


# --- publications -----------------------------------------------------------------------------------------

class PublicationOut(Schema):
    id: int
    slug: str
    title: str
    year: int | None
    film: int
    clip: int | None
    credits: str
    restoration_notes: str
    is_public: bool
    published_at: datetime | None
    url: str
    restored_url: str | None
    poster_url: str | None
    vote_record: dict[str, Any]


class PublishIn(Schema):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NoNul)]
    year: Annotated[int, Field(ge=1850, le=2200)] | None = None
    credits: Text = ""
    restoration_notes: Text = ""


class UnpublishIn(Schema):
    reason: Text = ""
