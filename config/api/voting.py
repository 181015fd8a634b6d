"""Contests and their tallies. Thin: voting.services does the work."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status
from ninja.errors import HttpError

from accounts.roles import CURATOR, TECHNICIAN
from config.api.schemas import ContestIn, ContestOut, Error, Id
from config.api.security import signed_in
from restoration.models import Clip, Variant
from restoration.rendering.distinctness import indistinct_warnings
from voting import services
from voting.integrity import VotingError
from voting.models import Contest

router = Router(tags=["voting"])
STAFF = signed_in(TECHNICIAN, CURATOR)
TECH = signed_in(TECHNICIAN)


def contest_json(contest: Contest) -> dict[str, Any]:
    return {"id": contest.pk, "clip": contest.clip_id, "title": contest.title,
            "status": contest.status, "slug": contest.slug, "vote_url": contest.get_absolute_url(),
            "entries": [{"label": e.label, "variant": e.variant_id, "decoy": e.is_decoy}
                        for e in contest.entries.all()],
            "winner": contest.winner.label if contest.winner_id else None,
            "decision_reason": contest.decision_reason,
            "adopted_preset": contest.adopted_preset_id, "created_at": contest.created_at}


def _refused(exc: VotingError) -> HttpError:
    return HttpError(exc.status if 400 <= exc.status < 500 else 400, str(exc))


@router.get("/contests/", response=list[ContestOut], auth=STAFF, url_name="contests")
def contest_list(request: HttpRequest):
    rows = Contest.objects.prefetch_related("entries").select_related("winner").order_by("-created_at")
    return [contest_json(c) for c in rows[:200]]


@router.post("/contests/", response={201: ContestOut, 400: Error}, auth=TECH, url_name="contests")
def contest_open(request: HttpRequest, body: ContestIn):
    """Open a contest over 2..N rendered variants of one clip; fans vote at `vote_url`."""
    clip = get_object_or_404(Clip, pk=body.clip)
    chosen = list(Variant.objects.filter(pk__in=body.variants))
    if len(chosen) != len(set(body.variants)):
        raise HttpError(400, "some of these variants do not exist")
    extra = {k: v for k, v in (("min_watch_seconds", body.min_watch_seconds),
                                ("min_raters", body.min_raters), ("auto_adopt", body.auto_adopt))
             if v is not None}
    try:
        contest = services.open_contest(clip=clip, variants=chosen, user=request.auth,
                                        title=body.title, **extra)
    except VotingError as exc:
        raise _refused(exc) from None
    return Status(201, {**contest_json(contest), "warnings": indistinct_warnings(chosen)})


@router.get("/contests/{contest_id}/", response=ContestOut, auth=STAFF, url_name="contest")
def contest_detail(request: HttpRequest, contest_id: Id):
    return contest_json(get_object_or_404(Contest, pk=contest_id))


@router.get("/contests/{contest_id}/tally/", response=dict[str, Any], auth=STAFF, url_name="contest-tally")
def contest_tally(request: HttpRequest, contest_id: Id):
    """Ratings with confidence intervals, the decision state and the votes still needed."""
    return services.contest_ratings(get_object_or_404(Contest, pk=contest_id))


@router.post("/contests/{contest_id}/{action}/", response={200: ContestOut, 400: Error},
             auth=TECH, url_name="contest-action")
def contest_action(request: HttpRequest, contest_id: Id, action: Literal["close", "reopen", "adopt"]):
    """`close`, `reopen`, or `adopt` (the decided winner becomes the film's preset and its
    full-film render starts)."""
    contest = get_object_or_404(Contest, pk=contest_id)
    actions = {"close": lambda c: services.close_contest(c, user=request.auth),
               "reopen": services.reopen_contest,
               "adopt": lambda c: services.adopt_winner(c, user=request.auth)}
    try:
        contest = actions[action](contest)
    except VotingError as exc:
        raise _refused(exc) from None
    return Status(200, contest_json(Contest.objects.get(pk=contest.pk)))
