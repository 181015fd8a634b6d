"""Rater reliability: golden pairs, anomaly flags, and a weight per rater.

Golden pairs are ballots whose right answer is known:

* ``identical``: a variant against itself (both sides the same file) -> "same";
* ``damaged``: a variant against a deliberately damaged copy -> the clean side.

They are mixed into a fan's ballots at a small rate (:func:`should_serve_golden`) and
look like any other ballot. Golden answers give each rater a Beta posterior on their
accuracy; behaviour gives anomaly flags; both fold into one weight that the ranking uses
as the per-comparison weight. A clearly bad rater gets weight 0 (shadow exclusion: their
ballots are kept for audit and they are never told, so there is nothing to game).

Rules (all thresholds in :class:`ReliabilityPolicy`):

* accuracy ~ Beta(a0 + correct, b0 + wrong); reliability = posterior mean.
* excluded if P(accuracy < chance_accuracy) > exclude_confidence: a random clicker is
  right on about 1/3 of identical and 1/2 of damaged pairs, so accuracy <= 0.5 is what
  chance looks like.
* base weight = clip((mean - chance) / (good - chance), min_weight, 1).
* flags: ``same_side`` / ``always_same`` (one answer for >= same_side_share of >=
  min_ballots_pattern ballots), ``too_fast`` (>= too_fast_share of timed ballots under
  min_watch_seconds), ``inconsistent`` (on pairs where the other raters agree, this
  rater agrees significantly less often than they do: binomial tail < inconsistency_p).
* each flag multiplies the weight by ``flag_penalty``; two or more flags exclude.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats

from voting.stats.ranking import Comparison, Outcome

GoldenKind = Literal["identical", "damaged"]

SAME_SIDE = "same_side"
ALWAYS_SAME = "always_same"
TOO_FAST = "too_fast"
INCONSISTENT = "inconsistent"


@dataclass(frozen=True)
class GoldenPair:
    """A golden ballot to serve: positions as shown plus the correct answer."""

    left: str
    right: str
    expected: Outcome
    kind: GoldenKind


def make_golden_pair(
    variant: str, damaged: str | None = None, rng: np.random.Generator | int | None = None
) -> GoldenPair:
    """An identical pair (``damaged is None``) or clean-vs-damaged with a random side.

    ``damaged`` is the id of the deliberately degraded copy of ``variant`` (rendered by
    the engine's damage model); the clean side is randomised so a rater who always picks
    one side scores at chance.
    """
    if damaged is None:
        return GoldenPair(variant, variant, "same", "identical")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if rng.random() < 0.5:
        return GoldenPair(variant, damaged, "left", "damaged")
    return GoldenPair(damaged, variant, "right", "damaged")


@dataclass(frozen=True)
class GoldenPolicy:
    """How often goldens are served.

    ``rate`` is the steady-state share; ``first_by`` guarantees a golden among a fan's
    first ballots (most fans vote a handful of times, so waiting for chance would leave
    most of them unscored); ``max_share`` caps the overhead for unlucky streaks.
    """

    rate: float = 0.1
    first_by: int = 4
    max_share: float = 0.25


def should_serve_golden(
    ballots_served: int,
    golden_served: int,
    rng: np.random.Generator | int | None = None,
    policy: GoldenPolicy = GoldenPolicy(),
) -> bool:
    """Whether this rater's next ballot (number ``ballots_served + 1``) is a golden.

    ``ballots_served`` counts all ballots already shown to the rater, goldens included.
    """
    if ballots_served < 0 or golden_served < 0 or golden_served > ballots_served:
        raise ValueError("need 0 <= golden_served <= ballots_served")
    if golden_served == 0 and ballots_served + 1 >= policy.first_by:
        return True
    if (golden_served + 1) / (ballots_served + 1) > policy.max_share:
        return False
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return bool(rng.random() < policy.rate)


@dataclass(frozen=True)
class BallotRecord:
    """A ballot with the context reliability needs. ``expected`` is set for goldens only
    (goldens never reach the ranking); ``watch_seconds`` is time watched before voting."""

    rater: str
    left: str
    right: str
    outcome: Outcome
    watch_seconds: float | None = None
    expected: Outcome | None = None

    @property
    def is_golden(self) -> bool:
        return self.expected is not None


@dataclass(frozen=True)
class ReliabilityPolicy:
    """Thresholds; the docstring of this module states the rules they feed."""

    prior_correct: float = 3.0
    prior_wrong: float = 1.0
    chance_accuracy: float = 0.5
    good_accuracy: float = 0.9
    exclude_confidence: float = 0.95
    min_weight: float = 0.1
    min_ballots_pattern: int = 10
    same_side_share: float = 0.9
    min_watch_seconds: float = 3.0
    too_fast_share: float = 0.5
    min_timed: int = 5
    consensus_share: float = 0.65
    consensus_min_votes: int = 5
    min_consensus_answers: int = 6
    inconsistency_p: float = 0.01
    flag_penalty: float = 0.5


@dataclass(frozen=True)
class RaterAssessment:
    """Reliability verdict for one rater; ``weight`` goes into ``Comparison.weight``."""

    rater: str
    golden_correct: int
    golden_total: int
    reliability: float
    p_below_chance: float
    flags: tuple[str, ...]
    weight: float
    excluded: bool


def golden_posterior(correct: int, total: int, policy: ReliabilityPolicy = ReliabilityPolicy()) -> tuple[float, float]:
    """Posterior mean accuracy and P(accuracy < chance) from golden answers."""
    a = policy.prior_correct + correct
    b = policy.prior_wrong + (total - correct)
    return a / (a + b), float(stats.beta.cdf(policy.chance_accuracy, a, b))


def pattern_flags(ballots: Sequence[BallotRecord], policy: ReliabilityPolicy = ReliabilityPolicy()) -> list[str]:
    """``same_side`` / ``always_same`` from one rater's ballots (goldens included: a
    side-clicker clicks the same side on those too)."""
    if len(ballots) < policy.min_ballots_pattern:
        return []
    answer, count = Counter(b.outcome for b in ballots).most_common(1)[0]
    if count / len(ballots) < policy.same_side_share:
        return []
    return [ALWAYS_SAME if answer == "same" else SAME_SIDE]


def speed_flags(ballots: Sequence[BallotRecord], policy: ReliabilityPolicy = ReliabilityPolicy()) -> list[str]:
    """``too_fast`` when most timed ballots were cast before the minimum watch time."""
    timed = [b.watch_seconds for b in ballots if b.watch_seconds is not None]
    if len(timed) < policy.min_timed:
        return []
    fast = sum(t < policy.min_watch_seconds for t in timed)
    return [TOO_FAST] if fast / len(timed) >= policy.too_fast_share else []


def _preferences(ballots: Iterable[BallotRecord]) -> dict[str, dict[frozenset[str], Counter]]:
    """Per rater, per unordered pair: how often each item was preferred (decisive votes)."""
    out: dict[str, dict[frozenset[str], Counter]] = defaultdict(lambda: defaultdict(Counter))
    for b in ballots:
        if b.is_golden or b.outcome == "same" or b.left == b.right:
            continue
        winner = b.left if b.outcome == "left" else b.right
        out[b.rater][frozenset((b.left, b.right))][winner] += 1
    return out


def consistency_flags(
    rater: str,
    prefs: Mapping[str, Mapping[frozenset[str], Counter]],
    totals: Mapping[frozenset[str], Counter],
    policy: ReliabilityPolicy = ReliabilityPolicy(),
) -> list[str]:
    """``inconsistent`` when the rater disagrees with everyone else's clear majority.

    Leave-one-out: the consensus on a pair is the other raters' majority, used only when
    it has ``consensus_min_votes`` votes and a share of at least ``consensus_share``.
    Expected agreement is the mean consensus share; the flag needs a binomial lower tail
    below ``inconsistency_p``, so an honest rater with an unusual taste on one pair is
    not flagged.
    """
    agree = answered = 0
    expected: list[float] = []
    for pair, mine in prefs.get(rater, {}).items():
        others = totals[pair] - mine
        n_others = sum(others.values())
        if n_others < policy.consensus_min_votes:
            continue
        top, top_count = others.most_common(1)[0]
        share = top_count / n_others
        if share < policy.consensus_share:
            continue
        k = sum(mine.values())
        answered += k
        agree += mine[top]
        expected.extend([share] * k)
    if answered < policy.min_consensus_answers:
        return []
    p_bar = float(np.mean(expected))
    return [INCONSISTENT] if stats.binom.cdf(agree, answered, p_bar) < policy.inconsistency_p else []


def base_weight(reliability: float, policy: ReliabilityPolicy = ReliabilityPolicy()) -> float:
    """Weight from posterior mean accuracy alone: linear from chance to "good"."""
    span = policy.good_accuracy - policy.chance_accuracy
    return float(np.clip((reliability - policy.chance_accuracy) / span, policy.min_weight, 1.0))


def assess_raters(
    ballots: Iterable[BallotRecord], policy: ReliabilityPolicy = ReliabilityPolicy()
) -> dict[str, RaterAssessment]:
    """Score every rater seen in ``ballots`` (contest and golden ballots together)."""
    ballots = list(ballots)
    by_rater: dict[str, list[BallotRecord]] = defaultdict(list)
    for b in ballots:
        by_rater[b.rater].append(b)
    prefs = _preferences(ballots)
    totals: dict[frozenset[str], Counter] = defaultdict(Counter)
    for per_pair in prefs.values():
        for pair, counter in per_pair.items():
            totals[pair].update(counter)

    out: dict[str, RaterAssessment] = {}
    for rater in sorted(by_rater):
        mine = by_rater[rater]
        golden = [b for b in mine if b.is_golden]
        correct = sum(b.outcome == b.expected for b in golden)
        mean, p_low = golden_posterior(correct, len(golden), policy)
        flags = pattern_flags(mine, policy) + speed_flags(mine, policy)
        flags += consistency_flags(rater, prefs, totals, policy)
        excluded = p_low > policy.exclude_confidence or len(flags) >= 2
        weight = base_weight(mean, policy) * policy.flag_penalty ** len(flags)
        out[rater] = RaterAssessment(
            rater=rater,
            golden_correct=int(correct),
            golden_total=len(golden),
            reliability=mean,
            p_below_chance=p_low,
            flags=tuple(flags),
            weight=0.0 if excluded else weight,
            excluded=excluded,
        )
    return out


def reweight(
    comparisons: Iterable[Comparison],
    assessments: Mapping[str, RaterAssessment],
    policy: ReliabilityPolicy = ReliabilityPolicy(),
) -> list[Comparison]:
    """Comparisons with their rater's weight multiplied into ``weight``.

    A rater with no assessment gets the weight of a rater with no golden answers yet
    (the prior), so assessing a newcomer does not change their weight by itself.
    """
    default = base_weight(golden_posterior(0, 0, policy)[0], policy)
    out = []
    for c in comparisons:
        a = assessments.get(c.rater)
        w = default if a is None else a.weight
        out.append(replace(c, weight=c.weight * w))
    return out
