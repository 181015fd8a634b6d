"""A small, fast version of the pairing benchmark (the full one is
tests/benchmarks/bench_pairing.py): active selection must beat uniform with a margin."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from voting.stats.pairing import PairingConfig
from voting.stats.ranking import DecisionRule
from voting.stats.simulation import (
    SCENARIOS,
    BudgetTrace,
    FanModel,
    RunResult,
    SimConfig,
    run_many,
    simulate_budget,
    simulate_run,
    simulate_trace,
    summarise,
    votes_for_accuracy,
)

FAST = SimConfig(max_votes=1500, check_every=20, n_bootstrap=60, rule=DecisionRule("probability"))


ACTIVE = ("top_two", "best_contrasts")
#: Seeds of the fixed-budget test: on 10 seeds the share of correct checks moved by up
#: to 0.25 between seed sets for every strategy (top_two 0.73 on seeds 0-9, 0.98 on
#: 10-29; best_contrasts 0.98 and 0.79), so a 0.1 margin needs more.
BUDGET_SEEDS = range(30)


def test_the_site_selector_finds_the_best_sooner_than_uniform() -> None:
    """Fixed budget, no decision rule: after 200-400 ballots on two close leaders the
    fitted leader is the true best far more often with the site's active selector."""
    scenario = SCENARIOS["close_top_two"]
    rates = {}
    for strategy in (PairingConfig().strategy, "uniform"):
        traces = [simulate_budget(scenario, strategy, seed, 400, FanModel(), SimConfig(check_every=20))
                  for seed in BUDGET_SEEDS]
        assert all(t.checkpoints == tuple(range(20, 401, 20)) for t in traces)
        rates[strategy] = np.mean([t.correct[9:] for t in traces])  # checkpoints 200..400
    assert rates["top_two"] >= 0.85, rates
    assert rates["top_two"] >= rates["uniform"] + 0.1, rates


@pytest.mark.parametrize("strategy", ACTIVE)
def test_active_pairing_decides_clear_winner_under_the_probability_rule(strategy: str) -> None:
    results = run_many([SCENARIOS["clear_winner"]], [strategy], range(6), FanModel(), FAST)
    (active,) = summarise(results)
    assert active.decided == 6
    assert active.wrong <= 1
    assert active.mean_votes < 500, active.votes


def test_votes_for_accuracy_and_settled_at() -> None:
    cps = (20, 40, 60, 80)
    traces = [
        BudgetTrace("s", "uniform", 0, cps, (False, True, True, True), 0, 0.0),
        BudgetTrace("s", "uniform", 1, cps, (True, False, True, True), 0, 0.0),
        BudgetTrace("s", "uniform", 2, cps, (True, True, False, True), 0, 0.0),
        BudgetTrace("s", "uniform", 3, cps, (True, True, True, False), 0, 0.0),
    ]
    assert [t.settled_at for t in traces] == [40, 60, 80, None]
    # correct shares per checkpoint: 0.75 each -> never 0.95; at 0.7 from the first one
    assert votes_for_accuracy(traces, 0.95) is None
    assert votes_for_accuracy(traces, 0.7) == 20
    assert votes_for_accuracy(traces[:3], 0.6) == 20
    assert votes_for_accuracy(traces[:2], 0.9) == 60
    assert votes_for_accuracy([], 0.9) is None


def test_a_run_is_reproducible_and_uses_goldens() -> None:
    short = SimConfig(max_votes=200, check_every=20, n_bootstrap=30, rule=DecisionRule("probability"))
    a = simulate_run(SCENARIOS["one_bad_rest_close"], "best_contrasts", 3, FanModel(), short)
    b = simulate_run(SCENARIOS["one_bad_rest_close"], "best_contrasts", 3, FanModel(), short)
    assert (a.votes, a.winner, a.golden_ballots) == (b.votes, b.winner, b.golden_ballots)
    assert a.golden_ballots > 0
    assert a.votes % short.check_every == 0 or not a.decided


def test_undecided_runs_stop_at_the_budget() -> None:
    config = SimConfig(max_votes=60, check_every=20, n_bootstrap=30, rule=DecisionRule("intervals"))
    r = simulate_run(SCENARIOS["close_top_two"], "uniform", 0, FanModel(), config)
    assert not r.decided and r.votes == 60 and r.winner is None and not r.correct


def test_summary_counts_errors_and_undecided_runs() -> None:
    runs = [
        RunResult("s", "uniform", 0, True, 100, 10, "v0", True, 0.1),
        RunResult("s", "uniform", 1, True, 200, 20, "v1", False, 0.1),
        RunResult("s", "uniform", 2, False, 900, 90, None, False, 0.1),
    ]
    (s,) = summarise(runs)
    assert (s.runs, s.decided, s.wrong) == (3, 2, 1)
    assert s.error_rate == 0.5
    assert s.mean_votes == 400 and s.median_votes == 200
    assert np.isnan(summarise([runs[2]])[0].error_rate)


def test_a_rule_trace_stops_where_simulate_run_does() -> None:
    """One trace run past the rule gives, for every threshold up to ``until``, the very
    run simulate_run gives with that threshold (the selector never sees the rule)."""
    scenario = SCENARIOS["close_top_two"]
    config = SimConfig(max_votes=400, check_every=20, n_bootstrap=30, rule=DecisionRule("probability"))
    for strategy, seed in (("uniform", 0), ("best_contrasts", 1), ("top_two", 2)):
        trace = simulate_trace(scenario, strategy, seed, 0.99, FanModel(), config)
        assert trace.checkpoints == tuple(range(20, trace.checkpoints[-1] + 1, 20))
        previous = 0
        for threshold in (0.8, 0.95):
            run = simulate_run(scenario, strategy, seed, FanModel(),
                               replace(config, rule=DecisionRule("probability", p_best_threshold=threshold)))
            stopped = trace.stop(threshold)
            assert (stopped.decided, stopped.votes, stopped.correct, stopped.golden_ballots) == (
                run.decided, run.votes, run.correct, run.golden_ballots)
            assert stopped.votes >= previous  # a stricter threshold never fires sooner
            previous = stopped.votes
    with pytest.raises(ValueError, match="probability"):
        simulate_trace(scenario, "uniform", 0, 0.95, FanModel(), replace(config, rule=DecisionRule("intervals")))
