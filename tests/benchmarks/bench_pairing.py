"""Benchmark: votes needed to identify the best variant, active vs uniform pair selection.

Run from the repository root (nice it on a shared machine)::

    nice -n 10 .venv/bin/python tests/benchmarks/bench_pairing.py --processes 2   # writes the doc
    .venv/bin/python tests/benchmarks/bench_pairing.py --quick                    # smoke run, no doc

Two comparisons, both seeded (see ``voting.stats.simulation``) and so reproducible on any
machine; only the seconds depend on the hardware:

1. Matched error rate (the headline). Every run goes to a fixed budget of contest
   ballots; every 40 ballots an oracle check asks whether the fitted leader is the true
   best. For each strategy, ``N95`` = the fewest ballots from which at least 95 % of the
   runs have the true best in front (until the budget). Both strategies are judged at
   the same 5 % error rate, with no decision rule in between. The ratio's 95 % interval
   comes from resampling seeds (paired: a seed gives both strategies the same crowd).
   Per run, "settled" = the ballots after which that run's leader stays the true best.
2. Same decision rule for both: votes until the site's default rule
   (``voting.stats.ranking.SITE_DEFAULT_RULE``, P(best) >= 0.95 from the rater bootstrap)
   fires, with the wrong-winner rate of each strategy and the pooled vote ratio (95 %
   interval from paired seed resamples). Under one rule the two strategies make
   different numbers of wrong calls, so the same runs are traced on
   (``voting.stats.simulation.simulate_trace``) and uniform is also stopped at stricter
   thresholds (``SWEEP``): the lowest at which its pooled wrong-winner rate is no higher
   than active's under the site's rule gives the matched-error ratio. Then the same
   under the interval rule (the former default), which the active selector does not help.

The active strategy is the site's default (``PairingConfig().strategy``) unless
``--active`` names another (write that run elsewhere with ``--out``).

docs/benchmarks-pairing.md was made section by section on the 2-core machine (load
under 2): the oracle and interval sections with ``--only 0 --only 2 --scale 1`` (100 and
20 seeds per scenario, 22 min), the site's rule with ``--only 1 --scale 4`` (80 seeds,
15 min); docs/benchmarks-pairing-best-contrasts.md is the latter with
``--active best_contrasts --out docs/benchmarks-pairing-best-contrasts.md``::

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python tests/benchmarks/bench_pairing.py --only 1 --scale 4 --processes 2
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from voting.stats.pairing import PairingConfig  # noqa: E402
from voting.stats.ranking import SITE_DEFAULT_RULE, DecisionRule  # noqa: E402
from voting.stats.simulation import (  # noqa: E402
    SCENARIOS,
    BudgetTrace,
    FanModel,
    RuleTrace,
    RunResult,
    SimConfig,
    Summary,
    simulate_budget,
    simulate_run,
    simulate_trace,
    summarise,
    votes_for_accuracy,
)

ACTIVE = PairingConfig().strategy  # the site's default selector
UNIFORM = "uniform"
TARGET = 0.95
N_RESAMPLES = 2000
#: Uniform's thresholds for the matched-error comparison (P(best) comes from 100
#: bootstrap replicates, so it moves in steps of 0.01).
SWEEP = (0.95, 0.96, 0.97, 0.98, 0.99, 1.0)


@dataclass(frozen=True)
class BudgetExperiment:
    title: str
    budgets: tuple[tuple[str, int], ...]  # scenario -> ballots per run
    seeds: int
    fans: FanModel
    config: SimConfig


@dataclass(frozen=True)
class RuleExperiment:
    title: str
    scenarios: tuple[str, ...]
    seeds: int
    fans: FanModel
    config: SimConfig
    #: Stricter P(best) thresholds tried on uniform to match active's wrong-winner rate
    #: under ``config.rule`` (empty: no matching; needs the probability rule).
    sweep: tuple[float, ...] = ()


INTERVALS_TITLE = ("Same decision rule for both: 95 % intervals clear (the site's default until it was "
                   "changed to agree with the selector); ~5 ballots per fan")
#: Sections whose experiment was renamed: a kept section (``--only``) is found under its old title.
RENAMED = {"Same decision rule for both: 95 % intervals clear (the site's default rule); ~5 ballots per fan":
           INTERVALS_TITLE}


def _rule_name(rule: DecisionRule) -> str:
    if rule.method == "probability":
        return f"P(best) >= {rule.p_best_threshold:g}"
    return {"intervals": "95 % intervals clear", "either": "intervals or P(best), first to fire"}[rule.method]


def experiments(scale: float) -> list[BudgetExperiment | RuleExperiment]:
    base = SimConfig(max_votes=3000, check_every=20, n_bootstrap=100)
    n = lambda k: max(3, int(round(k * scale)))  # noqa: E731
    b = lambda k: max(200, int(round(k * min(1.0, 3 * scale) / 20)) * 20)  # noqa: E731
    return [
        BudgetExperiment(
            "Matched error rate: ballots until 95 % of runs have the true best in front; ~5 ballots per fan",
            (("clear_winner", b(800)), ("close_top_two", b(1600)),
             ("three_contenders", b(2400)), ("one_bad_rest_close", b(1600))),
            n(100),
            FanModel(),
            replace(base, check_every=40),
        ),
        RuleExperiment(
            f"Same decision rule for both: the site's default rule ({_rule_name(SITE_DEFAULT_RULE)}); "
            "~5 ballots per fan",
            tuple(SCENARIOS),
            n(20),
            FanModel(),
            replace(base, rule=SITE_DEFAULT_RULE),
            SWEEP,
        ),
        RuleExperiment(
            INTERVALS_TITLE,
            ("clear_winner", "close_top_two"),
            n(20),
            FanModel(),
            replace(base, rule=DecisionRule("intervals")),
        ),
    ]


def _budget_job(args: tuple[str, str, int, int, FanModel, SimConfig]) -> BudgetTrace:
    scenario, strategy, seed, budget, fans, config = args
    return simulate_budget(SCENARIOS[scenario], strategy, seed, budget, fans, config)  # type: ignore[arg-type]


def _rule_job(args: tuple[str, str, int, FanModel, SimConfig]) -> RunResult:
    scenario, strategy, seed, fans, config = args
    return simulate_run(SCENARIOS[scenario], strategy, seed, fans, config)  # type: ignore[arg-type]


def _trace_job(args: tuple[str, str, int, float, FanModel, SimConfig]) -> RuleTrace:
    scenario, strategy, seed, until, fans, config = args
    return simulate_trace(SCENARIOS[scenario], strategy, seed, until, fans, config)  # type: ignore[arg-type]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval for an error rate k/n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def _n95(traces: list[BudgetTrace]) -> float:
    v = votes_for_accuracy(traces, TARGET)
    return float("inf") if v is None else float(v)


def _settled(traces: list[BudgetTrace], budget: int) -> np.ndarray:
    """Per run: ballots after which the leader stays right; runs wrong at the budget
    count as budget + 20 (a floor, which flatters the slower strategy)."""
    return np.array([t.settled_at if t.settled_at is not None else budget + 20 for t in traces], dtype=float)


def _fmt(v: float, budget: int) -> str:
    return f"> {budget}" if math.isinf(v) else f"{v:.0f}"


def _ratio_interval(
    active: list[BudgetTrace], uniform: list[BudgetTrace], budget: int, seed: int
) -> tuple[float, float]:
    """95 % percentile interval of the N95 ratio over paired seed resamples. A resample
    in which uniform stays below 95 % until the budget counts its N95 as the budget
    (flattering uniform); one in which active does counts as an infinite ratio."""
    rng = np.random.default_rng(seed)
    ratios = np.empty(N_RESAMPLES)
    for r in range(N_RESAMPLES):
        pick = rng.integers(len(active), size=len(active))
        a, u = _n95([active[k] for k in pick]), _n95([uniform[k] for k in pick])
        ratios[r] = a / min(u, budget)
    return (float(np.quantile(ratios, 0.025, method="inverted_cdf")),
            float(np.quantile(ratios, 0.975, method="inverted_cdf")))


def budget_table(traces: list[BudgetTrace], budgets: dict[str, int]) -> tuple[list[str], dict[str, dict[str, float]]]:
    lines = [
        "| scenario | budget | runs | N95 uniform | N95 active | **active/uniform at 95 %** (95% CI) | "
        "correct at budget (uniform / active) | settled mean (u / a) | settled median (u / a) | "
        "mean ratio | median ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    figures: dict[str, dict[str, float]] = {}
    for k, (sc, budget) in enumerate(budgets.items()):
        a = sorted((t for t in traces if t.scenario == sc and t.strategy == ACTIVE), key=lambda t: t.seed)
        u = sorted((t for t in traces if t.scenario == sc and t.strategy == UNIFORM), key=lambda t: t.seed)
        na, nu = _n95(a), _n95(u)
        ratio = na / nu if math.isfinite(nu) else float("nan")
        lo, hi = _ratio_interval(a, u, budget, seed=k)
        sa, su = _settled(a, budget), _settled(u, budget)
        ca = float(np.mean([t.correct[-1] for t in a]))
        cu = float(np.mean([t.correct[-1] for t in u]))
        ci = f"({lo:.2f}–{hi:.2f})" if math.isfinite(hi) else f"({lo:.2f}–unbounded)"
        ratio_txt = f"**{ratio:.2f}** {ci}" if math.isfinite(ratio) else (
            f"< {na / budget:.2f}" if math.isfinite(na) else "n/a")
        lines.append(
            f"| {sc} | {budget} | {len(a)} | {_fmt(nu, budget)} | {_fmt(na, budget)} | {ratio_txt} | {cu:.0%} / {ca:.0%} | "
            f"{su.mean():.0f} / {sa.mean():.0f} | {np.median(su):.0f} / {np.median(sa):.0f} | "
            f"{sa.mean() / su.mean():.2f} | {np.median(sa) / np.median(su):.2f} |"
        )
        figures[sc] = {"ratio": ratio, "lo": lo, "hi": hi, "mean_ratio": sa.mean() / su.mean(),
                       "median_ratio": float(np.median(sa) / np.median(su))}
    ratios = [f["ratio"] for f in figures.values() if math.isfinite(f["ratio"])]
    if ratios:
        lines.append("")
        lines.append(
            f"Across scenarios: N95 ratio mean {np.mean(ratios):.2f}, median {np.median(ratios):.2f}; "
            f"per-run settled ratios: mean-of-means {np.mean([f['mean_ratio'] for f in figures.values()]):.2f}, "
            f"mean-of-medians {np.mean([f['median_ratio'] for f in figures.values()]):.2f}."
        )
    return lines, figures


def pooled_ratio(results: list[RunResult], seed: int = 0) -> tuple[float, float, float, int] | None:
    """Active's mean votes over uniform's, pooled over every scenario and seed both ran,
    with a 95 % percentile interval from paired resamples of the seeds within each
    scenario (a seed gives both strategies the same crowd); also the number of pairs."""
    by = {(r.scenario, r.strategy, r.seed): r.votes for r in results}
    pairs: dict[str, list[tuple[int, int]]] = {}
    for (sc, st, seed_), v in by.items():
        if st == ACTIVE and (sc, UNIFORM, seed_) in by:
            pairs.setdefault(sc, []).append((v, by[(sc, UNIFORM, seed_)]))
    if not pairs:
        return None
    arrays = [np.array(p, dtype=float) for p in pairs.values()]
    total = np.concatenate(arrays)
    point = total[:, 0].sum() / total[:, 1].sum()
    rng = np.random.default_rng(seed)
    ratios = np.empty(N_RESAMPLES)
    for r in range(N_RESAMPLES):
        sums = np.zeros(2)
        for a in arrays:
            sums += a[rng.integers(len(a), size=len(a))].sum(axis=0)
        ratios[r] = sums[0] / sums[1]
    return float(point), float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975)), len(total)


def _wrong_rate(runs: list[RunResult]) -> float:
    decided = sum(r.decided for r in runs)
    return sum(r.decided and not r.correct for r in runs) / decided if decided else float("nan")


def _matched(active: dict[str, list[RunResult]], uniform: dict[float, dict[str, list[RunResult]]],
             picks: dict[str, np.ndarray]) -> tuple[float, float, float, float]:
    """Active's wrong-winner rate (site rule), uniform's lowest threshold whose rate is no
    higher (the strictest one if none), and the pooled vote ratio there; ``picks``
    indexes the paired seeds of each scenario (a resample or all of them)."""
    a = [active[sc][k] for sc in picks for k in picks[sc]]
    err_a = _wrong_rate(a)
    chosen = max(uniform)
    for t in sorted(uniform):
        if _wrong_rate([uniform[t][sc][k] for sc in picks for k in picks[sc]]) <= err_a:
            chosen = t
            break
    u = [uniform[chosen][sc][k] for sc in picks for k in picks[sc]]
    return err_a, chosen, sum(r.votes for r in a) / sum(r.votes for r in u), _wrong_rate(u)


def matched_table(traces: list[RuleTrace], threshold: float, sweep: tuple[float, ...]) -> list[str]:
    """Uniform held to active's wrong-winner rate: active under the site's rule, uniform
    under the lowest threshold of ``sweep`` at which its pooled rate is no higher."""
    scen = sorted({t.scenario for t in traces})
    by = {(t.scenario, t.strategy, t.seed): t for t in traces}
    seeds = {sc: sorted(s for (c, st, s) in by if c == sc and st == ACTIVE and (sc, UNIFORM, s) in by) for sc in scen}
    active = {sc: [by[(sc, ACTIVE, s)].stop(threshold) for s in seeds[sc]] for sc in scen}
    uniform = {t: {sc: [by[(sc, UNIFORM, s)].stop(t) for s in seeds[sc]] for sc in scen} for t in sweep}
    every = {sc: np.arange(len(seeds[sc])) for sc in scen}
    err_a, chosen, ratio, err_u = _matched(active, uniform, every)
    rng = np.random.default_rng(1)
    boot = np.array([_matched(active, uniform, {sc: rng.integers(len(seeds[sc]), size=len(seeds[sc])) for sc in scen})[2]
                     for _ in range(N_RESAMPLES)])
    a_all = [r for sc in scen for r in active[sc]]
    k_a, n_a = sum(r.decided and not r.correct for r in a_all), sum(r.decided for r in a_all)
    lines = [
        f"Active under the site's rule (P(best) >= {threshold:g}): {k_a} wrong of {n_a} decided runs "
        f"({k_a / n_a:.1%}, 95% CI {wilson(k_a, n_a)[0]:.1%}–{wilson(k_a, n_a)[1]:.1%}), mean "
        f"{np.mean([r.votes for r in a_all]):.0f} votes. Uniform under stricter thresholds (same runs, traced on):",
        "",
        "| uniform's threshold | decided | wrong (rate, 95% CI) | undecided at the cap | mean votes | active/uniform mean votes |",
        "|---|---|---|---|---|---|",
    ]
    for t in sweep:
        u_all = [r for sc in scen for r in uniform[t][sc]]
        k, n = sum(r.decided and not r.correct for r in u_all), sum(r.decided for r in u_all)
        lo, hi = wilson(k, n)
        mark = " (matched)" if t == chosen else ""
        lines.append(f"| {t:g}{mark} | {n} | {k} ({k / n:.1%}, {lo:.0%}–{hi:.0%}) | {len(u_all) - n} | "
                     f"{np.mean([r.votes for r in u_all]):.0f} | {sum(r.votes for r in a_all) / sum(r.votes for r in u_all):.2f} |")
    lines += [
        "",
        f"Matched (uniform's pooled wrong-winner rate no higher than active's, lowest such threshold: {chosen:g}; "
        f"{err_u:.1%} against {err_a:.1%}): active needed **{ratio:.2f}** of uniform's votes (95% CI "
        f"{np.quantile(boot, 0.025):.2f}–{np.quantile(boot, 0.975):.2f}: paired seed resamples within each scenario, "
        "the matching redone in every resample; where no threshold of the sweep matches, the strictest is used, "
        "which flatters uniform; undecided runs count at the cap, which flatters uniform too).",
    ]
    return lines


def rule_table(summaries: list[Summary]) -> list[str]:
    by = {(s.scenario, s.strategy): s for s in summaries}
    lines = [
        "| scenario | strategy | runs | decided | wrong (rate, 95% CI) | mean votes | median votes | mean goldens | active/uniform mean | active/uniform median |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (sc, st), s in by.items():
        lo, hi = wilson(s.wrong, s.decided)
        ratio_mean = ratio_median = ""
        if st == ACTIVE and (sc, UNIFORM) in by:
            u = by[(sc, UNIFORM)]
            ratio_mean = f"{s.mean_votes / u.mean_votes:.2f}"
            ratio_median = f"{s.median_votes / u.median_votes:.2f}"
        lines.append(
            f"| {sc} | {st} | {s.runs} | {s.decided} | {s.wrong} ({s.error_rate:.1%}, {lo:.0%}–{hi:.0%}) | "
            f"{s.mean_votes:.0f} | {s.median_votes:.0f} | {s.mean_golden:.0f} | {ratio_mean} | {ratio_median} |"
        )
    return lines


def main() -> None:
    global ACTIVE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few seeds only; does not write the doc")
    parser.add_argument("--scale", type=float, default=None, help="seeds as a share of the full run")
    parser.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-pairing.md")
    parser.add_argument("--only", type=int, action="append", help="run only experiment K (0-based; repeatable)")
    parser.add_argument("--active", default=ACTIVE, choices=("top_two", "best_contrasts"),
                        help="the active strategy to compare with uniform (default: the site's)")
    args = parser.parse_args()
    ACTIVE = args.active
    scale = args.scale if args.scale is not None else (0.1 if args.quick else 1.0)

    started = time.perf_counter()
    # With --only, the other experiments' sections of an existing doc are kept.
    kept = read_sections(args.out) if args.only and args.out.exists() else {}
    sections: dict[str, str] = {}
    for k, exp in enumerate(experiments(scale)):
        if args.only is not None and k not in args.only:
            if exp.title in kept:
                sections[exp.title] = kept[exp.title]
            continue
        t0 = time.perf_counter()
        if isinstance(exp, BudgetExperiment):
            jobs = [
                (sc, st, seed, budget, exp.fans, exp.config)
                for sc, budget in exp.budgets for st in (ACTIVE, UNIFORM) for seed in range(exp.seeds)
            ]
            with Pool(args.processes) as pool:
                traces = pool.map(_budget_job, jobs, chunksize=1)
            rows, _ = budget_table(traces, dict(exp.budgets))
            secs = {st: np.mean([t.seconds for t in traces if t.strategy == st]) for st in (ACTIVE, UNIFORM)}
            extra = (f"Mean seconds per run: active {secs[ACTIVE]:.1f}, uniform {secs[UNIFORM]:.1f}; "
                     f"mean goldens per run {np.mean([t.golden_ballots for t in traces]):.0f}.")
        else:
            threshold = exp.config.rule.p_best_threshold
            if exp.sweep:  # traced runs: the site's rule and uniform's stricter thresholds from one run each
                until = {ACTIVE: threshold, UNIFORM: max(exp.sweep + (threshold,))}
                jobs = [(sc, st, seed, until[st], exp.fans, exp.config) for sc in exp.scenarios
                        for st in (ACTIVE, UNIFORM) for seed in range(exp.seeds)]
                with Pool(args.processes) as pool:
                    traces = pool.map(_trace_job, jobs, chunksize=1)
                results = [t.stop(threshold) for t in traces]
            else:
                jobs = [(sc, st, seed, exp.fans, exp.config) for sc in exp.scenarios
                        for st in (ACTIVE, UNIFORM) for seed in range(exp.seeds)]
                with Pool(args.processes) as pool:
                    results = pool.map(_rule_job, jobs, chunksize=1)
            summaries = summarise(results)
            rows = rule_table(summaries)
            pooled = pooled_ratio(results)
            extra = ""
            if pooled is not None:
                point, lo, hi, n_pairs = pooled
                wrong = {st: (sum(s.wrong for s in summaries if s.strategy == st),
                              sum(s.decided for s in summaries if s.strategy == st)) for st in (ACTIVE, UNIFORM)}
                err = "; ".join(f"{st} {k} of {n} decided runs ({k / n:.1%}, 95% CI {wilson(k, n)[0]:.1%}–"
                                f"{wilson(k, n)[1]:.1%})" for st, (k, n) in wrong.items() if n)
                extra = (f"Pooled over the scenarios ({n_pairs} paired runs): active needed **{point:.2f}** of "
                         f"uniform's votes (95% CI {lo:.2f}–{hi:.2f}, paired seed resamples within each "
                         f"scenario). Wrong winners: {err}.")
                if exp.sweep:
                    extra += ("\n\n#### At a matched wrong-winner rate\n\n"
                              + "\n".join(matched_table(traces, threshold, exp.sweep)))
                print(extra)
        took = time.perf_counter() - t0
        print(f"\n## {exp.title}  ({len(jobs)} runs, {took:.0f} s)")
        print("\n".join(rows), flush=True)
        sections[exp.title] = (
            f"### {exp.title}\n\n{len(jobs)} runs, seeds 0..{exp.seeds - 1} per cell, {took / 60:.0f} min.\n\n"
            + "\n".join(rows) + (f"\n\n{extra}" if extra else "")
        )
        if not args.quick:  # written after every experiment, so an interrupted run leaves its tables
            write_doc(args.out, _ordered(sections, scale), time.perf_counter() - started, args.processes, done=False)
    total = time.perf_counter() - started
    print(f"\ntotal {total:.0f} s")
    if not args.quick:
        write_doc(args.out, _ordered(sections, scale), total, args.processes, done=True)
        print(f"wrote {args.out}")


def _ordered(sections: dict[str, str], scale: float) -> list[str]:
    return [sections[e.title] for e in experiments(scale) if e.title in sections]


def read_sections(path: Path) -> dict[str, str]:
    """The experiment sections ("### title" blocks) of an existing benchmark doc."""
    out = {}
    for block in path.read_text().split("\n### ")[1:]:
        title = block.split("\n", 1)[0].strip()
        body = block.strip()
        if title in RENAMED:
            body = body.replace(title, RENAMED[title], 1)
            title = RENAMED[title]
        out[title] = "### " + body
    return out


def write_doc(out: Path, sections: list[str], total: float, processes: int, done: bool) -> None:
    scen = "\n".join(f"- `{s.name}`: strengths {s.strengths} ({s.description})" for s in SCENARIOS.values())
    fans = FanModel()
    pc = PairingConfig()
    status = "" if done else "\n**Incomplete: the run was still going when this was written.**\n"
    which = "" if ACTIVE == pc.strategy else f": `{ACTIVE}`, not the site's selector, against uniform"
    doc = f"""# Pair selection benchmark{which}

