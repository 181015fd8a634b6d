"""Ratings of a contest: ballots -> reliability weights -> voting.stats.ranking, cached.

The ranking (a model fit plus a rater bootstrap) costs tens of milliseconds, so it is
cached per contest under a *version* (ballot count and newest ballot id). Requests that
see a stale version recompute, but only one at a time (single flight through
``cache.add`` on a lock key); whoever holds the lock re-checks the version after
releasing it, so a ballot committed while a recompute ran is never left out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max
from django.utils import timezone, translation

from frontend.live.outbox import publish, publish_from_thread
from voting import conf
from voting.models import Ballot, Contest, Exclusion, Rater, Tier
from voting.stats import anomalies
from voting.stats.ranking import Comparison, DecisionRule, RankingConfig, RankingResult, rank
from voting.stats.reliability import BallotRecord, RaterAssessment, assess_raters

log = logging.getLogger(__name__)

LOCK_SECONDS = 60


def _key(contest_id: int) -> str:
    return f"voting:ratings:{contest_id}"


def _lock_key(contest_id: int) -> str:
    return f"voting:ratings-lock:{contest_id}"


def _epoch_key(contest_id: int) -> str:
    return f"voting:ratings-epoch:{contest_id}"


def current_version(contest_id: int) -> str:
    """Changes whenever a ballot is added (or a technician excludes a rater)."""
    agg = Ballot.objects.filter(contest_id=contest_id).aggregate(n=Count("id"), last=Max("id"))
    epoch = cache.get(_epoch_key(contest_id), 0)
    return f"{agg['n']}:{agg['last'] or 0}:{epoch}"


def invalidate(contest_id: int) -> None:
    """Force the next read to recompute (used when rater exclusions change)."""
    cache.add(_epoch_key(contest_id), 0, timeout=None)
    cache.incr(_epoch_key(contest_id))


def decision_rule(contest: Contest) -> DecisionRule:
    return DecisionRule(method=contest.decision_method, p_best_threshold=contest.p_best_threshold,
                        min_raters=contest.min_raters)


def _config(contest: Contest) -> RankingConfig:
    # Seeded by the contest, so the same ballots always give the same intervals.
    return RankingConfig(n_bootstrap=conf.ratings_bootstrap(), confidence=contest.confidence,
                         seed=contest.pk)


def assess_contest(contest: Contest) -> tuple[list[tuple], dict[str, RaterAssessment], set[int]]:
    """Score every rater of the contest from their golden answers and behaviour.

    Returns the raw ballot rows, the assessments keyed by rater id (as text) and the ids
    of raters a technician excluded by hand.
    """
    labels = dict(contest.entries.values_list("id", "label"))
    rows = list(Ballot.objects.filter(contest=contest).order_by("id").values_list(
        "id", "rater_id", "left_id", "right_id", "choice", "watched_left_seconds", "watched_right_seconds",
        "is_golden", "golden_expected"))
    records = [
        BallotRecord(rater=str(rater), left=labels[left], right=labels[right], outcome=choice,
                     watch_seconds=min(wl, wr), expected=expected if golden else None)
        for _id, rater, left, right, choice, wl, wr, golden, expected in rows
    ]
    assessments = assess_raters(records)
    rater_ids = {row[1] for row in rows}
    staff_excluded = set(Rater.objects.filter(pk__in=rater_ids, excluded_by_staff=True)
                         .values_list("pk", flat=True))
    return rows, assessments, staff_excluded


def rater_weight(assessment: RaterAssessment | None, staff_excluded: bool) -> float:
    if staff_excluded or (assessment is not None and assessment.excluded):
        return 0.0
    return 1.0 if assessment is None else assessment.weight


def _seconds(value: Any) -> float:
    return value.timestamp() if value is not None else 0.0


def detect_anomalies(contest: Contest) -> list[anomalies.Finding]:
    """Run voting.stats.anomalies over every ballot of the contest (goldens included)."""
    rows = Ballot.objects.filter(contest=contest).values_list(
        "rater_id", "tier", "net_hash", "ua_hash", "rater__created_at", "served_at", "cast_at", "choice",
        "is_golden", "golden_expected")
    infos = [anomalies.BallotInfo(rater=str(rater), tier=tier, network=net, user_agent=ua,
                                  rater_created=_seconds(created), served_at=_seconds(served),
                                  cast_at=_seconds(cast), outcome=choice, expected=expected if golden else None)
             for rater, tier, net, ua, created, served, cast, choice, golden, expected in rows]
    return anomalies.detect(infos, anomalies.AnomalyPolicy(network_rules=contest.min_networks > 1))


def store_exclusions(contest: Contest, findings: list[anomalies.Finding]) -> set[int]:
    """Make the contest's Exclusion rows match the findings (the rules see every ballot
    each time, so a finding can also lapse, e.g. a network's share falling as honest
    fans arrive). Returns the ids of the excluded raters."""
    wanted = {(int(r), f.reason): f for f in findings for r in f.raters}
    existing = {(e.rater_id, e.reason): e for e in Exclusion.objects.filter(contest=contest)}
    stale = [e.pk for key, e in existing.items() if key not in wanted]
    if stale:
        Exclusion.objects.filter(pk__in=stale).delete()
    new = [Exclusion(contest=contest, rater_id=rater, reason=reason, cluster=f.cluster[:128], detail=f.detail)
           for (rater, reason), f in wanted.items() if (rater, reason) not in existing]
    if new:
        Exclusion.objects.bulk_create(new, ignore_conflicts=True)
    for key, e in existing.items():
        f = wanted.get(key)
        if f is not None and (e.detail != f.detail or e.cluster != f.cluster[:128]):
            Exclusion.objects.filter(pk=e.pk).update(detail=f.detail, cluster=f.cluster[:128])
    return {rater for rater, _reason in wanted}


def excluded_rater_ids(contest: Contest) -> set[int]:
    """Raters the anomaly checks shadow-excluded from this contest (as last computed)."""
    return set(Exclusion.objects.filter(contest=contest).values_list("rater_id", flat=True))


def ballot_weight(contest: Contest, *, tier: str, reliability_weight: float, excluded: bool) -> float:
    """A ballot's weight in the tally: its tier's weight (a contest setting) times the
    rater's reliability weight; 0 for a shadow-excluded rater."""
    if excluded:
        return 0.0
    return contest.tier_weight(tier) * max(reliability_weight, 0.0)


