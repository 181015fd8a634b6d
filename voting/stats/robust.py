"""A decision that survives its likeliest attackers (plain functions, no Django).

Used by voting.services.robust_decision on the site and by the red-team benchmark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from voting.stats.ranking import Comparison, DecisionRule, RankingConfig, rank

#: How many of the largest network clusters are removed, one at a time (each removal is
#: one more fit; the largest clusters are the ones that could carry a result).
CLUSTERS_CHECKED = 8


@dataclass(frozen=True)
class NetworkBallot:
    """A contest (non-golden) ballot with the network it came from and when (seconds)."""

    network: str
    cast_at: float
    comparison: Comparison


def robust_check(
    ballots: Sequence[NetworkBallot],
    items: Sequence[str],
    winner: str,
    *,
    rule: DecisionRule,
    config: RankingConfig,
    min_networks: int,
    min_seconds: float,
    clusters_checked: int = CLUSTERS_CHECKED,
) -> tuple[bool, str]:
    """Whether a decision for ``winner`` stands: ballots from at least ``min_networks``
    networks (counting only networks whose ballots weigh something), spread over at
    least ``min_seconds``, and the same winner after removing all ballots of any one of
    the largest network clusters (skipped when ``min_networks`` is 1: the technician
    declared one network enough, e.g. a screening behind one venue's NAT)."""
    weighed = [b for b in ballots if b.comparison.weight > 0]
    networks = Counter(b.network for b in weighed)
    if len(networks) < min_networks:
        return False, f"ballots from {len(networks)} network(s); {min_networks} needed"
    span = (max(b.cast_at for b in weighed) - min(b.cast_at for b in weighed)) if weighed else 0.0
    if span < min_seconds:
        return False, f"ballots over {span:.0f} s; {min_seconds:g} s needed"
    if min_networks <= 1:
        return True, ""
    for network, count in networks.most_common(clusters_checked):
        kept = [b.comparison for b in weighed if b.network != network]
        without = rank(kept, items=list(items), config=config, rule=rule).decision
        if not without.decided or without.winner != winner:
            return False, f"the result does not hold without one network's {count} ballots"
    return True, ""
