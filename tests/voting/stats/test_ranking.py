"""Tests for voting.ranking: the Davidson–BT fit, the rater bootstrap and the decision rule."""

from __future__ import annotations

import math

import choix
import numpy as np
import pytest

from voting.stats.ranking import (
    OUTCOMES,
    Comparison,
    DecisionRule,
    ItemRating,
    ModelOptions,
    RankingConfig,
    VoteTable,
    _fit_table,
    _newton_batch,
    _Problem,
    decide,
    fit_bt,
    outcome_probabilities,
    rank,
)


def simulate(
    theta: list[float],
    n_raters: int,
    per_rater: int,
    seed: int,
    bias: float = 0.0,
    log_nu: float | None = None,
) -> list[Comparison]:
    """Comparisons drawn from the model itself (no ties when ``log_nu`` is None)."""
    rng = np.random.default_rng(seed)
    th = np.asarray(theta)
    eta = -np.inf if log_nu is None else log_nu
    out = []
    for r in range(n_raters):
        for _ in range(per_rater):
            i, j = rng.choice(len(th), 2, replace=False)
            with np.errstate(over="ignore"):
                p = outcome_probabilities(th[i], th[j], bias, max(eta, -700.0))
            o = OUTCOMES[rng.choice(3, p=p / p.sum())]
            out.append(Comparison(f"v{i}", f"v{j}", o, f"r{r}"))
    return out


TRUE = [0.8, 0.4, 0.0, -0.2, -0.4, -0.6]
ITEMS = [f"v{k}" for k in range(6)]


@pytest.fixture(scope="module")
def big_sample() -> list[Comparison]:
    return simulate(TRUE, n_raters=400, per_rater=8, seed=11, bias=0.3, log_nu=math.log(0.4))


def test_recovers_strengths_bias_and_tie_parameter(big_sample: list[Comparison]) -> None:
    fit = fit_bt(big_sample, ITEMS)
    truth = np.array(TRUE) - np.mean(TRUE)
    assert fit.converged
    np.testing.assert_allclose(fit.scores, truth, atol=0.12)
    assert abs(fit.position_bias - 0.3) < 0.08
    assert abs(fit.tie_parameter - 0.4) < 0.06
    # Order is recovered exactly.
    assert list(np.argsort(-fit.scores)) == list(range(6))


def test_rank_reports_intervals_containing_truth(big_sample: list[Comparison]) -> None:
    res = rank(big_sample, ITEMS, RankingConfig(n_bootstrap=200, seed=3))
    truth = dict(zip(ITEMS, np.array(TRUE) - np.mean(TRUE), strict=True))
    covered = sum(r.lower <= truth[r.item] <= r.upper for r in res.items)
    assert covered >= 5  # 95 % intervals: at most one miss out of six is plausible
    assert res.position_bias_lower < 0.3 < res.position_bias_upper
    assert res.position_bias_lower > 0.0  # the bias is detected, not just estimated
    assert res.tie_parameter_lower < 0.4 < res.tie_parameter_upper
    assert [r.item for r in res.items][0] == "v0"
    assert res.items[0].p_best > 0.9
    assert math.isclose(sum(r.p_best for r in res.items), 1.0)
    assert res.n_comparisons == len(big_sample)
    assert res.n_raters == 400


def test_counts_wins_losses_ties() -> None:
    comps = [
        Comparison("a", "b", "left", "r1"),
        Comparison("b", "a", "left", "r2"),
        Comparison("a", "b", "same", "r3"),
        Comparison("a", "c", "right", "r1"),
        Comparison("c", "b", "left", "r4", weight=0.0),  # shadow-excluded: not counted
    ]
    res = rank(comps, ["a", "b", "c"], RankingConfig(n_bootstrap=20))
    by = res.by_item()
    assert (by["a"].wins, by["a"].losses, by["a"].ties) == (1, 2, 1)
    assert (by["b"].wins, by["b"].losses, by["b"].ties) == (1, 1, 1)
    assert (by["c"].wins, by["c"].losses, by["c"].ties) == (1, 0, 0)
    assert res.n_comparisons == 4
    assert res.n_raters == 3


