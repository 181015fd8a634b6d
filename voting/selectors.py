"""Read-side queries of the voting app and its live topic (registered in VotingConfig.ready).

The topic ``contest-<id>`` is public: anyone holding the link may watch the tally,
which carries blind labels only (no preset names, no rater data).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from restoration.models import Clip, Variant
from voting.models import Ballot, Contest, ContestEntry


def contest_snapshot(contest_id: int) -> dict[str, Any] | None:
    from voting.services import contest_ratings

    contest = Contest.objects.filter(pk=contest_id).first()
    return contest_ratings(contest) if contest else None



def anyone_with_the_link_may_watch(_user: Any, contest_id: int) -> bool:
    return Contest.objects.filter(pk=contest_id).exists()


def public_tally(payload: dict[str, Any]) -> dict[str, Any]:
    """The tally without what only technicians see."""
    return {k: v for k, v in payload.items() if k not in {"n_excluded", "compute_ms"}}


def contests_for_dashboard() -> QuerySet[Contest]:
    return (Contest.objects.select_related("clip__film", "winner")
            .annotate(n_ballots=Count("ballots", distinct=True)).order_by("-created_at"))


def clips_ready_for_contest() -> list[tuple[Clip, list[Variant]]]:
    """Clips with at least two finished variant renders, grouped by excerpt."""
    done = (Variant.objects.filter(status=Variant.Status.DONE).exclude(output="")
            .select_related("clip__film", "preset_version__preset").order_by("clip_id", "created_at"))
    by_clip: dict[int, tuple[Clip, list[Variant]]] = {}
    for v in done:
        by_clip.setdefault(v.clip_id, (v.clip, []))[1].append(v)
    return [pair for pair in by_clip.values() if len(pair[1]) >= 2]


def entry_legend(contest: Contest) -> list[ContestEntry]:
    """Label -> variant (and preset) for the technician's eyes only."""
    return list(contest.entries.select_related("variant__preset_version__preset", "decoy_of"))


def votes_over_time(contest: Contest) -> list[tuple[Any, bool]]:
    return list(Ballot.objects.filter(contest=contest).order_by("cast_at").values_list("cast_at", "is_golden"))


def side_counts(contest: Contest) -> dict[str, int]:
    rows = (Ballot.objects.filter(contest=contest, is_golden=False).values("choice")
            .annotate(n=Count("id")))
    counts = {"left": 0, "right": 0, "same": 0}
    counts.update({r["choice"]: r["n"] for r in rows})
    return counts
