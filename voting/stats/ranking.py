"""Bradley–Terry ratings with ties, position bias, rater weights and cluster-bootstrap intervals.

Plain Python/numpy/scipy, no Django: the ``voting`` app's services turn ballots into
:class:`Comparison` objects and call :func:`rank`.

Model (Davidson 1970 with a home-advantage term). For a ballot showing item ``i`` on
the left and ``j`` on the right, with log-strengths ``theta``, position bias ``b`` (added
to whatever is on the left) and tie parameter ``nu = exp(eta)``::

    u_left  = theta_i + b
    u_right = theta_j
    u_same  = eta + (theta_i + b + theta_j) / 2
    P(outcome) = exp(u_outcome) / (exp(u_left) + exp(u_right) + exp(u_same))

Why Davidson rather than "half a win each": it is a proper likelihood for three
outcomes, so a tie is evidence that two variants are *close* (not a coin flip between
two wins), the tie rate gets its own parameter with an interval, and the pair selector
can predict how likely "same" is. With ``nu -> 0`` it is exactly Bradley–Terry, which is
what the cross-check against ``choix`` uses.

Estimation is penalised maximum likelihood (a MAP estimate under weak Gaussian priors):
the priors keep sparse or one-sided data (an item that always wins, all ties) finite.
The objective is convex in ``(theta, b, eta)`` so the optimum is unique; the point fit
uses ``scipy.optimize`` (trust-region Newton with the analytic gradient and Hessian) and
the bootstrap replicates use a vectorised damped Newton solver that fits all replicates
at once (warm-started at the point fit), which is what makes intervals cheap enough to
recompute after every few votes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import optimize, stats

Outcome = Literal["left", "right", "same"]
OUTCOMES: tuple[Outcome, ...] = ("left", "right", "same")
_OUTCOME_INDEX = {name: k for k, name in enumerate(OUTCOMES)}

#: Score differences below this are rounding, not evidence.
_LEVEL = 1e-9

#: log tie parameter used when no tie was ever observed: P(same) ~ 1e-13, i.e. plain BT.
NO_TIE_ETA = -30.0


@dataclass(frozen=True)
class Comparison:
    """One ballot as the ranking sees it.

    ``left``/``right`` are the item ids in the positions the fan saw (needed to estimate
    position bias); ``weight`` is the rater's reliability weight (0 = shadow-excluded).
    """

    left: str
    right: str
    outcome: Outcome
    rater: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.outcome not in _OUTCOME_INDEX:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.left == self.right:
            raise ValueError(
                f"a contest comparison needs two different items, got {self.left!r} twice "
                "(golden identical pairs are scored by voting.stats.reliability, not ranked)"
            )
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"weight must be a finite number >= 0, got {self.weight!r}")


@dataclass(frozen=True)
class ModelOptions:
    """Priors and switches of the model.

    The priors are weak on purpose: ``strength_prior_sd=2`` allows a 2-sigma gap of 8
    log-units (a 99.97 % win rate) but stops an undefeated item running to infinity.
    """

    strength_prior_sd: float = 2.0
    bias_prior_sd: float = 1.0
    tie_prior_mean: float = -1.0
    tie_prior_sd: float = 2.0
    estimate_position_bias: bool = True


@dataclass
class VoteTable:
    """Comparisons aggregated into weighted counts, which is all the likelihood needs.

    ``counts[i, j, o]`` is the summed weight of ballots with item ``i`` on the left, ``j``
    on the right and outcome ``o`` (0 left, 1 right, 2 same); ``raw`` counts the ballots
    with positive weight. Keeping this table lets callers (the simulation, a cached
    contest) add votes in O(1) instead of re-reading every ballot.
    """

    items: tuple[str, ...]
    counts: np.ndarray
    raw: np.ndarray

    @classmethod
    def empty(cls, items: Sequence[str]) -> VoteTable:
        items = _check_items(items)
        n = len(items)
        return cls(items, np.zeros((n, n, 3)), np.zeros((n, n, 3), dtype=np.int64))

    @classmethod
    def from_comparisons(
        cls, comparisons: Iterable[Comparison], items: Sequence[str] | None = None
    ) -> VoteTable:
        comparisons = list(comparisons)
        table = cls.empty(_resolve_items(comparisons, items))
        index = table.index
        for c in comparisons:
            table.add(index[c.left], index[c.right], _OUTCOME_INDEX[c.outcome], c.weight)
        return table

    @property
    def index(self) -> dict[str, int]:
        return {item: k for k, item in enumerate(self.items)}

    def add(self, left: int, right: int, outcome: int, weight: float = 1.0) -> None:
        """Record one ballot given as item and outcome indices."""
        self.counts[left, right, outcome] += weight
        if weight > 0:
            self.raw[left, right, outcome] += 1

    @property
    def total_weight(self) -> float:
        return float(self.counts.sum())

    def pair_counts(self) -> np.ndarray:
        """Ballots (positive weight) per unordered pair, as a symmetric ``n x n`` matrix."""
        per_ordered = self.raw.sum(axis=2)
        return per_ordered + per_ordered.T


@dataclass(frozen=True)
class BTFit:
    """A point estimate of the model.

    ``scores`` are log-strengths centred on mean zero (the prior makes the fit centred,
    since the likelihood only sees differences). ``tie_log_nu`` is ``None`` when no tie
    was observed (the model is then plain BT with position bias). ``covariance`` is the
    inverse Hessian of the penalised negative log-likelihood (Laplace approximation),
    ordered ``(theta_1..theta_n, b, eta)``; the pair selector samples from it.
    """

    items: tuple[str, ...]
    scores: np.ndarray
    position_bias: float
    tie_log_nu: float | None
    covariance: np.ndarray
    converged: bool

    @property
    def tie_parameter(self) -> float:
        """Davidson's nu (0 when there were no ties)."""
        return 0.0 if self.tie_log_nu is None else math.exp(self.tie_log_nu)

    def probabilities(self, left: str, right: str) -> tuple[float, float, float]:
        """Predicted ``(P(left), P(right), P(same))`` for ``left`` shown on the left."""
        idx = {item: k for k, item in enumerate(self.items)}
        eta = NO_TIE_ETA if self.tie_log_nu is None else self.tie_log_nu
        p = outcome_probabilities(
            self.scores[idx[left]], self.scores[idx[right]], self.position_bias, eta
        )
        return float(p[0]), float(p[1]), float(p[2])