def test_agrees_with_choix_on_tie_free_bias_free_data() -> None:
    comps = simulate([1.0, 0.3, 0.0, -0.5, -0.8], n_raters=60, per_rater=5, seed=5)
    items = [f"v{k}" for k in range(5)]
    sd = 2.0
    fit = fit_bt(comps, items, ModelOptions(strength_prior_sd=sd, estimate_position_bias=False))
    assert fit.tie_log_nu is None and fit.tie_parameter == 0.0
    idx = {it: k for k, it in enumerate(items)}
    data = [
        (idx[c.left], idx[c.right]) if c.outcome == "left" else (idx[c.right], idx[c.left]) for c in comps
    ]
    # choix minimises alpha * ||theta||^2 - loglik; our prior term is ||theta||^2 / (2 sd^2).
    ref = choix.opt_pairwise(5, data, alpha=1 / (2 * sd**2), tol=1e-10)
    np.testing.assert_allclose(fit.scores, ref - ref.mean(), atol=1e-4)
    # With the bias term free the estimate stays close (no bias in the data).
    fit_b = fit_bt(comps, items, ModelOptions(strength_prior_sd=sd))
    assert abs(fit_b.position_bias) < 0.3
    np.testing.assert_allclose(fit_b.scores, fit.scores, atol=0.1)


def test_weights_act_like_repeated_ballots() -> None:
    base = simulate([0.5, 0.0, -0.5], n_raters=20, per_rater=4, seed=2, log_nu=-1.0)
    doubled = [Comparison(c.left, c.right, c.outcome, c.rater, 2.0 if k % 3 == 0 else 1.0) for k, c in enumerate(base)]
    repeated = base + [c for k, c in enumerate(base) if k % 3 == 0]
    a = fit_bt(doubled, ["v0", "v1", "v2"])
    b = fit_bt(repeated, ["v0", "v1", "v2"])
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-7)
    zeroed = [Comparison(c.left, c.right, c.outcome, c.rater, 0.0 if k % 2 else 1.0) for k, c in enumerate(base)]
    dropped = [c for k, c in enumerate(base) if not k % 2]
    np.testing.assert_allclose(
        fit_bt(zeroed, ["v0", "v1", "v2"]).scores, fit_bt(dropped, ["v0", "v1", "v2"]).scores, atol=1e-7
    )


def test_batched_newton_matches_scipy_fit(big_sample: list[Comparison]) -> None:
    table = VoteTable.from_comparisons(big_sample, ITEMS)
    problem, phi, _, _ = _fit_table(table, ModelOptions())
    c = problem.counts_of(table.counts)[None]
    phi_b, ok = _newton_batch(problem, c, problem.start()[None])
    assert ok
    np.testing.assert_allclose(phi_b[0], phi, atol=1e-6)
    assert isinstance(problem, _Problem)


def test_same_seed_same_result_other_seed_other_intervals() -> None:
    comps = simulate(TRUE, n_raters=40, per_rater=6, seed=9, bias=0.2, log_nu=-1.0)
    a = rank(comps, ITEMS, RankingConfig(n_bootstrap=100, seed=42))
    b = rank(comps, ITEMS, RankingConfig(n_bootstrap=100, seed=42))
    c = rank(comps, ITEMS, RankingConfig(n_bootstrap=100, seed=43))
    assert a == b
    assert [r.score for r in a.items] == [r.score for r in c.items]
    assert [r.lower for r in a.items] != [r.lower for r in c.items]


