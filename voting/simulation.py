"""Seeded contest simulation: how many votes until the best variant is known?

Fans arrive one after another and cast a few ballots each (the bootstrap is clustered by
rater, so this matters). Honest fans answer from the Davidson model with a position
bias; a share of fans are random clickers (fast, mostly a random side, sometimes
"same"). Golden pairs are mixed in, rater weights come from :mod:`voting.reliability`,
pairs come from :mod:`voting.pairing` (active or uniform), and every ``check_every``
contest ballots :func:`voting.ranking.rank_table` applies the decision rule. A run ends
when the rule fires (recording the vote count and whether the declared winner is the
true best) or at ``max_votes``.

Everything derives from one integer seed, so a run is reproducible; the active and
uniform runs with the same seed see the same fans (same types and ballot counts).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from voting.pairing import PairingConfig, Strategy, choose_pair_from_table
from voting.ranking import (
    DecisionRule,
    ModelOptions,
    RankingConfig,
    VoteTable,
    outcome_probabilities,
    rank_table,
)
from voting.reliability import (
    BallotRecord,
    GoldenPolicy,
    ReliabilityPolicy,
    assess_raters,
    base_weight,
    golden_posterior,
    make_golden_pair,
    should_serve_golden,
)

OUTCOME_NAMES = ("left", "right", "same")


@dataclass(frozen=True)
class Scenario:
    """True log-strengths of the variants; index 0 is not necessarily the best."""

    name: str
    strengths: tuple[float, ...]
    description: str

    @property
    def best(self) -> int:
        return int(np.argmax(self.strengths))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("clear_winner", (1.0, 0.4, 0.2, 0.0, -0.2, -0.5), "best is 0.6 log-units ahead"),
        Scenario("close_top_two", (0.6, 0.3, -0.1, -0.2, -0.4, -0.6), "top two 0.3 apart"),
        Scenario("three_contenders", (0.5, 0.25, 0.2, -0.3, -0.5, -0.7), "a leader and two close chasers"),
        Scenario("one_bad_rest_close", (0.5, 0.2, 0.1, 0.0, -0.1, -1.5), "one clearly broken variant"),
    )
}


@dataclass(frozen=True)
class FanModel:
    """Simulated audience."""

    position_bias: float = 0.3
    tie_log_nu: float = math.log(0.4)
    random_share: float = 0.15
    random_probs: tuple[float, float, float] = (0.45, 0.45, 0.10)
    ballots_mean: float = 5.0
    honest_watch_seconds: float = 12.0
    random_watch_seconds: float = 1.5
    honest_golden_identical_same: float = 0.8
    honest_golden_damaged_correct: float = 0.95


@dataclass(frozen=True)
class SimConfig:
    """Simulation settings; ``rule`` defaults to "P(best) >= 0.95"."""

    max_votes: int = 3000
    check_every: int = 20
    n_bootstrap: int = 100
    rule: DecisionRule = DecisionRule(method="probability", p_best_threshold=0.95)
    use_reliability: bool = True
    golden: GoldenPolicy = GoldenPolicy()
    reliability: ReliabilityPolicy = ReliabilityPolicy()
    pairing: PairingConfig = PairingConfig()
    model: ModelOptions = ModelOptions()


@dataclass(frozen=True)
class RunResult:
    """One simulated contest. ``votes`` = contest ballots when the rule fired (or
    ``max_votes`` if it never did); goldens are counted separately."""

    scenario: str
    strategy: str
    seed: int
    decided: bool
    votes: int
    golden_ballots: int
    winner: str | None
    correct: bool
    seconds: float


def simulate_run(
    scenario: Scenario,
    strategy: Strategy,
    seed: int,
    fans: FanModel = FanModel(),
    config: SimConfig = SimConfig(),
) -> RunResult:
    """One contest from first vote to decision (or ``max_votes``)."""
    t0 = time.perf_counter()
    n = len(scenario.strengths)
    items = tuple(f"v{k}" for k in range(n))
    theta = np.asarray(scenario.strengths, dtype=float)
    # Separate streams: the fans (types, ballot counts, answers) do not depend on which
    # pairs the selector picks, so active and uniform runs face the same crowd.
    crowd_rng = np.random.default_rng([seed, 1])
    answer_rng = np.random.default_rng([seed, 2])
    pick_rng = np.random.default_rng([seed, 3])
    pairing = replace(config.pairing, strategy=strategy, model=config.model)
    ranking_cfg = RankingConfig(model=config.model, n_bootstrap=config.n_bootstrap, seed=seed)

    table = VoteTable.empty(items)
    raw_by_rater: dict[str, np.ndarray] = {}
    weights: dict[str, float] = {}
    default_weight = base_weight(golden_posterior(0, 0, config.reliability)[0], config.reliability)
    records: list[BallotRecord] = []
    votes = goldens = 0
    fan_no = 0
    next_check = config.check_every

    while votes < config.max_votes:
        rater = f"fan{fan_no}"
        fan_no += 1
        is_random = crowd_rng.random() < fans.random_share
        n_ballots = 1 + crowd_rng.poisson(fans.ballots_mean - 1)
        judged: set[frozenset[str]] = set()
        served = golden_here = 0
        raw_by_rater[rater] = np.zeros((n, n, 3))
        weights.setdefault(rater, default_weight if config.use_reliability else 1.0)
        for _ in range(n_ballots):
            if config.use_reliability and should_serve_golden(served, golden_here, answer_rng, config.golden):
                served += 1
                golden_here += 1
                goldens += 1
                v = items[int(answer_rng.integers(n))]
                damaged = None if answer_rng.random() < 0.5 else v + "~damaged"
                g = make_golden_pair(v, damaged, answer_rng)
                ans = _golden_answer(g.expected, g.kind, is_random, fans, answer_rng)
                records.append(BallotRecord(rater, g.left, g.right, ans, _watch(is_random, fans, answer_rng), g.expected))
                continue
            choice = choose_pair_from_table(table, judged, pick_rng, pairing)
            if choice is None:
                break
            served += 1
            i, j = items.index(choice.left), items.index(choice.right)
            judged.add(frozenset((choice.left, choice.right)))
            if is_random:
                o = int(answer_rng.choice(3, p=fans.random_probs))
            else:
                p = outcome_probabilities(theta[i], theta[j], fans.position_bias, fans.tie_log_nu)
                o = int(answer_rng.choice(3, p=p))
            table.add(i, j, o, weights[rater])
            raw_by_rater[rater][i, j, o] += 1
            records.append(
                BallotRecord(rater, choice.left, choice.right, OUTCOME_NAMES[o], _watch(is_random, fans, answer_rng))
            )
            votes += 1
            if votes >= next_check:
                next_check += config.check_every
                if config.use_reliability:
                    weights.update({r: a.weight for r, a in assess_raters(records, config.reliability).items()})
                    table = _rebuild(items, raw_by_rater, weights)
                raters = [r for r in raw_by_rater if weights[r] > 0 and raw_by_rater[r].any()]
                per_rater = np.array([raw_by_rater[r] * weights[r] for r in raters]).reshape(-1, n, n, 3)
                result = rank_table(table, per_rater, ranking_cfg, config.rule)
                if result.decision.decided:
                    winner = result.decision.winner
                    return RunResult(
                        scenario.name, strategy, seed, True, votes, goldens, winner,
                        winner == items[scenario.best], time.perf_counter() - t0,
                    )
            if votes >= config.max_votes:
                break
    return RunResult(scenario.name, strategy, seed, False, votes, goldens, None, False, time.perf_counter() - t0)


def _rebuild(items: Sequence[str], raw_by_rater: dict[str, np.ndarray], weights: dict[str, float]) -> VoteTable:
    table = VoteTable.empty(items)
    for r, raw in raw_by_rater.items():
        table.counts += raw * weights[r]
        if weights[r] > 0:
            table.raw += raw.astype(np.int64)
    return table


def _golden_answer(expected: str, kind: str, is_random: bool, fans: FanModel, rng: np.random.Generator) -> str:
    if is_random:
        return OUTCOME_NAMES[int(rng.choice(3, p=fans.random_probs))]
    p_right = fans.honest_golden_identical_same if kind == "identical" else fans.honest_golden_damaged_correct
    if rng.random() < p_right:
        return expected
    wrong = [o for o in OUTCOME_NAMES if o != expected]
    return wrong[int(rng.integers(len(wrong)))]


def _watch(is_random: bool, fans: FanModel, rng: np.random.Generator) -> float:
    centre = fans.random_watch_seconds if is_random else fans.honest_watch_seconds
    return float(centre * rng.lognormal(0.0, 0.4))


@dataclass(frozen=True)
class Summary:
    """Aggregate over seeds for one (scenario, strategy)."""

    scenario: str
    strategy: str
    runs: int
    decided: int
    wrong: int
    mean_votes: float
    median_votes: float
    mean_golden: float
    mean_seconds: float
    votes: tuple[int, ...] = field(default_factory=tuple)

    @property
    def error_rate(self) -> float:
        return self.wrong / self.decided if self.decided else float("nan")


def run_many(
    scenarios: Iterable[Scenario],
    strategies: Iterable[Strategy],
    seeds: Iterable[int],
    fans: FanModel = FanModel(),
    config: SimConfig = SimConfig(),
) -> list[RunResult]:
    """Every combination, in a fixed order (so the output is reproducible)."""
    seeds = list(seeds)
    strategies = list(strategies)
    return [
        simulate_run(sc, st, seed, fans, config) for sc in scenarios for st in strategies for seed in seeds
    ]


def summarise(results: Iterable[RunResult]) -> list[Summary]:
    """Group runs by (scenario, strategy). Undecided runs count at ``max_votes`` in the
    vote means, which flatters nobody: it understates the slower strategy's cost."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.scenario, r.strategy), []).append(r)
    out = []
    for (sc, st), rs in groups.items():
        v = np.array([r.votes for r in rs])
        out.append(
            Summary(
                scenario=sc,
                strategy=st,
                runs=len(rs),
                decided=sum(r.decided for r in rs),
                wrong=sum(r.decided and not r.correct for r in rs),
                mean_votes=float(v.mean()),
                median_votes=float(np.median(v)),
                mean_golden=float(np.mean([r.golden_ballots for r in rs])),
                mean_seconds=float(np.mean([r.seconds for r in rs])),
                votes=tuple(int(x) for x in v),
            )
        )
    return out
