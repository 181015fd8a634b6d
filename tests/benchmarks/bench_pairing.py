"""Benchmark: votes needed to identify the best variant, active vs uniform pair selection.

Run from the repository root (takes several minutes on two cores)::

    .venv/bin/python tests/benchmarks/bench_pairing.py            # full run, writes the doc
    .venv/bin/python tests/benchmarks/bench_pairing.py --quick    # a smoke run, no doc

Prints a table per experiment and writes ``docs/benchmarks-pairing.md``. Every run is
seeded (see ``voting.simulation``), so the numbers are reproducible on any machine; only
the seconds column depends on the hardware.
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from voting.ranking import DecisionRule  # noqa: E402
from voting.simulation import (  # noqa: E402
    SCENARIOS,
    FanModel,
    RunResult,
    SimConfig,
    Summary,
    simulate_run,
    summarise,
)

ACTIVE = "top_two_thompson"
UNIFORM = "uniform"


@dataclass(frozen=True)
class Experiment:
    title: str
    scenarios: tuple[str, ...]
    seeds: int
    fans: FanModel
    config: SimConfig
    strategies: tuple[str, ...] = (ACTIVE, UNIFORM)
    #: per-strategy decision rule overriding ``config.rule`` (equal-error comparisons)
    rules: tuple[tuple[str, DecisionRule], ...] = ()

    def config_for(self, strategy: str) -> SimConfig:
        return replace(self.config, rule=dict(self.rules).get(strategy, self.config.rule))


def experiments(scale: float) -> list[Experiment]:
    base = SimConfig(max_votes=3000, check_every=20, n_bootstrap=100)
    n = lambda k: max(2, int(round(k * scale)))  # noqa: E731
    return [
        Experiment(
            "Rule P(best) >= 0.95; fans cast 5 ballots on average (one per pair)",
            tuple(SCENARIOS),
            n(20),
            FanModel(),
            replace(base, rule=DecisionRule("probability", p_best_threshold=0.95)),
        ),
        Experiment(
            "Rule: 95 % intervals clear (the default rule); fans cast 5 ballots on average",
            ("clear_winner", "close_top_two"),
            n(10),
            FanModel(),
            replace(base, rule=DecisionRule("intervals")),
        ),
        Experiment(
            "Rule P(best) >= 0.95; every fan casts one ballot (no one-ballot-per-pair limit in play)",
            ("clear_winner", "close_top_two"),
            n(10),
            FanModel(ballots_mean=1.0),
            replace(base, rule=DecisionRule("probability", p_best_threshold=0.95)),
        ),
        Experiment(
            "Equal error rate: active at P(best) >= 0.95 against uniform at P(best) >= 0.99; ~5 ballots per fan",
            ("close_top_two", "three_contenders"),
            n(20),
            FanModel(),
            replace(base, rule=DecisionRule("probability", p_best_threshold=0.95)),
            rules=((UNIFORM, DecisionRule("probability", p_best_threshold=0.99)),),
        ),
    ]


def _job(args: tuple[str, str, int, FanModel, SimConfig]) -> RunResult:
    scenario, strategy, seed, fans, config = args
    return simulate_run(SCENARIOS[scenario], strategy, seed, fans, config)  # type: ignore[arg-type]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval for an error rate k/n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def table(summaries: list[Summary]) -> list[str]:
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few seeds only; does not write the doc")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-pairing.md")
    parser.add_argument(
        "--only", type=int, action="append",
        help="run only experiment K (0-based; repeatable); its section replaces the one in --out",
    )
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0

    started = time.perf_counter()
    chosen = [e for k, e in enumerate(experiments(scale)) if args.only is None or k in args.only]
    sections: list[str] = []
    if args.only and args.out.exists():
        kept = read_sections(args.out)
        sections = [kept[e.title] for e in experiments(scale) if e.title in kept and e not in chosen]
    for exp in chosen:
        jobs = [
            (sc, st, seed, exp.fans, exp.config_for(st))
            for sc in exp.scenarios for st in exp.strategies for seed in range(exp.seeds)
        ]
        t0 = time.perf_counter()
        with Pool(args.processes) as pool:
            results = pool.map(_job, jobs, chunksize=1)
        rows = table(summarise(results))
        print(f"\n## {exp.title}  ({len(jobs)} runs, {time.perf_counter() - t0:.0f} s)")
        print("\n".join(rows), flush=True)
        sections.append(f"### {exp.title}\n\n{len(jobs)} runs, seeds 0..{exp.seeds - 1} per cell.\n\n" + "\n".join(rows))

        if not args.quick:  # written after every experiment, so an interrupted run leaves its tables
            write_doc(args.out, sections, time.perf_counter() - started, args.processes, done=False)
    total = time.perf_counter() - started
    print(f"\ntotal {total:.0f} s")
    if not args.quick:
        write_doc(args.out, sections, total, args.processes, done=True)
        print(f"wrote {args.out}")


def read_sections(path: Path) -> dict[str, str]:
    """The experiment sections ("### title" blocks) of an existing benchmark doc."""
    out = {}
    for block in path.read_text().split("\n### ")[1:]:
        title = block.split("\n", 1)[0].strip()
        out[title] = "### " + block.strip()
    return out


def write_doc(out: Path, sections: list[str], total: float, processes: int, done: bool) -> None:
    scen = "\n".join(f"- `{s.name}`: strengths {s.strengths} ({s.description})" for s in SCENARIOS.values())
    fans = FanModel()
    status = "" if done else "\n**Incomplete: the run was still going when this was written.**\n"
    doc = f"""# Pair selection benchmark

Generated by `tests/benchmarks/bench_pairing.py` ({total / 60:.0f} min on {processes} processes,
Python {platform.python_version()}). Method and discussion: `docs/ranking.md`.
{status}
Each run is one simulated contest of 6 variants. Fans arrive one by one; each casts
1 + Poisson(mean - 1) ballots, never the same pair twice. Honest fans answer from the
Davidson model with position bias {fans.position_bias} (log-odds towards the left) and tie
parameter nu = {math.exp(fans.tie_log_nu):.2f}; {fans.random_share:.0%} of fans are random clickers
(left/right/same with probabilities {fans.random_probs}, watching ~{fans.random_watch_seconds} s).
Golden pairs are mixed in (10 %, at least one by a fan's 4th ballot, never more than a
quarter of a fan's ballots, so never a fan's first ballot and none in the one-ballot
experiment) and rater weights come from `voting.reliability`. The decision rule is checked every 20 contest votes with
a 100-replicate rater bootstrap; a run stops when it fires (or at 3000 votes). "votes"
counts contest ballots only; goldens are listed separately. "wrong" = the declared
winner is not the true best. Active = top-two Thompson sampling (`voting.pairing`
defaults: min 1 vote per pair, min 10 per variant, epsilon 0.05); uniform = a uniformly
random pair among those the fan has not judged.

Scenarios (true log-strengths):

{scen}

""" + "\n\n".join(sections) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc)


if __name__ == "__main__":
    main()
