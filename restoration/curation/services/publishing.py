"""Publishing a reviewed render to the public gallery, and taking it down again.

A publication freezes its vote record (the contests behind the look, their ratings
with intervals, the winner and what its spec changed against the base preset) at the
moment of publishing: later ballots or re-computations must not rewrite what the
public was told. Unpublishing hides the page and keeps the row, the files and the
record.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.roles import CURATOR
from gpu_worker.engine.media import write_poster
from restoration.curation.models import Publication, Review
from restoration.curation.services.review import ReviewError, apply_transition, prepare_excerpts
from restoration.models import PresetVersion, RenderJob, Variant
from restoration.storage import local_path, save_file
from voting.models import Contest
from voting.services import contest_ratings

log = logging.getLogger(__name__)

GALLERY_VERSION_KEY = "gallery:version"


class PublishingError(ReviewError):
    """Publishing or unpublishing refused; the message says why."""


# --- gallery cache ---------------------------------------------------------------------------

def gallery_version() -> int:
    """A number that changes whenever what the public sees changes; anonymous gallery
    pages are cached under it, so publishing shows up at once without a cache sweep."""
    version = cache.get(GALLERY_VERSION_KEY)
    if version is None:
        version = int(timezone.now().timestamp() * 1000)
        cache.add(GALLERY_VERSION_KEY, version, timeout=None)
        version = cache.get(GALLERY_VERSION_KEY, version)
    return version


def bump_gallery_version() -> None:
    gallery_version()
    try:
        cache.incr(GALLERY_VERSION_KEY)
    except ValueError:  # evicted between the two calls
        cache.set(GALLERY_VERSION_KEY, int(timezone.now().timestamp() * 1000), timeout=None)


# --- spec diff ------------------------------------------------------------------------------------

def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _keyed_ops(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Ops keyed "name" (first occurrence) or "name#2", "name#3"… so a change of one
    parameter is matched to the same operator even if others were added before it."""
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for op in spec.get("ops") or []:
        name = op.get("op", "?")
        seen[name] = seen.get(name, 0) + 1
        out[name if seen[name] == 1 else f"{name}#{seen[name]}"] = dict(op.get("params") or {})
    return out


