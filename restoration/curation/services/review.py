"""Curator review of a render: the status workflow, frame-anchored notes, and the
before/after excerpt the comparison player shows.

    pending review ──► changes requested ──► pending review (technician resubmits)
          │                   │
          └──────► approved ◄─┘ ──► published (restoration.curation.services.publishing)
                      ▲                  │
                      └──── unpublish ───┘

Who may do what is decided here, not in the views, so the API and the pages cannot
disagree: curators request changes, approve, publish and unpublish; a technician
may only send a render back for review after changes were requested.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.roles import CURATOR, TECHNICIAN
from gpu_worker.engine.io import MediaError
from gpu_worker.engine.media import cut_excerpt
from restoration.curation.models import Review, ReviewEvent, ReviewNote
from restoration.models import Clip, RenderJob, Variant
from restoration.storage import local_path, save_file

Status = Review.Status

#: Longest before/after excerpt cut from a full-film render (seconds): enough to judge
#: a look, short enough to cut while the curator waits.
FILM_EXCERPT_SECONDS = 12.0


class ReviewError(ValueError):
    """A review action that is not allowed; the message says why, for the user."""


@dataclass(frozen=True)
class Transition:
    roles: tuple[str, ...]
    verb: str


#: The allowed moves. Publishing and unpublishing go through the publishing service
#: (they need the publication's data), so they are listed but marked as such.
TRANSITIONS: dict[tuple[str, str], Transition] = {
    (Status.PENDING, Status.CHANGES): Transition((CURATOR,), gettext_lazy("request changes")),
    (Status.PENDING, Status.APPROVED): Transition((CURATOR,), gettext_lazy("approve")),
    (Status.CHANGES, Status.PENDING): Transition((TECHNICIAN, CURATOR), gettext_lazy("resubmit for review")),
    (Status.CHANGES, Status.APPROVED): Transition((CURATOR,), gettext_lazy("approve")),
    (Status.APPROVED, Status.CHANGES): Transition((CURATOR,), gettext_lazy("request changes")),
    (Status.APPROVED, Status.PUBLISHED): Transition((CURATOR,), gettext_lazy("publish")),
    (Status.PUBLISHED, Status.APPROVED): Transition((CURATOR,), gettext_lazy("unpublish")),
}
VIA_PUBLISHING = {(Status.APPROVED, Status.PUBLISHED), (Status.PUBLISHED, Status.APPROVED)}


def _label(status: str) -> str:
    return str(Status(status).label)


def _has_any_role(user: Any, roles: tuple[str, ...]) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False)
                and any(user.has_role(role) for role in roles))


def allowed_transitions(review: Review, user: Any = None) -> list[tuple[str, str]]:
    """(to_status, verb) the user may take from the review's status now (all roles when
    user is None). Publishing moves are left out: they have their own forms."""
    out = []
    for (src, dst), move in TRANSITIONS.items():
        if src != review.status or (src, dst) in VIA_PUBLISHING:
            continue
        if user is None or _has_any_role(user, move.roles):
            out.append((dst, move.verb))
    return out


def check_transition(review: Review, to_status: str, user: Any) -> Transition:
    """The Transition for moving ``review`` to ``to_status``, or ReviewError saying why not."""
    if to_status not in Status.values:
        raise ReviewError(_("“%(status)s” is not a review status.") % {"status": to_status})
    move = TRANSITIONS.get((review.status, to_status))
    if move is None:
        options = [_label(dst) for (src, dst) in TRANSITIONS if src == review.status]
        raise ReviewError(_("A review that is %(now)s cannot become %(to)s; from here it can become: %(options)s.")
                          % {"now": _label(review.status), "to": _label(to_status), "options": ", ".join(options)})
    if not _has_any_role(user, move.roles):
        raise ReviewError(_("Only a %(roles)s may %(action)s.")
                          % {"roles": _(" or ").join(move.roles), "action": move.verb})
    return move


def _record(review: Review, from_status: str, to_status: str, user: Any, comment: str) -> ReviewEvent:
    return ReviewEvent.objects.create(review=review, from_status=from_status, to_status=to_status,
                                      by=user if getattr(user, "pk", None) else None, comment=comment)


def apply_transition(review: Review, to_status: str, user: Any, comment: str = "", *,
                     via_publishing: bool = False) -> Review:
    """Move the review to ``to_status`` (locked row, so two curators cannot both act on a
    stale status) and record the event. Raises ReviewError for a move not allowed."""
    with transaction.atomic():
        locked = Review.objects.select_for_update().get(pk=review.pk)
        check_transition(locked, to_status, user)
        if (locked.status, to_status) in VIA_PUBLISHING and not via_publishing:
            raise ReviewError(_("Use the publish and unpublish actions: they need the "
                              "publication's title, credits and notes."))
        previous = locked.status
        locked.status = to_status
        locked.save(update_fields=["status", "updated_at"])
        _record(locked, previous, to_status, user, comment)
    review.status, review.updated_at = locked.status, locked.updated_at
    return review


# --- opening a review ------------------------------------------------------------------------

def reviewable(target: RenderJob | Variant) -> None:
    """Raise ReviewError unless ``target`` is a finished render with an output."""
    if isinstance(target, RenderJob):
        if target.kind != RenderJob.Kind.FILM:
            raise ReviewError(_("Review a variant render through its variant."))
        if target.status != RenderJob.Status.DONE or not target.output:
            raise ReviewError(_("The full-film render %(id)s has not finished (status %(status)s).")
                              % {"id": target.pk, "status": target.get_status_display()})
    elif isinstance(target, Variant):
        if target.status != Variant.Status.DONE or not target.output:
            raise ReviewError(_("Variant %(id)s has not finished rendering (status %(status)s).")
                              % {"id": target.pk, "status": target.get_status_display()})
    else:
        raise ReviewError(_("Only a full-film render or a variant can be reviewed."))


def open_review(target: RenderJob | Variant, user: Any = None) -> Review:
    """The review of ``target``, created (pending review) on first opening."""
    reviewable(target)
    field = "render_job" if isinstance(target, RenderJob) else "variant"
    existing = Review.objects.filter(**{field: target}).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            review = Review.objects.create(**{field: target},
                                           opened_by=user if getattr(user, "pk", None) else None)
            _record(review, "", Status.PENDING, user, "opened for review")
    except IntegrityError:  # opened at the same moment elsewhere
        review = Review.objects.get(**{field: target})
    return review


# --- notes -------------------------------------------------------------------------------------

def add_note(review: Review, user: Any, *, frame: int, x: float, y: float, text: str) -> ReviewNote:
    """A curator's note on one frame at one point of the picture (fractions 0..1)."""
    if not _has_any_role(user, (CURATOR,)):
        raise ReviewError(_("Only a curator may add review notes."))
    if review.status == Status.PUBLISHED:
        raise ReviewError(_("This work is published; unpublish it before adding notes."))
    text = (text or "").strip()
    if not text:
        raise ReviewError(_("A note needs some text."))
    try:
        frame, x, y = int(frame), float(x), float(y)
    except (TypeError, ValueError):
        raise ReviewError(_("frame must be a whole number and x, y numbers.")) from None
    if frame < 0:
        raise ReviewError(_("frame must not be negative."))
    limit = excerpt_frames(review)
    if limit is not None and frame >= limit:
        raise ReviewError(_("frame %(frame)d is past the end of the excerpt (%(limit)d frames).")
                          % {"frame": frame, "limit": limit})
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ReviewError(_("x and y are fractions of the picture's width and height (0 to 1)."))
    return ReviewNote.objects.create(review=review, author=user, frame=frame, x=x, y=y, text=text[:4000])


