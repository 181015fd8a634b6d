"""Operator schemas: what every operator is called, what it takes and what it changes.

This module is the single source of an operator's declaration: its name, category,
description, typed parameters (defaults, ranges, units, help text), whether it changes
the frame size or the frame rate, and for rate-changing operators the rule giving the
output rate. The operator implementations in `gpu_worker.engine.ops` subclass these
schema classes and add only the work.

It imports neither torch nor PyAV on purpose: the web process validates specs,
renders the preset editor and computes expected frame counts from these schemas
alone, without loading the restoration engine.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar, Literal

from gpu_worker.engine.i18n import N_
from gpu_worker.engine.interlace import (
    FILM_PER_CYCLE,
    FILM_TIME,
    CadenceMap,
    format_breaks,
    parse_breaks,
)
from gpu_worker.engine.rate import output_range, target_rate

__all__ = ["Param", "ParamKind", "SpecError", "OperatorSchema", "BUILTIN_SCHEMAS",
           "PIPELINE_ORDER", "pipeline_rank", "insertion_index", "add_schema", "get_operator_schema", "all_operator_schemas", "operator_schemas"]

ParamKind = Literal["float", "int", "bool", "choice", "str", "path"]


class SpecError(ValueError):
    """A pipeline spec or an operator parameter is invalid.

    The message names the operator, the parameter and what is allowed, so it can be
    shown to a technician as it is.
    """

    def __init__(self, message: str, *, op: str | None = None, param: str | None = None,
                 position: int | None = None) -> None:
        super().__init__(message)
        self.op = op
        self.param = param
        self.position = position


@dataclass(frozen=True)
class Param:
    """One parameter of an operator, with everything a form or a validator needs."""

    name: str
    kind: ParamKind
    default: Any
    description: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    step: float | None = None

    def validate(self, op_name: str, value: Any) -> Any:
        """Return `value` coerced to this parameter's type, or raise SpecError."""
        where = f"{op_name}.{self.name}"

        def fail(why: str) -> SpecError:
            return SpecError(f"{where}: {why}", op=op_name, param=self.name)

        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise fail(f"expected true or false, got {value!r}")
        if self.kind in ("float", "int"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise fail(f"expected a number, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise fail(f"expected a finite number, got {value!r}")
            if self.kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise fail(f"expected a whole number, got {value!r}")
                value = int(value)
            else:
                value = float(value)
            if (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max
            ):
                raise fail(f"{value!r} is outside the allowed range {self.range_text()}")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise fail(f"{value!r} is not one of {', '.join(self.choices)}")
            return value
        if self.kind in ("str", "path"):
            if not isinstance(value, str):
                raise fail(f"expected text, got {value!r}")
            return value
        raise fail(f"unknown parameter kind {self.kind!r}")  # pragma: no cover

    def range_text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"[{self.min}, {self.max}]{unit}"

    def schema(self) -> dict[str, Any]:
        """JSON-ready description used by the web UI to build a form field."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "default": self.default,
            "description": self.description,
            "unit": self.unit,
        }
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.step is not None:
            out["step"] = self.step
        if self.choices:
            out["choices"] = list(self.choices)
        return out


class OperatorSchema:
    """The declaration of one operator: everything but the work.

    Subclasses set the class attributes; `gpu_worker.engine.registry.Operator`
    subclasses this and adds processing, so an implementation inherits its declaration
    instead of repeating it.
    """

    name: ClassVar[str] = ""
    category: ClassVar[str] = "misc"
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    changes_size: ClassVar[bool] = False
    changes_rate: ClassVar[bool] = False
    # Only an operator that declares it may lower the rate (inverse telecine drops one
    # frame in five by construction); a ratio below 1 from any other is refused.
    lowers_rate: ClassVar[bool] = False

    @classmethod
    def validate_params(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """`raw` checked against `params`, with defaults filled in, or SpecError."""
        raw = dict(raw or {})
        known = {p.name: p for p in cls.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise SpecError(
                f"{cls.name}: unknown parameter {unknown[0]!r}; known: "
                f"{', '.join(known) or 'none'}", op=cls.name, param=unknown[0])
        out = {}
        for p in cls.params:
            out[p.name] = p.validate(cls.name, raw[p.name]) if p.name in raw else p.default
        return out

    @classmethod
    def rate_ratio(cls, params: Mapping[str, Any], fps: Fraction) -> Fraction:
        """Output frame rate / input frame rate for validated `params` and an input at
        `fps` (above 1 for interpolation, 4/5 for inverse telecine); only operators
        with `changes_rate` return anything but 1.
        Raises SpecError when the params do not fit this input rate."""
        return Fraction(1)

    @classmethod
    def frames_out(cls, params: Mapping[str, Any], ratio: Fraction, start: int,
                   end: int) -> tuple[int, int]:
        """The output frames [m0, m1) that input frames [start, end) make, for an
        operator with `changes_rate` at rate ratio `ratio` (its `rate_ratio`). By
        default the even numbering of rate.py; inverse telecine across cadence
        breaks follows its cadence map instead. Known before rendering."""
        return output_range(start, end, ratio)

    @classmethod
    def output_phase(cls, params: Mapping[str, Any], ratio: Fraction, index: int,
                     m: int) -> Fraction:
        """Where output m (made by input frame `index`) sits in time, in input frame
        durations from the start of that frame: m / ratio - index by default. Times
        `ratio`'s numerator it must be a whole number (the time base of the output)."""
        return Fraction(m) / ratio - index

    @classmethod
    def size_after(cls, params: Mapping[str, Any], width: int, height: int) -> tuple[int, int]:
        """Frame size this operator writes for validated `params` and a `width` x `height`
        input; only operators with `changes_size` return another size. Known before
        rendering, so the site can refuse a spec whose output is too large."""
        return width, height

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """JSON-ready description the preset editor renders as a form."""
        return {
            "name": cls.name,
            "category": cls.category,
            "description": cls.description,
            "changes_size": cls.changes_size,
            "changes_rate": cls.changes_rate,
            "params": [p.schema() for p in cls.params],
        }


# ----------------------------------------------------------------------------------
# Built-in operators
# ----------------------------------------------------------------------------------
# Names of colour_scheme's looks; gpu_worker.engine.ops.colour_scheme maps each to its
# colour function (a test checks that the two agree).
LOOK_NAMES = ("neutral", "warm_period", "cool", "sepia", "bleach_bypass",
              "technicolor_2strip", "technicolor_3strip", "monochrome", "teal_orange")
# interpolate: the largest rate ratio, and its DIS optical-flow presets (mapped to
# OpenCV's constants in gpu_worker.engine.ops.interpolate).
MAX_RATIO = 8
DIS_QUALITIES = ("ultrafast", "fast", "medium")
# face_restore: the checkpoint used when a spec names none.
DEFAULT_MODEL = "face_restore_v1"


class ColourCorrectSchema(OperatorSchema):
    name = "colour_correct"
    category = "colour"
    description = N_("Automatic fade and colour-cast correction: neutralises the cast, "
                   "restores black and white points and faded saturation. Measured over "
                   "several frames so the correction does not flicker.")
    params = (
        Param("method", "choice", "percentile", N_("How the cast is measured: percentile makes "
              "the darkest and brightest tones neutral (best for toned or faded prints); "
              "grey_world makes the average colour neutral."),
              choices=("percentile", "grey_world")),
        Param("white_balance", "float", 0.7, N_("How much of the colour cast to remove (0 = "
              "keep it, 1 = fully neutral)."), min=0.0, max=1.0, step=0.05),
        Param("contrast", "float", 0.4, N_("How far to stretch faded blacks and whites back to "
              "full range (0 = leave levels, 1 = full stretch)."), min=0.0, max=1.0,
              step=0.05),
        Param("black_point", "float", 0.0, N_("Where the stretched black point lands (0 = pure "
              "black). Natural footage keeps a little detail above black: 0.02-0.04."),
              min=0.0, max=0.2, step=0.01),
        Param("white_point", "float", 1.0, N_("Where the stretched white point lands (1 = full "
              "white; below 1 for a scene without whites)."), min=0.3, max=1.0, step=0.01),
        Param("clip", "float", 0.5, N_("Share of the darkest and of the brightest pixels "
              "allowed to clip when measuring black and white points."), min=0.0, max=5.0,
              unit="%", step=0.1),
        Param("saturation", "float", 0.5, N_("How much faded colour to restore (0 = none, 1 = "
              "up to typical saturation). Black-and-white footage is left alone."),
              min=0.0, max=1.0, step=0.05),
        Param("temporal_radius", "int", 6, N_("Frames before and after each frame over which the "
              "correction is measured; larger is steadier (never crosses a scene cut)."),
              min=0, max=12, unit="frames"),
    )


class ColourSchemeSchema(OperatorSchema):
    name = "colour_scheme"
    category = "colour"
    description = N_("A named colour look (period print, sepia, bleach bypass, Technicolor...).")
    params = (
        Param("look", "choice", "neutral", N_("The look: neutral (no change), warm_period, "
              "cool, sepia, bleach_bypass, technicolor_2strip, technicolor_3strip, "
              "monochrome, teal_orange."), choices=LOOK_NAMES),
        Param("amount", "float", 1.0, N_("Blend between the original (0) and the full look (1)."),
              min=0.0, max=1.0, step=0.05),
    )


class ColourTransferSchema(OperatorSchema):
    name = "colour_transfer"
    category = "colour"
    description = N_("Learns a grade from frames a colourist fixed by hand (original frame + "
                   "corrected frame) and applies the same colour mapping to every frame.")
    params = (
        Param("original", "path", "", N_("An untouched frame exported from this film (PNG/TIFF/"
              "JPEG).")),
        Param("fixed", "path", "", N_("The same frame after correcting its colour by hand, same "
              "framing (it may be exported at another resolution).")),
        Param("original_2", "path", "", N_("Optional second original frame (another scene or "
              "other colours, for a better fit).")),
        Param("fixed_2", "path", "", N_("The corrected version of the second frame.")),
        Param("original_3", "path", "", N_("Optional third original frame.")),
        Param("fixed_3", "path", "", N_("The corrected version of the third frame.")),
        Param("model", "choice", "lut", N_("lut learns curves and selective colour changes too; "
              "matrix learns only overall balance and channel mixing (safer with a single, "
              "low-colour reference)."), choices=("lut", "matrix")),
        Param("smoothness", "float", 1.0, N_("How smooth the learnt mapping must be; raise it if "
              "colours absent from the references come out odd."), min=0.05, max=20.0,
              step=0.05),
        Param("amount", "float", 1.0, N_("Blend between the original (0) and the learnt grade "
              "(1)."), min=0.0, max=1.0, step=0.05),
    )


class ApplyLutSchema(OperatorSchema):
    name = "lut"
    category = "colour"
    description = N_("Applies a .cube 3-D (or 1-D) LUT from a grading tool, with trilinear "
                     "interpolation.")
    params = (
        Param("path", "path", "", N_("The .cube file (Resolve, Adobe or any tool writing the "
              "Cube LUT format).")),
        Param("amount", "float", 1.0, N_("Blend between the original (0) and the full LUT (1)."),
              min=0.0, max=1.0, step=0.05),
    )


class DeflickerSchema(OperatorSchema):
    name = "deflicker"
    category = "tone"
    description = N_("Removes brightness flicker: each frame's tone curve is matched to the "
                   "average of the frames around it. Real changes within a shot that last "
                   "longer than the window are kept; scene cuts are never blended.")
    params = (
        Param("radius", "int", 5,
              N_("Frames before and after used as the reference exposure. Larger smooths "
              "slower flicker but follows real lighting changes less closely."),
              min=1, max=15, unit="frames"),
        Param("strength", "float", 1.0,
              N_("How far each frame is moved towards the reference (0 = untouched)."),
              min=0.0, max=1.0, step=0.05),
        Param("mode", "choice", "tone",
              N_("tone: match the whole tone curve (blacks, mid-tones, whites); "
              "exposure: match only the average brightness (a single gain)."),
              choices=("tone", "exposure")),
        Param("tiles", "int", 1,
              N_("Grid size for uneven flicker across the frame; 1 corrects the whole frame "
              "at once, 3-6 also evens out flickering regions."),
              min=1, max=8, unit="cells per side"),
    )


class DenoiseSchema(OperatorSchema):
    name = "denoise"
    category = "cleanup"
    description = N_("Removes grain and video noise: follows the motion to neighbouring "
                   "frames and averages the pixels that match (skipping anything the motion "
                   "estimate missed, so nothing ghosts), then an edge-preserving spatial "
                   "filter cleans what is left.")
    params = (
        Param("strength", "float", 1.0, N_("How hard to denoise, relative to the noise "
              "measured in each frame. 1 removes most noise; lower keeps more texture, "
              "higher also smooths faint detail."), min=0.0, max=4.0, step=0.05),
        Param("temporal_radius", "int", 2, N_("Frames used before and after each frame. More "
              "frames clean static shots better; 0 = spatial filtering only."), min=0,
              max=5, unit="frames"),
        Param("spatial", "float", 1.0, N_("Strength of the spatial (within-frame) pass. It "
              "mostly acts where the temporal pass could not help, e.g. on moving parts."),
              min=0.0, max=3.0, step=0.05),
        Param("search", "int", 3, N_("Radius of the area the spatial pass looks in for similar "
              "patches. Larger cleans flat areas better but is slower (time grows with the "
              "square of the radius)."), min=1, max=7, unit="px"),
        Param("noise_level", "float", 0.0, N_("Noise standard deviation if you want to set it "
              "by hand; 0 = measure it in every frame."), min=0.0, max=60.0,
              unit="8-bit code values", step=0.5),
        Param("detail", "float", 0.0, N_("Fraction of the removed grain to put back, for a "
              "less plastic look."), min=0.0, max=1.0, step=0.05),
        Param("align", "bool", True, N_("Follow motion (optical flow) before averaging "
              "frames, so moving pictures are cleaned as well as still ones.")),
    )


class DustSchema(OperatorSchema):
    name = "dust"
    category = "cleanup"
    description = N_("Finds specks of dust and dirt that are on one frame only (the frames "
                   "before and after, motion-compensated, agree on what is there) and fills "
                   "them from those frames.")
    params = (
        Param("sensitivity", "float", 0.6,
              N_("How faint a spot may be and still be removed. Higher catches fainter dust "
              "but may touch fast motion; lower only removes obvious specks."),
              min=0.0, max=1.0, step=0.05),
        Param("max_size", "int", 24,
              N_("Largest spot to repair (its width or height). Raise for big blotches; "
              "larger regions are treated as motion and left alone."),
              min=2, max=256, unit="px"),
        Param("search", "int", 3,
              N_("How many frames before and after to look for a neighbour that is not a "
              "repeat of this frame (transfers of 12-18 fps film repeat frames)."),
              min=1, max=6, unit="frames"),
        Param("grow", "int", 1,
              N_("Extra pixels repaired around each spot, for soft edges."),
              min=0, max=6, unit="px"),
    )


class FaceRestoreSchema(OperatorSchema):
    name = "face_restore"
    category = "detail"
    description = N_("Finds faces, tracks them, restores each with a model (the project's "
                   "own by default, or a GFPGAN/RestoreFormer checkpoint from the models "
                   "folder) and blends it back, keeping the original's colour and tone.")
    params = (
        Param("model", "str", DEFAULT_MODEL, N_("Checkpoint in the models folder (GFPGAN, "
              "RestoreFormer or a 1x restoration model) or the shipped default; "
              "'classical' uses an edge-preserving filter and sharpening instead.")),
        Param("fidelity", "float", 0.7, N_("How much of the restoration to use: 0 keeps "
              "the original face, 1 takes the restoration in full."), min=0.0, max=1.0,
              step=0.05),
        Param("temporal", "int", 1, N_("Restored faces of this many frames on either side "
              "are averaged in (where they agree), so detail does not flicker."),
              min=0, max=3, unit="frames"),
        Param("smooth", "int", 3, N_("Face boxes are smoothed over about this many frames "
              "on either side, so the crop does not jitter."), min=0, max=8,
              unit="frames"),
        Param("min_face", "float", 0.05, N_("Smallest face to restore, as a fraction of "
              "the frame's shorter side."), min=0.02, max=0.8, step=0.01),
        Param("expand", "float", 1.8, N_("Size of the square cut around a face, relative "
              "to the detected face (the model sees hair, ears and chin too)."),
              min=1.2, max=3.0, step=0.1),
        Param("feather", "float", 0.25, N_("Softness of the blend back into the frame, as "
              "a fraction of the face's radius."), min=0.05, max=0.8, step=0.05),
        Param("profile", "bool", True, N_("Also find faces seen from the side.")),
        Param("keep_colour", "bool", True, N_("Transfer only the detail the model adds; "
              "keep the original's colour and tone (recommended).")),
    )


class GrainSchema(OperatorSchema):
    name = "grain"
    category = "look"
    description = N_("Adds fresh, film-like grain (after cleaning, to make a restoration look "
                   "like film again). Seeded: the same frame always gets the same grain.")
    params = (
        Param("strength", "float", 6.0, N_("Grain amplitude (RMS) where it is strongest, i.e. "
              "in the mid-tones. 3 is subtle, 8 clearly visible, 15+ heavy."), min=0.0,
              max=40.0, unit="8-bit code values", step=0.5),
        Param("size", "float", 1.5, N_("Approximate grain diameter. About 1 for fine 35 mm "
              "stock at HD, 2-3 for 16 mm or for 4K scans."), min=0.5, max=8.0, unit="px",
              step=0.1),
        Param("chroma", "float", 0.15, N_("Colour in the grain: 0 = identical in R, G and B "
              "(black-and-white film), 1 = independent per channel (colour dye clouds)."),
              min=0.0, max=1.0, step=0.05),
        Param("response", "float", 1.0, N_("How much the grain fades in shadows and highlights: "
              "0 = same everywhere (digital noise), 1 = film-like, 2 = mid-tones only."),
              min=0.0, max=3.0, step=0.1),
        Param("peak", "float", 0.5, N_("Brightness at which the grain is strongest (0 = black, "
              "1 = white)."), min=0.2, max=0.8, step=0.05),
        Param("temporal", "float", 0.0, N_("Fraction of the grain pattern that stays the same "
              "from frame to frame. 0 = new grain every frame, as on film."), min=0.0,
              max=0.9, step=0.05),
        Param("seed", "int", 0, N_("Change to get a different grain pattern (combined with the "
              "render's seed)."), min=0, max=2**31 - 1),
    )


class InterpolateSchema(OperatorSchema):
    name = "interpolate"
    category = "temporal"
    description = N_("Raises the frame rate (a multiplier or a target rate) with new frames "
                   "made by optical flow both ways, warped to their time and blended where "
                   "each source frame can be trusted (occlusions come from the frame that "
                   "shows them). A scene's last frame is held, never blended with the next "
                   "shot; the picture keeps its length, so the sound stays in sync.")
    changes_rate = True
    params = (
        Param("multiplier", "int", 2, N_("New frames per source frame: 2 doubles the rate. "
              "Used when fps is 0."), min=2, max=MAX_RATIO, unit="x"),
        Param("fps", "float", 0.0, N_("Target frame rate instead of a multiplier (e.g. 60, or "
              "59.94 for 60000/1001); 0 = use the multiplier. Must be at least the source "
              "rate and at most 8x it."), min=0.0, max=480.0, unit="fps", step=0.001),
        Param("method", "choice", "dis", N_("Optical flow: dis = OpenCV's DIS (fast, "
              "accurate); farneback = OpenCV's Farneback (smoother, slower)."),
              choices=("dis", "farneback")),
        Param("quality", "choice", "ultrafast", N_("DIS preset: ultrafast, fast or medium "
              "(more iterations: slower, a little better on fine motion)."),
              choices=DIS_QUALITIES),
        Param("flow_size", "int", 320, N_("Optical flow is computed on frames scaled down to "
              "this longer side, or to half the frame's size where that is smaller (not "
              "below 160 px); motion is then scaled back up. Larger follows small detail "
              "better but costs more. 0 = full size."), min=0, max=8192, unit="px"),
        Param("sampling", "choice", "adaptive", N_("How the source frames are resampled "
              "along the motion: adaptive = bicubic where the picture barely moves, "
              "bilinear where it moves; bicubic (sharper everywhere) or bilinear "
              "(softer, a little faster)."),
              choices=("adaptive", "bicubic", "bilinear")),
        Param("occlusion", "float", 1.0, N_("How strongly visibility (where each frame's motion, "
              "confirmed both ways, lands) decides "
              "which frame a pixel comes from (0 = plain blend of the two warped frames)."),
              min=0.0, max=4.0, step=0.1),
        Param("timing_blur", "float", 0.1, N_("Where the motion from frame to frame is "
              "irregular (handheld phone footage, repeated frames), the time of a new "
              "frame is uncertain: it is blurred along the motion over up to this share "
              "of the frame interval either side. 0 = off."), min=0.0, max=0.5, step=0.05),
        Param("fallback", "choice", "nearest", N_("What a new frame becomes when most of its "
              "motion is unreliable (flash, whip pan): nearest = repeat the nearer "
              "source frame; blend = cross-fade the two."), choices=("nearest", "blend")),
        Param("max_unreliable", "float", 0.5, N_("Share of inconsistent flow above which a "
              "new frame uses the fallback instead of warping."), min=0.0, max=1.0,
              step=0.05),
    )

    @classmethod
    def validate_params(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        out = super().validate_params(raw)
        raw = dict(raw or {})
        if out["fps"] > 0 and "multiplier" in raw and out["multiplier"] != 2:
            raise SpecError(f"{cls.name}: give either fps ({out['fps']}) or multiplier "
                            f"({out['multiplier']}), not both", op=cls.name, param="fps")
        if 0 < out["fps"] < 1:
            raise SpecError(f"{cls.name}.fps: {out['fps']} is too low; give a target rate "
                            "of at least 1 fps, or 0 to use the multiplier", op=cls.name,
                            param="fps")
        return out

    @classmethod
    def rate_ratio(cls, params: Mapping[str, Any], fps: Fraction) -> Fraction:
        if not params.get("fps"):
            return Fraction(int(params.get("multiplier", 2)))
        target = target_rate(params["fps"])
        ratio = target / Fraction(fps)
        if ratio < 1:
            raise SpecError(f"{cls.name}.fps: the target {float(target):.3f} fps is below the "
                            f"source's {float(fps):.3f} fps; interpolation only raises the "
                            "rate", op=cls.name, param="fps")
        if ratio > MAX_RATIO:
            raise SpecError(f"{cls.name}.fps: the target {float(target):.3f} fps is more than "
                            f"{MAX_RATIO}x the source's {float(fps):.3f} fps", op=cls.name,
                            param="fps")
        return ratio


class ScratchSchema(OperatorSchema):
    name = "scratch"
    category = "cleanup"
    description = N_("Finds thin vertical lines running down most of the frame (scratches "
                   "along the film) and paints them out from the pixels beside them.")
    params = (
        Param("sensitivity", "float", 0.5,
              N_("How faint a line may be and still be removed; higher also risks thin "
              "vertical objects such as poles and ropes."), min=0.0, max=1.0, step=0.05),
        Param("max_width", "int", 3, N_("Widest scratch to remove."), min=1, max=12, unit="px"),
        Param("min_length", "float", 0.5,
              N_("Fraction of the frame height a line must cover to count as a scratch."),
              min=0.1, max=1.0, step=0.05),
        Param("persistence", "int", 0,
              N_("Frames before and after in which the scratch must also be found "
              "(0 = judge each frame alone). Raise when real thin verticals are hit."),
              min=0, max=6, unit="frames"),
        Param("texture", "bool", False,
              N_("Carry the film grain beside the scratch into the repair, so it does not "
              "leave a smooth streak on grainy film (slightly less faithful pixel for "
              "pixel, more natural to the eye).")),
    )


class WireSchema(OperatorSchema):
    name = "wire"
    category = "cleanup"
    description = N_("Paints out wires, strings and thin straight lines: those painted white "
                   "on a technician's mask image, and/or long thin lines found "
                   "automatically.")
    params = (
        Param("mask", "path", "",
              N_("Mask image (PNG, any size; white = remove), relative to the project's "
              "assets. Empty for automatic detection only.")),
        Param("auto", "bool", True, N_("Also detect long thin straight lines automatically.")),
        Param("min_length", "float", 0.2,
              N_("Shortest line to remove automatically, as a fraction of the frame "
              "diagonal."), min=0.05, max=1.0, step=0.05),
        Param("max_width", "int", 3, N_("Widest line to detect automatically."), min=1, max=15,
              unit="px"),
        Param("sensitivity", "float", 0.5,
              N_("How faint a line may be and still be found automatically."), min=0.0,
              max=1.0, step=0.05),
        Param("grow", "int", 1, N_("Extra pixels painted out around every line."), min=0,
              max=10, unit="px"),
        Param("method", "choice", "telea",
              N_("telea: fast marching (sharp, good for thin lines); ns: Navier-Stokes "
              "(smoother, for wider masks)."), choices=("telea", "ns")),
    )


class SharpenSchema(OperatorSchema):
    name = "sharpen"
    category = "detail"
    description = N_("Unsharp-mask sharpening. Detail below the threshold (film grain, "
                   "noise) is not amplified, so only real edges get crisper.")
    params = (
        Param("amount", "float", 0.6, N_("How much edge contrast to add; 0 leaves the image "
              "untouched, 1 doubles the contrast of fine edges."), min=0.0, max=3.0,
              step=0.05),
        Param("radius", "float", 1.2, N_("Size of the detail that gets sharpened (the blur "
              "radius of the mask). Small values for fine detail, larger for soft scans."),
              min=0.3, max=8.0, unit="px", step=0.1),
        Param("threshold", "float", 3.0, N_("Edges weaker than this are left alone so grain "
              "and noise are not boosted; raise it on grainy footage."), min=0.0,
              max=40.0, unit="8-bit code values", step=0.5),
        Param("luma_only", "bool", True, N_("Sharpen brightness only (no colour fringes, "
              "no boosted colour noise).")),
    )


def _even(v: float) -> int:
    return max(2, int(round(v / 2.0)) * 2)


def target_size(width: int, height: int, *, out_width: int = 0, out_height: int = 0,
                scale: float = 1.0, keep_aspect: bool = True, even: bool = True
                ) -> tuple[int, int]:
    """Output size for a resize request.

    Both out_width and out_height 0: scale both axes by `scale`. One of them given:
    the other follows the aspect ratio. Both given: fit inside that box when
    `keep_aspect`, else stretch to exactly that size. `even` rounds to even numbers,
    which 4:2:0 video encoders need.
    """
    if out_width <= 0 and out_height <= 0:
        w, h = width * scale, height * scale
    elif out_height <= 0:
        w, h = out_width, height * out_width / width
    elif out_width <= 0:
        w, h = width * out_height / height, out_height
    elif keep_aspect:
        f = min(out_width / width, out_height / height)
        w, h = width * f, height * f
    else:
        w, h = out_width, out_height
    if even:
        return _even(w), _even(h)
    return max(1, int(round(w))), max(1, int(round(h)))


class ResizeSchema(OperatorSchema):
    name = "resize"
    category = "size"
    description = N_("Change the frame size by a scale factor or to a width and/or height, "
                   "keeping the aspect ratio; anti-aliased when shrinking.")
    changes_size = True
    params = (
        Param("width", "int", 0, N_("Target width. 0 = follow the height (or the scale factor "
              "when the height is 0 too)."), min=0, max=16384, unit="px"),
        Param("height", "int", 0, N_("Target height. 0 = follow the width (or the scale factor "
              "when the width is 0 too)."), min=0, max=16384, unit="px"),
        Param("scale", "float", 1.0, N_("Scale factor, used only when width and height are "
              "both 0 (0.5 halves, 2 doubles)."), min=0.05, max=8.0, unit="x", step=0.05),
        Param("method", "choice", "lanczos", N_("Resampling filter: lanczos is the sharpest, "
              "bicubic a little softer, bilinear soft, area best for big reductions."),
              choices=("lanczos", "bicubic", "bilinear", "area")),
        Param("keep_aspect", "bool", True, N_("When both width and height are set, fit inside "
              "that box instead of stretching the picture.")),
        Param("even", "bool", True, N_("Round the size to even numbers (needed by most video "
              "encoders).")),
    )

    @classmethod
    def size_after(cls, params: Mapping[str, Any], width: int, height: int) -> tuple[int, int]:
        return target_size(width, height, out_width=params["width"], out_height=params["height"],
                           scale=params["scale"], keep_aspect=params["keep_aspect"], even=params["even"])


class SuperResolutionSchema(OperatorSchema):
    name = "super_resolution"
    category = "size"
    description = N_("Upscales 2x or 4x with a neural network (pretrained SPAN for fidelity, "
                   "Real-ESRGAN for a perceptual look, or a super-resolution checkpoint "
                   "from the models folder), in tiles so 4K "
                   "output fits in memory, steadied over time so grain does not shimmer; "
                   "or with Lanczos and detail enhancement, without a network.")
    changes_size = True
    params = (
        Param("scale", "int", 2, N_("Upscaling factor: 2 or 4."), min=2, max=4, unit="x"),
        Param("method", "choice", "model", N_("model: a neural network; lanczos: Lanczos "
              "resampling plus detail enhancement (fast, no network)."),
              choices=("model", "lanczos")),
        Param("model", "str", "reel-sr", N_("Network to use: reel-sr (the project's own "
              "small network, trained to remove grain; the default), fidelity (SPAN, "
              "pretrained, sharpest on clean input; put denoise before it on grainy "
              "film), perceptual (Real-ESRGAN, sharper invented texture), a "
              "pretrained name (span-x2-ch52, realesrgan-x4plus, ...) or the file name "
              "of a spandrel super-resolution checkpoint in the models folder (e.g. "
              "RealESRGAN_x4plus.pth), which must upscale by `scale` (or a multiple "
              "of it).")),
        Param("tile", "int", 512, N_("Tile size for the network, in input pixels: bounds "
              "memory on big frames. 0 = the whole frame at once."), min=0, max=4096,
              unit="px"),
        Param("overlap", "int", 48, N_("Pixels shared by neighbouring tiles; their outer "
              "quarter is dropped and the rest cross-faded, so no seam shows (the frame's "
              "edges are extended by reflection by a quarter of it, likewise). Real-CUGAN "
              "tiles share their channel statistics and, from 38 px on, are joined at the "
              "overlap's middle, matching the whole frame."), min=0,
              max=256, unit="px"),
        Param("detail", "float", 0.5, N_("Lanczos method only: detail enhancement (unsharp "
              "mask) after resampling; 0 = plain Lanczos."), min=0.0, max=2.0, step=0.05),
        Param("temporal", "float", 0.5, N_("Temporal stabilisation: how strongly static "
              "areas are steadied with the previous and next frame before upscaling, so "
              "grain does not shimmer (0 = off; moving areas are never blended)."),
              min=0.0, max=1.0, step=0.05),
        Param("precision", "choice", "auto", N_("Number format of the network: auto = float16 "
              "on a GPU where the model supports it (else bfloat16), float32 on the CPU."),
              choices=("auto", "float16", "bfloat16", "float32")),
    )

    @classmethod
    def size_after(cls, params: Mapping[str, Any], width: int, height: int) -> tuple[int, int]:
        return width * params["scale"], height * params["scale"]


class DeinterlaceSchema(OperatorSchema):
    name = "deinterlace"
    category = "temporal"
    description = N_("Removes the combing of interlaced video (tape transfers): keeps the "
                   "first field of each frame and rebuilds the other one, from the fields "
                   "before and after where the picture is still and by edge-preserving "
                   "interpolation where it moves (motion-adaptive, like FFmpeg's yadif/"
                   "bwdif). One frame out per frame in, or one per field at double "
                   "the frame rate.")
    changes_rate = True
    params = (
        Param("field_order", "choice", "tff", N_("Which field comes first in time: tff (top "
              "field first: most HD and MPEG-2) or bff (bottom field first: DV). The "
              "analysis measures it."), choices=("tff", "bff")),
        Param("rate", "choice", "frame", N_("frame: one frame per frame (the first field's "
              "moment), the frame rate is kept; field: one frame per field (both fields "
              "rebuilt, in their order), the frame rate doubles (25i -> 50p, 29.97i -> "
              "59.94p) and motion stays as fluid as on a tape deck."),
              choices=("frame", "field")),
    )

    @classmethod
    def rate_ratio(cls, params: Mapping[str, Any], fps: Fraction) -> Fraction:
        return Fraction(2) if params.get("rate") == "field" else Fraction(1)


class IvtcSchema(OperatorSchema):
    name = "ivtc"
    category = "temporal"
    description = N_("Inverse telecine: rebuilds the film frames of a 3:2 pulldown transfer "
                   "(24 film frames as 30 video frames, two of every five mixing two film "
                   "frames) by putting the fields of each film frame back together; the "
                   "rate becomes 4/5 of the source's (29.97 -> 23.976). The analysis "
                   "finds the cadence phase and field order.")
    changes_rate = True
    lowers_rate = True
    params = (
        Param("offset", "int", 0, N_("Phase of the cadence: the number (0-4) of the first "
              "video frame showing a whole film frame (AA) followed by another whole one "
              "(BB), counted modulo 5."), min=0, max=4),
        Param("field_order", "choice", "tff", N_("Which field comes first in the pulldown: "
              "tff or bff."), choices=("tff", "bff")),
        Param("breaks", "str", "", N_("Cadence breaks (edits made on the video that restart "
              "the cadence), as frame:offset pairs, e.g. 1234:2, 5678:0: from that frame "
              "on, the phase is that offset. The analysis finds them. A film frame whose "
              "other field was cut away is dropped, never shown combed.")),
    )

    @classmethod
    def validate_params(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        out = super().validate_params(raw)
        try:
            pairs = parse_breaks(out["breaks"])
        except ValueError as exc:
            raise SpecError(f"ivtc.breaks: {exc}", op=cls.name, param="breaks") from None
        out["breaks"] = format_breaks(pairs)
        return out

    @classmethod
    def rate_ratio(cls, params: Mapping[str, Any], fps: Fraction) -> Fraction:
        return Fraction(4, 5)

    @classmethod
    def cadence_map(cls, params: Mapping[str, Any]) -> CadenceMap:
        return _cadence_map(int(params.get("offset", 0)), str(params.get("breaks") or ""))

    @classmethod
    def frames_out(cls, params: Mapping[str, Any], ratio: Fraction, start: int,
                   end: int) -> tuple[int, int]:
        return cls.cadence_map(params).output_range(start, end)

    @classmethod
    def output_phase(cls, params: Mapping[str, Any], ratio: Fraction, index: int,
                     m: int) -> Fraction:
        return Fraction(FILM_TIME[cls.cadence_map(params).phase(index)], FILM_PER_CYCLE)


@functools.lru_cache(maxsize=64)
def _cadence_map(offset: int, breaks: str) -> CadenceMap:
    return CadenceMap(offset, tuple(parse_breaks(breaks)))


BUILTIN_SCHEMAS: tuple[type[OperatorSchema], ...] = (
    ColourCorrectSchema, ColourSchemeSchema, ColourTransferSchema, ApplyLutSchema,
    DeflickerSchema, DenoiseSchema, DustSchema, FaceRestoreSchema, GrainSchema,
    InterpolateSchema, ScratchSchema, WireSchema, SharpenSchema, ResizeSchema,
    SuperResolutionSchema, DeinterlaceSchema, IvtcSchema,
)
"""Every built-in operator, in the order of the operator list in
gpu_worker.engine.ops (a test checks that each has its implementation there)."""

# The usual place of each operator in a pipeline, as gpu_worker.engine.analysis.
# suggest_spec builds one: fields first (every later op compares whole frames), then
# exposure, one-frame defects while the grain is still there, noise, colour, faces,
# size, sharpening, frame rate, and grain last so it is neither cleaned nor scaled.
PIPELINE_ORDER: tuple[str, ...] = (
    "ivtc", "deinterlace",
    "deflicker", "dust", "scratch", "wire", "denoise",
    "colour_correct", "colour_transfer", "colour_scheme", "lut",
    "face_restore",
    "resize", "super_resolution",
    "sharpen",
    "interpolate",
    "grain",
)


def pipeline_rank(name: str) -> int | None:
    """Position of operator `name` in PIPELINE_ORDER, or None for an operator it does
    not place (one added by a plugin)."""
    try:
        return PIPELINE_ORDER.index(name)
    except ValueError:
        return None


def insertion_index(op_names: list[str], name: str) -> int:
    """Where operator `name` goes into a pipeline of `op_names`: before the first op
    that usually comes after it, else at the end. Ops PIPELINE_ORDER does not place
    are stepped over, and so is everything for an op it does not place (appended)."""
    rank = pipeline_rank(name)
    if rank is None:
        return len(op_names)
    for i, other in enumerate(op_names):
        other_rank = pipeline_rank(other)
        if other_rank is not None and other_rank > rank:
            return i
    return len(op_names)


_SCHEMAS: dict[str, type[OperatorSchema]] = {}


def add_schema(cls: type[OperatorSchema]) -> type[OperatorSchema]:
    """Make an operator's declaration known to spec validation by its `name`.

    An implementation of a declared schema (a subclass of it) leaves the declaration
    in place: validation needs nothing the implementation adds. Any other second use
    of a name is an error.
    """
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    known = _SCHEMAS.get(cls.name)
    if known is not None:
        if issubclass(cls, known):
            return cls
        raise ValueError(f"operator {cls.name!r} registered twice")
    for p in cls.params:  # defaults must satisfy their own schema
        p.validate(cls.name, p.default)
    _SCHEMAS[cls.name] = cls
    return cls


for _schema in BUILTIN_SCHEMAS:
    add_schema(_schema)


def get_operator_schema(name: str) -> type[OperatorSchema]:
    """The declaration of operator `name`: its params, `validate_params`, `schema()`,
    `changes_size`/`changes_rate` and `rate_ratio`, without loading the engine."""
    try:
        return _SCHEMAS[name]
    except KeyError:
        raise SpecError(
            f"unknown operator {name!r}; known: {', '.join(sorted(_SCHEMAS))}", op=name
        ) from None


def all_operator_schemas() -> dict[str, type[OperatorSchema]]:
    """Every known operator declaration by name, sorted."""
    return dict(sorted(_SCHEMAS.items()))


def operator_schemas() -> list[dict[str, Any]]:
    """Every operator's schema, for the preset editor."""
    return [cls.schema() for cls in all_operator_schemas().values()]
