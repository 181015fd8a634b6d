"""A decision that survives its likeliest attackers (plain functions, no Django).

Used by voting.services.robust_decision on the site and by the red-team benchmark.

Three checks, cheapest first: enough networks, enough time, and two removals that must
leave the same decided winner:

* **trim** (:func:`trim_for_leader`): the leader's most favourable ballots, a share
  ``trim`` of the ballot weight, removed as if every one of them had been an
  attacker's vote for it. An attacker holding at most that share cannot decide a
  contest for its variant, nor flip one: see :func:`trim_for_leader` for the bound.
  Ballots cast with a one-time screening code are not removed (``vouched``): each code
  was handed to one person in the room, so an attacker cannot mint them, and a
  screening whose audience all hold codes is decided by its votes alone.
* **networks**: all ballots of any one of the largest network clusters removed, one at
  a time (a script behind one address or one cloud subnet).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from voting.stats.ranking import Comparison, DecisionRule, RankingConfig, rank

#: How many of the largest network clusters are removed, one at a time (each removal is
#: one more fit; the largest clusters are the ones that could carry a result).
CLUSTERS_CHECKED = 8

#: The site's default trim: the share of ballot weight an attacker may hold without
#: deciding or flipping a contest (issue 15's target is 20 % of the ballots).
DEFAULT_TRIM = 0.2

#: Below this a ballot's weight counts as nothing (float dust after partial removals).
_EPS = 1e-12


class Reason(str):
    """Why a decision does not stand: an English sentence (as the log and the stored
    decision reason show it) that also carries a stable ``code`` and the figures it
    quotes in ``params``, so the pages can translate it. ``Reason("")`` means it stands.

    Codes: ``networks`` (have, need), ``duration`` (seconds, need), ``trim`` (winner,
    share), ``one_network`` (ballots)."""

    code: str
    params: dict[str, Any]

    def __new__(cls, text: str = "", code: str = "", params: Mapping[str, Any] | None = None) -> Reason:
        obj = super().__new__(cls, text)
        obj.code = code
        obj.params = dict(params or {})
        return obj

    def __reduce__(self) -> tuple[Any, ...]:  # keeps code and params across processes
        return (Reason, (str(self), self.code, self.params))


@dataclass(frozen=True)
class NetworkBallot:
    """A contest (non-golden) ballot with the network it came from and when (seconds);
    ``vouched``: cast by someone an attacker cannot be (a one-time screening code)."""

    network: str
    cast_at: float
    comparison: Comparison
    vouched: bool = False


def _winner_of(c: Comparison) -> str | None:
    return {"left": c.left, "right": c.right}.get(c.outcome)


def trim_for_leader(
    comparisons: Sequence[Comparison],
    leader: str,
    share: float,
    *,
    per_pair: bool = True,
    rivals: Sequence[str] | None = None,
    exempt: Collection[str] = (),
) -> list[Comparison]:
    """The comparisons with the ``share`` of ballot weight most favourable to ``leader``
    removed: its wins, as if each had been an attacker's vote for it.

    Which wins go:

    * ``per_pair=True`` (the site's rule): on every pair ``(leader, x)``, a ``share`` of
      that pair's ballot weight, taken from the leader's wins over ``x`` (all of them if
      they weigh less). This is the worst case for an attacker that holds at most
      ``share`` of the ballot weight of each pair, which is what the site lets one hold
      when it holds that share of all ballots: the server picks every pair (one open
      pairing per fan, served again on reload, sides drawn at random, media blind), so
      an attacker's ballots land on the pairs the selector serves, as everyone's do.
      The bound: if the attacker's ballots weigh at most ``share`` of each pair and all
      of them are wins for the leader (its best case), then in every (pair, outcome)
      cell what is left weighs no more of the leader's wins, and no less of its rivals'
      wins and ties, than the honest ballots alone: the trimmed table is the honest one
      with some of the leader's wins taken away, on less weight. A rule that decides
      for the leader on it would have decided for the leader on the honest ballots
      alone (a Bradley-Terry fit only moves against a variant when its wins are taken
      away, and less weight only widens the intervals). So an attacker within the share
      can neither decide a contest for its variant nor flip one to it. What the bound
      does not cover: the attacker's ballots on pairs without its variant are left in
      (answered as fans do, as the red-team's human-like attacker does, they change
      nothing; voted against the leader's closest rival they are outside it), and an
      attacker that churns identities to be served its variant's pairs more often than
      fans are holds more than its overall share of those pairs.
    * ``per_pair=False``: ``share`` of the whole contest's ballot weight, taken from the
      leader's wins over its closest rival first (``rivals``, closest first; by default
      the order of the rivals' win rates against the leader), then the next. This
      bounds an attacker that could also pick its pairs (a unit of weight of the
      leader's wins over its closest rival moves their difference at least as much as
      one over any other rival, to first order: the effective resistance between two
      variants of the comparison graph is a metric). With six variants and pairs
      served evenly the leader's wins weigh about a fifth of the contest, so a share
      near that removes them all: measured in the red-team benchmark, kept as an
      option for a contest with two or three variants.

    ``exempt`` names raters whose ballots stay (screening-code holders: see
    :func:`robust_check`). The budget is still the share of *all* the weight (of each
    pair, or of the contest), taken from the others' wins only, so the bound above holds
    for any attacker outside ``exempt``; where the others' wins weigh less than the
    budget they all go.

    Within a class (the leader's wins over one rival) the ballots of the raters most
    partisan for the leader (share of their weight on the leader's pairs that are wins
    for it) go first, as an attacker's would, then the heaviest; the last ballot removed
    is removed in part (its weight scaled), so exactly the share goes. Ties are not
    removed: a tie pulls the leader toward its rival.
    """
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share!r}")
    comps = [c for c in comparisons if c.weight > _EPS]
    if share == 0:
        return comps
    on_pair: dict[str, float] = defaultdict(float)  # weight per rival on the leader's pairs
    wins: dict[str, list[int]] = defaultdict(list)  # the leader's wins per rival (indices)
    # Partisanship of each rater: share of their weight on the leader's pairs won by it.
    mine: dict[str, float] = defaultdict(float)
    theirs: dict[str, float] = defaultdict(float)
    for k, c in enumerate(comps):
        if leader in (c.left, c.right):
            rival = c.right if c.left == leader else c.left
            on_pair[rival] += c.weight
            theirs[c.rater] += c.weight
            if _winner_of(c) == leader:
                if c.rater not in exempt:
                    wins[rival].append(k)
                mine[c.rater] += c.weight
    for rival in wins:
        wins[rival].sort(key=lambda k: (-mine[comps[k].rater] / theirs[comps[k].rater],
                                        -comps[k].weight, comps[k].rater, k))
    budget: dict[str, float]
    if per_pair:
        budget = {rival: share * w for rival, w in on_pair.items()}
    else:
        if rivals is None:
            won = {r: sum(comps[k].weight for k in wins.get(r, [])) for r in on_pair}
            rivals = sorted(on_pair, key=lambda r: (won[r] / on_pair[r], r))  # closest: fewest wins
        left_over = share * sum(c.weight for c in comps)
        budget = {}
        for rival in list(rivals) + sorted(set(on_pair) - set(rivals)):
            take = min(left_over, sum(comps[k].weight for k in wins.get(rival, [])))
            budget[rival] = take
            left_over -= take
    weights = [c.weight for c in comps]
    for rival, amount in budget.items():
        for k in wins.get(rival, []):
            if amount <= _EPS:
                break
            take = min(weights[k], amount)
            weights[k] -= take
            amount -= take
    return [c if w == c.weight else replace(c, weight=w) for c, w in zip(comps, weights, strict=True)
            if w > _EPS]


def trim_check(
    comparisons: Sequence[Comparison],
    items: Sequence[str],
    winner: str,
    share: float,
    *,
    rule: DecisionRule,
    config: RankingConfig,
    per_pair: bool = True,
    exempt: Collection[str] = (),
) -> bool:
    """Whether ``winner`` is still the decided winner once the ``share`` of ballot weight
    most favourable to it is removed (:func:`trim_for_leader`; ``exempt`` raters'
    ballots stay)."""
    if share <= 0:
        return True
    trimmed = trim_for_leader(comparisons, winner, share, per_pair=per_pair, exempt=exempt)
    decision = rank(trimmed, items=list(items), config=config, rule=rule).decision
    return decision.decided and decision.winner == winner


def robust_check(
    ballots: Sequence[NetworkBallot],
    items: Sequence[str],
    winner: str,
    *,
    rule: DecisionRule,
    config: RankingConfig,
    min_networks: int,
    min_seconds: float,
    trim: float = 0.0,
    per_pair: bool = True,
    clusters_checked: int = CLUSTERS_CHECKED,
) -> tuple[bool, Reason]:
    """Whether a decision for ``winner`` stands: ballots from at least ``min_networks``
    networks (counting only networks whose ballots weigh something), spread over at
    least ``min_seconds``; the same decided winner once the ``trim`` share of the ballot
    weight most favourable to it is removed (:func:`trim_for_leader`; the ballots of
    raters all of whose ballots are ``vouched`` stay, the share is taken from the
    others); and the same
    winner after removing all ballots of any one of the largest network clusters
    (skipped when ``min_networks`` is 1: the technician declared one network enough,
    e.g. a screening behind one venue's NAT). Returns the verdict and, when it does not
    stand, the first check that failed as a :class:`Reason`."""
    weighed = [b for b in ballots if b.comparison.weight > 0]
    networks = Counter(b.network for b in weighed)
    if len(networks) < min_networks:
        return False, Reason(f"ballots from {len(networks)} network(s); {min_networks} needed",
                             "networks", {"have": len(networks), "need": min_networks})
    span = (max(b.cast_at for b in weighed) - min(b.cast_at for b in weighed)) if weighed else 0.0
    if span < min_seconds:
        return False, Reason(f"ballots over {span:.0f} s; {min_seconds:g} s needed",
                             "duration", {"seconds": round(span), "need": min_seconds})
    # A rater counts as vouched only if every ballot of theirs was (a code redeemed
    # midway does not vouch for the ballots cast before it).
    unvouched = {b.comparison.rater for b in weighed if not b.vouched}
    vouched = {b.comparison.rater for b in weighed} - unvouched
    if not trim_check([b.comparison for b in weighed], items, winner, trim, rule=rule, config=config,
                      per_pair=per_pair, exempt=vouched):
        return False, Reason(
            f"{winner} is not clear of the others without the {trim:.0%} of the ballot weight most "
            f"favourable to it (the most an attacker may hold)", "trim", {"winner": winner, "share": trim})
    if min_networks <= 1:
        return True, Reason()
    for network, count in networks.most_common(clusters_checked):
        kept = [b.comparison for b in weighed if b.network != network]
        without = rank(kept, items=list(items), config=config, rule=rule).decision
        if not without.decided or without.winner != winner:
            return False, Reason(f"the result does not hold without one network's {count} ballots",
                                 "one_network", {"ballots": count})
    return True, Reason()
