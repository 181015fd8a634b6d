"""Anomaly detection over a contest's ballots: who to shadow-exclude, and why.

Plain functions over plain records (no Django), so the tally (voting.tally) and the
red-team benchmark (tests/benchmarks/bench_redteam.py) run the very same rules. Each
rule returns :class:`Finding` s: a reason, the cluster that tripped it (a network, a
user agent, a rater), the raters in it and the figures, kept for the audit view. A
rater named by any finding is shadow-excluded from the contest: their ballots are
accepted as usual and weigh 0; nothing they receive changes.

Rules (thresholds in :class:`AnomalyPolicy`):

* ``identity_burst``: at least ``burst_identities`` new anonymous identities from one
  network (/24 or /48) within ``burst_seconds`` (a script minting fresh cookies).
* ``network_concentration``: one network holds at least ``network_share`` of the
  contest's ballots, with at least ``network_min_raters`` anonymous raters and
  ``network_min_ballots`` ballots, while at least ``network_min_others`` other networks
  voted too (one server casting a large part of the vote; when every ballot comes from
  one network there is no one else to protect, and the robust decision refuses to decide).
* ``user_agent_cluster``: one user agent (or none at all) shared by at least
  ``ua_min_raters`` anonymous raters who make up at least ``ua_share`` of the anonymous
  raters (a script's fixed header; real audiences spread over several browser builds,
  though Chrome's reduced user-agent string makes one build's share large on phones,
  hence a high share).
* ``machine_timing``: a rater whose decision times (pair served -> vote) or intervals
  between ballots have a coefficient of variation under ``timing_cv`` over at least
  ``timing_min`` decision times or ``timing_min_intervals`` intervals (people are irregular: three decision times of a person fall
  within 3 % of their mean about once in a thousand; a loop with a sleep always does).
* ``ignores_pictures``: at least ``pattern_share`` of at least ``pattern_min`` answers
  are the same one (always left, always right, always "same"), or every one of at
  least ``golden_min_fails`` golden pairs answered wrong.

The first three concern anonymous raters only: screening-code holders and signed-in
accounts were vouched for by a person or a login, and a screening's audience shares one
venue network and arrives in a burst by design. The last two concern every tier.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

ANONYMOUS = "anonymous"

IDENTITY_BURST = "identity_burst"
NETWORK_CONCENTRATION = "network_concentration"
USER_AGENT_CLUSTER = "user_agent_cluster"
MACHINE_TIMING = "machine_timing"
IGNORES_PICTURES = "ignores_pictures"
REASONS = (
    IDENTITY_BURST,
    NETWORK_CONCENTRATION,
    USER_AGENT_CLUSTER,
    MACHINE_TIMING,
    IGNORES_PICTURES,
)


@dataclass(frozen=True)
class BallotInfo:
    """One ballot with its context. Times are seconds on any common clock;
    ``expected`` is set for golden ballots only; ``network`` and ``user_agent`` may be
    keyed hashes (only equality matters)."""

    rater: str
    tier: str
    network: str
    user_agent: str
    rater_created: float
    served_at: float
    cast_at: float
    outcome: str
    expected: str | None = None


@dataclass(frozen=True)
class AnomalyPolicy:
    burst_seconds: float = 300.0
    burst_identities: int = 10
    network_share: float = 0.25
    network_min_raters: int = 5
    network_min_ballots: int = 20
    network_min_others: int = 2
    #: False where one network is expected (the technician set a contest's least number
    #: of networks to 1: a screening behind a venue's NAT): no burst or network rule then.
    network_rules: bool = True
    ua_share: float = 0.5
    ua_min_raters: int = 10
    timing_cv: float = 0.03
    timing_min: int = 3
    timing_min_intervals: int = 5
    pattern_share: float = 0.9
    pattern_min: int = 10
    golden_min_fails: int = 3


@dataclass(frozen=True)
class Finding:
    reason: str
    cluster: str
    raters: frozenset[str]
    detail: str


def _anonymous(ballots: Sequence[BallotInfo]) -> list[BallotInfo]:
    return [b for b in ballots if b.tier == ANONYMOUS]


def identity_bursts(
    ballots: Sequence[BallotInfo], policy: AnomalyPolicy = AnomalyPolicy()
) -> list[Finding]:
    if not policy.network_rules:
        return []
    created: dict[str, dict[str, float]] = defaultdict(dict)
    for b in _anonymous(ballots):
        created[b.network][b.rater] = b.rater_created
    out = []
    for network, raters in created.items():
        if len(raters) < policy.burst_identities:
            continue
        order = sorted(raters.items(), key=lambda kv: kv[1])
        times = np.array([t for _r, t in order])
        hit: set[str] = set()
        start = 0
        for end in range(len(order)):
            while times[end] - times[start] > policy.burst_seconds:
                start += 1
            if end - start + 1 >= policy.burst_identities:
                hit.update(r for r, _t in order[start : end + 1])
        if hit:
            out.append(
                Finding(
                    IDENTITY_BURST,
                    network,
                    frozenset(hit),
                    f"{len(hit)} new identities from one network, at least "
                    f"{policy.burst_identities} within {policy.burst_seconds:g} s",
                )
            )
    return out


def network_concentration(
    ballots: Sequence[BallotInfo], policy: AnomalyPolicy = AnomalyPolicy()
) -> list[Finding]:
    total = len(ballots)
    per_net: Counter[str] = Counter(b.network for b in ballots)
    if not policy.network_rules or len(per_net) < 1 + policy.network_min_others:
        return []
    anon_raters: dict[str, set[str]] = defaultdict(set)
    for b in _anonymous(ballots):
        anon_raters[b.network].add(b.rater)
    out = []
    for network, n in per_net.items():
        raters = anon_raters.get(network, set())
        if (
            n >= policy.network_min_ballots
            and len(raters) >= policy.network_min_raters
            and n / total >= policy.network_share
        ):
            out.append(
                Finding(
                    NETWORK_CONCENTRATION,
                    network,
                    frozenset(raters),
                    f"{n} of {total} ballots ({n / total:.0%}) from one network, "
                    f"{len(raters)} anonymous raters",
                )
            )
    return out


def user_agent_clusters(
    ballots: Sequence[BallotInfo], policy: AnomalyPolicy = AnomalyPolicy()
) -> list[Finding]:
    by_ua: dict[str, set[str]] = defaultdict(set)
    for b in _anonymous(ballots):
        by_ua[b.user_agent].add(b.rater)
    n_raters = len({r for raters in by_ua.values() for r in raters})
    out = []
    for ua, raters in by_ua.items():
        if len(raters) >= policy.ua_min_raters and len(raters) / n_raters >= policy.ua_share:
            out.append(
                Finding(
                    USER_AGENT_CLUSTER,
                    ua or "(no user agent)",
                    frozenset(raters),
                    f"{len(raters)} of {n_raters} anonymous raters ({len(raters) / n_raters:.0%}) "
                    "share one user agent",
                )
            )
    return out


def _cv(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    return float(arr.std()) / mean if mean > 0 else 0.0


def _by_rater(ballots: Sequence[BallotInfo]) -> dict[str, list[BallotInfo]]:
    by_rater: dict[str, list[BallotInfo]] = defaultdict(list)
    for b in ballots:
        by_rater[b.rater].append(b)
    return by_rater


def machine_timing(
    ballots: Sequence[BallotInfo], policy: AnomalyPolicy = AnomalyPolicy()
) -> list[Finding]:
    out = []
    for rater, mine in _by_rater(ballots).items():
        mine.sort(key=lambda b: b.cast_at)
        decisions = [b.cast_at - b.served_at for b in mine]
        gaps = [b.cast_at - a.cast_at for a, b in zip(mine, mine[1:], strict=False)]
        figures = []
        if len(decisions) >= policy.timing_min and _cv(decisions) < policy.timing_cv:
            figures.append(f"decision times {np.mean(decisions):.1f} s ± {np.std(decisions):.2f} s")
        if len(gaps) >= policy.timing_min_intervals and _cv(gaps) < policy.timing_cv:
            figures.append(f"intervals {np.mean(gaps):.1f} s ± {np.std(gaps):.2f} s")
        if figures:
            out.append(
                Finding(
                    MACHINE_TIMING,
                    f"rater {rater}",
                    frozenset({rater}),
                    "machine-regular timing: " + "; ".join(figures),
                )
            )
    return out


def ignores_pictures(
    ballots: Sequence[BallotInfo], policy: AnomalyPolicy = AnomalyPolicy()
) -> list[Finding]:
    out = []
    for rater, mine in _by_rater(ballots).items():
        answer, count = Counter(b.outcome for b in mine).most_common(1)[0]
        goldens = [b for b in mine if b.expected is not None]
        wrong = sum(b.outcome != b.expected for b in goldens)
        if len(mine) >= policy.pattern_min and count / len(mine) >= policy.pattern_share:
            out.append(
                Finding(
                    IGNORES_PICTURES,
                    f"always {answer}",
                    frozenset({rater}),
                    f"answered {answer!r} {count} of {len(mine)} times",
                )
            )
        elif len(goldens) >= policy.golden_min_fails and wrong == len(goldens):
            out.append(
                Finding(
                    IGNORES_PICTURES,
                    "fails golden pairs",
                    frozenset({rater}),
                    f"all {len(goldens)} known-answer pairs answered wrong",
                )
            )
    return out


RULES = (
    identity_bursts,
    network_concentration,
    user_agent_clusters,
    machine_timing,
    ignores_pictures,
)


def detect(ballots: Iterable[BallotInfo], policy: AnomalyPolicy = AnomalyPolicy()) -> list[Finding]:
    """Every finding of every rule over a contest's ballots (goldens included)."""
    ballots = list(ballots)
    if not ballots:
        return []
    return [finding for rule in RULES for finding in rule(ballots, policy)]


def excluded_raters(findings: Iterable[Finding]) -> set[str]:
    return {r for f in findings for r in f.raters}
