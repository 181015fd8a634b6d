"""Tests for voting.stats.robust: networks, duration, the trim, and removing any one network."""

from __future__ import annotations

import pickle
from collections import defaultdict
from dataclasses import replace

import pytest

from voting.stats.ranking import Comparison, DecisionRule, RankingConfig, rank
from voting.stats.robust import NetworkBallot, Reason, robust_check, trim_check, trim_for_leader

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
    assert (why.code, why.params) == ("networks", {"have": 1, "need": 3})
    spread = [b for k in range(10) for b in support(f"n{k}", 2, start=k)]
    ok, why = robust_check(
        spread, ITEMS, "A", rule=RULE, config=CONFIG, min_networks=3, min_seconds=600
    )
    assert not ok and "600 s needed" in why
    assert why.code == "duration" and why.params["need"] == 600


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
    assert (why.code, why.params) == ("one_network", {"ballots": 36})
    # A venue that declared one network enough: decided as the rule says.
    assert robust_check(
        support("venue", 12), ITEMS, "A", rule=RULE, config=CONFIG, min_networks=1, min_seconds=0
    )[0]


# --------------------------------------------------------------------------- the trim

TRIM_RULE = DecisionRule("probability", p_best_threshold=0.95, min_raters=3)
TRIM_CONFIG = RankingConfig(n_bootstrap=60, seed=1)


def _ballot(a: str, b: str, won: str | None, rater: str, k: int, weight: float = 1.0) -> Comparison:
    left, right = (a, b) if k % 2 == 0 else (b, a)  # sides alternate: no position bias
    outcome = "same" if won is None else ("left" if won == left else "right")
    return Comparison(left, right, outcome, rater, weight)


def honest_crowd(raters: int, ab: tuple[int, int, int], ac: tuple[int, int, int],
                 bc: tuple[int, int, int]) -> list[Comparison]:
    """Each rater judges A-B, A-C and B-C once; per ten raters a pair's (first wins,
    second wins, ties) are as given."""
    out = []
    for r in range(raters):
        for k, (a, b, (first, second, _ties)) in enumerate((("A", "B", ab), ("A", "C", ac), ("B", "C", bc))):
            m = r % 10
            won = a if m < first else (b if m < first + second else None)
            out.append(_ballot(a, b, won, f"h{r}", r + k))
    return out


def one_sided_attack(raters: int, target: str = "B") -> list[Comparison]:
    """Attackers who vote for ``target`` on every pair it is in (and on nothing else)."""
    return [_ballot(target, other, target, f"a{r}", r + k)
            for r in range(raters) for k, other in enumerate(o for o in ITEMS if o != target)]


def _spread(comparisons: list[Comparison]) -> list[NetworkBallot]:
    return [NetworkBallot(f"n{k % 7}", 100.0 * k, c) for k, c in enumerate(comparisons)]


def _cells(comparisons: list[Comparison]) -> dict[tuple[frozenset[str], str | None], float]:
    """Weight per (pair, who won) cell."""
    out: dict[tuple[frozenset[str], str | None], float] = defaultdict(float)
    for c in comparisons:
        won = {"left": c.left, "right": c.right}.get(c.outcome)
        out[(frozenset((c.left, c.right)), won)] += c.weight
    return out


def _decide(comparisons: list[Comparison]) -> tuple[bool, str | None]:
    d = rank(comparisons, items=ITEMS, config=TRIM_CONFIG, rule=TRIM_RULE).decision
    return d.decided, d.winner


