"""Are a sweep's variants worth a vote? Perceptual differences between its renders.

After the variants of a sweep have rendered, every pair of them is compared on a GPU
worker (gpu_worker.engine.distinctness: ColorVideoVDP, JOD of B against A, and a
difference heat-map). The site keeps one VariantComparison per pair and flags a pair
whose difference (10 - JOD) is below settings.VARIANT_JND_JOD: fans would be asked to
choose between pictures they cannot tell apart. The flag is advice; opening a contest
over such variants shows it, and the technician decides.

A sweep is the set of variants of one clip made from one preset version over the same
excerpt (what restoration.rendering.sweeps.create_sweep makes). Comparisons are
dispatched when the last variant of a sweep finishes (results handling calls
`compare_finished_sweep`) and on demand (`compare_variants`).
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from gpu_worker.engine.schema import SpecError, get_operator_schema
from restoration import engine_text, queue
from restoration.models import Variant, VariantComparison
from restoration.rendering.jobs import storage_name_from_uri, storage_uri

log = logging.getLogger(__name__)

UNFINISHED = (Variant.Status.PENDING, Variant.Status.QUEUED, Variant.Status.RENDERING)


def threshold() -> float:
    """The just-noticeable difference, in JOD, below which a pair is flagged."""
    return float(settings.VARIANT_JND_JOD)


def sweep_of(variant: Variant) -> list[Variant]:
    """The variants made with `variant` by one sweep: same clip, preset version and excerpt."""
    return list(
        Variant.objects.filter(
            clip_id=variant.clip_id,
            preset_version_id=variant.preset_version_id,
            start_frame=variant.start_frame,
            end_frame=variant.end_frame,
        ).order_by("pk")
    )


def _ordered(a: Variant, b: Variant) -> tuple[Variant, Variant]:
    return (a, b) if a.pk < b.pk else (b, a)


def map_name(a: Variant, b: Variant) -> str:
    return (
        f"renders/variants/clip-{a.clip_id}/compare-{a.pk}-{b.pk}-"
        f"{a.spec_hash[:8]}-{b.spec_hash[:8]}-{uuid.uuid4().hex[:6]}.png"
    )


def _comparable(variants: Iterable[Variant]) -> list[Variant]:
    return [v for v in variants if v.status == Variant.Status.DONE and v.playable]


def compare_pair(a: Variant, b: Variant, *, again: bool = False) -> VariantComparison:
    """Queue the comparison of two rendered variants of the same excerpt (once: a pair
    already compared or being compared is returned as it is unless `again`)."""
    if a.pk == b.pk:
        raise ValueError(gettext("a variant cannot be compared with itself"))
    a, b = _ordered(a, b)
    if a.clip_id != b.clip_id or (a.start_frame, a.end_frame) != (b.start_frame, b.end_frame):
        raise ValueError(gettext("variants %(a)s and %(b)s are not renders of the same excerpt") % {"a": a.pk, "b": b.pk})
    if len(_comparable([a, b])) != 2:
        raise ValueError(gettext("variants %(a)s and %(b)s must both have finished rendering") % {"a": a.pk, "b": b.pk})
    with transaction.atomic():
        row, created = VariantComparison.objects.select_for_update().get_or_create(
            variant_a=a, variant_b=b
        )
        if not created and not again and row.status != VariantComparison.Status.FAILED:
            return row
        task_id = f"compare-{row.pk}-{uuid.uuid4().hex[:8]}"
        name = map_name(a, b)
        row.status, row.jod, row.details, row.error = VariantComparison.Status.PENDING, None, {}, ""
        row.task_id, row.finished_at = task_id, None
        row.save()
        message = {
            "comparison_id": row.pk,
            "a_uri": storage_uri(a.playable.name),
            "b_uri": storage_uri(b.playable.name),
            "map_uri": storage_uri(name),
            "frames": None,
            "device": None,
        }
        transaction.on_commit(lambda: queue.send_with_id(queue.COMPARE_VARIANTS, task_id, message))
    return row


def compare_variants(
    variants: Sequence[Variant], *, again: bool = False
) -> list[VariantComparison]:
    """Queue a comparison of every pair of the finished `variants` (on demand)."""
    done = _comparable(variants)
    return [compare_pair(a, b, again=again) for a, b in itertools.combinations(done, 2)]


def compare_finished_sweep(variant: Variant) -> list[VariantComparison]:
    """Called when a variant's render ends: once no variant of its sweep is still
    waiting or rendering, compare every pair of those that rendered."""
    sweep = sweep_of(variant)
    if any(v.status in UNFINISHED for v in sweep):
        return []
    done = _comparable(sweep)
    if len(done) < 2:
        return []
    return compare_variants(done)


def record_comparison(data: dict[str, Any]) -> VariantComparison | None:
    """A GPU worker's answer (gpu_worker.worker.tasks.run_comparison)."""
    comparison_id = data.get("comparison_id") if isinstance(data, dict) else None
    if not isinstance(comparison_id, int):
        log.error("a GPU worker sent a comparison result without its id: %r", data)
        return None
    with transaction.atomic():
        row = VariantComparison.objects.select_for_update().filter(pk=comparison_id).first()
        if row is None:
            return None
        row.finished_at = timezone.now()
        jod = data.get("jod")
        if data.get("status") == "done" and isinstance(jod, (int, float)):
            row.status, row.jod, row.error = VariantComparison.Status.DONE, float(jod), ""
            row.details = data.get("details") or {}
            row.diff_map.name = storage_name_from_uri(data.get("map_uri") or "") or ""
        else:
            row.status = VariantComparison.Status.FAILED
            row.error = str(data.get("error") or "the comparison failed")[:2000]
        row.save()
    return row