def set_note_resolved(note: ReviewNote, user: Any, resolved: bool = True) -> ReviewNote:
    """Technicians mark a note done when they fixed it; curators may too."""
    if not _has_any_role(user, (TECHNICIAN, CURATOR)):
        raise ReviewError(_("Only a technician or curator may resolve notes."))
    note.resolved = resolved
    note.save(update_fields=["resolved"])
    return note


# --- before/after excerpt ------------------------------------------------------------------------

def excerpt_frames(review: Review) -> int | None:
    if review.excerpt_start is None or review.excerpt_end is None:
        return None
    return review.excerpt_end - review.excerpt_start


def film_offsets(job: RenderJob) -> list[tuple[Clip, int]]:
    """(clip, first frame of the clip in the film render) in film order, the order the
    full-film render joins clips in (restoration.rendering.film.film_clips)."""
    from restoration.rendering.film import film_clips

    spec = job.preset_version.spec if job.preset_version_id else None
    out, offset = [], 0
    for clip in film_clips(job.film):
        out.append((clip, offset))
        offset += _rendered_frames(spec, clip, 0, clip.frame_count or 0)
    return out


def _rendered_frames(spec: dict[str, Any] | None, clip: Clip, start: int, end: int) -> int:
    """Frames a render of clip frames [start, end) has: more than end - start when the
    spec raises the frame rate (frame interpolation)."""
    from restoration.rendering.jobs import RenderingError, expected_frames

    if spec is None or end <= start:
        return max(0, end - start)
    try:
        return expected_frames(spec, clip, start, end)
    except RenderingError:
        return end - start


