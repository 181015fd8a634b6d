"""The engine's words in the visitor's language.

gpu_worker never imports Django, so what it says is English: operator and parameter
names, the analysis findings, the levels and colour casts it names, the words of its
analysis plot, the reasons it gives for a failure. It also says them by stable codes
(an operator's name, a parameter's name, a finding's `kind` with its figures in
`params`, a level such as "mild"); this module maps those codes to translatable
strings. Pages use it; the API keeps the engine's codes (its machine fields) as they are.

A code this module does not know (a new operator, a finding kind added to the engine
later) is shown as the engine wrote it, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext, ngettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

# --- analysis ------------------------------------------------------------------------------

LEVELS = {
    "none": pgettext_lazy("damage level", "none"),
    "mild": pgettext_lazy("damage level", "mild"),
    "moderate": pgettext_lazy("damage level", "moderate"),
    "strong": pgettext_lazy("damage level", "strong"),
}

CASTS = {
    "neutral": pgettext_lazy("colour cast", "neutral"),
    "sepia": pgettext_lazy("colour cast", "sepia"),
    "orange": pgettext_lazy("colour cast", "orange"),
    "magenta": pgettext_lazy("colour cast", "magenta"),
    "cyan": pgettext_lazy("colour cast", "cyan"),
    "green": pgettext_lazy("colour cast", "green"),
    "yellow": pgettext_lazy("colour cast", "yellow"),
    "blue": pgettext_lazy("colour cast", "blue"),
    "red": pgettext_lazy("colour cast", "red"),
}

FIELD_ORDERS = {
    "tff": _("top field first"),
    "bff": _("bottom field first"),
    "tt": _("top field first"),
    "bb": _("bottom field first"),
    "tb": _("top field first, swapped"),
    "bt": _("bottom field first, swapped"),
    "progressive": _("progressive"),
    "interlaced": _("interlaced"),
    "unknown": _("unknown"),
}

# One sentence per finding kind; its %(placeholders)s are the finding's params.
FINDINGS = {
    "flicker": _("Exposure flicker: frames deviate by %(percent)s%% on average from their "
                 "neighbours (%(level)s)."),
    "dust": _("Dust and specks: about %(per_frame)s one-frame spots per film frame (%(level)s)."),
    "blotches": _("Blotches (large one-frame dirt or emulsion damage): %(per_frame)s per film "
                  "frame (%(level)s)."),
    "scratches": _("Vertical scratches in %(percent)s%% of the frames (%(level)s)."),
    "noise": _("Grain/noise: sigma about %(levels)s levels of 8-bit (%(level)s)."),
    "fade": _("Faded: the darkest tones of every channel sit at %(floor)s or above (lifted "
              "blacks); contrast %(contrast)s of full range."),
    "cast": _("Colour cast: %(cast)s (red %(red)s, blue %(blue)s relative to green on "
              "near-neutral tones, alike from shadows to highlights)."),
    "cast_toned": _("Colour cast: %(cast)s (red %(red)s, blue %(blue)s relative to green on "
                    "near-neutral tones, alike from shadows to highlights), on a monochrome "
                    "(toned) image."),
    "soft": _("Soft picture: fine-detail ratio %(ratio)s (sharp is 0.5+)."),
    "compressed": _("Lossy compression: about %(bits)s bits per pixel per frame; the codec "
                    "has smeared grain and noise into blotches, which read lower than they "
                    "are."),
    "repeats": _("%(count)s repeated frames (%(percent)s%%)."),
    "repeats_cadence": _("%(count)s repeated frames (%(percent)s%%): each film frame is shown "
                         "about %(cadence)s times."),
    "drops": _("%(count)s suspected missing frames (jumps in motion)."),
    "scenes": _("%(count)s shots (cuts at frames %(cuts)s)."),
    "faces": _("Faces in %(frames)s of %(checked)s checked frames."),
    "telecine": _("3:2 pulldown (film transferred to video, %(field_order)s, cadence phase "
                  "%(offset)s): two of every five frames mix two film frames; inverse telecine "
                  "recovers the film frames at 4/5 of the rate."),
    "interlaced": _("Interlaced video (%(field_order)s; the stream says %(stream_field_order)s, "
                    "the pictures %(picture_field_order)s): %(percent)s%% of the frames comb."),
}


_PLACEHOLDER = re.compile(r"%\((\w+)\)")


def level_name(code: Any) -> str:
    return str(LEVELS.get(code, code)) if code is not None else ""


def _figure(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else str(value)


def finding_text(finding: Mapping[str, Any]) -> str:
    """One finding of an analysis report in the active language. A finding without
    `params` (reports stored before the engine added them) or of a kind this module
    does not know keeps the engine's English `text`."""
    kind, params = finding.get("kind"), finding.get("params")
    if not isinstance(params, Mapping) or kind not in FINDINGS:
        return str(finding.get("text", ""))
    if any(params.get(name) is None for name in _PLACEHOLDER.findall(str(FINDINGS[kind]))):
        return str(finding.get("text", ""))  # a figure missing: the engine's own words
    p = dict(params)
    if "level" in p:
        p["level"] = level_name(p["level"])
    for key in ("field_order", "stream_field_order", "picture_field_order"):
        if key in p:
            p[key] = str(FIELD_ORDERS.get(p[key], p[key]))
    template = FINDINGS[kind]
    if kind == "cast":
        p["cast"] = str(CASTS.get(p.get("cast"), p.get("cast")))
        p["red"], p["blue"] = _figure(p.get("red"), "+.2f"), _figure(p.get("blue"), "+.2f")
        if p.get("monochrome"):
            template = FINDINGS["cast_toned"]
    elif kind == "repeats" and isinstance(p.get("cadence"), int) and p["cadence"] > 1:
        template = FINDINGS["repeats_cadence"]
    elif kind == "scenes":
        p["cuts"] = ", ".join(str(c) for c in p.get("cuts") or [])
    elif kind == "telecine" and p.get("breaks"):
        breaks = list(p["breaks"])
        try:
            return (str(template) % p) + ngettext(
                " The cadence breaks (an edit after the transfer) at frame %(frames)s.",
                " The cadence breaks (an edit after the transfer) at frames %(frames)s.",
                len(breaks)) % {"frames": ", ".join(str(b) for b in breaks)}
        except (KeyError, TypeError, ValueError):
            return str(finding.get("text", ""))
    elif kind in ("fade", "soft", "compressed"):
        p = {k: _figure(v, ".2f") for k, v in p.items()}
    elif kind == "blotches":
        p["per_frame"] = _figure(p.get("per_frame"), ".2f")
    elif kind in ("flicker", "dust", "noise"):
        key = "levels" if kind == "noise" else ("percent" if kind == "flicker" else "per_frame")
        p[key] = _figure(p.get(key), ".1f")
    try:
        return str(template) % p
    except (KeyError, TypeError, ValueError):  # figures of another shape
        return str(finding.get("text", ""))