# --- what the pages show ---------------------------------------------------------------------


def _differing_keys(a: Variant, b: Variant) -> list[str]:
    keys = set(a.overrides or {}) | set(b.overrides or {})
    return sorted(k for k in keys if (a.overrides or {}).get(k) != (b.overrides or {}).get(k))


def _param(key: str, variant: Variant) -> Any:
    target, _, name = key.partition(".")
    if not name or target == "encode":
        return None
    if target.startswith("#") and target[1:].isdigit():
        ops = (variant.preset_version.spec or {}).get("ops", [])
        index = int(target[1:]) - 1
        if not 0 <= index < len(ops):
            return None
        target = ops[index]["op"]
    try:
        return next((p for p in get_operator_schema(target).params if p.name == name), None)
    except SpecError:
        return None


def suggestion(a: Variant, b: Variant) -> str:
    """What to try instead of a pair fans cannot tell apart: the swept values pushed
    apart, towards the ends of the parameter's range."""
    tips = []
    spec = a.preset_version.spec if a.preset_version_id else None
    for key in _differing_keys(a, b):
        va, vb = (a.overrides or {}).get(key), (b.overrides or {}).get(key)
        param = _param(key, a)
        words = {"key": engine_text.key_label(key, spec), "a": engine_text.value_text(va),
                 "b": engine_text.value_text(vb)}
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb))
        if param is None or not numeric or param.min is None or param.max is None:
            tips.append(gettext("%(key)s: %(a)s and %(b)s look alike here; try values further apart")
                        % words)
            continue
        lo, hi = sorted((float(va), float(vb)))
        span = max(hi - lo, 0.1 * (param.max - param.min))
        new_lo, new_hi = max(param.min, lo - span), min(param.max, hi + span)
        if (new_lo, new_hi) == (lo, hi):
            tips.append(
                gettext("%(key)s: %(a)s and %(b)s already span its range %(range)s; this "
                        "parameter barely changes this excerpt, so vary another")
                % {**words, "range": engine_text.range_text(param)}
            )
        else:
            tips.append(
                gettext("%(key)s: %(a)s and %(b)s look alike here; try values further apart, e.g. "
                        "%(low)s and %(high)s (range %(range)s)")
                % {**words, "low": f"{new_lo:g}", "high": f"{new_hi:g}",
                   "range": engine_text.range_text(param)}
            )
    return gettext("; ").join(tips) or gettext("the two specs differ little here; try values further apart")


def pair_rows(variants: Sequence[Variant]) -> list[dict[str, Any]]:
    """Every comparison among `variants`, for a page: difference, warning, suggestion."""
    ids = [v.pk for v in variants]
    rows = []
    limit = threshold()
    for c in VariantComparison.objects.filter(variant_a__in=ids, variant_b__in=ids).select_related(
        "variant_a__preset_version", "variant_b__preset_version"
    ):
        flagged = (
            c.status == VariantComparison.Status.DONE
            and c.difference is not None
            and c.difference < limit
        )
        rows.append(
            {
                "comparison": c,
                "a": engine_text.variant_label(c.variant_a),
                "b": engine_text.variant_label(c.variant_b),
                "difference": c.difference,
                "indistinct": flagged,
                "suggestion": suggestion(c.variant_a, c.variant_b) if flagged else "",
            }
        )
    return rows


def indistinct_warnings(variants: Sequence[Variant]) -> list[str]:
    """One sentence per pair of `variants` measured below the just-noticeable threshold."""
    return [
        gettext("“%(a)s” and “%(b)s” differ by only %(difference)s JOD (below "
                "%(threshold)s): fans may not see a difference. %(suggestion)s.")
        % {"a": r["a"], "b": r["b"], "difference": f"{r['difference']:.2f}",
           "threshold": f"{threshold():g}", "suggestion": r["suggestion"]}
        for r in pair_rows(variants)
        if r["indistinct"]
    ]