def test_bootstrap_is_clustered_by_rater() -> None:
    """Two camps of fans with opposite tastes: per-ballot resampling would call a
    winner, resampling raters sees that the answer hinges on which fans turned up."""
    comps = []
    for r in range(12):
        camp_a = r < 7
        for _ in range(15):
            comps.append(Comparison("a", "b", "left" if camp_a else "right", f"r{r}"))
            comps.append(Comparison("b", "a", "right" if camp_a else "left", f"r{r}"))
    per_rater = rank(comps, ["a", "b"], RankingConfig(n_bootstrap=300, seed=1))
    as_ballots = [Comparison(c.left, c.right, c.outcome, f"b{k}") for k, c in enumerate(comps)]
    per_ballot = rank(as_ballots, ["a", "b"], RankingConfig(n_bootstrap=300, seed=1))
    width = lambda res: res.by_item()["a"].upper - res.by_item()["a"].lower  # noqa: E731
    assert width(per_rater) > 2.5 * width(per_ballot)
    assert per_ballot.decision.decided and per_ballot.decision.winner == "a"
    assert not per_rater.decision.decided


def test_decision_fires_on_clear_data() -> None:
    comps = simulate([1.2, 0.2, 0.0, -0.3], n_raters=80, per_rater=6, seed=4, bias=0.3, log_nu=-1.0)
    res = rank(comps, ["v0", "v1", "v2", "v3"], RankingConfig(n_bootstrap=150), DecisionRule("intervals"))
    assert res.decision.decided
    assert res.decision.winner == "v0"
    assert res.decision.more_votes == 0
    top = res.items[0]
    assert all(top.lower > r.upper for r in res.items[1:])


def test_decision_waits_on_close_data_and_estimates_votes() -> None:
    comps = simulate([0.3, 0.2, 0.0, -0.3], n_raters=15, per_rater=4, seed=4, log_nu=-1.0)
    res = rank(comps, ["v0", "v1", "v2", "v3"], RankingConfig(n_bootstrap=150), DecisionRule("intervals"))
    assert not res.decision.decided
    assert res.decision.winner is None
    assert "not decided" in res.decision.reason
    assert res.decision.more_votes is None or res.decision.more_votes > 0


def _rating(item: str, score: float, lower: float, upper: float, p_best: float) -> ItemRating:
    return ItemRating(item, score, lower, upper, p_best, wins=5, losses=5, ties=0)


def test_probability_rule_versus_interval_rule() -> None:
    ratings = [_rating("a", 1.0, 0.8, 1.2, 0.97), _rating("b", 0.5, 0.1, 0.9, 0.03)]
    by_prob = decide(ratings, 100, 10, DecisionRule("probability", p_best_threshold=0.95))
    by_int = decide(ratings, 100, 10, DecisionRule("intervals"))
    either = decide(ratings, 100, 10, DecisionRule("either"))
    assert by_prob.decided and by_prob.winner == "a"
    assert not by_int.decided
    assert either.decided
    # Interval extrapolation: (h_w + h_c) / d = (0.2 + 0.4) / 0.5 = 1.2 -> N' = 144.
    assert by_int.more_votes == 44
    stricter = decide(ratings, 100, 10, DecisionRule("probability", p_best_threshold=0.99))
    assert not stricter.decided and stricter.more_votes > 0


def test_votes_estimate_for_probability_rule_formula() -> None:
    ratings = [_rating("a", 1.0, 0.8, 1.2, 0.5), _rating("b", 0.9, 0.7, 1.1, 0.5)]
    d = decide(ratings, 200, 10, DecisionRule("probability", p_best_threshold=0.95))
    z_c, z_p = 1.959963984540054, 1.6448536269514722
    sigma2 = 2 * (0.2 / z_c) ** 2
    expected = math.ceil(200 * z_p**2 * sigma2 / 0.1**2 - 200)
    assert d.more_votes == expected


def test_tied_leaders_give_no_votes_estimate() -> None:
    ratings = [_rating("a", 0.5, 0.2, 0.8, 0.5), _rating("b", 0.5, 0.2, 0.8, 0.5)]
    d = decide(ratings, 50, 10, DecisionRule("intervals"))
    assert not d.decided and d.more_votes is None