def findings(analysis: Any) -> list[dict[str, Any]]:
    """The report's findings for a page: severity, the sentence in the active language
    and the engine's English sentence (for the logs)."""
    items = analysis.get("findings") if isinstance(analysis, Mapping) else None
    return [{"kind": f.get("kind"), "severity": f.get("severity"), "text": finding_text(f),
             "english": f.get("text", "")} for f in items or [] if isinstance(f, Mapping)]


def summary_levels(summary: Any) -> dict[str, str]:
    """The level of each measure in the summary ("noise": "mild" …) worded."""
    if not isinstance(summary, Mapping):
        return {}
    return {key: level_name(value.get("level")) for key, value in summary.items()
            if isinstance(value, Mapping) and "level" in value}


def plot_words() -> dict[str, str]:
    """The analysis plot's words (gpu_worker.engine.analysis.PLOT_TEXT's keys)."""
    return {
        "brightness_legend": gettext("mean brightness"),
        "flicker_legend": gettext("flicker"),
        "flicker_axis": gettext("flicker %"),
        "brightness_axis": gettext("brightness"),
        "flicker_title": gettext("Flicker index {index:.2f}% ({level})"),
        "noise_axis": gettext("noise σ\n(8-bit levels)"),
        "detail_axis": gettext("fine detail\n(sharpness)"),
        "dust_legend": gettext("dust"),
        "blotches_legend": gettext("blotches"),
        "spots_axis": gettext("one-frame\nspots"),
        "scratches_axis": gettext("vertical\nscratches"),
        "frame_axis": gettext("frame"),
        "clip": gettext("clip"),
        "head": gettext("{name}: {width}x{height}, {fps:.2f} fps, {frames} frames, {shots} shot(s) "
                        "(dashed lines = cuts, grey ticks = repeated frames)"),
        "suggested": gettext("Suggested: {ops}"),
        "nothing": gettext("nothing to repair"),
    }