def outcome_probabilities(theta_left, theta_right, bias, eta) -> np.ndarray:
    """Davidson probabilities of (left, right, same); broadcasts, last axis = outcome."""
    theta_left, theta_right, bias, eta = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (theta_left, theta_right, bias, eta))
    )
    u = np.stack(
        [theta_left + bias, theta_right, eta + (theta_left + bias + theta_right) / 2], axis=-1
    )
    u = u - u.max(axis=-1, keepdims=True)
    e = np.exp(u)
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- the likelihood


class _Problem:
    """Design matrices and priors for one table; shared by the point fit and the bootstrap."""

    def __init__(self, table: VoteTable, options: ModelOptions) -> None:
        n = len(table.items)
        self.n = n
        self.p = n + 2
        observed = table.counts.sum(axis=2) > 0
        self.left, self.right = np.nonzero(observed)
        k = len(self.left)
        self.k = k
        x = np.zeros((3, k, self.p))
        rows = np.arange(k)
        x[0, rows, self.left] = 1.0
        x[0, rows, n] = 1.0
        x[1, rows, self.right] = 1.0
        x[2, rows, self.left] += 0.5
        x[2, rows, self.right] += 0.5
        x[2, rows, n] = 0.5
        x[2, rows, n + 1] = 1.0
        self.x = x
        # outer products x x^T per (k, o), flattened: H1 = (N P) @ xx
        self.xx = np.einsum("okp,okq->kopq", x, x).reshape(k * 3, self.p * self.p)
        self.has_ties = bool(table.counts[:, :, 2].sum() > 0)
        self.free = np.ones(self.p, dtype=bool)
        self.fixed_value = np.zeros(self.p)
        if not options.estimate_position_bias:
            self.free[n] = False
        if not self.has_ties:
            self.free[n + 1] = False
            self.fixed_value[n + 1] = NO_TIE_ETA
        prec = np.empty(self.p)
        prec[:n] = 1.0 / options.strength_prior_sd**2
        prec[n] = 1.0 / options.bias_prior_sd**2
        prec[n + 1] = 1.0 / options.tie_prior_sd**2
        self.prec = np.where(self.free, prec, 0.0)
        self.mu0 = np.zeros(self.p)
        self.mu0[n + 1] = options.tie_prior_mean

    def counts_of(self, table_counts: np.ndarray) -> np.ndarray:
        """``(..., n, n, 3)`` counts -> ``(..., k, 3)`` on the observed ordered pairs."""
        return table_counts[..., self.left, self.right, :]

    def start(self) -> np.ndarray:
        phi = self.fixed_value.copy()
        if self.has_ties:
            phi[self.n + 1] = self.mu0[self.n + 1]
        return phi

    # Batched functions: phi (B, p), c (B, k, 3).
    def objective(self, phi: np.ndarray, c: np.ndarray) -> np.ndarray:
        u = np.einsum("bp,okp->bko", phi, self.x)
        logz = np.logaddexp.reduce(u, axis=2)
        ll = (c * (u - logz[..., None])).sum(axis=(1, 2))
        d = phi - self.mu0
        return -ll + 0.5 * (self.prec * d * d).sum(axis=1)

    def grad_hess(self, phi: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = phi.shape[0]
        u = np.einsum("bp,okp->bko", phi, self.x)
        u -= u.max(axis=2, keepdims=True)
        prob = np.exp(u)
        prob /= prob.sum(axis=2, keepdims=True)
        n_k = c.sum(axis=2)
        resid = c - n_k[..., None] * prob
        g = -np.einsum("bko,okp->bp", resid, self.x) + self.prec * (phi - self.mu0)
        nprob = (n_k[..., None] * prob).reshape(b, self.k * 3)
        h = (nprob @ self.xx).reshape(b, self.p, self.p)
        m = np.einsum("bko,okp->bkp", prob, self.x)
        h -= np.einsum("bkp,bkq->bpq", m * n_k[..., None], m)
        h += np.diag(self.prec)
        g[:, ~self.free] = 0.0
        h[:, ~self.free, :] = 0.0
        h[:, :, ~self.free] = 0.0
        fixed = np.flatnonzero(~self.free)
        h[:, fixed, fixed] = 1.0
        return g, h


def _newton_batch(
    problem: _Problem, c: np.ndarray, phi0: np.ndarray, max_iter: int = 50, tol: float = 1e-9
) -> tuple[np.ndarray, bool]:
    """Damped Newton on many count tables at once (the objective is convex)."""
    phi = phi0.copy()
    f = problem.objective(phi, c)
    active = np.ones(len(phi), dtype=bool)
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        g, h = problem.grad_hess(phi[idx], c[idx])
        step = np.linalg.solve(h, g[..., None])[..., 0]
        done = np.abs(g).max(axis=1) < tol
        t = np.ones(len(idx))
        accepted = done.copy()
        new_phi = phi[idx].copy()
        new_f = f[idx].copy()
        for _ in range(30):
            todo = ~accepted
            if not todo.any():
                break
            cand = phi[idx][todo] - t[todo, None] * step[todo]
            fc = problem.objective(cand, c[idx][todo])
            decrease = (g[todo] * step[todo]).sum(axis=1)
            ok = fc <= f[idx][todo] - 1e-4 * t[todo] * decrease + 1e-12 * np.abs(f[idx][todo])
            sel = np.flatnonzero(todo)[ok]
            new_phi[sel] = cand[ok]
            new_f[sel] = fc[ok]
            accepted[sel] = True
            t[todo] *= 0.5
        moved = np.abs(new_phi - phi[idx]).max(axis=1)
        phi[idx] = new_phi
        f[idx] = new_f
        active[idx[done | (moved < 1e-12)]] = False
    return phi, not active.any()


def _fit_table(table: VoteTable, options: ModelOptions) -> tuple[_Problem, np.ndarray, np.ndarray, bool]:
    problem = _Problem(table, options)
    c = problem.counts_of(table.counts)[None]
    phi0 = problem.start()
    if problem.k == 0:
        _, h = problem.grad_hess(phi0[None], c)
        return problem, phi0, h[0], True

    def fun(x: np.ndarray) -> float:
        return float(problem.objective(x[None], c)[0])

    def jac(x: np.ndarray) -> np.ndarray:
        return problem.grad_hess(x[None], c)[0][0]

    def hess(x: np.ndarray) -> np.ndarray:
        return problem.grad_hess(x[None], c)[1][0]

    res = optimize.minimize(
        fun, phi0, jac=jac, hess=hess, method="trust-exact", options={"gtol": 1e-7, "maxiter": 200}
    )
    phi = np.where(problem.free, res.x, problem.fixed_value)
    # trust-exact can stop a hair early on large vote counts (the objective is a big
    # number and its decrease drops below float resolution); a few Newton steps from its
    # answer take the gradient to ~1e-9.
    polished, converged = _newton_batch(problem, c, phi[None])
    phi = polished[0]
    _, h = problem.grad_hess(phi[None], c)
    return problem, phi, h[0], converged


def fit_bt(
    data: Iterable[Comparison] | VoteTable,
    items: Sequence[str] | None = None,
    options: ModelOptions = ModelOptions(),
) -> BTFit:
    """Penalised ML fit of the Davidson–Bradley–Terry model with position bias.

    ``data`` is either the comparisons or an already aggregated :class:`VoteTable`.
    ``items`` lists the contest's variants (so one nobody compared yet still appears);
    by default the items seen in the comparisons, sorted.
    """
    table = data if isinstance(data, VoteTable) else VoteTable.from_comparisons(data, items)
    problem, phi, h, converged = _fit_table(table, options)
    cov = np.linalg.inv(h)
    cov[~problem.free, :] = 0.0
    cov[:, ~problem.free] = 0.0
    n = problem.n
    return BTFit(
        items=table.items,
        scores=phi[:n] - phi[:n].mean() if n else phi[:n],
        position_bias=float(phi[n]),
        tie_log_nu=float(phi[n + 1]) if problem.has_ties else None,
        covariance=cov,
        converged=converged,
    )


# --------------------------------------------------------------------------- ranking + decision


@dataclass(frozen=True)
class DecisionRule:
    """When a winner is declared.

    ``method="intervals"``: the top item's lower bound is above every other item's upper
    bound (at ``RankingConfig.confidence``). ``"probability"``: the top item's
    bootstrap probability of being best is at least ``p_best_threshold``. ``"either"``:
    whichever fires first. No decision is made from fewer than ``min_raters`` distinct
    raters, because a rater-clustered bootstrap over 1–4 raters cannot see rater spread,
    nor while any variant has fewer than ``min_comparisons`` ballots: with a handful of
    votes an unbeaten variant looks best in nearly every bootstrap replicate (the
    bootstrap only sees sampling noise of the data it has), and the simulation showed
    P(best) >= 0.95 firing after 20 votes without this floor.
    """

    method: Literal["intervals", "probability", "either"] = "intervals"
    p_best_threshold: float = 0.95
    min_raters: int = 5
    min_comparisons: int = 10


#: The site's default decision rule (a new contest's settings; the pairing benchmark
#: runs under it). Chosen together with the active pair selector: under "the leader's
#: interval clears the others" the selector spends its votes narrowing the top
#: contenders' comparisons while the rule waits for *every* other interval, and it
#: needed about twice uniform pairing's votes; under P(best) >= 0.95 it needs fewer
#: (docs/benchmarks-pairing.md).
SITE_DEFAULT_RULE = DecisionRule(method="probability", p_best_threshold=0.95)


@dataclass(frozen=True)
class RankingConfig:
    """Model priors plus the bootstrap settings."""

    model: ModelOptions = ModelOptions()
    n_bootstrap: int = 200
    confidence: float = 0.95
    seed: int | None = 0


@dataclass(frozen=True)
class ItemRating:
    """One variant's rating. ``lower``/``upper``/``p_best`` are ``None`` for a variant with
    no (positive-weight) comparison yet: there is nothing to put an interval on."""

    item: str
    score: float
    lower: float | None
    upper: float | None
    p_best: float | None
    wins: int
    losses: int
    ties: int

    @property
    def comparisons(self) -> int:
        return self.wins + self.losses + self.ties


@dataclass(frozen=True)
class Decision:
    """The verdict. ``more_votes`` is the estimated number of further ballots before the
    rule fires (0 when decided, ``None`` when it cannot be estimated: the top two look
    equal, or a variant has not been compared)."""

    decided: bool
    winner: str | None
    method: str
    reason: str
    more_votes: int | None


@dataclass(frozen=True)
class RankingResult:
    """Everything the results page and the contest service need, items best first."""

    items: tuple[ItemRating, ...]
    position_bias: float
    position_bias_lower: float | None
    position_bias_upper: float | None
    tie_parameter: float
    tie_parameter_lower: float | None
    tie_parameter_upper: float | None
    n_comparisons: int
    n_raters: int
    n_bootstrap: int
    confidence: float
    decision: Decision
    converged: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def by_item(self) -> dict[str, ItemRating]:
        return {r.item: r for r in self.items}


def rank(
    comparisons: Iterable[Comparison],
    items: Sequence[str] | None = None,
    config: RankingConfig = RankingConfig(),
    rule: DecisionRule = DecisionRule(),
) -> RankingResult:
    """Fit the model, bootstrap it by rater, and apply the decision rule.

    The bootstrap resamples *raters* with replacement (all of a rater's ballots travel
    together) because one fan's ballots are correlated: resampling ballots would give
    intervals that are too narrow whenever a few fans cast many votes. Seeded by
    ``config.seed``: the same input gives the same result.
    """
    comparisons = list(comparisons)
    items_t = _resolve_items(comparisons, items)
    table = VoteTable.from_comparisons(comparisons, items_t)
    raters = sorted({c.rater for c in comparisons if c.weight > 0})
    rater_index = {r: k for k, r in enumerate(raters)}
    n = len(items_t)
    per_rater = np.zeros((len(raters), n, n, 3))
    index = table.index
    for c in comparisons:
        if c.weight > 0:
            per_rater[rater_index[c.rater], index[c.left], index[c.right], _OUTCOME_INDEX[c.outcome]] += c.weight
    return rank_table(table, per_rater, config, rule)


def rank_table(
    table: VoteTable,
    per_rater: np.ndarray,
    config: RankingConfig = RankingConfig(),
    rule: DecisionRule = DecisionRule(),
) -> RankingResult:
    """:func:`rank` on pre-aggregated counts; ``per_rater[r]`` is rater ``r``'s weighted
    ``(n, n, 3)`` table (only raters with positive weight). Used by the simulation."""
    items_t = table.items
    n = len(items_t)
    notes: list[str] = []
    problem, phi, _, converged = _fit_table(table, config.model)
    scores = phi[:n] - (phi[:n].mean() if n else 0.0)
    n_raters = per_rater.shape[0]
    n_comp = int(table.raw.sum())
    alpha = 1.0 - config.confidence

    wins = table.raw[:, :, 0].sum(axis=1) + table.raw[:, :, 1].sum(axis=0)
    losses = table.raw[:, :, 1].sum(axis=1) + table.raw[:, :, 0].sum(axis=0)
    ties = table.raw[:, :, 2].sum(axis=1) + table.raw[:, :, 2].sum(axis=0)
    compared = (wins + losses + ties) > 0

    boot = None
    if problem.k > 0 and n_raters > 0 and config.n_bootstrap > 0:
        rng = np.random.default_rng(config.seed)
        mult = rng.multinomial(n_raters, np.full(n_raters, 1.0 / n_raters), size=config.n_bootstrap)
        c_rater = problem.counts_of(per_rater).reshape(n_raters, -1)
        c_boot = (mult @ c_rater).reshape(config.n_bootstrap, problem.k, 3)
        phi_b, ok = _newton_batch(problem, c_boot, np.repeat(phi[None], config.n_bootstrap, axis=0))
        if not ok:
            notes.append("some bootstrap replicates did not fully converge")
        boot = phi_b
    if n_raters and n_raters < rule.min_raters:
        notes.append(f"only {n_raters} rater(s): intervals from a rater bootstrap are unreliable")

    lower = upper = p_best = None
    if boot is not None:
        th = boot[:, :n] - boot[:, :n].mean(axis=1, keepdims=True)
        lower = np.quantile(th, alpha / 2, axis=0)
        upper = np.quantile(th, 1 - alpha / 2, axis=0)
        # P(best) among items that have been compared at all (an uncompared item's
        # score is just the prior and says nothing).
        # Items level with the maximum (all-ties data gives exact ties up to rounding)
        # share that replicate's credit instead of float noise picking one.
        masked = np.where(compared[None], th, -np.inf)
        at_max = masked >= masked.max(axis=1, keepdims=True) - _LEVEL
        p_best = (at_max / at_max.sum(axis=1, keepdims=True)).mean(axis=0)

    ratings = []
    for i, item in enumerate(items_t):
        has = bool(compared[i]) and lower is not None
        ratings.append(
            ItemRating(
                item=item,
                score=float(scores[i]),
                lower=float(lower[i]) if has else None,
                upper=float(upper[i]) if has else None,
                p_best=float(p_best[i]) if has else None,
                wins=int(wins[i]),
                losses=int(losses[i]),
                ties=int(ties[i]),
            )
        )
    ratings.sort(key=lambda r: (-r.score, r.item))

    def interval(values: np.ndarray | None) -> tuple[float | None, float | None]:
        if values is None:
            return None, None
        return float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2))

    bias_lo, bias_hi = interval(boot[:, n] if boot is not None and problem.free[n] else None)
    if problem.has_ties:
        nu = math.exp(phi[n + 1])
        nu_lo, nu_hi = interval(np.exp(boot[:, n + 1]) if boot is not None else None)
    else:
        nu, nu_lo, nu_hi = 0.0, None, None

    decision = decide(ratings, n_comp, n_raters, rule, config.confidence)
    return RankingResult(
        items=tuple(ratings),
        position_bias=float(phi[n]),
        position_bias_lower=bias_lo,
        position_bias_upper=bias_hi,
        tie_parameter=nu,
        tie_parameter_lower=nu_lo,
        tie_parameter_upper=nu_hi,
        n_comparisons=n_comp,
        n_raters=n_raters,
        n_bootstrap=config.n_bootstrap if boot is not None else 0,
        confidence=config.confidence,
        decision=decision,
        converged=converged,
        notes=tuple(notes),
    )


