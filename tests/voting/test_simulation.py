"""A small, fast version of the pairing benchmark (the full one is
tests/benchmarks/bench_pairing.py): active selection must beat uniform with a margin."""

from __future__ import annotations

import numpy as np

from voting.ranking import DecisionRule
from voting.simulation import (
    SCENARIOS,
    FanModel,
    RunResult,
    SimConfig,
    run_many,
    simulate_run,
    summarise,
)

FAST = SimConfig(max_votes=1500, check_every=20, n_bootstrap=60, rule=DecisionRule("probability"))


def test_active_pairing_needs_fewer_votes_than_uniform() -> None:
    seeds = range(6)
    results = run_many([SCENARIOS["clear_winner"]], ["top_two_thompson", "uniform"], seeds, FanModel(), FAST)
    by = {s.strategy: s for s in summarise(results)}
    active, uniform = by["top_two_thompson"], by["uniform"]
    assert active.runs == uniform.runs == 6
    assert active.decided == 6 and uniform.decided == 6
    assert active.mean_votes <= 0.8 * uniform.mean_votes, (active.votes, uniform.votes)
    assert active.wrong <= uniform.wrong + 1


def test_a_run_is_reproducible_and_uses_goldens() -> None:
    short = SimConfig(max_votes=200, check_every=20, n_bootstrap=30, rule=DecisionRule("probability"))
    a = simulate_run(SCENARIOS["one_bad_rest_close"], "top_two_thompson", 3, FanModel(), short)
    b = simulate_run(SCENARIOS["one_bad_rest_close"], "top_two_thompson", 3, FanModel(), short)
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