# --- a clip's probed metadata -------------------------------------------------------------

_COLOUR_FIELDS = ("color_range", "color_space", "color_primaries", "color_trc")


def metadata_for_page(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The probe's metadata for a page: colour fields ffprobe could not tell ("unknown",
    or absent) say so in the reader's language; the names it knows (bt709, tv …) stay."""
    shown = dict(metadata)
    for key in _COLOUR_FIELDS:
        if shown.get(key) in (None, "", "unknown"):
            shown[key] = str(FIELD_ORDERS["unknown"])
    return shown


# --- operators and their parameters ----------------------------------------------------------

OPERATORS = {
    "colour_correct": _("colour correction"),
    "colour_scheme": _("colour look"),
    "colour_transfer": _("learnt grade"),
    "lut": _("LUT"),
    "deflicker": _("deflicker"),
    "denoise": _("denoise"),
    "dust": _("dust removal"),
    "face_restore": _("face restoration"),
    "grain": _("film grain"),
    "interpolate": _("frame interpolation"),
    "scratch": _("scratch removal"),
    "wire": _("wire removal"),
    "sharpen": _("sharpen"),
    "resize": _("resize"),
    "super_resolution": _("super-resolution"),
    "deinterlace": _("deinterlace"),
    "ivtc": _("inverse telecine"),
}

PARAMS = {
    "align": _("follow motion"),
    "amount": _("amount"),
    "auto": _("automatic detection"),
    "black_point": _("black point"),
    "breaks": _("cadence breaks"),
    "chroma": _("colour in the grain"),
    "clip": _("clipped share"),
    "contrast": _("contrast"),
    "detail": _("detail"),
    "even": _("even size"),
    "expand": _("face box size"),
    "fallback": _("fallback"),
    "feather": _("feathering"),
    "fidelity": _("fidelity"),
    "field_order": _("field order"),
    "fixed": _("corrected frame"),
    "fixed_2": _("corrected frame 2"),
    "fixed_3": _("corrected frame 3"),
    "flow_size": _("optical flow size"),
    "fps": _("target frame rate"),
    "grow": _("grow"),
    "height": _("height"),
    "keep_aspect": _("keep aspect ratio"),
    "keep_colour": _("keep colour"),
    "look": _("look"),
    "luma_only": _("brightness only"),
    "mask": _("mask"),
    "max_size": _("largest speck"),
    "max_unreliable": _("most unreliable flow"),
    "max_width": _("widest line"),
    "method": _("method"),
    "min_face": _("smallest face"),
    "min_length": _("shortest line"),
    "mode": _("mode"),
    "model": _("model"),
    "multiplier": _("multiplier"),
    "noise_level": _("noise level"),
    "occlusion": _("occlusion handling"),
    "offset": _("cadence phase"),
    "original": _("original frame"),
    "original_2": _("original frame 2"),
    "original_3": _("original frame 3"),
    "overlap": _("tile overlap"),
    "path": _("file"),
    "peak": _("peak brightness"),
    "persistence": _("persistence"),
    "precision": _("precision"),
    "profile": _("side faces"),
    "quality": _("quality"),
    "radius": _("radius"),
    "rate": _("output rate"),
    "response": _("tonal response"),
    "sampling": _("resampling"),
    "saturation": _("saturation"),
    "scale": _("scale"),
    "search": _("search radius"),
    "seed": _("random seed"),
    "sensitivity": _("sensitivity"),
    "size": _("grain size"),
    "smooth": _("smoothing"),
    "smoothness": _("smoothness"),
    "spatial": _("spatial strength"),
    "strength": _("strength"),
    "temporal": _("temporal"),
    "temporal_radius": _("temporal radius"),
    "texture": _("texture"),
    "threshold": _("threshold"),
    "tile": _("tile size"),
    "tiles": _("tiles"),
    "timing_blur": _("timing blur"),
    "white_balance": _("white balance"),
    "white_point": _("white point"),
    "width": _("width"),
}