def decide(
    ratings: Sequence[ItemRating],
    n_comparisons: int,
    n_raters: int,
    rule: DecisionRule = DecisionRule(),
    confidence: float = 0.95,
) -> Decision:
    """Apply ``rule`` to ratings (any order) and estimate the votes still needed.

    Votes-needed estimate: interval half-widths shrink like ``1/sqrt(N)`` in the number
    of ballots ``N`` (for a fixed mix of pairs). With the leader ``w``, a rival ``c`` and
    gap ``d = s_w - s_c > 0``:

    * intervals rule: ``lower_w > upper_c`` once ``(h_w + h_c) * sqrt(N / N') < d``,
      i.e. ``N' = N * ((h_w + h_c) / d)^2`` with ``h_w = s_w - lower_w``,
      ``h_c = upper_c - s_c``;
    * probability rule (normal approximation, one rival at a time):
      ``N' = N * z_p^2 * (sigma_w^2 + sigma_c^2) / d^2`` with ``sigma = h / z_conf``.

    The estimate is the largest ``N' - N`` over rivals (the slowest rival decides);
    it is ``None`` when the leader is not ahead of some rival at all.
    """
    method = rule.method
    ratings = sorted(ratings, key=lambda r: (-r.score, r.item))
    if len(ratings) < 2:
        return Decision(False, None, method, "a contest needs at least two variants", None)
    if n_comparisons == 0:
        return Decision(False, None, method, "no votes yet", None)
    uncompared = [r.item for r in ratings if r.lower is None]
    if uncompared:
        return Decision(
            False, None, method, f"not every variant has been compared yet: {', '.join(uncompared)}", None
        )
    top, rivals = ratings[0], ratings[1:]
    by_interval = all(top.lower > r.upper + _LEVEL for r in rivals)
    by_prob = top.p_best is not None and top.p_best >= rule.p_best_threshold
    fired = {"intervals": by_interval, "probability": by_prob, "either": by_interval or by_prob}[method]

    thin = [r.item for r in ratings if r.comparisons < rule.min_comparisons]
    if thin:
        return Decision(
            False, None, method,
            f"need at least {rule.min_comparisons} votes on every variant (short: {', '.join(thin)})",
            _more_votes(top, rivals, n_comparisons, rule, confidence),
        )
    if n_raters < rule.min_raters:
        return Decision(
            False, None, method,
            f"need votes from at least {rule.min_raters} raters (have {n_raters})",
            _more_votes(top, rivals, n_comparisons, rule, confidence),
        )
    if fired:
        why = []
        if by_interval and method != "probability":
            why.append(f"its {confidence:.0%} interval clears every other variant's")
        if by_prob and method != "intervals":
            why.append(f"P(best) = {top.p_best:.3f} >= {rule.p_best_threshold}")
        return Decision(True, top.item, method, f"{top.item} wins: " + "; ".join(why), 0)
    return Decision(
        False, None, method, "not decided: the leader is not yet clear of the others",
        _more_votes(top, rivals, n_comparisons, rule, confidence),
    )


