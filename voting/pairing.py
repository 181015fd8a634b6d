"""Active pair selection: which two variants to show the next fan.

The question a contest has to answer is "which variant is best", not the full order, so
the selector spends votes where they move the probability of being best:

1. Fit the rating model (:mod:`voting.ranking`) and take its Laplace approximation
   ``theta ~ N(theta_hat, Sigma)``; draw ``S`` posterior samples (one Newton fit and an
   eigen-decomposition: a few milliseconds for 12 variants).
2. ``top_two_thompson`` (default): leader = argmax of one posterior sample, challenger =
   argmax of the first later sample that disagrees and whose pair with the leader the
   fan has not judged (Russo 2016, top-two Thompson sampling for best-arm
   identification). Votes go to the leader against whoever could still beat it, in
   proportion to how plausible that is; it did best in the simulation.
   ``info_gain``: for every pair the fan has not judged yet, the expected reduction in
   the entropy of ``argmax(theta)`` after one more ballot on that pair::

       EIG(i, j) = H[best] - sum_o P(o) * H[best | o]

   where ``o`` is "i better", "j better" or "same" (sides averaged, because the side is
   drawn at random after the choice), ``P(o)`` is the posterior predictive and
   ``P(best | o)`` re-weights the same samples by the likelihood of ``o`` (importance
   re-weighting; the samples are shared across pairs so their noise cancels when pairs
   are compared).
   ``uniform``: uniform over the allowed pairs (the baseline the simulation compares to).
3. Exploration: any pair seen fewer than ``min_per_pair`` times overall is served first,
   then any variant with fewer than ``min_per_item`` ballots (matching the decision
   rule's floor, ``DecisionRule.min_comparisons``), then with probability ``epsilon`` a
   uniformly random allowed pair; so every variant stays connected to the rest and a
   model error cannot starve a variant forever.
4. When the posterior samples already agree on the best (no challenger, EIG 0)
   the selector falls back to the leader against the rival whose gap is smallest in
   standard errors (an LUCB-style choice), which is what the interval rule still needs.

The left/right sides of the chosen pair are drawn at random and returned with it.
Everything is driven by the ``numpy.random.Generator`` (or seed) passed in.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from voting.ranking import (
    NO_TIE_ETA,
    Comparison,
    ModelOptions,
    VoteTable,
    _newton_batch,
    _Problem,
    outcome_probabilities,
)

Strategy = Literal["top_two_thompson", "info_gain", "uniform"]


@dataclass(frozen=True)
class PairingConfig:
    """Selector settings; the defaults are what the simulation benchmark used."""

    strategy: Strategy = "top_two_thompson"
    epsilon: float = 0.05
    min_per_pair: int = 1
    min_per_item: int = 10
    n_samples: int = 256
    model: ModelOptions = ModelOptions()


@dataclass(frozen=True)
class PairChoice:
    """The pair to show, already in its (random) screen positions.

    ``reason`` says which rule picked it ("coverage", "explore", "info_gain",
    "top_two_thompson", "closest_rival", "uniform"), for the audit trail.
    """

    left: str
    right: str
    reason: str


def judged_pairs(comparisons: Iterable[Comparison], rater: str) -> set[frozenset[str]]:
    """Unordered pairs ``rater`` has already voted on (one ballot per rater per pair)."""
    return {frozenset((c.left, c.right)) for c in comparisons if c.rater == rater}


def choose_pair(
    items: Sequence[str],
    comparisons: Iterable[Comparison],
    rater: str | None = None,
    rng: np.random.Generator | int | None = None,
    config: PairingConfig = PairingConfig(),
    exclude: Collection[frozenset[str]] = (),
) -> PairChoice | None:
    """Pick the next pair for ``rater``; ``None`` when they have judged every pair.

    ``comparisons`` are the contest's (weighted) ballots so far; pairs this rater already
    judged, plus any in ``exclude``, are never returned.
    """
    comparisons = list(comparisons)
    table = VoteTable.from_comparisons(comparisons, items)
    judged = set(exclude)
    if rater is not None:
        judged |= judged_pairs(comparisons, rater)
    return choose_pair_from_table(table, judged, rng, config)


def choose_pair_from_table(
    table: VoteTable,
    judged: Collection[frozenset[str]] = (),
    rng: np.random.Generator | int | None = None,
    config: PairingConfig = PairingConfig(),
) -> PairChoice | None:
    """:func:`choose_pair` on an aggregated :class:`~voting.ranking.VoteTable`."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    items = table.items
    judged = set(judged)
    allowed = [
        (i, j)
        for i, j in itertools.combinations(range(len(items)), 2)
        if frozenset((items[i], items[j])) not in judged
    ]
    if not allowed:
        return None
    pair_counts = table.pair_counts()
    seen = np.array([pair_counts[i, j] for i, j in allowed])

    if config.strategy == "uniform":
        return _place(items, allowed[rng.integers(len(allowed))], "uniform", rng)
    if seen.min() < config.min_per_pair:
        least = np.flatnonzero(seen == seen.min())
        return _place(items, allowed[least[rng.integers(len(least))]], "coverage", rng)
    per_item = pair_counts.sum(axis=1)
    starved = [k for k, (i, j) in enumerate(allowed) if min(per_item[i], per_item[j]) < config.min_per_item]
    if starved:
        lowest = min(min(per_item[allowed[k][0]], per_item[allowed[k][1]]) for k in starved)
        starved = [k for k in starved if min(per_item[allowed[k][0]], per_item[allowed[k][1]]) == lowest]
        return _place(items, allowed[starved[rng.integers(len(starved))]], "coverage", rng)
    if rng.random() < config.epsilon:
        return _place(items, allowed[rng.integers(len(allowed))], "explore", rng)

    pairs = np.array(allowed)
    mean, cov, bias, eta = _posterior(table, config.model)
    samples = _draw(mean, cov, config.n_samples, rng)
    if config.strategy == "top_two_thompson":
        choice = _top_two(samples, pairs)
        if choice is not None:
            return _place(items, allowed[choice], "top_two_thompson", rng)
    elif config.strategy == "info_gain":
        gain = _info_gain(samples, pairs, bias, eta)
        if gain.max() > 1e-12:
            best = np.flatnonzero(gain >= gain.max() - 1e-12)
            return _place(items, allowed[best[rng.integers(len(best))]], "info_gain", rng)
    else:
        raise ValueError(f"unknown strategy {config.strategy!r}")
    return _place(items, allowed[_closest_rival(mean, cov, pairs)], "closest_rival", rng)