CHOICES = {
    "adaptive": _("adaptive"),
    "area": _("area average"),
    "auto": pgettext_lazy("choice", "automatic"),
    "bff": _("bottom field first"),
    "bfloat16": _("bfloat16"),
    "bicubic": _("bicubic"),
    "bilinear": _("bilinear"),
    "bleach_bypass": _("bleach bypass"),
    "blend": _("blend"),
    "cool": _("cool"),
    "dis": _("DIS optical flow"),
    "exposure": _("exposure"),
    "farneback": _("Farnebäck optical flow"),
    "field": _("one frame per field"),
    "fast": _("fast"),
    "float16": _("float16"),
    "frame": _("one frame per frame"),
    "float32": _("float32"),
    "grey_world": _("grey world"),
    "lanczos": _("Lanczos"),
    "lut": _("LUT"),
    "matrix": _("colour matrix"),
    "medium": _("medium"),
    "model": _("neural network"),
    "monochrome": _("monochrome"),
    "nearest": _("nearest frame"),
    "neutral": pgettext_lazy("colour look", "neutral"),
    "ns": _("Navier-Stokes"),
    "percentile": _("percentiles"),
    "sepia": pgettext_lazy("colour look", "sepia"),
    "teal_orange": _("teal and orange"),
    "technicolor_2strip": _("two-strip Technicolor"),
    "technicolor_3strip": _("three-strip Technicolor"),
    "telea": _("Telea"),
    "tff": _("top field first"),
    "tone": _("tone curve"),
    "ultrafast": _("ultrafast"),
    "warm_period": _("warm period print"),
}

# The units of the parameters' ranges.
UNITS = {
    "frames": _("frames"),
    "cells per side": _("cells per side"),
    "8-bit code values": _("8-bit levels"),
}

# The presets the engine ships, by name (a technician's own presets keep their names).
BUILTIN_PRESETS = {
    "auto": pgettext_lazy("preset", "automatic"),
    "faithful": pgettext_lazy("preset", "faithful"),
    "clean": pgettext_lazy("preset", "clean"),
}


# Operator categories (the editor groups and labels operators by them).
CATEGORIES = {
    "cleanup": pgettext_lazy("operator category", "cleanup"),
    "colour": pgettext_lazy("operator category", "colour"),
    "detail": pgettext_lazy("operator category", "detail"),
    "look": pgettext_lazy("operator category", "look"),
    "size": pgettext_lazy("operator category", "size"),
    "temporal": pgettext_lazy("operator category", "temporal"),
    "tone": pgettext_lazy("operator category", "tone"),
    "misc": pgettext_lazy("operator category", "other"),
}

# Where in the picture an operator acts (gpu_worker.engine.spec.REGIONS).
REGIONS = {
    "all": pgettext_lazy("region", "whole frame"),
    "face": pgettext_lazy("region", "faces"),
    "person": pgettext_lazy("region", "people"),
    "background": pgettext_lazy("region", "background"),
}


def category_name(category: str) -> str:
    return str(CATEGORIES.get(category, category))


def region_name(region: str) -> str:
    return str(REGIONS.get(region, region))


def help_text(text: str) -> str:
    """One of the engine's long help texts (an operator's or a parameter's description,
    a shipped preset's title or description) in the active language. The engine marks
    them with gpu_worker.engine.i18n.N_, so makemessages puts them in the catalogue;
    a text the catalogue lacks is shown as the engine wrote it."""
    return gettext(text) if text else ""