def _rendered_fps(spec: dict[str, Any] | None, clip: Clip) -> float:
    """Frame rate of a render of `clip` with `spec`."""
    fps = clip.fps or 24.0
    if spec is None:
        return fps
    from gpu_worker.engine.schema import SpecError
    from gpu_worker.engine.spec import output_frame_rate
    from restoration.rendering.jobs import clip_rate

    try:
        rate = clip_rate(clip)
        return fps * float(output_frame_rate(spec, rate) / rate)
    except SpecError:
        return fps



def excerpt_plan(review: Review, clip: Clip | None = None) -> tuple[Clip, int, int, str, int]:
    """(clip, start, end, restored file name, offset of the clip in the restored file).

    A variant already is an excerpt: its frames [start_frame, end_frame) of the clip. A
    full-film render is cut at the chosen clip (the first by default), at most
    FILM_EXCERPT_SECONDS long.
    """
    if review.variant_id:
        variant = review.variant
        end = variant.end_frame if variant.end_frame is not None else variant.clip.frame_count
        # The review player shows the browser copy of a master no browser plays.
        return variant.clip, variant.start_frame, end, variant.playable.name, variant.start_frame
    job = review.render_job
    offsets = film_offsets(job)
    if not offsets:
        raise ReviewError(_("The film has no clips."))
    chosen = next(((c, o) for c, o in offsets if clip is not None and c.pk == clip.pk), offsets[0])
    film_clip, offset = chosen
    fps = film_clip.fps or 24.0
    length = min(film_clip.frame_count or 0, max(1, round(FILM_EXCERPT_SECONDS * fps)))
    return film_clip, 0, length, job.output.name, offset


def prepare_excerpts(review: Review, clip: Clip | None = None, *, force: bool = False) -> Review:
    """Cut the source and the restoration to the same frames, once, and store them on the
    review (a failure is stored too, and shown on the page instead of the player)."""
    if review.before_excerpt and review.after_excerpt and not force and (
            clip is None or clip.pk == review.excerpt_clip_id):
        return review
    film_clip, start, end, restored_name, offset = excerpt_plan(review, clip)
    frames = end - start
    fps = film_clip.fps or 24.0
    # A random key: a review's excerpts show unpublished work, so their names must not be
    # guessable from the review's number.
    base = f"reviews/review-{review.pk}-{secrets.token_urlsafe(12)}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            before, after = Path(tmp) / "before.mp4", Path(tmp) / "after.mp4"
            with local_path(film_clip.source.name) as source:
                cut_excerpt(source, before, fps=fps, start=start, frames=frames, audio=film_clip.has_audio)
            with local_path(restored_name) as restored:
                # A variant's output starts at its first frame; a film render has the
                # clip at its offset within the film. A spec that raises the frame rate
                # has more frames for the same time.
                spec = (review.variant.spec if review.variant_id
                        else review.render_job.preset_version.spec
                        if review.render_job.preset_version_id else None)
                restored_start = 0 if review.variant_id else offset + _rendered_frames(
                    spec, film_clip, 0, start)
                cut_excerpt(restored, after, fps=_rendered_fps(spec, film_clip),
                            start=restored_start,
                            frames=_rendered_frames(spec, film_clip, start, end),
                            audio=film_clip.has_audio)
            review.before_excerpt.name = save_file(before, f"{base}/before-{film_clip.pk}.mp4")
            review.after_excerpt.name = save_file(after, f"{base}/after-{film_clip.pk}.mp4")
        review.excerpt_error = ""
    except (ReviewError, MediaError, OSError) as exc:
        review.excerpt_error = str(exc)
    review.excerpt_clip, review.excerpt_start, review.excerpt_end = film_clip, start, end
    review.save(update_fields=["before_excerpt", "after_excerpt", "excerpt_error", "excerpt_clip",
                               "excerpt_start", "excerpt_end", "updated_at"])
    return review