def _place(items: Sequence[str], pair: tuple[int, int], reason: str, rng: np.random.Generator) -> PairChoice:
    i, j = pair
    if rng.random() < 0.5:
        i, j = j, i
    return PairChoice(items[int(i)], items[int(j)], reason)


def _laplace(table: VoteTable, options: ModelOptions) -> tuple[_Problem, np.ndarray, np.ndarray]:
    """Point fit (all parameters) and the Hessian of the penalised negative log-likelihood."""
    problem = _Problem(table, options)
    c = problem.counts_of(table.counts)[None]
    phi, _ = _newton_batch(problem, c, problem.start()[None])
    _, h = problem.grad_hess(phi, c)
    return problem, phi[0], h[0]


def _posterior(table: VoteTable, options: ModelOptions) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Laplace approximation of the strengths: mean, covariance, and the point values of
    position bias and log tie parameter (used for predicting outcomes)."""
    problem, phi, h = _laplace(table, options)
    n = problem.n
    cov = np.linalg.inv(h)[:n, :n]
    eta = float(phi[n + 1]) if problem.has_ties else NO_TIE_ETA
    return phi[:n], cov, float(phi[n]), eta


def _draw(mean: np.ndarray, cov: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    cov = (cov + cov.T) / 2
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    return mean + rng.standard_normal((size, len(mean))) @ root.T


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=axis)


def _info_gain(samples: np.ndarray, pairs: np.ndarray, bias: float, eta: float) -> np.ndarray:
    """Expected entropy reduction of argmax(theta) per candidate pair (see module doc)."""
    s, n = samples.shape
    best = np.eye(n)[samples.argmax(axis=1)]  # (S, n) one-hot
    h0 = _entropy(best.mean(axis=0))
    ti = samples[:, pairs[:, 0]].T  # (P, S)
    tj = samples[:, pairs[:, 1]].T
    # Side is random: average "i on the left" and "j on the left"; outcomes re-mapped to
    # (i better, j better, same).
    p_il = outcome_probabilities(ti, tj, bias, eta)
    p_jl = outcome_probabilities(tj, ti, bias, eta)
    lik = 0.5 * (p_il + p_jl[..., [1, 0, 2]])  # (P, S, 3)
    pred = lik.mean(axis=1)  # (P, 3)
    mass = np.einsum("pso,sk->pok", lik, best) / (lik.sum(axis=1)[..., None])  # (P, 3, n)
    return h0 - (pred * _entropy(mass)).sum(axis=1)


def _top_two(samples: np.ndarray, pairs: np.ndarray) -> int | None:
    leaders = samples.argmax(axis=1)
    allowed = {(int(i), int(j)): k for k, (i, j) in enumerate(pairs)}
    first = int(leaders[0])
    for other in leaders[1:]:
        other = int(other)
        if other != first:
            key = (min(first, other), max(first, other))
            if key in allowed:
                return allowed[key]
    return None


def _closest_rival(mean: np.ndarray, cov: np.ndarray, pairs: np.ndarray) -> int:
    """Among allowed pairs, the one whose strengths are least separated in standard
    errors, preferring pairs that include the current leader."""
    leader = int(mean.argmax())
    i, j = pairs[:, 0], pairs[:, 1]
    var = cov[i, i] + cov[j, j] - 2 * cov[i, j]
    z = np.abs(mean[i] - mean[j]) / np.sqrt(np.clip(var, 1e-12, None))
    has_leader = (i == leader) | (j == leader)
    z = np.where(has_leader, z, z + 1e6)
    return int(z.argmin())