def tier_counts(contest: Contest) -> dict[str, dict[str, Any]]:
    """Ballots and raters per trust tier, every ballot counted (excluded ones too: the
    public page must not reveal who weighs nothing). The labels are English whatever the
    request's language: the payload is cached and sent to every viewer, and pages
    translate them when they show them."""
    rows = (Ballot.objects.filter(contest=contest, is_golden=False).values("tier")
            .annotate(ballots=Count("id"), raters=Count("rater", distinct=True)))
    with translation.override("en"):
        out = {t.value: {"label": str(t.label), "ballots": 0, "raters": 0, "weight": contest.tier_weight(t.value)}
               for t in Tier}
    for row in rows:
        if row["tier"] in out:
            out[row["tier"]].update(ballots=row["ballots"], raters=row["raters"])
    return out


def compute(contest: Contest) -> tuple[RankingResult, dict[str, Any]]:
    """Fit the contest's ratings now (no cache) and store the raters' new weights."""
    version = current_version(contest.pk)
    entries = list(contest.entries.all())
    labels = {e.pk: e.label for e in entries}
    ranked = sorted(e.label for e in entries if not e.is_decoy)
    rows, assessments, staff_excluded = assess_contest(contest)
    excluded = store_exclusions(contest, detect_anomalies(contest))
    tiers = dict(Ballot.objects.filter(contest=contest).values_list("id", "tier"))
    comparisons = []
    for ballot_id, rater, left, right, choice, _wl, _wr, golden, _expected in rows:
        if golden:
            continue  # goldens score raters; they never reach the ranking
        weight = ballot_weight(contest, tier=tiers.get(ballot_id, Tier.ANONYMOUS),
                               reliability_weight=rater_weight(assessments.get(str(rater)), rater in staff_excluded),
                               excluded=rater in excluded)
        comparisons.append(Comparison(labels[left], labels[right], choice, str(rater), weight))
    result = rank(comparisons, items=ranked, config=_config(contest), rule=decision_rule(contest))
    _store_assessments(assessments, staff_excluded)
    raters = {row[1] for row in rows}
    payload = tally_payload(contest, result, version=version, n_ballots=len(rows),
                            n_excluded=sum(1 for r in raters if r in excluded
                                           or rater_weight(assessments.get(str(r)), r in staff_excluded) == 0))
    # Every rater and ballot is counted in public, excluded or not (never told).
    payload["n_raters"] = len(raters)
    payload["tiers"] = tier_counts(contest)
    return result, payload


