"""Active pair selection: which two variants to show the next fan.

A contest has to answer "which variant is best", not the full order, and the site
decides it when the leader's probability of being best reaches a threshold
(:data:`voting.stats.ranking.SITE_DEFAULT_RULE`). That is the best-arm identification
problem, for which top-two Thompson sampling is the standard efficient rule; the
default selector (``top_two``) is its pairwise form on the strengths' Laplace posterior:

1. Posterior. Fit the rating model (:mod:`voting.stats.ranking`) and take its Laplace
   approximation ``theta ~ N(m, Sigma)`` (the strengths block of the inverse Hessian of
   the penalised negative log-likelihood). :func:`fit_posterior` warm-starts the Newton
   fit from the previous posterior, so after one more ballot it takes one or two steps;
   the web service caches the posterior per contest version.
2. Top two. ``p_k = P(best = k)`` from posterior samples. Top-two Thompson sampling
   draws a leader ``I`` with probability ``p_I`` and a challenger from the other
   variants in proportion to theirs, so pair ``{i, j}`` comes up with probability

       q_ij = p_i p_j / (1 - p_i) + p_j p_i / (1 - p_j)

   The selector draws among the pairs this fan may still judge with probability
   proportional to ``q`` (``reason="top_two"``). Votes go to the leader against
   whoever could still beat it, each challenger as often as it could plausibly be
   best, and to two challengers when both could be; a fan who has already judged the
   leader's pairs is given a pair of two other contenders rather than none. When no
   allowed pair has ``q > 0`` (every sample has the same best variant, or this fan has
   judged every pair of two variants that ever came out on top), it falls back to
   ``best_contrasts``.
3. ``best_contrasts``: an optimal-design rule. For every contrast ``theta_k - theta_c``
   with ``z = |m_k - m_c| / sd(theta_k - theta_c)``, its weight is

       w_kc = (P(best = k) + P(best = c)) * phi(z) * max(z, 1)

   (``phi(z) * z`` is the derivative of ``Phi(-z)``, the Gaussian chance that the
   contrast has the wrong sign, with respect to the log of its variance; ``z`` is
   floored at 1 because at ``z = 0`` the bound is flat, yet those are exactly the pairs
   that need votes). One ballot on pair ``a = e_i - e_j`` adds Fisher information
   ``f_ij a a^T`` (``f_ij`` from the Davidson model at the point estimate, sides
   averaged, times the mean rater weight), which shrinks every contrast ``b`` by
   Sherman-Morrison::

       Var'(b) = Var(b) - f (b' Sigma a)^2 / (1 + f a' Sigma a)

   and the rule returns the allowed pair maximising ``sum_b w_b log(Var(b) / Var'(b))``.
   It was the default before ``top_two`` and needed more votes under the site's rule
   (docs/benchmarks-pairing.md); it stays as a strategy and as the fallback.
4. Exploration: any pair seen fewer than ``min_per_pair`` times overall is served first,
   then any variant with fewer than ``min_per_item`` ballots (matching the decision
   rule's floor, ``DecisionRule.min_comparisons``), then with probability ``epsilon`` a
   uniformly random allowed pair; so every variant stays connected to the rest and a
   model error cannot starve a variant forever.

``uniform`` (a uniformly random allowed pair) is the baseline the benchmark compares to.
A fan never sees the same unordered pair twice. The left/right sides of the chosen pair
are drawn at random and returned with it. Everything is driven by the
``numpy.random.Generator`` (or seed) passed in.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from voting.stats.ranking import (
    NO_TIE_ETA,
    Comparison,
    ModelOptions,
    VoteTable,
    _newton_batch,
    _Problem,
)

Strategy = Literal["top_two", "best_contrasts", "uniform"]


@dataclass(frozen=True)
class PairingConfig:
    """Selector settings; the defaults are what the simulation benchmark used."""

    strategy: Strategy = "top_two"
    epsilon: float = 0.05
    min_per_pair: int = 1
    min_per_item: int = 10
    n_samples: int = 256
    model: ModelOptions = ModelOptions()


@dataclass(frozen=True)
class PairChoice:
    """The pair to show, already in its (random) screen positions.

    ``reason`` says which rule picked it ("coverage", "explore", "top_two",
    "best_contrasts", "uniform"), for the audit trail.
    """

    left: str
    right: str
    reason: str


@dataclass(frozen=True)
class Posterior:
    """Laplace approximation of the strengths for one vote table.

    ``mean``/``cov``: the strengths' posterior mean and covariance; ``bias`` and ``eta``:
    point values of the position bias and log tie parameter (for predicting outcomes);
    ``phi``: the full parameter vector, the warm start of the next fit; ``mean_weight``:
    the average rater weight per ballot (what one more ballot is expected to carry).
    """

    mean: np.ndarray
    cov: np.ndarray
    bias: float
    eta: float
    phi: np.ndarray
    mean_weight: float


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
    posterior: Posterior | None = None,
) -> PairChoice | None:
    """:func:`choose_pair` on an aggregated :class:`~voting.stats.ranking.VoteTable`.

    ``posterior`` is :func:`fit_posterior` of this very table, for callers that cache
    it; it is fitted here when missing (and only when the strategy needs it).
    """
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
    if config.strategy not in ("top_two", "best_contrasts", "uniform"):
        raise ValueError(f"unknown strategy {config.strategy!r}")
    if config.strategy == "uniform":
        return _place(items, allowed[rng.integers(len(allowed))], "uniform", rng)
    pair_counts = table.pair_counts()
    seen = np.array([pair_counts[i, j] for i, j in allowed])
    if seen.min() < config.min_per_pair:
        least = np.flatnonzero(seen == seen.min())
        return _place(items, allowed[least[rng.integers(len(least))]], "coverage", rng)
    per_item = pair_counts.sum(axis=1)
    thinnest = np.array([min(per_item[i], per_item[j]) for i, j in allowed])
    if thinnest.min() < config.min_per_item:
        starved = np.flatnonzero(thinnest == thinnest.min())
        return _place(items, allowed[starved[rng.integers(len(starved))]], "coverage", rng)
    if rng.random() < config.epsilon:
        return _place(items, allowed[rng.integers(len(allowed))], "explore", rng)

    post = posterior if posterior is not None else fit_posterior(table, config.model)
    pairs = np.array(allowed)
    chance_best = None
    if config.strategy == "top_two":
        chance_best = p_best(post, rng, config.n_samples)
        q = top_two_weights(chance_best, pairs)
        if q.sum() > 0:
            return _place(items, allowed[rng.choice(len(allowed), p=q / q.sum())], "top_two", rng)
    # The fallback reuses top_two's draw of P(best) rather than sampling it again.
    gain = contrast_gain(post, pairs, rng, config.n_samples, chance_best)
    best = np.flatnonzero(gain >= gain.max() * (1 - 1e-9))
    return _place(items, allowed[best[rng.integers(len(best))]], "best_contrasts", rng)


def fit_posterior(
    table: VoteTable, options: ModelOptions | None = None, start: Posterior | None = None
) -> Posterior:
    """Laplace approximation of the strengths (model priors ``options``, by default
    :class:`~voting.stats.ranking.ModelOptions`), warm-started at ``start`` when given (the
    previous posterior of the same contest: a ballot moves the optimum a little)."""
    problem = _Problem(table, options if options is not None else ModelOptions())
    n = problem.n
    phi0 = problem.start()
    if start is not None and len(start.phi) == problem.p:
        phi0 = np.where(problem.free, start.phi, problem.fixed_value)
        if problem.has_ties and start.eta <= NO_TIE_ETA:
            phi0[n + 1] = problem.mu0[n + 1]  # ties just appeared: leave the no-tie limit
    c = problem.counts_of(table.counts)[None]
    phi, _ = _newton_batch(problem, c, phi0[None], tol=1e-5)
    _, h = problem.grad_hess(phi, c)
    cov = np.linalg.inv(h[0])[:n, :n]
    raw = int(table.raw.sum())
    return Posterior(
        mean=phi[0, :n],
        cov=(cov + cov.T) / 2,
        bias=float(phi[0, n]),
        eta=float(phi[0, n + 1]) if problem.has_ties else NO_TIE_ETA,
        phi=phi[0],
        mean_weight=table.total_weight / raw if raw else 1.0,
    )


def p_best(post: Posterior, rng: np.random.Generator, n_samples: int = 256) -> np.ndarray:
    """Posterior probability that each variant is the best (Monte Carlo, Laplace)."""
    w, v = np.linalg.eigh(post.cov)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    samples = post.mean + rng.standard_normal((n_samples, len(post.mean))) @ root.T
    return np.bincount(samples.argmax(axis=1), minlength=len(post.mean)) / n_samples


def top_two_weights(chance_best: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """How often top-two Thompson sampling would pick each pair (module doc, step 2),
    from each variant's chance of being best (:func:`p_best`):
    ``q_ij = p_i p_j / (1 - p_i) + p_j p_i / (1 - p_j)``, a leader drawn by its chance
    of being best and a challenger by theirs among the rest; 0 for a pair with a side
    that was never best in the samples."""
    rest = np.clip(1.0 - chance_best, 1e-12, None)
    pi, pj = chance_best[pairs[:, 0]], chance_best[pairs[:, 1]]
    return pi * pj / rest[pairs[:, 0]] + pj * pi / rest[pairs[:, 1]]


def ballot_information(post: Posterior, pairs: np.ndarray) -> np.ndarray:
    """Expected Fisher information about ``theta_i - theta_j`` from one ballot on each
    pair (Davidson model at the point estimate, either side on the left with
    probability 1/2). The score's gradient is ``(e_i - e_j) s / 2`` with ``s`` = +1 (i
    better), -1 (j better) or 0 (same: a tie moves both strengths alike), so the
    information matrix is ``f a a^T`` with ``f = Var(s) / 4 = (P(i) + P(j) - (P(i) - P(j))^2) / 4``."""
    ti, tj = post.mean[pairs[:, 0]], post.mean[pairs[:, 1]]
    left = np.concatenate([ti, tj])
    right = np.concatenate([tj, ti])
    u = np.stack([left + post.bias, right, post.eta + (left + post.bias + right) / 2])
    p = np.exp(u - u.max(axis=0))
    p /= p.sum(axis=0)
    info = p[0] + p[1] - (p[0] - p[1]) ** 2
    return 0.125 * (info[: len(pairs)] + info[len(pairs):])


def contrast_gain(
    post: Posterior, pairs: np.ndarray, rng: np.random.Generator, n_samples: int = 256,
    chance_best: np.ndarray | None = None,
) -> np.ndarray:
    """The selection criterion (module doc, steps 2-3) for each candidate pair.

    ``chance_best`` is :func:`p_best` of ``post`` where the caller has drawn it already;
    it is sampled here when missing.
    """
    n = len(post.mean)
    k, c = np.triu_indices(n, 1)
    sigma = post.cov
    var_b = sigma[k, k] + sigma[c, c] - 2 * sigma[k, c]
    z = np.abs(post.mean[k] - post.mean[c]) / np.sqrt(np.clip(var_b, 1e-12, None))
    pb = chance_best if chance_best is not None else p_best(post, rng, n_samples)
    weight = (pb[k] + pb[c]) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi) * np.maximum(z, 1.0)
    i, j = pairs[:, 0], pairs[:, 1]
    # b' Sigma a for every contrast b (rows) and candidate a (columns)
    cross = sigma[k][:, i] - sigma[k][:, j] - sigma[c][:, i] + sigma[c][:, j]
    var_a = sigma[i, i] + sigma[j, j] - 2 * sigma[i, j]
    f = ballot_information(post, pairs) * post.mean_weight
    shrink = f * cross**2 / (1 + f * var_a)
    ratio = np.clip(1 - shrink / np.clip(var_b, 1e-12, None)[:, None], 1e-12, None)
    return -(weight[:, None] * np.log(ratio)).sum(axis=0)


def _place(items: Sequence[str], pair: tuple[int, int], reason: str, rng: np.random.Generator) -> PairChoice:
    i, j = pair
    if rng.random() < 0.5:
        i, j = j, i
    return PairChoice(items[int(i)], items[int(j)], reason)