def spec_diff(base: dict[str, Any] | None, winner: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What ``winner`` changes against ``base``, one readable row per change:

    {"kind": "changed"|"added"|"removed", "where": "grain.strength", "before", "after", "text"}
    """
    base, winner = base or {}, winner or {}
    rows: list[dict[str, Any]] = []
    a_ops, b_ops = _keyed_ops(base), _keyed_ops(winner)
    for key, params in b_ops.items():
        if key not in a_ops:
            detail = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(params.items()))
            rows.append({"kind": "added", "where": key, "before": None, "after": params,
                         "text": f"added {key}" + (f" ({detail})" if detail else "")})
            continue
        old = a_ops[key]
        for name in sorted(set(old) | set(params)):
            if old.get(name) != params.get(name):
                before, after = old.get(name), params.get(name)
                rows.append({"kind": "changed", "where": f"{key}.{name}", "before": before, "after": after,
                             "text": f"{key}.{name}: {_fmt(before) if name in old else 'default'} → "
                                     f"{_fmt(after) if name in params else 'default'}"})
    for key in a_ops:
        if key not in b_ops:
            rows.append({"kind": "removed", "where": key, "before": a_ops[key], "after": None,
                         "text": f"removed {key}"})
    for field in ("seed", "encode"):
        if base.get(field) != winner.get(field):
            rows.append({"kind": "changed", "where": field, "before": base.get(field),
                         "after": winner.get(field),
                         "text": f"{field}: {_fmt(base.get(field))} → {_fmt(winner.get(field))}"})
    return rows


# --- vote record ----------------------------------------------------------------------------------

def _contests_for(review: Review) -> list[Contest]:
    qs = Contest.objects.select_related("clip", "winner__variant__preset_version__preset",
                                        "adopted_preset__preset")
    if review.variant_id:
        return list(qs.filter(entries__variant_id=review.variant_id).distinct().order_by("created_at"))
    job = review.render_job
    return list(qs.filter(clip__film_id=job.film_id).order_by("created_at"))


def _entry_row(entry, item: dict[str, Any] | None, winner_label: str | None) -> dict[str, Any]:
    variant = entry.variant
    return {
        "label": entry.label,
        "variant": variant.pk,
        "variant_label": str(variant),
        "preset": str(variant.preset_version),
        "overrides": variant.overrides or {},
        "score": item.get("score") if item else None,
        "lower": item.get("lower") if item else None,
        "upper": item.get("upper") if item else None,
        "p_best": item.get("p_best") if item else None,
        "wins": item.get("wins") if item else 0,
        "losses": item.get("losses") if item else 0,
        "ties": item.get("ties") if item else 0,
        "winner": entry.label == winner_label,
    }


def contest_record(contest: Contest, adopted: PresetVersion | None) -> dict[str, Any]:
    """One contest as the public record shows it (names revealed: voting is over or the
    page is for staff; blind labels are kept alongside so ballots can be traced)."""
    try:
        tally = contest_ratings(contest)
    except Exception:  # a broken ranking must not block publishing; say so instead
        log.exception("ratings of %s failed", contest)
        tally = {}
    contest.refresh_from_db()
    items = {item["label"]: item for item in tally.get("items") or []}
    winner_entry = contest.winner
    winner_label = winner_entry.label if winner_entry else None
    entries = [e for e in contest.entries.select_related("variant__preset_version__preset")
               if not e.is_decoy]
    record: dict[str, Any] = {
        "id": contest.pk,
        "title": str(contest),
        "clip": contest.clip_id,
        "clip_title": str(contest.clip),
        "status": contest.status,
        "decided_at": contest.decided_at.isoformat() if contest.decided_at else None,
        "decision_reason": contest.decision_reason,
        "n_ballots": tally.get("n_ballots", contest.ballots.count()),
        "n_raters": tally.get("n_raters"),
        "confidence": tally.get("confidence", contest.confidence),
        "position_bias": tally.get("position_bias"),
        "variants_compared": len(entries),
        "entries": sorted((_entry_row(e, items.get(e.label), winner_label) for e in entries),
                          key=lambda r: -(r["score"] if r["score"] is not None else float("-inf"))),
        "winner": None,
        "adopted": False,
    }
    if winner_entry is not None:
        variant = winner_entry.variant
        base = variant.preset_version
        adopted_here = contest.adopted_preset
        record["winner"] = {
            "label": winner_label, "variant": variant.pk, "variant_label": str(variant),
            "preset": str(adopted_here or base), "base_preset": str(base),
            "diff": spec_diff(base.spec, variant.spec),
        }
        record["adopted"] = bool(adopted is not None and contest.adopted_preset_id == adopted.pk)
    return record


def assemble_vote_record(review: Review) -> dict[str, Any]:
    """The vote record behind a reviewed render, ready to freeze into a Publication.

    Tolerates a film that never had a contest: the record then says so instead of
    failing.
    """
    adopted = review.render_job.preset_version if review.render_job_id else None
    contests = _contests_for(review)
    records = [contest_record(c, adopted) for c in contests]
    records = [r for r in records if r["n_ballots"] or r["winner"]]
    preset = adopted or (review.variant.preset_version if review.variant_id else None)
    out: dict[str, Any] = {
        "available": True,
        "contests": records,
        "total_ballots": sum(r["n_ballots"] or 0 for r in records),
        "preset": str(preset) if preset else "",
        "note": "" if records else "no public vote was held for this work",
    }
    if review.variant_id:
        variant = review.variant
        out["diff"] = spec_diff(variant.preset_version.spec, variant.spec)
        out["base_preset"] = str(variant.preset_version)
    return out


# --- publish / unpublish ----------------------------------------------------------------------------

def _unique_slug(title: str, exclude: int | None = None) -> str:
    # Unicode slugs: a title in any script keeps its words (slugify without allow_unicode
    # drops every CJK character, so Chinese titles all became "work", "work-2", …).
    base = slugify(title, allow_unicode=True)[:60].strip("-_") or "work"
    slug, n = base, 1
    while Publication.objects.filter(slug=slug).exclude(pk=exclude).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _poster(after_name: str, base: str) -> str:
    """A poster JPEG from the middle of the restored excerpt."""
    with local_path(after_name) as path, tempfile.TemporaryDirectory() as tmp:
        poster = write_poster(path, Path(tmp) / "poster.jpg", quality=86)
        return save_file(poster, f"{base}/poster.jpg")


def default_metadata(review: Review) -> dict[str, Any]:
    """Initial values of the publish form, from the film (and clip)."""
    film = review.render_job.film if review.render_job_id else review.variant.clip.film
    title = film.title if review.render_job_id else f"{film.title} — {review.variant.clip}"
    return {"title": title, "year": film.year, "credits": "", "restoration_notes": ""}


def publish(review: Review, user: Any, *, title: str, year: int | None = None, credits: str = "",
            restoration_notes: str = "") -> Publication:
    """Publish an approved review: freeze the vote record, cut the before/after excerpt
    if the review has none, make a poster, and show it in the gallery."""
    if not (user is not None and getattr(user, "is_authenticated", False) and user.has_role(CURATOR)):
        raise PublishingError(_("Only a curator may publish."))
    title = (title or "").strip()
    if not title:
        raise PublishingError(_("A publication needs a title."))
    if review.status != Review.Status.APPROVED:
        raise PublishingError(_("Only an approved review can be published; this one is %(status)s.")
                              % {"status": review.get_status_display()})
    if not (review.before_excerpt and review.after_excerpt):
        prepare_excerpts(review)
    if review.excerpt_error or not review.after_excerpt:
        raise PublishingError(_("The before/after excerpt could not be made: %(error)s")
                              % {"error": review.excerpt_error})
    target = review.target
    if isinstance(target, RenderJob):
        film, clip, restored = target.film, None, target.playable.name
        has_audio = any(c.has_audio for c in film.clips.all())
    else:
        variant: Variant = target
        film, clip, restored = variant.clip.film, variant.clip, variant.playable.name
        has_audio = variant.clip.has_audio
    record = assemble_vote_record(review)
    existing = Publication.objects.filter(review=review).first()
    base = f"publications/review-{review.pk}-{secrets.token_urlsafe(12)}"  # random: not guessable
    poster = _poster(review.after_excerpt.name, base)
    with transaction.atomic():
        publication = existing or Publication(review=review, film=film, clip=clip)
        publication.slug = publication.slug or _unique_slug(title)
        publication.title, publication.year = title[:200], year
        publication.credits, publication.restoration_notes = credits.strip(), restoration_notes.strip()
        publication.restored.name = restored
        publication.before.name = review.before_excerpt.name
        publication.after.name = review.after_excerpt.name
        publication.poster.name = poster
        publication.has_audio = has_audio
        publication.vote_record = record
        publication.is_public = True
        publication.published_at, publication.published_by = timezone.now(), user
        publication.save()
        apply_transition(review, Review.Status.PUBLISHED, user, f"published as “{publication.title}”",
                         via_publishing=True)
    transaction.on_commit(bump_gallery_version)
    return publication


def unpublish(publication: Publication, user: Any, reason: str = "") -> Publication:
    """Take a publication out of the gallery. Everything is kept: the row, its vote
    record, its files and the review history; the review goes back to approved, so it
    can be published again."""
    if not (user is not None and getattr(user, "is_authenticated", False) and user.has_role(CURATOR)):
        raise PublishingError(_("Only a curator may unpublish."))
    if not publication.is_public:
        raise PublishingError(_("This work is not published."))
    with transaction.atomic():
        publication.is_public = False
        publication.unpublished_at, publication.unpublished_by = timezone.now(), user
        publication.save(update_fields=["is_public", "unpublished_at", "unpublished_by"])
        apply_transition(publication.review, Review.Status.APPROVED, user,
                         reason.strip() or "unpublished", via_publishing=True)
    transaction.on_commit(bump_gallery_version)
    return publication