def test_trim_per_pair_takes_the_share_of_each_pair_from_the_leaders_wins():
    ballots = [
        Comparison("A", "B", "left", "r1", 1.0),   # A wins; r1 always backs A
        Comparison("B", "A", "right", "r2", 0.5),  # A wins; r2 backs A on one pair in two
        Comparison("A", "C", "right", "r2", 1.0),
        Comparison("A", "B", "right", "r3", 1.0),  # B wins: never removed
        Comparison("A", "C", "left", "r1", 1.0),
        Comparison("A", "C", "same", "r4", 1.0),   # a tie: never removed
        Comparison("B", "C", "left", "r5", 1.0),   # not the leader's pair: never removed
        Comparison("A", "B", "left", "r6", 0.0),   # weighs nothing: dropped
    ]
    trimmed = trim_for_leader(ballots, "A", 0.25)
    by = {(c.left, c.right, c.outcome, c.rater): c.weight for c in trimmed}
    # A-B weighs 2.5: 0.625 goes, from the more partisan r1 first (in part).
    # A-C weighs 3.0: 0.75 goes, all from r1's win (r2 lost there).
    assert by == {("A", "B", "left", "r1"): pytest.approx(0.375), ("B", "A", "right", "r2"): 0.5,
                  ("A", "C", "right", "r2"): 1.0, ("A", "B", "right", "r3"): 1.0,
                  ("A", "C", "left", "r1"): pytest.approx(0.25), ("A", "C", "same", "r4"): 1.0,
                  ("B", "C", "left", "r5"): 1.0}
    # A share larger than the leader's wins on a pair takes them all, and no more.
    assert {(c.left, c.right, c.outcome) for c in trim_for_leader(ballots, "A", 0.9)
            if "A" in (c.left, c.right) and c.outcome != "same"} == {("A", "B", "right"), ("A", "C", "right")}
    assert trim_for_leader(ballots, "A", 0.0) == ballots[:-1]
    with pytest.raises(ValueError):
        trim_for_leader(ballots, "A", 1.0)


def test_trim_over_the_whole_contest_takes_the_closest_rivals_wins_first():
    ballots = [Comparison("A", "B", "left", f"b{k}") for k in range(6)] + [
        Comparison("A", "B", "right", "x1"),
        Comparison("A", "C", "left", "c1"),
        Comparison("A", "C", "right", "x2"),
        Comparison("A", "C", "right", "x3"),
        Comparison("B", "C", "left", "x4"),
    ]
    # 11 ballots, a share of 0.2 = 2.2: A beats C least often (1 of 3), so its win over C
    # goes first (1.0), then 1.2 of its wins over B.
    trimmed = trim_for_leader(ballots, "A", 0.2, per_pair=False)
    cells = _cells(trimmed)
    assert cells[(frozenset("AC"), "A")] == 0
    assert cells[(frozenset("AB"), "A")] == pytest.approx(4.8)
    assert sum(c.weight for c in trimmed) == pytest.approx(11 - 2.2)
    # An explicit order of rivals is followed.
    cells = _cells(trim_for_leader(ballots, "A", 0.2, per_pair=False, rivals=["B", "C"]))
    assert cells[(frozenset("AB"), "A")] == pytest.approx(3.8) and cells[(frozenset("AC"), "A")] == 1


def test_a_one_sided_attacker_with_20_percent_cannot_flip_a_decided_contest():
    honest = honest_crowd(300, ab=(5, 4, 1), ac=(6, 3, 1), bc=(6, 3, 1))
    attack = one_sided_attack(75)  # 20 % of the A-B and B-C ballots, all for B
    assert _decide(honest) == (True, "A")  # the fans alone decide for A
    attacked = honest + attack
    assert _decide(attacked) == (True, "B")  # the plain rule is flipped to B
    ok, why = robust_check(_spread(attacked), ITEMS, "B", rule=TRIM_RULE, config=TRIM_CONFIG,
                           min_networks=3, min_seconds=0, trim=0.2)
    assert not ok and why.code == "trim" and why.params == {"winner": "B", "share": 0.2}
    assert "without the 20% of the ballot weight most favourable to it" in why
    # Without the trim the spread-out attack passes every other check: the trim stops it.
    assert robust_check(_spread(attacked), ITEMS, "B", rule=TRIM_RULE, config=TRIM_CONFIG,
                        min_networks=3, min_seconds=0, trim=0.0)[0]
    # The bound itself: what the trim leaves holds, in every (pair, winner) cell, no more
    # of B's wins and as much of everything else as the fans' own ballots.
    left, fans = _cells(trim_for_leader(attacked, "B", 0.2)), _cells(honest)
    for cell in set(left) | set(fans):
        if cell[1] == "B":
            assert left[cell] <= fans[cell] + 1e-9
        else:
            assert left[cell] == pytest.approx(fans[cell])