def _store_assessments(assessments: dict[str, RaterAssessment], staff_excluded: set[int]) -> None:
    """Write the new reliability figures, but only for raters whose figures changed:
    between two recomputes most raters' assessments stay the same, and one UPDATE per
    changed rater is far cheaper than a bulk CASE over every rater of the contest."""
    if not assessments:
        return
    now = timezone.now()
    fields = ["reliability", "weight", "golden_correct", "golden_total", "flags", "shadow_excluded"]
    changed = []
    for rater in Rater.objects.filter(pk__in=[int(k) for k in assessments]).only("pk", *fields):
        a = assessments[str(rater.pk)]
        new = {"reliability": round(a.reliability, 6), "weight": round(rater_weight(a, rater.pk in staff_excluded), 6),
               "golden_correct": a.golden_correct, "golden_total": a.golden_total, "flags": list(a.flags),
               "shadow_excluded": a.excluded}
        if any(getattr(rater, k) != v for k, v in new.items()):
            changed.append((rater.pk, new))
    for pk, new in changed:
        Rater.objects.filter(pk=pk).update(assessed_at=now, **new)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def tally_payload(contest: Contest, result: RankingResult, *, version: str, n_ballots: int,
                  n_excluded: int) -> dict[str, Any]:
    """The public tally: blind labels only, JSON-ready (sent over websockets as is).

    ``n_excluded`` is for the technician dashboard; the public page never shows it.
    """
    d = result.decision
    return {
        "type": "contest.tally",
        "contest": contest.pk,
        "version": version,
        "status": contest.status,
        "n_ballots": n_ballots,
        "n_comparisons": result.n_comparisons,
        "n_raters": result.n_raters,
        "n_excluded": n_excluded,
        "confidence": result.confidence,
        "items": [
            {"label": r.item, "score": _round(r.score), "lower": _round(r.lower), "upper": _round(r.upper),
             "p_best": _round(r.p_best), "wins": r.wins, "losses": r.losses, "ties": r.ties}
            for r in result.items
        ],
        "position_bias": {"estimate": _round(result.position_bias), "lower": _round(result.position_bias_lower),
                          "upper": _round(result.position_bias_upper)},
        "tie_parameter": {"estimate": _round(result.tie_parameter), "lower": _round(result.tie_parameter_lower),
                          "upper": _round(result.tie_parameter_upper)},
        "decision": {"decided": d.decided, "winner": d.winner, "method": d.method, "reason": d.reason,
                     "more_votes": d.more_votes},
        "notes": list(result.notes),
        "computed_at": timezone.now().isoformat(),
    }


def _with_contest_state(contest: Contest, payload: dict[str, Any]) -> dict[str, Any]:
    """Overlay what the database says about the contest (status, declared winner): the
    declared result stands even if later arithmetic would read slightly differently."""
    out = dict(payload)
    out["status"] = contest.status
    if contest.status == Contest.Status.DECIDED and contest.winner_id:
        out["decision"] = {**payload["decision"], "decided": True, "winner": contest.winner.label,
                           "reason": contest.decision_reason, "more_votes": 0}
    out["decided_at"] = contest.decided_at.isoformat() if contest.decided_at else None
    return out


