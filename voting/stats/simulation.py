"""Seeded contest simulation: how many votes until the best variant is known?

Fans arrive one after another and cast a few ballots each (the bootstrap is clustered by
rater, so this matters). Honest fans answer from the Davidson model with a position
bias; a share of fans are random clickers (fast, mostly a random side, sometimes
"same"). Golden pairs are mixed in, rater weights come from :mod:`voting.stats.reliability`,
and pairs come from :mod:`voting.stats.pairing` (active or uniform; the active selector's
posterior is refitted warm-started after every ballot, as the web service does).

Two ways to run a contest:

* :func:`simulate_run`: every ``check_every`` contest ballots
  :func:`voting.stats.ranking.rank_table` applies the decision rule; the run ends when it
  fires (recording the vote count and whether the declared winner is the true best) or
  at ``max_votes``.
* :func:`simulate_budget`: a fixed number of ballots with no decision rule; every
  ``check_every`` ballots an oracle check records whether the fitted leader is the true
  best. Over many seeds, :func:`votes_for_accuracy` gives the ballots a strategy needs
  until 95 % of contests have the right leader, which compares strategies at the same
  error rate.

Everything derives from one integer seed, so a run is reproducible; runs with the same
seed see the same fans (same types and ballot counts) whatever the strategy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from voting.stats.pairing import (
    PairingConfig,
    Posterior,
    Strategy,
    choose_pair_from_table,
    fit_posterior,
)
from voting.stats.ranking import (
    DecisionRule,
    ModelOptions,
    RankingConfig,
    VoteTable,
    fit_bt,
    outcome_probabilities,
    rank_table,
)
from voting.stats.reliability import (
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


class _Contest:
    """One simulated contest in progress: the crowd, the vote table, the weights.

    :meth:`vote` casts the next contest ballot (serving goldens and new fans as they
    come); :meth:`refresh` recomputes reliability weights, as the live site does after
    ballots arrive.
    """

    def __init__(self, scenario: Scenario, strategy: Strategy, seed: int, fans: FanModel, config: SimConfig) -> None:
        self.scenario, self.fans, self.config = scenario, fans, config
        self.n = len(scenario.strengths)
        self.items = tuple(f"v{k}" for k in range(self.n))
        self.theta = np.asarray(scenario.strengths, dtype=float)
        # Separate streams: the fans (types, ballot counts) do not depend on which pairs
        # the selector picks, so active and uniform runs face the same crowd.
        self.crowd_rng = np.random.default_rng([seed, 1])
        self.answer_rng = np.random.default_rng([seed, 2])
        self.pick_rng = np.random.default_rng([seed, 3])
        self.pairing = replace(config.pairing, strategy=strategy, model=config.model)
        self.table = VoteTable.empty(self.items)
        self.posterior: Posterior | None = None
        self.raw_by_rater: dict[str, np.ndarray] = {}
        self.weights: dict[str, float] = {}
        self.default_weight = (
            base_weight(golden_posterior(0, 0, config.reliability)[0], config.reliability)
            if config.use_reliability else 1.0
        )
        self.records: list[BallotRecord] = []
        self.votes = self.goldens = 0
        self.fan_no = 0
        self._fan_left = 0  # ballots the current fan still casts

    def _next_fan(self) -> None:
        self.rater = f"fan{self.fan_no}"
        self.fan_no += 1
        self.is_random = self.crowd_rng.random() < self.fans.random_share
        self._fan_left = 1 + int(self.crowd_rng.poisson(self.fans.ballots_mean - 1))
        self.judged: set[frozenset[str]] = set()
        self.served = self.golden_here = 0
        self.raw_by_rater[self.rater] = np.zeros((self.n, self.n, 3))
        self.weights.setdefault(self.rater, self.default_weight)

    def vote(self) -> None:
        """Cast contest ballots until one more has been counted."""
        fans, rng = self.fans, self.answer_rng
        while True:
            if self._fan_left == 0:
                self._next_fan()
            self._fan_left -= 1
            if self.config.use_reliability and should_serve_golden(
                self.served, self.golden_here, rng, self.config.golden
            ):
                self.served += 1
                self.golden_here += 1
                self.goldens += 1
                v = self.items[int(rng.integers(self.n))]
                damaged = None if rng.random() < 0.5 else v + "~damaged"
                g = make_golden_pair(v, damaged, rng)
                ans = _golden_answer(g.expected, g.kind, self.is_random, fans, rng)
                self.records.append(
                    BallotRecord(self.rater, g.left, g.right, ans, _watch(self.is_random, fans, rng), g.expected)
                )
                continue
            if self.pairing.strategy != "uniform" and self.votes >= self.n * self.pairing.min_per_item // 2:
                # Past the coverage phase the selector needs the posterior: refit it
                # warm-started from the previous one, as the web service does.
                self.posterior = fit_posterior(self.table, self.config.model, self.posterior)
            choice = choose_pair_from_table(self.table, self.judged, self.pick_rng, self.pairing, self.posterior)
            if choice is None:
                self._fan_left = 0
                continue
            self.served += 1
            i, j = self.items.index(choice.left), self.items.index(choice.right)
            self.judged.add(frozenset((choice.left, choice.right)))
            if self.is_random:
                o = int(rng.choice(3, p=fans.random_probs))
            else:
                p = outcome_probabilities(self.theta[i], self.theta[j], fans.position_bias, fans.tie_log_nu)
                o = int(rng.choice(3, p=p))
            self.table.add(i, j, o, self.weights[self.rater])
            self.raw_by_rater[self.rater][i, j, o] += 1
            self.records.append(
                BallotRecord(self.rater, choice.left, choice.right, OUTCOME_NAMES[o], _watch(self.is_random, fans, rng))
            )
            self.votes += 1
            return

    def refresh(self) -> None:
        """Recompute the rater weights from everything so far and rebuild the table."""
        if self.config.use_reliability:
            self.weights.update({r: a.weight for r, a in assess_raters(self.records, self.config.reliability).items()})
            self.table = _rebuild(self.items, self.raw_by_rater, self.weights)

    def per_rater(self) -> np.ndarray:
        raters = [r for r in self.raw_by_rater if self.weights[r] > 0 and self.raw_by_rater[r].any()]
        return np.array([self.raw_by_rater[r] * self.weights[r] for r in raters]).reshape(-1, self.n, self.n, 3)


def simulate_run(
    scenario: Scenario,
    strategy: Strategy,
    seed: int,
    fans: FanModel = FanModel(),
    config: SimConfig = SimConfig(),
) -> RunResult:
    """One contest from first vote to decision (or ``max_votes``)."""
    t0 = time.perf_counter()
    contest = _Contest(scenario, strategy, seed, fans, config)
    ranking_cfg = RankingConfig(model=config.model, n_bootstrap=config.n_bootstrap, seed=seed)
    while contest.votes < config.max_votes:
        contest.vote()
        if contest.votes % config.check_every == 0:
            contest.refresh()
            result = rank_table(contest.table, contest.per_rater(), ranking_cfg, config.rule)
            if result.decision.decided:
                winner = result.decision.winner
                return RunResult(
                    scenario.name, strategy, seed, True, contest.votes, contest.goldens, winner,
                    winner == contest.items[scenario.best], time.perf_counter() - t0,
                )
    return RunResult(
        scenario.name, strategy, seed, False, contest.votes, contest.goldens, None, False, time.perf_counter() - t0
    )


@dataclass(frozen=True)
class RuleTrace:
    """One contest checked like :func:`simulate_run` but run on past the rule, so that
    one run answers "when would a P(best) rule with threshold t have fired" for every
    ``t`` up to ``until``. Per check: the contest ballots so far, the leader's bootstrap
    P(best), whether every floor of the rule other than the threshold is met (ballots
    per variant, raters; and P(best) > 0), and whether the leader is the true best."""

    scenario: str
    strategy: str
    seed: int
    checkpoints: tuple[int, ...]
    p_best: tuple[float, ...]
    eligible: tuple[bool, ...]
    correct: tuple[bool, ...]
    goldens: tuple[int, ...]
    max_votes: int
    seconds: float

    def stop(self, threshold: float) -> RunResult:
        """The run as :func:`simulate_run` would have ended it under a "probability"
        rule with this threshold (and the traced rule's floors)."""
        checks = zip(self.checkpoints, self.p_best, self.eligible, self.correct, self.goldens, strict=True)
        for v, p, ok, right, g in checks:
            if ok and p >= threshold:
                return RunResult(self.scenario, self.strategy, self.seed, True, v, g, None, right, self.seconds)
        return RunResult(self.scenario, self.strategy, self.seed, False, self.max_votes,
                         self.goldens[-1] if self.goldens else 0, None, False, self.seconds)


def simulate_trace(
    scenario: Scenario,
    strategy: Strategy,
    seed: int,
    until: float,
    fans: FanModel = FanModel(),
    config: SimConfig = SimConfig(),
) -> RuleTrace:
    """:func:`simulate_run` under ``config.rule`` (method "probability") with its
    threshold replaced by ``until``, recording every check. The selector never sees the
    rule, so ``trace.stop(t)`` for ``t <= until`` is exactly what :func:`simulate_run`
    gives with threshold ``t`` (but ``winner`` is left out and ``seconds`` is the whole trace's)."""
    if config.rule.method != "probability":
        raise ValueError("a rule trace needs the probability rule")
    t0 = time.perf_counter()
    contest = _Contest(scenario, strategy, seed, fans, config)
    ranking_cfg = RankingConfig(model=config.model, n_bootstrap=config.n_bootstrap, seed=seed)
    # Threshold ~0: "decided" then says that every floor is met (a threshold of exactly 0
    # would break the votes-needed estimate, which takes its normal quantile).
    floors_only = replace(config.rule, p_best_threshold=1e-9)
    checkpoints: list[int] = []
    p_best: list[float] = []
    eligible: list[bool] = []
    correct: list[bool] = []
    goldens: list[int] = []
    while contest.votes < config.max_votes:
        contest.vote()
        if contest.votes % config.check_every == 0:
            contest.refresh()
            goldens.append(contest.goldens)
            result = rank_table(contest.table, contest.per_rater(), ranking_cfg, floors_only)
            top = min(result.items, key=lambda r: (-r.score, r.item))
            checkpoints.append(contest.votes)
            p_best.append(top.p_best if top.p_best is not None else 0.0)
            eligible.append(result.decision.decided)
            correct.append(top.item == contest.items[scenario.best])
            if eligible[-1] and p_best[-1] >= until:
                break
    return RuleTrace(
        scenario.name, strategy, seed, tuple(checkpoints), tuple(p_best), tuple(eligible), tuple(correct),
        tuple(goldens), config.max_votes, time.perf_counter() - t0,
    )


@dataclass(frozen=True)
class BudgetTrace:
    """One contest run to a fixed budget. ``correct[k]`` says whether the fitted leader
    (the point estimate's best variant) after ``checkpoints[k]`` contest ballots is the
    true best: the "oracle check" that needs no decision rule."""

    scenario: str
    strategy: str
    seed: int
    checkpoints: tuple[int, ...]
    correct: tuple[bool, ...]
    golden_ballots: int
    seconds: float

    @property
    def settled_at(self) -> int | None:
        """Ballots after which the leader is the true best at every later checkpoint
        (``None`` if it is wrong at the budget)."""
        if not self.correct or not self.correct[-1]:
            return None
        k = len(self.correct)
        while k > 0 and self.correct[k - 1]:
            k -= 1
        return self.checkpoints[k] if k < len(self.checkpoints) else None


def simulate_budget(
    scenario: Scenario,
    strategy: Strategy,
    seed: int,
    budget: int,
    fans: FanModel = FanModel(),
    config: SimConfig = SimConfig(),
) -> BudgetTrace:
    """Run a contest for ``budget`` contest ballots, checking every
    ``config.check_every`` whether the fitted leader is the true best."""
    t0 = time.perf_counter()
    contest = _Contest(scenario, strategy, seed, fans, config)
    checkpoints: list[int] = []
    correct: list[bool] = []
    while contest.votes < budget:
        contest.vote()
        if contest.votes % config.check_every == 0:
            contest.refresh()
            fit = fit_bt(contest.table, options=config.model)
            checkpoints.append(contest.votes)
            correct.append(int(np.argmax(fit.scores)) == scenario.best)
    return BudgetTrace(
        scenario.name, strategy, seed, tuple(checkpoints), tuple(correct), contest.goldens, time.perf_counter() - t0
    )


def votes_for_accuracy(traces: Sequence[BudgetTrace], target: float = 0.95) -> int | None:
    """Fewest ballots from which the share of runs whose fitted leader is the true best
    stays at or above ``target`` up to the budget (``None``: not reached within it).
    All traces must share their checkpoints."""
    if not traces:
        return None
    rate = np.mean([t.correct for t in traces], axis=0)
    if rate[-1] < target:
        return None
    k = len(rate)
    while k > 0 and rate[k - 1] >= target:
        k -= 1
    return traces[0].checkpoints[k]


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