def operator_for_page(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An operator's schema (OperatorSchema.schema()) with its words for a page beside
    the codes: `label`, `category_label`, `help` and, per parameter, `label`, `help`,
    `unit_label` and `choice_labels` (code, name) pairs. The codes stay as they are."""
    params = [{**p, "label": param_name(p["name"]), "help": help_text(p.get("description", "")),
               "unit_label": unit_text(p.get("unit", "")),
               "choice_labels": [(c, value_text(c)) for c in p.get("choices", ())]}
              for p in schema.get("params", ())]
    return {**schema, "label": operator_name(schema["name"]),
            "category_label": category_name(schema.get("category", "")),
            "help": help_text(schema.get("description", "")), "params": params}


def builtin_preset_description(preset: Any) -> str:
    """A preset's description: a built-in one's as the engine ships it, in the active
    language; a technician's own as written."""
    description = getattr(preset, "description", "") or ""
    if getattr(preset, "builtin", False):
        from gpu_worker.engine.presets import PRESETS

        shipped = PRESETS.get(getattr(preset, "name", ""))
        if shipped is not None and description == shipped.description:
            return help_text(description)
    return description


def operator_name(op: str) -> str:
    return str(OPERATORS.get(op, op))


def param_name(name: str) -> str:
    return str(PARAMS.get(name, name))


def value_text(value: Any) -> str:
    """A parameter's value: choices by name, booleans as yes/no, numbers as they are."""
    if isinstance(value, bool):
        return pgettext("parameter value", "yes") if value else pgettext("parameter value", "no")
    if isinstance(value, str):
        return str(CHOICES.get(value, value))
    return str(value)


KINDS = {"bool": _("yes or no"), "int": _("whole number"), "float": _("number")}


def kind_text(kind: str) -> str:
    return str(KINDS.get(kind, kind))


def parse_choice(text: str, choices: Sequence[str]) -> str:
    """A choice typed in a form: its code, or its name as value_text shows it in the
    active language (case and spaces aside). Anything else comes back as typed, for the
    spec's validation to refuse by name."""
    wanted = " ".join(text.split()).casefold()
    for code in choices:
        if wanted in (code.casefold(), " ".join(value_text(code).split()).casefold()):
            return code
    return text


def parse_bool(text: str) -> bool | None:
    """true/false, 1/0, yes/no, or the words value_text shows for them; None otherwise."""
    wanted = text.strip().casefold()
    if wanted in ("true", "1", "yes", value_text(True).casefold()):
        return True
    if wanted in ("false", "0", "no", value_text(False).casefold()):
        return False
    return None


def device_name(device: Any) -> str:
    """The device a render ran on ("cpu", "cuda:0") as a reader calls it."""
    if not device:
        return ""
    text = str(device)
    if text == "cpu":
        return "CPU"
    if text.startswith("cuda"):
        index = text.partition(":")[2]
        return f"GPU {index}" if index else "GPU"
    return text


def unit_text(unit: str) -> str:
    return str(UNITS.get(unit, unit))


def range_text(param: Any) -> str:
    """The engine's "[min, max] unit" of a parameter schema, its unit worded."""
    unit = f" {unit_text(param.unit)}" if param.unit else ""
    return f"[{param.min}, {param.max}]{unit}"


_KEY = re.compile(r"^(?P<target>#\d+|[a-z_0-9]+)\.(?P<name>[a-z_0-9]+)$")


def key_label(key: str, spec: Mapping[str, Any] | None = None) -> str:
    """An override key ("denoise.strength", "#3.amount", "seed") as "operator · parameter"."""
    if key == "seed":
        return str(PARAMS["seed"])
    match = _KEY.match(key)
    if not match:
        return key
    target, name = match["target"], match["name"]
    if target.startswith("#"):
        ops = (spec or {}).get("ops") or []
        index = int(target[1:]) - 1
        op = ops[index].get("op") if 0 <= index < len(ops) and isinstance(ops[index], Mapping) else None
        where = (gettext("%(op)s (step %(n)s)") % {"op": operator_name(op), "n": index + 1}
                 if op else gettext("step %(n)s") % {"n": index + 1})
    elif target == "encode":
        where = gettext("encoding")
    else:
        where = operator_name(target)
    return f"{where} · {param_name(name)}"


def overrides_text(overrides: Mapping[str, Any], spec: Mapping[str, Any] | None = None) -> str:
    return ", ".join(f"{key_label(k, spec)} = {value_text(v)}" for k, v in overrides.items())


def preset_name(preset: Any) -> str:
    name = getattr(preset, "name", str(preset))
    if getattr(preset, "builtin", False) and name in BUILTIN_PRESETS:
        return str(BUILTIN_PRESETS[name])
    return name


def version_name(version: Any) -> str:
    """A preset version as "preset v3", a built-in preset's name worded."""
    return gettext("%(preset)s v%(number)s") % {"preset": preset_name(version.preset),
                                                  "number": version.number}


def variant_label(variant: Any) -> str:
    """A sweep's variant as "preset v3 · operator · parameter = value, …" in the active
    language (the stored label is the same in the engine's words)."""
    version = getattr(variant, "preset_version", None)
    if version is None:
        return str(variant)
    base = version_name(version)
    overrides = variant.overrides or {}
    if not overrides:
        return base if not variant.label or variant.label == str(version) else str(variant.label)
    return f"{base} · {overrides_text(overrides, version.spec)}"


# --- stored failure reasons ------------------------------------------------------------------

# What a work lease is for (WorkLease.Kind's labels), as the sweeper's reasons name it.
LEASE_KINDS = {
    "probe": _("probe"),
    "analysis": _("analysis"),
    "variant render": _("variant render"),
    "film segment": _("film segment"),
    "film assembly": _("film assembly"),
}

# Reasons the site and the workers write in fixed words; anything else (an exception's
# own message, from ffmpeg, torch or the operating system) is shown as written.
_REASONS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"^the render failed$"), _("the render failed")),
    (re.compile(r"^the comparison failed$"), _("the comparison failed")),
    (re.compile(r"^failed$"), _("failed")),
    (re.compile(r"^superseded by a newer dispatch$"), _("superseded by a newer dispatch")),
    (re.compile(r"^the render has (?P<frames>\d+) frames; (?P<expected>\d+) were asked for$"),
     _("the render has %(frames)s frames; %(expected)s were asked for")),
    (re.compile(r"^gave up after (?P<attempts>\d+) attempts?: the (?P<what>.+?) "
                r"(?P<how>stopped reporting|was never started) \(no sign of life for "
                r"(?P<seconds>\d+)s; its worker was probably killed or lost its message\)"
                r"(?:; last error: (?P<last>.*))?$", re.S), None),
]


