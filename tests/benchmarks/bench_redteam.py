"""Red-team benchmark: scripted attackers against seeded honest crowds (a command, not a test).

Run from the repository root (nice it on a shared machine)::

    nice -n 10 .venv/bin/python tests/benchmarks/bench_redteam.py --seeds 12  # writes docs/benchmarks-redteam.md
    .venv/bin/python tests/benchmarks/bench_redteam.py --quick --no-cost     # smoke run, no doc

Every ballot goes through the functions the site's tally runs after each vote, with
the site's default settings: the anomaly checks (``voting.stats.anomalies``, shadow
exclusion), rater reliability from golden pairs (``voting.stats.reliability``), trust-tier
weights (anonymous 0.5, account 1.0), the ranking with the site's default decision rule
(``voting.stats.ranking.SITE_DEFAULT_RULE``) and the robust decision
(``voting.stats.robust``: at least 3 networks, 600 s, the same decided winner without the
``trim`` share of the ballot weight most favourable to it, the same winner without any
one network). Every trim of ``--trims`` (0, 0.1, 0.2, 0.3 by default; 0 is the rule
before the trim) is played on the same ballots in one pass: at each check one fit and
one network check, then the trim check of each trim not yet decided. What it does not drive is the HTTP layer: the proof of work, the blind media
and watch evidence are assumed solved by every attacker (they are, at these skill
levels: each of them is a few lines of script), so the attackers here are the ones
those layers do not stop.

Honest crowd (per seed, one of the four scenarios of ``voting.stats.simulation`` in
turn): 800 contest ballots over two hours; fans arrive as a Poisson stream and cast
1 + Poisson(4) ballots each, answer from the Davidson model (position bias, ties),
15 % of them random clickers; goldens at 10 %. Each fan has a network (92 % their own,
8 % shared among 30 household/office networks), a user agent from a Zipf-distributed
pool of 40 (the commonest about 20 % of fans), 80 % anonymous and 20 % signed in;
decision times log-normal around 15 s (at least the 5 s minimum watch, plus a
0.2–3 s click). Pairs are uniform among those the fan has not
judged.

Attackers always back one target variant (the honest crowd's second best), identified
from the media bytes (identical-golden sides hash alike, so they answer those right):

* ``L1 one network``: fresh identity every 3 ballots, all from one /24, one user agent,
  a fixed 6 s per ballot, all within 10 minutes;
* ``L2 many networks``: as L1 but every identity from its own network (forwarded
  through a trusted proxy header), spread over the honest crowd's two hours;
* ``L3 human-like``: many networks, user agents drawn like the honest crowd's, honest-
  looking log-normal timing, golden pairs answered right, honest answers on pairs
  without the target.

At 10, 20, 50 and 100 % of the contest's ballots (100 %: no honest fans at all).
Reported per cell: runs decided for the attacker's target, runs whose honest-only
decision was flipped (decided for another variant), the share of the attackers'
nominal weight still counted at the end, and honest raters (and their ballots)
shadow-excluded.

Cost to honest contests: the same honest crowds alone, continued at the same pace to
``--budget`` contest ballots (3000, the budget of ``voting.stats.simulation``; the first
800 are the red-team crowd), checked every 50 ballots up to 800 and every 200 after:
per trim, the contest ballots before the first robust decision, whether it came within
800 and within the budget, and whether it named the true best. The trim over the whole
contest (``per_pair=False``) is measured there too.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from voting.stats import anomalies  # noqa: E402
from voting.stats.ranking import (  # noqa: E402
    SITE_DEFAULT_RULE,
    Comparison,
    RankingConfig,
    outcome_probabilities,
    rank,
)
from voting.stats.reliability import BallotRecord, assess_raters, make_golden_pair  # noqa: E402
from voting.stats.robust import DEFAULT_TRIM, NetworkBallot, robust_check, trim_check  # noqa: E402
from voting.stats.simulation import SCENARIOS, FanModel  # noqa: E402

SKILLS = ("L1 one network", "L2 many networks", "L3 human-like")
SHARES = (0.10, 0.20, 0.50, 1.00)
HONEST_BALLOTS = 800
HONEST_SECONDS = 7200.0
ATTACK_ONLY_BALLOTS = 300
TIER_WEIGHTS = {"anonymous": 0.5, "screening": 1.0, "account": 1.0}
MIN_NETWORKS, MIN_SECONDS = 3, 600.0
CHECK_EVERY = 25
COST_CHECK_EVERY = (50, 200)  # honest-cost runs: every 50 ballots up to 800, every 200 after (CPU time)
GOLDEN_RATE = 0.1
UA_POOL = 40


@dataclass
class Ballot:
    rater: str
    kind: str  # honest, random, attacker
    tier: str
    network: str
    ua: str
    created: float
    served: float
    cast: float
    left: str
    right: str
    outcome: str
    expected: str | None = None


@dataclass
class RunOutcome:
    skill: str
    share: float
    seed: int
    scenario: str
    decided: bool
    winner: str | None
    target: str
    baseline_decided: bool
    baseline_winner: str | None
    attacker_weight_kept: float
    honest_raters: int
    honest_excluded: int
    honest_ballots: int
    honest_ballots_excluded: int
    reasons: dict[str, int] = field(default_factory=dict)
    trim: float = 0.0
    best: str = ""


def _ua_weights() -> np.ndarray:
    w = 1.0 / np.arange(1, UA_POOL + 1)
    return w / w.sum()


def _answer(
    theta: np.ndarray,
    items: tuple[str, ...],
    left: str,
    right: str,
    fans: FanModel,
    rng: np.random.Generator,
) -> str:
    p = outcome_probabilities(
        theta[items.index(left)], theta[items.index(right)], fans.position_bias, fans.tie_log_nu
    )
    return ("left", "right", "same")[int(rng.choice(3, p=p))]


def _golden_answer(
    expected: str, kind: str, random_fan: bool, fans: FanModel, rng: np.random.Generator
) -> str:
    if random_fan:
        return ("left", "right", "same")[int(rng.choice(3, p=fans.random_probs))]
    right = (
        fans.honest_golden_identical_same
        if kind == "identical"
        else fans.honest_golden_damaged_correct
    )
    if rng.random() < right:
        return expected
    return [o for o in ("left", "right", "same") if o != expected][int(rng.integers(2))]


def _pair(
    items: tuple[str, ...], judged: set[frozenset[str]], rng: np.random.Generator
) -> tuple[str, str] | None:
    pairs = [
        (a, b)
        for k, a in enumerate(items)
        for b in items[k + 1 :]
        if frozenset((a, b)) not in judged
    ]
    if not pairs:
        return None
    a, b = pairs[int(rng.integers(len(pairs)))]
    return (a, b) if rng.random() < 0.5 else (b, a)


def honest_crowd(
    seed: int,
    theta: np.ndarray,
    items: tuple[str, ...],
    fans: FanModel,
    n_ballots: int = HONEST_BALLOTS,
    seconds: float = HONEST_SECONDS,
) -> list[Ballot]:
    """``n_ballots`` contest ballots over ``seconds``; a longer crowd with the same seed
    starts with the same fans (the cost runs extend the red-team crowd)."""
    rng = np.random.default_rng([seed, 11])
    ua_p = _ua_weights()
    out: list[Ballot] = []
    n_contest = 0
    fan = 0
    rate = n_ballots / fans.ballots_mean / seconds  # fans per second
    t = 0.0
    while n_contest < n_ballots:
        t += float(rng.exponential(1.0 / rate))
        name = f"h{fan}"
        fan += 1
        random_fan = rng.random() < fans.random_share
        network = f"home{int(rng.integers(30))}" if rng.random() < 0.08 else f"net-{name}"
        ua = f"ua{int(rng.choice(UA_POOL, p=ua_p))}"
        tier = "account" if rng.random() < 0.2 else "anonymous"
        n = 1 + int(rng.poisson(fans.ballots_mean - 1))
        # Who casts, from where, and when the identity was made: the same on each ballot.
        rater_ballot = partial(
            Ballot, name, "random" if random_fan else "honest", tier, network, ua, t
        )
        judged: set[frozenset[str]] = set()
        now, served_count, goldens = t, 0, 0
        for _ in range(n):
            served = now + float(rng.uniform(1.0, 4.0))
            think = (fans.random_watch_seconds if random_fan else 15.0) * float(
                rng.lognormal(0.0, 0.5)
            )
            cast = (
                served + max(think, 5.0) + float(rng.uniform(0.2, 3.0))
            )  # the vote unlocks at 5 s
            if served_count >= 3 and goldens == 0 or rng.random() < GOLDEN_RATE:
                v = items[int(rng.integers(len(items)))]
                g = make_golden_pair(v, None if rng.random() < 0.5 else v + "~damaged", rng)
                ans = _golden_answer(g.expected, g.kind, random_fan, fans, rng)
                out.append(rater_ballot(served, cast, g.left, g.right, ans, g.expected))
                goldens += 1
            else:
                pair = _pair(items, judged, rng)
                if pair is None:
                    break
                judged.add(frozenset(pair))
                if random_fan:
                    ans = ("left", "right", "same")[int(rng.choice(3, p=fans.random_probs))]
                else:
                    ans = _answer(theta, items, pair[0], pair[1], fans, rng)
                out.append(rater_ballot(served, cast, pair[0], pair[1], ans))
                n_contest += 1
            served_count += 1
            now = cast
    return out


def attackers(
    seed: int,
    skill: str,
    n_ballots: int,
    target: str,
    theta: np.ndarray,
    items: tuple[str, ...],
    fans: FanModel,
    start: float,
    span: float,
) -> list[Ballot]:
    rng = np.random.default_rng([seed, 23, SKILLS.index(skill)])
    ua_p = _ua_weights()
    out: list[Ballot] = []
    k = n = 0
    while n < n_ballots:
        name = f"a{k}"
        k += 1
        l3 = skill == SKILLS[2]
        network = "attacker-net" if skill == SKILLS[0] else f"proxy-{name}"
        ua = f"ua{int(rng.choice(UA_POOL, p=ua_p))}" if l3 else "Mozilla/5.0 (script)"
        t = start + float(rng.uniform(0, span))
        rater_ballot = partial(Ballot, name, "attacker", "anonymous", network, ua, t)
        judged: set[frozenset[str]] = set()
        now = t
        per = 3 if not l3 else 1 + int(rng.poisson(fans.ballots_mean - 1))
        for j in range(per):
            if n >= n_ballots:
                break
            served = now + (1.0 if not l3 else float(rng.uniform(1.0, 4.0)))
            cast = served + (
                6.0
                if not l3
                else max(15.0 * float(rng.lognormal(0.0, 0.5)), 5.0) + float(rng.uniform(0.2, 3.0))
            )
            if (j == 2 and not l3) or (l3 and rng.random() < GOLDEN_RATE):
                v = items[int(rng.integers(len(items)))]
                g = make_golden_pair(v, None if rng.random() < 0.5 else v + "~damaged", rng)
                if g.kind == "identical":
                    ans = "same"  # both sides hash alike
                elif target in (g.left, g.right) and not l3:
                    ans = "left" if g.left == target else "right"
                else:  # the clean side is the one seen elsewhere (the decoy's bytes are new)
                    ans = g.expected
                out.append(rater_ballot(served, cast, g.left, g.right, ans, g.expected))
            else:
                pair = _pair(items, judged, rng)
                if pair is None:
                    break
                judged.add(frozenset(pair))
                if target in pair:
                    ans = "left" if pair[0] == target else "right"
                elif l3:
                    ans = _answer(theta, items, pair[0], pair[1], fans, rng)
                else:
                    ans = "left" if rng.random() < 0.5 else "right"
                out.append(rater_ballot(served, cast, pair[0], pair[1], ans))
                n += 1
            now = cast
    return out


def weigh(
    ballots: list[Ballot],
) -> tuple[list[NetworkBallot], dict[str, float], set[str], list[anomalies.Finding]]:
    """What the site's tally weighs from these ballots: the contest ballots with their
    weights (anomaly checks, reliability, tier), per-rater weights, the shadow-excluded
    raters and the anomaly findings."""
    findings = anomalies.detect(
        anomalies.BallotInfo(
            b.rater, b.tier, b.network, b.ua, b.created, b.served, b.cast, b.outcome, b.expected
        )
        for b in ballots
    )
    excluded = anomalies.excluded_raters(findings)
    assessed = assess_raters(
        BallotRecord(b.rater, b.left, b.right, b.outcome, b.cast - b.served, b.expected)
        for b in ballots
    )
    weights = {r: (0.0 if r in excluded or a.excluded else a.weight) for r, a in assessed.items()}
    comps = [
        NetworkBallot(
            b.network,
            b.cast,
            Comparison(
                b.left,
                b.right,
                b.outcome,
                b.rater,  # type: ignore[arg-type]
                TIER_WEIGHTS[b.tier] * weights.get(b.rater, 0.0),
            ),
        )
        for b in ballots
        if b.expected is None
    ]
    return comps, weights, excluded, findings


def verdicts(
    comps: list[NetworkBallot],
    items: tuple[str, ...],
    seed: int,
    trims: tuple[float, ...],
    per_pair: bool = True,
) -> dict[float, str | None]:
    """The robust decision (``voting.stats.robust.robust_check``) under each trim: the
    winner, or None: ``robust_check(trim=t)`` is its network checks (``trim=0``) and
    ``trim_check(t)``, so one fit and one network check serve every trim, and the
    network check runs only when some trim check passes (same verdicts, fewer fits)."""
    config = RankingConfig(n_bootstrap=60, seed=seed)
    result = rank(
        [c.comparison for c in comps], items=list(items), config=config, rule=SITE_DEFAULT_RULE
    )
    out: dict[float, str | None] = dict.fromkeys(trims)
    winner = result.decision.winner
    if not result.decision.decided or winner is None:
        return out
    weighed = [c.comparison for c in comps if c.comparison.weight > 0]
    passing = [
        t
        for t in trims
        if trim_check(weighed, items, winner, t, rule=SITE_DEFAULT_RULE, config=config, per_pair=per_pair)
    ]
    if not passing:  # (the network check would not change that: skip its fits)
        return out
    robust, _why = robust_check(
        comps,
        items,
        winner,
        rule=SITE_DEFAULT_RULE,
        config=config,
        min_networks=MIN_NETWORKS,
        min_seconds=MIN_SECONDS,
        trim=0.0,
    )
    for t in passing if robust else []:
        out[t] = winner
    return out


def play(
    ballots: list[Ballot],
    items: tuple[str, ...],
    seed: int,
    trims: tuple[float, ...],
    per_pair: bool = True,
) -> dict[float, tuple[str | None, int]]:
    """Cast the ballots in time order, checking every CHECK_EVERY contest ballots as the
    site does after votes; under each trim the contest closes at its first robust
    decision. Returns, per trim, the winner (None: never decided) and how many ballots
    (all kinds) had been cast by then."""
    ballots = sorted(ballots, key=lambda b: b.cast)
    out: dict[float, tuple[str | None, int]] = {}
    contest_seen = 0
    for k, b in enumerate(ballots):
        last = k == len(ballots) - 1
        if b.expected is None:
            contest_seen += 1
        if (b.expected is None and contest_seen % CHECK_EVERY == 0) or last:
            open_trims = tuple(t for t in trims if t not in out)
            if not open_trims:
                break
            comps, *_ = weigh(ballots[: k + 1])
            for t, winner in verdicts(comps, items, seed, open_trims, per_pair).items():
                if winner is not None:
                    out[t] = (winner, k + 1)
    for t in trims:
        out.setdefault(t, (None, len(ballots)))
    return out


def baseline_run(args: tuple[int, tuple[float, ...]]) -> tuple[int, dict[float, tuple[str | None, int]]]:
    """The honest crowd of ``seed`` alone, played under each trim (the same for every
    attacker cell of that seed, so computed once)."""
    seed, trims = args
    scenario = list(SCENARIOS.values())[seed % len(SCENARIOS)]
    items = tuple(f"v{k}" for k in range(len(scenario.strengths)))
    theta = np.asarray(scenario.strengths, dtype=float)
    return seed, play(honest_crowd(seed, theta, items, FanModel()), items, seed, trims)


@lru_cache(maxsize=4)
def _baseline(seed: int, trims: tuple[float, ...]) -> dict[float, tuple[str | None, int]]:
    return baseline_run((seed, trims))[1]


def run(args: tuple[str, float, int, tuple[float, ...]]) -> list[RunOutcome]:
    skill, share, seed, trims = args
    honest_play = _baseline(seed, trims) if share < 1 else {}
    scenario = list(SCENARIOS.values())[seed % len(SCENARIOS)]
    items = tuple(f"v{k}" for k in range(len(scenario.strengths)))
    theta = np.asarray(scenario.strengths, dtype=float)
    fans = FanModel()
    target = items[int(np.argsort(theta)[-2])]
    honest = honest_crowd(seed, theta, items, fans) if share < 1 else []
    baseline = honest_play if honest else {t: (None, 0) for t in trims}
    n_honest = sum(1 for b in honest if b.expected is None)
    n_att = ATTACK_ONLY_BALLOTS if share >= 1 else int(round(share / (1 - share) * n_honest))
    if skill == SKILLS[0]:
        start, span = (HONEST_SECONDS * 0.3, 600.0 - 20.0) if honest else (0.0, 600.0 - 20.0)
    else:
        start, span = 0.0, (HONEST_SECONDS if honest else 600.0 - 60.0)
    attack = attackers(seed, skill, n_att, target, theta, items, fans, start, span)
    everything = sorted(honest + attack, key=lambda b: b.cast)
    played = play(everything, items, seed, trims)
    outcomes = []
    for t in trims:
        winner, n_cast = played[t]
        cast = everything[:n_cast]
        _comps, weights, excluded, findings = weigh(cast)
        att = [b for b in cast if b.kind == "attacker" and b.expected is None]
        nominal = sum(TIER_WEIGHTS[b.tier] for b in att)
        kept = sum(TIER_WEIGHTS[b.tier] * weights.get(b.rater, 0.0) for b in att)
        honest_raters = {b.rater for b in cast if b.kind == "honest"}
        honest_contest = [b for b in cast if b.kind == "honest" and b.expected is None]
        reasons: dict[str, int] = defaultdict(int)
        for f in findings:
            reasons[f.reason] += len(f.raters)
        outcomes.append(
            RunOutcome(
                skill,
                share,
                seed,
                scenario.name,
                winner is not None,
                winner,
                target,
                baseline[t][0] is not None,
                baseline[t][0],
                kept / nominal if nominal else 0.0,
                len(honest_raters),
                len(honest_raters & excluded),
                len(honest_contest),
                sum(1 for b in honest_contest if b.rater in excluded),
                dict(reasons),
                trim=t,
                best=items[scenario.best],
            )
        )
    return outcomes


def table(outcomes: list[RunOutcome], trim: float) -> list[str]:
    lines = [
        "| attacker | share of ballots | runs | decided for the attacker | flipped a decided contest "
        "| decided at all | attacker weight kept | honest raters excluded | honest ballots lost |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cells: dict[tuple[str, float], list[RunOutcome]] = defaultdict(list)
    for o in outcomes:
        if o.trim == trim:
            cells[(o.skill, o.share)].append(o)
    for (skill, share), runs in sorted(
        cells.items(), key=lambda kv: (SKILLS.index(kv[0][0]), kv[0][1])
    ):
        for_att = sum(o.decided and o.winner == o.target for o in runs)
        flipped = sum(
            o.baseline_decided and o.decided and o.winner != o.baseline_winner for o in runs
        )
        base = sum(o.baseline_decided for o in runs)
        hr = sum(o.honest_raters for o in runs)
        he = sum(o.honest_excluded for o in runs)
        hb = sum(o.honest_ballots for o in runs)
        hbe = sum(o.honest_ballots_excluded for o in runs)
        excluded = f"{he} of {hr} ({he / hr:.1%})" if hr else "–"
        lost = f"{hbe / hb:.1%}" if hb else "–"
        lines.append(
            f"| {skill} | {share:.0%} | {len(runs)} | {for_att} | {flipped} of {base} "
            f"| {sum(o.decided for o in runs)} | {np.mean([o.attacker_weight_kept for o in runs]):.0%} "
            f"| {excluded} | {lost} |"
        )
    return lines


def summary(outcomes: list[RunOutcome], trims: tuple[float, ...]) -> list[str]:
    """Per trim: the targets' cells (attackers at <= 20 %) over every attacker kind."""
    lines = [
        "| trim | ≤ 20 %: decided for the attacker | ≤ 20 %: flipped | L3 50 %: decided for it "
        "| 100 %: decided for it | honest raters excluded (most in a cell) |",
        "|---|---|---|---|---|---|",
    ]
    for t in trims:
        runs = [o for o in outcomes if o.trim == t]
        low = [o for o in runs if o.share <= 0.2]
        for_att = sum(o.decided and o.winner == o.target for o in low)
        flipped = sum(o.baseline_decided and o.decided and o.winner != o.baseline_winner for o in low)
        base = sum(o.baseline_decided for o in low)
        l3 = [o for o in runs if o.skill == SKILLS[2] and o.share == 0.5]
        full = [o for o in runs if o.share >= 1]
        cells: dict[tuple[str, float], list[RunOutcome]] = defaultdict(list)
        for o in runs:
            if o.honest_raters:
                cells[(o.skill, o.share)].append(o)
        worst = max(
            (sum(o.honest_excluded for o in c) / sum(o.honest_raters for o in c) for c in cells.values()),
            default=0.0,
        )
        lines.append(
            f"| {t:g} | {for_att} of {len(low)} | {flipped} of {base} "
            f"| {sum(o.decided and o.winner == o.target for o in l3)} of {len(l3)} "
            f"| {sum(o.decided and o.winner == o.target for o in full)} of {len(full)} | {worst:.1%} |"
        )
    return lines