def test_a_one_sided_attacker_with_20_percent_cannot_decide_an_open_contest_for_itself():
    honest = honest_crowd(80, ab=(5, 4, 1), ac=(6, 3, 1), bc=(6, 3, 1))
    attack = one_sided_attack(20)
    assert _decide(honest)[0] is False  # the fans alone have not decided yet
    attacked = honest + attack
    assert _decide(attacked) == (True, "B")
    assert not trim_check(attacked, ITEMS, "B", 0.2, rule=TRIM_RULE, config=TRIM_CONFIG)
    assert trim_check(attacked, ITEMS, "B", 0.0, rule=TRIM_RULE, config=TRIM_CONFIG)


def test_screening_code_holders_ballots_are_never_trimmed():
    # A close lead the trim holds back when anyone could have cast the ballots...
    screening = honest_crowd(60, ab=(6, 3, 1), ac=(6, 3, 1), bc=(5, 4, 1))
    assert _decide(screening) == (True, "A")
    ok, why = robust_check(_spread(screening), ITEMS, "A", rule=TRIM_RULE, config=TRIM_CONFIG,
                           min_networks=3, min_seconds=0, trim=0.2)
    assert not ok and why.code == "trim"
    # ...stands when every ballot came with a screening code: nothing is set aside.
    vouched = [replace(b, vouched=True) for b in _spread(screening)]
    assert robust_check(vouched, ITEMS, "A", rule=TRIM_RULE, config=TRIM_CONFIG,
                        min_networks=3, min_seconds=0, trim=0.2) == (True, "")
    raters = {c.rater for c in screening}
    assert trim_for_leader(screening, "A", 0.2, exempt=raters) == screening
    # One ballot without the code, and that rater's ballots are fair game again.
    trimmed = trim_for_leader(screening, "A", 0.2, exempt=raters - {"h0"})
    assert {c.rater for c in screening if c not in trimmed} == {"h0"}
    # Every fan's first ballot cast before the code was redeemed: none is vouched for.
    seen: set[str] = set()
    late = []
    for b in vouched:
        late.append(replace(b, vouched=b.comparison.rater in seen))
        seen.add(b.comparison.rater)
    ok, why = robust_check(late, ITEMS, "A", rule=TRIM_RULE, config=TRIM_CONFIG, min_networks=3,
                           min_seconds=0, trim=0.2)
    assert not ok and why.code == "trim"


def test_the_trim_still_bounds_attackers_among_screening_code_holders():
    # Fans with codes, and a fifth of each of B's pairs from anonymous attackers backing B.
    honest = honest_crowd(80, ab=(5, 4, 1), ac=(6, 3, 1), bc=(6, 3, 1))
    attacked = honest + one_sided_attack(20)
    assert _decide(attacked) == (True, "B")
    fans = {c.rater for c in honest}
    # The budget is a fifth of all of each pair's weight, taken from the others' wins: the
    # attackers' ballots all go, the fans' all stay.
    left = trim_for_leader(attacked, "B", 0.2, exempt=fans)
    assert left == honest
    ballots = [replace(b, vouched=b.comparison.rater in fans) for b in _spread(attacked)]
    ok, why = robust_check(ballots, ITEMS, "B", rule=TRIM_RULE, config=TRIM_CONFIG,
                           min_networks=3, min_seconds=0, trim=0.2)
    assert not ok and why.code == "trim"


def test_a_clear_winner_survives_the_trim():
    honest = honest_crowd(60, ab=(7, 2, 1), ac=(8, 1, 1), bc=(6, 3, 1))
    assert _decide(honest) == (True, "A")
    assert robust_check(_spread(honest), ITEMS, "A", rule=TRIM_RULE, config=TRIM_CONFIG,
                        min_networks=3, min_seconds=0, trim=0.2) == (True, "")
    # The trim applies at a one-network venue too (only the network checks are skipped).
    assert not robust_check([NetworkBallot("venue", 0.0, c) for c in honest + one_sided_attack(15, "C")],
                            ITEMS, "A", rule=TRIM_RULE, config=TRIM_CONFIG, min_networks=1,
                            min_seconds=0, trim=0.45)[0]


def test_reasons_survive_pickling():
    why = Reason("text", "trim", {"winner": "B", "share": 0.2})
    back = pickle.loads(pickle.dumps(why))
    assert (back, back.code, back.params) == ("text", "trim", {"winner": "B", "share": 0.2})