Generated by `tests/benchmarks/bench_pairing.py` on {processes} processes (each section
gives its run time; {total / 60:.0f} min for the last invocation), Python
{platform.python_version()}, a shared two-core machine. Method and discussion:
`docs/ranking.md` §4 and §6.
{status}
Each run is one simulated contest of 6 variants. Fans arrive one by one; each casts
1 + Poisson(4) ballots, never the same pair twice. Honest fans answer from the
Davidson model with position bias {fans.position_bias} (log-odds towards the left) and tie
parameter nu = {math.exp(fans.tie_log_nu):.2f}; {fans.random_share:.0%} of fans are random clickers
(left/right/same with probabilities {fans.random_probs}, watching ~{fans.random_watch_seconds} s).
Golden pairs are mixed in (10 %, at least one by a fan's 4th ballot) and rater weights
come from `voting.stats.reliability`, recomputed at every check (every 40 contest ballots in
the fixed-budget experiment, every 20 in the decision-rule one). "votes"/"ballots"
count contest ballots only. Active = `{ACTIVE}` (`voting.stats.pairing` defaults: min
{pc.min_per_pair} vote per pair, min {pc.min_per_item} per variant, epsilon {pc.epsilon}); uniform = a
uniformly random pair among those the fan has not judged. A seed gives both strategies
the same crowd (fan types and ballot counts).

Scenarios (true log-strengths):

{scen}

""" + "\n\n".join(sections) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc)


if __name__ == "__main__":
    main()