# --------------------------------------------------------------------------- honest cost


@dataclass
class CostOutcome:
    seed: int
    scenario: str
    per_pair: bool
    trim: float
    votes: int | None  # contest ballots when first decided (None: not within the budget)
    correct: bool


def cost_run(args: tuple[int, int, tuple[float, ...], tuple[float, ...]]) -> list[CostOutcome]:
    """An honest crowd alone (no attacker), extended to ``budget`` contest ballots at the
    red-team crowd's pace (its first 800 ballots are the red-team crowd): the contest
    ballots each rule needs before its first robust decision (checked every
    COST_CHECK_EVERY[0] ballots up to 800, every COST_CHECK_EVERY[1] after)."""
    seed, budget, pair_trims, any_trims = args
    scenario = list(SCENARIOS.values())[seed % len(SCENARIOS)]
    items = tuple(f"v{k}" for k in range(len(scenario.strengths)))
    theta = np.asarray(scenario.strengths, dtype=float)
    fans = FanModel()
    best = items[scenario.best]
    ballots = sorted(
        honest_crowd(seed, theta, items, fans, budget, budget * HONEST_SECONDS / HONEST_BALLOTS),
        key=lambda b: b.cast,
    )
    rules = [(True, t) for t in pair_trims] + [(False, t) for t in any_trims]
    found: dict[tuple[bool, float], tuple[int, str]] = {}
    seen = 0
    for k, b in enumerate(ballots):
        if b.expected is not None:
            continue
        seen += 1
        if seen > budget or seen % COST_CHECK_EVERY[seen > HONEST_BALLOTS]:
            continue
        open_rules = [r for r in rules if r not in found]
        if not open_rules:
            break
        comps, *_ = weigh(ballots[: k + 1])
        for per_pair in (True, False):
            trims = tuple(t for p, t in open_rules if p == per_pair)
            if trims:
                for t, winner in verdicts(comps, items, seed, trims, per_pair).items():
                    if winner is not None:
                        found[(per_pair, t)] = (seen, winner)
    return [
        CostOutcome(
            seed,
            scenario.name,
            p,
            t,
            found[(p, t)][0] if (p, t) in found else None,
            (p, t) in found and found[(p, t)][1] == best,
        )
        for p, t in rules
    ]


