"""Tests for voting.stats.robust: networks, duration, and removing any one network."""

from __future__ import annotations

from voting.stats.ranking import Comparison, DecisionRule, RankingConfig
from voting.stats.robust import NetworkBallot, robust_check

RULE = DecisionRule("probability", p_best_threshold=0.9, min_raters=3)
CONFIG = RankingConfig(n_bootstrap=40, seed=1)
ITEMS = ["A", "B", "C"]


def support(
    network: str, raters: int, start: float = 0.0, weight: float = 1.0
) -> list[NetworkBallot]:
    out = []
    for r in range(raters):
        for k, (left, right, choice) in enumerate(
            [("A", "B", "left"), ("C", "A", "right"), ("B", "C", "same")]
        ):
            out.append(
                NetworkBallot(
                    network,
                    start + 60.0 * r + k,
                    Comparison(left, right, choice, f"{network}-{r}", weight),
                )
            )
    return out


def test_spread_support_is_robust():
    ballots = [b for k in range(10) for b in support(f"n{k}", 2, start=100.0 * k)]
    assert robust_check(
        ballots, ITEMS, "A", rule=RULE, config=CONFIG, min_networks=3, min_seconds=600
    ) == (True, "")


def test_too_few_networks_or_too_short():
    one = support("n0", 12)
    ok, why = robust_check(one, ITEMS, "A", rule=RULE, config=CONFIG, min_networks=3, min_seconds=0)
    assert not ok and "1 network(s); 3 needed" in why
    spread = [b for k in range(10) for b in support(f"n{k}", 2, start=k)]
    ok, why = robust_check(
        spread, ITEMS, "A", rule=RULE, config=CONFIG, min_networks=3, min_seconds=600
    )
    assert not ok and "600 s needed" in why


def test_weightless_networks_do_not_count():
    ballots = support("n0", 12) + support("x1", 1, weight=0.0) + support("x2", 1, weight=0.0)
    ok, why = robust_check(
        ballots, ITEMS, "A", rule=RULE, config=CONFIG, min_networks=3, min_seconds=0
    )
    assert not ok and "1 network(s)" in why


def test_one_network_carrying_the_result_is_not_robust():
    carried = support("big", 12) + [
        NetworkBallot(f"s{k}", 1000.0 + k, Comparison("A", "B", "same", f"s{k}")) for k in range(3)
    ]
    ok, why = robust_check(
        carried, ITEMS, "A", rule=RULE, config=CONFIG, min_networks=3, min_seconds=0
    )
    assert not ok and "does not hold without one network's 36 ballots" in why
    # A venue that declared one network enough: decided as the rule says.
    assert robust_check(
        support("venue", 12), ITEMS, "A", rule=RULE, config=CONFIG, min_networks=1, min_seconds=0
    )[0]