#: Called with each fresh result (voting.services.apply_decision_rule); may return what
#: the tally's ``decision`` shows instead of the rule's own (a decision held back).
OnResult = Callable[[Contest, RankingResult], "dict[str, Any] | None"]


def _cooldown_key(contest_id: int) -> str:
    return f"voting:ratings-cooldown:{contest_id}"


def refresh_soon(contest_id: int, on_result: OnResult | None = None) -> dict[str, Any] | None:
    """After a ballot: recompute now unless one ran less than the cool-down ago; then
    make sure one runs when the cool-down ends, so the last ballot of a burst still
    reaches the live tally. Returns the new tally when it computed one."""
    cooldown = conf.ratings_cooldown()
    if cooldown > 0:
        # Adaptive: never spend more than about a tenth of a core on recomputes.
        cooldown = max(cooldown, 10 * cache.get(f"voting:ratings-cost:{contest_id}", 0.0))
    if cooldown <= 0 or cache.add(_cooldown_key(contest_id), 1, timeout=cooldown):
        return refresh(contest_id, on_result)
    if cache.add(f"voting:ratings-trailing:{contest_id}", 1, timeout=cooldown + 5):
        def trailing() -> None:
            from django.db import connections

            try:
                cache.delete(f"voting:ratings-trailing:{contest_id}")
                refresh(contest_id, on_result, publisher=publish_from_thread)
            except Exception:
                log.exception("trailing ratings refresh of contest %s failed", contest_id)
            finally:
                connections.close_all()  # this thread's own connection

        timer = threading.Timer(cooldown, trailing)
        timer.daemon = True
        timer.start()
    return None



def refresh(contest_id: int, on_result: OnResult | None = None,
            publisher: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any] | None:
    """Recompute if stale, single-flight; publish the new tally. Returns the payload it
    computed, or None when another process holds the lock (it will include our ballot:
    see the module docstring)."""
    latest = None
    for _ in range(3):  # bounded: under a flood, later ballots are picked up by later calls
        if not cache.add(_lock_key(contest_id), 1, timeout=LOCK_SECONDS):
            return latest
        try:
            contest = Contest.objects.select_related("winner").get(pk=contest_id)
            started = time.perf_counter()
            result, payload = compute(contest)
            if on_result is not None:
                held = on_result(contest, result)
                if held:
                    payload["decision"] = {**payload["decision"], **held}
                contest.refresh_from_db()
            payload = _with_contest_state(contest, payload)
            cost = time.perf_counter() - started
            payload["compute_ms"] = round(cost * 1000, 1)
            cache.set(f"voting:ratings-cost:{contest_id}", cost, timeout=3600)
            cache.set(_key(contest_id), payload, timeout=24 * 3600)
        finally:
            cache.delete(_lock_key(contest_id))
        (publisher or publish)(contest.topic, payload)
        latest = payload
        if current_version(contest_id) == payload["version"]:
            return latest
    return latest


def get(contest: Contest, on_result: OnResult | None = None) -> dict[str, Any]:
    """The contest's tally, fresh unless a recompute is under way elsewhere."""
    cached = cache.get(_key(contest.pk))
    if cached is not None and cached.get("version") == current_version(contest.pk):
        return _with_contest_state(contest, cached)
    fresh = refresh(contest.pk, on_result)
    if fresh is not None:
        return fresh
    if cached is not None:
        return _with_contest_state(contest, cached)
    _result, payload = compute(contest)  # nothing cached and someone else computing
    return _with_contest_state(contest, payload)


def cached(contest_id: int) -> dict[str, Any] | None:
    """The last computed tally, whatever its version (never computes)."""
    return cache.get(_key(contest_id))