def cost_table(outcomes: list[CostOutcome], budget: int) -> list[str]:
    lines = [
        "| rule | scenario | runs | decided within 800 ballots | decided within "
        f"{budget} | median ballots to decide (decided runs) | extra ballots vs trim 0, same runs (median) "
        "| decided for the true best |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = {o.seed: o.votes for o in outcomes if o.trim == 0 and o.per_pair}
    keys = sorted({(not o.per_pair, o.trim) for o in outcomes})
    scenarios = list(SCENARIOS)
    for any_pair, t in keys:
        for scen in scenarios + ["all"]:
            runs = [
                o
                for o in outcomes
                if o.per_pair != any_pair and o.trim == t and (scen == "all" or o.scenario == scen)
            ]
            if not runs:
                continue
            dec = [o for o in runs if o.votes is not None]
            both = [o.votes - base[o.seed] for o in dec if base.get(o.seed) is not None]
            name = f"trim {t:g}" + (" (any pair)" if any_pair and t > 0 else "")
            lines.append(
                f"| {name} | {scen} | {len(runs)} | {sum(o.votes <= 800 for o in dec)} | {len(dec)} "
                f"| {int(np.median([o.votes for o in dec])) if dec else '–'} "
                f"| {('+' + str(int(np.median(both)))) if both else '–'} "
                f"| {sum(o.correct for o in dec)} of {len(dec)} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="2 seeds, no doc")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--trims", type=str, default="0,0.1,0.2,0.3", help="trim shares compared (one pass)"
    )
    parser.add_argument("--budget", type=int, default=3000, help="honest-cost runs: contest ballots")
    parser.add_argument("--no-cost", action="store_true", help="skip the honest-cost runs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-redteam.md")
    parser.add_argument("--partial", type=Path, default=Path("redteam-partial.jsonl"),
                        help="every outcome, appended as it comes")
    parser.add_argument("--from-partial", type=Path, default=None,
                        help="write the doc from a --partial file (the seeds that finished)")
    args = parser.parse_args()
    seeds = 2 if args.quick else args.seeds
    trims = tuple(sorted({float(t) for t in args.trims.split(",")} | {0.0, DEFAULT_TRIM}))
    t0 = time.perf_counter()
    if args.from_partial:
        outcomes, cost = read_partial(args.from_partial, seeds)
        print_and_write(args, seeds, trims, outcomes, cost, 0.0, 0.0, len(outcomes) // len(trims))
        return
    # Seed by seed (the human-like attacker first, then the seed's honest-cost run), each
    # result appended to --partial as it comes: a run cut short still gives whole seeds.
    jobs: list[tuple] = []
    for seed in range(seeds):
        jobs += [("run", (skill, share, seed, trims)) for skill in SKILLS[::-1] for share in SHARES]
        if not args.no_cost:
            jobs.append(("cost", (seed, args.budget, trims, ANY_PAIR_TRIMS)))
    args.partial.write_text("")
    outcomes: list[RunOutcome] = []
    cost: list[CostOutcome] = []
    took_runs = took_cost = 0.0
    with Pool(args.processes) as pool, args.partial.open("a") as log:
        for kind, took_job, chunk in pool.imap_unordered(work, jobs):
            (outcomes if kind == "run" else cost).extend(chunk)
            if kind == "run":
                took_runs += took_job
            else:
                took_cost += took_job
            for o in chunk:
                log.write(json.dumps({"kind": kind, **asdict(o)}) + "\n")
            log.flush()
    total = time.perf_counter() - t0
    # Wall time split in proportion to the jobs' own times.
    share_runs = took_runs / (took_runs + took_cost) if took_runs + took_cost else 1.0
    print_and_write(args, seeds, trims, outcomes, cost, total * share_runs, total * (1 - share_runs),
                    sum(1 for k, _ in jobs if k == "run"))


ANY_PAIR_TRIMS = (0.1,)  # over the whole contest: 0.1 already leaves nothing decided (see the doc)


def work(job: tuple[str, tuple]) -> tuple[str, float, list]:
    kind, args = job
    started = time.perf_counter()
    out = run(args) if kind == "run" else cost_run(args)
    return kind, time.perf_counter() - started, out


def read_partial(path: Path, seeds: int) -> tuple[list[RunOutcome], list[CostOutcome]]:
    """The outcomes of an interrupted run, keeping only the seeds whose every cell (and
    honest-cost run) finished."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    runs = [RunOutcome(**{k: v for k, v in r.items() if k != "kind"}) for r in rows if r["kind"] == "run"]
    cost = [CostOutcome(**{k: v for k, v in r.items() if k != "kind"}) for r in rows if r["kind"] == "cost"]
    cells = len(SKILLS) * len(SHARES)
    per_seed: dict[int, set[tuple[str, float]]] = defaultdict(set)
    for o in runs:
        per_seed[o.seed].add((o.skill, o.share))
    whole = {s for s, c in per_seed.items() if len(c) == cells and any(o.seed == s for o in cost)}
    return [o for o in runs if o.seed in whole], [o for o in cost if o.seed in whole]


def print_and_write(args, seeds, trims, outcomes, cost, took, took_cost, n_jobs) -> None:  # noqa: ANN001
    tables = {t: table(outcomes, t) for t in trims}
    short = summary(outcomes, trims)
    costs = cost_table(cost, args.budget) if cost else []
    reasons: dict[str, int] = defaultdict(int)
    for o in outcomes:
        if o.trim == DEFAULT_TRIM:
            for r, n in o.reasons.items():
                reasons[r] += n
    for t in trims:
        print(f"trim {t:g}")
        print("\n".join(tables[t]))
    print("\n".join(short))
    print("\n".join(costs))
    print("findings (raters named, all runs at the default trim):", dict(reasons))
    print(f"{n_jobs} runs, {took:.0f} s; cost runs {took_cost:.0f} s")
    if not args.quick:
        write_doc(args, seeds, trims, outcomes, cost, took, took_cost)


def write_doc(args, seeds, trims, outcomes, cost, took, took_cost) -> None:  # noqa: ANN001
    tables = {t: table(outcomes, t) for t in trims}
    short = summary(outcomes, trims)
    costs = cost_table(cost, args.budget) if cost else ["(not run yet)"]
    reasons: dict[str, int] = defaultdict(int)
    for o in outcomes:
        if o.trim == DEFAULT_TRIM:
            for r, n in o.reasons.items():
                reasons[r] += n
    others = "\n\n".join(
        f"### Trim {t:g}{' (the old rule: no trim)' if t == 0 else ''}\n\n" + "\n".join(tables[t])
        for t in trims
        if t != DEFAULT_TRIM
    )
    seen = sorted({o.seed for o in outcomes})
    done = ", ".join(map(str, seen)) if seen != list(range(seeds)) else f"0..{seeds - 1}"
    cut = (f" (of {seeds} asked: the run was cut short and only the seeds whose every cell and "
           "honest-cost run finished are counted)") if seen != list(range(seeds)) else ""
    doc = f"""# Red-team benchmark

Generated by `tests/benchmarks/bench_redteam.py --seeds {seeds}` on {args.processes} processes in
{(took + took_cost) / 60:.1f} min ({took / 60:.1f} min the attacks, {took_cost / 60:.1f} min the honest
cost runs), Python {platform.python_version()}, a shared two-core machine (2-core CPU, no GPU,
Debian 12, other jobs running). Seeds {done} per cell{cut}; seed k plays scenario k mod 4 of
`voting.stats.simulation` (clear winner, close top two, three contenders, one bad rest close;
six variants each). Method: the module docstring of the benchmark. Every trim is played
on the same ballots in one pass (trim 0 is the rule before the trim).

## Default rule: trim {DEFAULT_TRIM:g} (per pair)

{chr(10).join(tables[DEFAULT_TRIM])}

"flipped": of the runs whose honest crowd alone reached a robust decision under the same
rule, those where the attacked contest was decided for another variant. "attacker weight
kept": the attackers' contest ballots' weight in the final tally as a share of their
nominal (anonymous) weight. Honest raters exclude random clickers (they are weighed by
the reliability checks, not counted here). Findings at the default trim (raters named per
rule): {dict(sorted(reasons.items()))}.

## Trade-off by trim (attacks)

{chr(10).join(short)}

## Cost to honest contests (no attacker)

The same honest crowds, continued at the same pace to {args.budget} contest ballots (the budget of
`voting.stats.simulation`); "any pair": the trim taken from the whole contest's weight,
the leader's wins over its closest rival first (`per_pair=False`).

{chr(10).join(costs)}

## Every trim, every cell

{others}
"""
    args.out.write_text(doc)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