def _more_votes(
    top: ItemRating, rivals: Sequence[ItemRating], n: int, rule: DecisionRule, confidence: float
) -> int | None:
    z_conf = stats.norm.ppf(1 - (1 - confidence) / 2)
    z_p = stats.norm.ppf(rule.p_best_threshold)
    needed = 0.0
    for r in rivals:
        d = top.score - r.score
        if d <= 1e-9:
            return None
        h_w = max(top.score - top.lower, 1e-9)
        h_c = max(r.upper - r.score, 1e-9)
        n_int = n * ((h_w + h_c) / d) ** 2
        n_prob = n * z_p**2 * ((h_w / z_conf) ** 2 + (h_c / z_conf) ** 2) / d**2
        per = {"intervals": n_int, "probability": n_prob, "either": min(n_int, n_prob)}[rule.method]
        needed = max(needed, per - n)
    return int(math.ceil(needed))


# --------------------------------------------------------------------------- helpers


def _check_items(items: Sequence[str]) -> tuple[str, ...]:
    items_t = tuple(items)
    if len(set(items_t)) != len(items_t):
        raise ValueError("items must be unique")
    return items_t


def _resolve_items(comparisons: Sequence[Comparison], items: Sequence[str] | None) -> tuple[str, ...]:
    seen = {c.left for c in comparisons} | {c.right for c in comparisons}
    if items is None:
        return tuple(sorted(seen))
    items_t = _check_items(items)
    unknown = seen - set(items_t)
    if unknown:
        raise ValueError(f"comparisons mention items not in the contest: {sorted(unknown)}")
    return items_t