# Prefixes the sweeper puts before a reason it passes on.
_PREFIXES = {"probe: ": _("probe: %(reason)s"), "assembly: ": _("assembly: %(reason)s")}


def failure_reason(text: str) -> dict[str, str]:
    """A stored failure reason for a page: `text` in the active language when its words
    are the site's or a worker's own, else empty; `original` as stored (for the logs and
    for reasons quoted from a library)."""
    text = (text or "").strip()
    for pattern, template in _REASONS:
        match = pattern.match(text)
        if not match:
            continue
        if template is not None:
            return {"text": str(template) % match.groupdict(), "original": text}
        what = str(LEASE_KINDS.get(match["what"], match["what"]))
        args = {"attempts": match["attempts"], "what": what, "seconds": match["seconds"]}
        n = int(match["attempts"])
        said = (ngettext("gave up after %(attempts)s attempt: the %(what)s stopped reporting (no sign "
                         "of life for %(seconds)ss; its worker was probably killed or lost its message)",
                         "gave up after %(attempts)s attempts: the %(what)s stopped reporting (no sign "
                         "of life for %(seconds)ss; its worker was probably killed or lost its message)", n)
                if match["how"] == "stopped reporting" else
                ngettext("gave up after %(attempts)s attempt: the %(what)s was never started (no sign "
                         "of life for %(seconds)ss; its worker was probably killed or lost its message)",
                         "gave up after %(attempts)s attempts: the %(what)s was never started (no sign "
                         "of life for %(seconds)ss; its worker was probably killed or lost its message)", n))
        said %= args
        if match["last"]:
            last = failure_reason(match["last"])
            said = gettext("%(reason)s; last error: %(error)s") % {
                "reason": said, "error": last["text"] or last["original"]}
        return {"text": said, "original": text}
    for prefix, template in _PREFIXES.items():
        if text.startswith(prefix):
            inner = failure_reason(text[len(prefix):])
            if inner["text"]:
                return {"text": str(template) % {"reason": inner["text"]}, "original": text}
    return {"text": "", "original": text}