def test_too_few_raters_blocks_a_decision() -> None:
    comps = simulate([2.0, -2.0], n_raters=3, per_rater=40, seed=1)
    res = rank(comps, ["v0", "v1"], RankingConfig(n_bootstrap=50), DecisionRule("either", min_raters=5))
    assert not res.decision.decided
    assert "at least 5 raters" in res.decision.reason
    assert res.notes


# --------------------------------------------------------------------------- degenerate input


def test_no_votes() -> None:
    res = rank([], ["a", "b", "c"])
    assert [r.score for r in res.items] == [0.0, 0.0, 0.0]
    assert all(r.lower is None and r.upper is None and r.p_best is None for r in res.items)
    assert not res.decision.decided and res.decision.reason == "no votes yet"
    assert res.n_comparisons == 0 and res.n_bootstrap == 0
    assert rank([]).items == ()


def test_one_item() -> None:
    res = rank([], ["only"])
    assert len(res.items) == 1
    assert not res.decision.decided
    assert "at least two" in res.decision.reason


def test_item_never_compared() -> None:
    comps = simulate([1.0, 0.0], n_raters=30, per_rater=4, seed=3)
    res = rank(comps, ["v0", "v1", "fresh"], RankingConfig(n_bootstrap=50), DecisionRule("either"))
    fresh = res.by_item()["fresh"]
    assert fresh.comparisons == 0
    assert fresh.lower is None and fresh.p_best is None
    assert fresh.score == pytest.approx(0.0, abs=0.5)  # the prior's centre, nothing more
    assert not res.decision.decided
    assert "fresh" in res.decision.reason
    p = [r.p_best for r in res.items if r.p_best is not None]
    assert sum(p) == pytest.approx(1.0)


def test_all_ties() -> None:
    comps = [Comparison(a, b, "same", f"r{k}") for k in range(30) for a, b in (("x", "y"), ("y", "z"), ("z", "x"))]
    res = rank(comps, ["x", "y", "z"], RankingConfig(n_bootstrap=50), DecisionRule("either"))
    assert all(abs(r.score) < 1e-6 for r in res.items)
    assert all(r.ties == 60 for r in res.items)
    assert math.isfinite(res.tie_parameter) and res.tie_parameter > 5
    assert not res.decision.decided
    assert res.decision.more_votes is None


def test_one_sided_data_stays_finite() -> None:
    comps = [Comparison("a", "b", "left", f"r{k}") for k in range(10)]
    fit = fit_bt(comps)
    assert np.all(np.isfinite(fit.scores)) and fit.scores[0] > fit.scores[1]
    assert fit.scores[0] < 10


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(left="a", right="a", outcome="left", rater="r"),
        dict(left="a", right="b", outcome="better", rater="r"),
        dict(left="a", right="b", outcome="left", rater="r", weight=-1.0),
        dict(left="a", right="b", outcome="left", rater="r", weight=float("nan")),
    ],
)
def test_invalid_comparisons_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Comparison(**kwargs)


def test_unknown_item_is_rejected() -> None:
    with pytest.raises(ValueError, match="not in the contest"):
        rank([Comparison("a", "zzz", "left", "r")], ["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        rank([], ["a", "a"])


def test_probabilities_sum_to_one_and_respect_bias() -> None:
    comps = simulate(TRUE, n_raters=50, per_rater=6, seed=8, bias=0.5, log_nu=-1.0)
    fit = fit_bt(comps, ITEMS)
    pl, pr, ps = fit.probabilities("v2", "v3")
    assert pl + pr + ps == pytest.approx(1.0)
    # Same pair, sides swapped: the left side gains from the bias both times.
    ql, qr, _ = fit.probabilities("v3", "v2")
    assert pl > qr and ql > pr
