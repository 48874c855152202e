"""Contribution games: Nash equilibria, best-response dynamics and FedBR (paper 003).

Owner *i* chooses a contribution :math:`s_i \\in [0, \\tau_i]` and gets, under
the budget-balanced mechanism :math:`\\mathcal M_\\beta` of Section 4
(:math:`\\beta = 0` is the plain game of Sections 2-3),

.. math::  u_i(s) = B_i + a_i(s) - c_i(s_i) + p_i(s), \\qquad
           p_i(s) = \\beta\\Big(c_i(s_i) - \\frac{1}{n-1}\\sum_{j \\ne i} c_j(s_j)\\Big),

i.e. :math:`u_i = B_i + a_i(s) - (1-\\beta) c_i(s_i) - \\frac{\\beta}{n-1}\\sum_{j\\ne i} c_j(s_j)`
(eq. 5 with quasi-linear utility, Section 5.1).  The payments sum to zero
for every *s* (budget balance).  This module holds

* :func:`budget_balanced_payments` and :func:`optimal_beta` (eq. 6 / 14);
* :class:`ContributionGame` -- utilities, the exact best response per owner
  (a bounded scalar maximisation with :func:`scipy.optimize.minimize_scalar`
  after a grid search), the deviation-gain Nash check, the pseudo-gradient
  :math:`g` of eq. (4) and its Jacobian :math:`G(s)` (Theorem 3.2);
* :func:`best_response_dynamics` (synchronous or sequential exact best
  responses, with cycle detection for Theorem A.2) and
  :func:`gradient_dynamics` (the projected dynamics of eq. 4, which are also
  the contribution steps of Algorithms 1 and 2);
* :class:`Theorem32` -- the contraction condition measured on :math:`G(s)`,
  the step :math:`\\lambda/(n^2L^2)`, the rate bound and :func:`observed_rate`;
* the protocols :func:`fedbr`, :func:`fedbr_bg` (Appendix C), the
  baselines :func:`fedavg` and :func:`mwfed` (Section 5), and
  :func:`welfare_maximum`, a direct optimiser of :math:`W_p` used to test
  Theorem 4.1;
* :func:`stability_slack`, the stable-equilibrium test of Blum et al. (2021)
  that :func:`mwfed` aims at.

MWFed, the paper's fourth protocol, is "a recent adaptation of FedAvg"
(Section 1.1) from Blum, Haghtalab, Phillips and Shao, *One for One, or All
for All: Equilibria and Optimality of Collaboration in Federated Learning*
(ICML 2021).  Paper 003 gives no detail of it; :func:`mwfed` follows Blum et
al.'s MW-FED as released by its authors (repository
``rlphilli/Collaborative-Incentives``, ``learners.py``, class ``Blum_Avg``):
federated averaging in which every round's sample budget is split by
multiplicative weights that grow for the agents whose accuracy is still below
their target.  The parameters paper 003 leaves open (the targets
:math:`\\mu_i`, the per-round budget) are documented there.

Limits of the paper recorded here (docs/models/contribution_game.md#corrections): Theorem 4.1 (every
all-positive NE of :math:`\\mathcal M_{\\beta^*}` maximises every p-mean
welfare) holds for identical linear costs, but fails for heterogeneous costs
(docs/models/contribution_game.md#corr-thm-4-1 / #g10: ``c = w = (1, 2, 3)`` has an all-positive NE with
:math:`W_1 = 16.8774 < 20.7506`); Theorem 3.2 needs strictly convex costs
when the payoff depends on :math:`\\lVert s\\rVert_1` only (docs/models/contribution_game.md#corr-thm-3-2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from market.theory.contribution_game.payoffs import ConvexCost, Payoff
from market.theory.contribution_game.welfare import p_mean_welfare


def budget_balanced_payments(cost: np.ndarray, beta: float) -> np.ndarray:
    """Payments of :math:`\\mathcal M_\\beta`: :math:`p_i = \\beta(c_i - \\frac{1}{n-1}\\sum_{j\\ne i} c_j)`.

    Parameters
    ----------
    cost : numpy.ndarray
        Each owner's cost :math:`c_i(s_i)`, shape ``(n,)`` with ``n >= 2``.
    beta : float
        Tax/subsidy rate.

    Returns
    -------
    numpy.ndarray
        Payment to each owner (positive = subsidy, negative = tax); the
        payments sum to zero.
    """
    cost = np.asarray(cost, dtype=float)
    n = cost.shape[-1]
    if n < 2:
        raise ValueError("owners: the budget-balanced mechanism needs at least two owners")
    others = (cost.sum(axis=-1, keepdims=True) - cost) / (n - 1)
    return beta * (cost - others)


def optimal_beta(slopes: np.ndarray) -> float:
    """The rate :math:`\\beta^*` of Definition 2: the root of eq. (6) in :math:`[0, 1 - 1/n]`.

    With :math:`A = (\\sum_i c_i^{-1})^{-1}` and :math:`C = \\sum_i c_i`,
    eq. (6) reads :math:`C\\beta^2 - (An(n-2) + C)\\beta + A(n-1)^2 = 0` and
    :math:`\\beta^*` is its minus root (eq. 14).  It is computed without
    cancellation: with the cost dispersion
    :math:`D = C/A - n^2 = \\sum_{i<j} (c_i - c_j)^2/(c_i c_j) \\ge 0`
    (AM-HM; evaluated as :math:`H\\sum_i x_i^2/c_i - (\\sum_i x_i/c_i)^2`,
    :math:`x_i = c_i - C/n`, :math:`H = 1/A`), the discriminant of (6) is
    :math:`A^2 D (D + 4(n-1))` and

    .. math::  \\beta^* = \\frac{2(n-1)^2}{D + 2n(n-1) + \\sqrt{D(D + 4(n-1))}} .

    Identical costs give :math:`D = 0` and exactly :math:`1 - 1/n` (where the
    textbook formula needs the discriminant clamp of docs/models/contribution_game.md#eq-6); two
    owners give :math:`\\min(c)/(c_1 + c_2)`; Lemma 1's bounds
    :math:`0 \\le \\beta^* \\le 1 - 1/n` hold because :math:`D \\ge 0`.

    Parameters
    ----------
    slopes : array_like
        The linear cost slopes :math:`c_i > 0`, ``n >= 2`` of them.
    """
    c = np.asarray(slopes, dtype=float)
    if c.ndim != 1 or c.size < 2:
        raise ValueError("slopes: beta* needs the cost slopes of at least two owners")
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("slopes: cost slopes must be positive and finite")
    n = c.size
    x = c - c.mean()
    dispersion = max(float(np.sum(1.0 / c) * np.sum(x * x / c) - np.sum(x / c) ** 2), 0.0)
    root = np.sqrt(dispersion * (dispersion + 4 * (n - 1)))
    return float(2 * (n - 1) ** 2 / (dispersion + 2 * n * (n - 1) + root))


@dataclass(frozen=True)
class ContributionGame:
    """The contribution game of owners under :math:`\\mathcal M_\\beta` (``beta = 0``: no mechanism).

    Parameters
    ----------
    payoff : Payoff
        The learning payoff :math:`a(s)`.
    cost : ConvexCost
        The costs :math:`c_i(s_i)`.
    tau : array_like
        Upper bounds :math:`\\tau_i > 0` of the contributions.
    beta : float, default 0
        Tax/subsidy rate of :math:`\\mathcal M_\\beta`, in [0, 1].
    budget : float or array_like, default 0
        Budgets :math:`B_i` (a constant offset of the utilities, Section 4).
    """

    payoff: Payoff
    cost: ConvexCost
    tau: Any
    beta: float = 0.0
    budget: Any = 0.0

    def __post_init__(self) -> None:
        n = self.payoff.n
        tau = np.asarray(self.tau, dtype=float)
        tau = np.full(n, float(tau)) if tau.ndim == 0 else tau
        if tau.shape != (n,) or np.any(~np.isfinite(tau)) or np.any(tau <= 0):
            raise ValueError(f"tau: needs {n} positive finite upper bounds")
        if self.cost.n != n:
            raise ValueError(f"cost: has {self.cost.n} owners, the payoff has {n}")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError("beta: must lie in [0, 1]")
        if self.beta > 0 and n < 2:
            raise ValueError("beta: the budget-balanced mechanism needs at least two owners")
        budget = np.asarray(self.budget, dtype=float)
        budget = np.full(n, float(budget)) if budget.ndim == 0 else budget
        if budget.shape != (n,):
            raise ValueError(f"budget: needs a number or {n} values")
        object.__setattr__(self, "tau", tau)
        object.__setattr__(self, "budget", budget)

    @property
    def n(self) -> int:
        """Number of owners."""
        return self.payoff.n

    def with_beta(self, beta: float) -> ContributionGame:
        """The same game under :math:`\\mathcal M_\\beta` with another rate."""
        return dataclasses.replace(self, beta=float(beta))

    def payments(self, s: np.ndarray) -> np.ndarray:
        """:math:`p_i(s)` of :math:`\\mathcal M_\\beta` (zeros when ``beta = 0``)."""
        cost = self.cost(np.asarray(s, dtype=float))
        if self.beta == 0:
            return np.zeros_like(cost)
        return budget_balanced_payments(cost, self.beta)

    def utility(self, s: np.ndarray) -> np.ndarray:
        """:math:`u_i(s) = B_i + a_i(s) - c_i(s_i) + p_i(s)`."""
        s = np.asarray(s, dtype=float)
        return self.budget + self.payoff(s) - self.cost(s) + self.payments(s)

    def deviation_utilities(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        """:math:`u_i(x_{ik}, s_{-i})` for every owner *i* and candidate *k*.

        Parameters
        ----------
        s : numpy.ndarray
            Current contributions, shape ``(n,)``.
        x : numpy.ndarray
            Candidates, shape ``(n, K)`` or ``(K,)`` (the same for every owner).
        """
        s = np.asarray(s, dtype=float)
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            x = np.broadcast_to(x, (self.n, x.size))
        own_cost = self.cost(s)
        others = 0.0
        if self.beta > 0:
            others = (self.beta / (self.n - 1)) * (own_cost.sum() - own_cost)
        return (self.budget[:, None] + self.payoff.deviation(s, x)
                - (1 - self.beta) * self.cost(x) - np.asarray(others)[..., None])

    def _own_objective(self, i: int, x: float, s: np.ndarray) -> float:
        """Owner *i*'s utility at :math:`(x, s_{-i})` up to a constant in *x*."""
        c, k = self.cost.slope[i], self.cost.curvature[i]
        return self.payoff.own_value(i, x, s) - (1 - self.beta) * (c * x + 0.5 * k * x * x)

    def best_response(self, s: np.ndarray, owners: np.ndarray | None = None,
                      grid: int = 65) -> np.ndarray:
        """Each owner's exact best response :math:`f_i(s_{-i})` on :math:`[0, \\tau_i]`.

        A grid search over ``grid`` points of :math:`[0, \\tau_i]` brackets the
        global maximum (payoffs need not be concave, e.g. Theorem A.2), then
        bounded Brent (:func:`scipy.optimize.minimize_scalar`) refines it in the
        bracket; the better of the grid point and the refined point is kept
        (ties go to the grid point, so boundary optima are exactly 0 or
        :math:`\\tau_i`).  The scalar solver runs once per owner.

        Parameters
        ----------
        s : numpy.ndarray
            Current contributions.
        owners : array_like of int, optional
            Owners to compute (default all); the others keep ``s_i``.
        grid : int, default 65
            Grid points for the bracketing search (>= 3).

        Returns
        -------
        numpy.ndarray
            ``s`` with the listed owners' entries replaced by best responses.
        """
        s = np.asarray(s, dtype=float)
        if grid < 3:
            raise ValueError("grid: needs at least 3 points")
        rows = np.arange(self.n) if owners is None else np.asarray(owners, dtype=np.int64)
        candidates = np.linspace(0.0, 1.0, grid)[None, :] * self.tau[rows, None]
        full = np.broadcast_to(s[:, None], (self.n, grid)).copy()
        full[rows] = candidates
        values = self.deviation_utilities(s, full)[rows]
        out = s.copy()
        for r, i in enumerate(rows):
            k = int(np.argmax(values[r]))
            lo, hi = candidates[r, max(k - 1, 0)], candidates[r, min(k + 1, grid - 1)]
            best_x = candidates[r, k]
            best_val = self._own_objective(i, best_x, s)
            res = minimize_scalar(lambda x, i=i: -self._own_objective(i, x, s), bounds=(lo, hi),
                                  method="bounded",
                                  options={"xatol": 1e-12 * max(self.tau[i], 1.0)})
            if -res.fun > best_val:
                best_x = float(res.x)
            out[i] = best_x
        return out

    def deviation_gains(self, s: np.ndarray) -> np.ndarray:
        """:math:`\\max_x u_i(x, s_{-i}) - u_i(s) \\ge 0` for every owner."""
        s = np.asarray(s, dtype=float)
        br = self.best_response(s)
        gains = np.array([self._own_objective(i, br[i], s) - self._own_objective(i, s[i], s)
                          for i in range(self.n)])
        return np.maximum(gains, 0.0)

    def is_nash_equilibrium(self, s: np.ndarray, tol: float = 1e-8) -> bool:
        """Definition 1 checked by deviation: no owner gains more than ``tol`` by deviating."""
        return bool(np.all(self.deviation_gains(s) <= tol))

    def own_gradient(self, s: np.ndarray, delta_s: float | None = None) -> np.ndarray:
        """:math:`\\partial u_i/\\partial s_i = \\partial a_i/\\partial s_i - (1-\\beta) c_i'(s_i)`.

        With ``delta_s`` the payoff part is the forward difference
        :math:`[a_i(s + \\Delta s\\, e_i) - a_i(s)]/\\Delta s` of Algorithms 1 and 2
        (the server's estimated accuracy curve on a grid of step :math:`\\Delta s`).
        """
        s = np.asarray(s, dtype=float)
        if delta_s is None:
            slope = self.payoff.own_gradient(s)
        else:
            ahead = self.payoff.deviation(s, (s + delta_s)[:, None])[:, 0]
            slope = (ahead - self.payoff(s)) / delta_s
        return slope - (1 - self.beta) * self.cost.derivative(s)

    def projected_gradient(self, s: np.ndarray, delta_s: float | None = None) -> np.ndarray:
        """:math:`g(s, \\mu)` of eq. (4): the own gradient, zeroed where it points out of :math:`[0, \\tau]`.

        :math:`\\mu_i = -\\partial u_i/\\partial s_i` if (:math:`s_i = 0` and the
        gradient is negative) or (:math:`s_i = \\tau_i` and it is positive),
        else 0 -- the paper's explicit rule (the literal argmin over all
        feasible :math:`\\mu` is degenerate, docs/models/contribution_game.md#corr-eq-4).
        """
        s = np.asarray(s, dtype=float)
        grad = self.own_gradient(s, delta_s)
        blocked = ((s <= 0) & (grad < 0)) | ((s >= self.tau) & (grad > 0))
        return np.where(blocked, 0.0, grad)

    def pseudo_jacobian(self, s: np.ndarray) -> np.ndarray:
        """:math:`G(s)_{ij} = \\partial^2 u_i/\\partial s_j \\partial s_i` (Theorem 3.2).

        The payments' cross terms do not depend on :math:`s_i`, so
        :math:`G = J_a - \\operatorname{diag}((1-\\beta) c_i'')`.
        """
        s = np.asarray(s, dtype=float)
        return self.payoff.jacobian(s) - np.diag((1 - self.beta) * self.cost.second_derivative(s))


@dataclass(frozen=True)
class Cycle:
    """A revisited state of deterministic best-response dynamics (no NE reached).

    Attributes
    ----------
    start : int
        Index (round) of the first state of the cycle.
    period : int
        Number of rounds after which the state repeats (>= 2).
    states : numpy.ndarray
        The states of one period, shape ``(period, n)``.
    """

    start: int
    period: int
    states: np.ndarray


@dataclass(frozen=True)
class Trajectory:
    """The record of a dynamics run.

    Attributes
    ----------
    states : numpy.ndarray
        Contributions after each round / step, shape ``(T + 1, n)`` (row 0 = start).
    utilities : numpy.ndarray
        Utilities at each state (payments included), shape ``(T + 1, n)``.
    payments : numpy.ndarray
        Payments of :math:`\\mathcal M_\\beta` at each state.
    g_norm : numpy.ndarray
        :math:`\\lVert g(s^t, \\mu^t)\\rVert_2` at each state (eq. 4).
    converged : bool
        Whether the stopping rule was met (fixed point / ``||g|| < tol`` /
        every MWFed target met).
    beta : float
        The mechanism's rate during the run.
    cycle : Cycle or None
        The detected cycle, if the dynamics revisited a state.
    shares : numpy.ndarray or None
        MWFed only: each owner's share of the round's sample budget, shape
        ``(T, n)`` (row *t* produced state *t + 1*).
    """

    states: np.ndarray
    utilities: np.ndarray
    payments: np.ndarray
    g_norm: np.ndarray
    converged: bool
    beta: float
    cycle: Cycle | None = None
    shares: np.ndarray | None = None

    @property
    def final(self) -> np.ndarray:
        """The last state."""
        return self.states[-1]

    def welfare(self, p: float, normalized: bool = False) -> np.ndarray:
        """:math:`W_p` of the utilities at every state."""
        return np.asarray(p_mean_welfare(self.utilities, p, normalized))


def _record(game: ContributionGame, states: list[np.ndarray], converged: bool,
            delta_s: float | None = None, cycle: Cycle | None = None,
            shares: list[np.ndarray] | None = None) -> Trajectory:
    arr = np.array(states)
    return Trajectory(
        states=arr,
        utilities=np.array([game.utility(s) for s in arr]),
        payments=np.array([game.payments(s) for s in arr]),
        g_norm=np.array([np.linalg.norm(game.projected_gradient(s, delta_s)) for s in arr]),
        converged=converged,
        beta=game.beta,
        cycle=cycle,
        shares=None if shares is None else np.array(shares).reshape(len(shares), game.n),
    )


def best_response_dynamics(game: ContributionGame, s0: np.ndarray, rounds: int = 100,
                           revision: str = "sequential", tol: float = 1e-7,
                           order: np.ndarray | None = None) -> Trajectory:
    """Exact best-response dynamics with fixed-point and cycle detection.

    ``synchronous``: every owner best-responds to the previous round's state;
    ``sequential``: owners best-respond one after another in ``order``
    (default ``0..n-1``), each seeing the updates made before it.  A round
    whose state moves by at most ``tol`` (max norm) is a fixed point, i.e. a
    Nash equilibrium (Proposition 1); the default sits above the resolution
    of the scalar solver (about 1.5e-8 relative).  A state equal (within ``1e3 * tol``)
    to an earlier, different round-end state means the deterministic
    dynamics cycle forever; the run stops and records the :class:`Cycle`
    (Theorem A.2: with ``eps = 0.05`` sequential play from 0 alternates
    (0.55, 0, 0.55) and (0, 0.55, 0)).

    Parameters
    ----------
    game : ContributionGame
        The game.
    s0 : array_like
        Initial contributions (clipped to :math:`[0, \\tau]`).
    rounds : int, default 100
        Maximum number of rounds.
    revision : {"sequential", "synchronous"}
        Revision protocol.
    tol : float, default 1e-7
        Fixed-point tolerance.
    order : array_like of int, optional
        Revision order for ``sequential``.
    """
    if revision not in ("sequential", "synchronous"):
        raise ValueError("revision: must be 'sequential' or 'synchronous'")
    if rounds < 1:
        raise ValueError("rounds: must be positive")
    seq = np.arange(game.n) if order is None else np.asarray(order, dtype=np.int64)
    s = np.clip(np.asarray(s0, dtype=float), 0.0, game.tau)
    states = [s.copy()]
    for _ in range(rounds):
        if revision == "synchronous":
            new = game.best_response(s)
        else:
            new = s.copy()
            for i in seq:
                new = game.best_response(new, owners=[i])
        if np.max(np.abs(new - s)) <= tol:
            states.append(new)
            return _record(game, states, converged=True)
        states.append(new)
        s = new
        for j in range(len(states) - 3, -1, -1):
            if np.max(np.abs(states[j] - s)) <= 1e3 * tol:
                period = len(states) - 1 - j
                cycle = Cycle(start=j, period=period, states=np.array(states[j:j + period]))
                return _record(game, states, converged=False, cycle=cycle)
    return _record(game, states, converged=False)


def gradient_dynamics(game: ContributionGame, s0: np.ndarray, step: float, iterations: int,
                      tol: float = 0.0, delta_s: float | None = None) -> Trajectory:
    """Projected best-response (gradient) dynamics, eq. (4).

    :math:`s^{t+1} = \\Pi_{[0,\\tau]}(s^t + \\delta\\, g(s^t, \\mu^t))`, where *g*
    is :meth:`ContributionGame.projected_gradient`; the projection (clipping)
    handles overshoot, which neither eq. (4) nor Algorithms 1-2 cover (docs/models/contribution_game.md#corr-eq-4).  With ``delta_s`` the own gradient is the forward
    difference of Algorithms 1 and 2 (these dynamics are then FedBR /
    FedBR-BG's contribution steps); contributions are not rounded to
    multiples of :math:`\\Delta s` (rounding can freeze the dynamics, docs/models/contribution_game.md#corr-eq-4).

    Parameters
    ----------
    game : ContributionGame
        The game.
    s0 : array_like
        Initial contributions (clipped to :math:`[0, \\tau]`).
    step : float
        Step size :math:`\\delta > 0` (Theorem 3.2: :math:`\\lambda/(n^2L^2)`).
    iterations : int
        Maximum number of steps.
    tol : float, default 0
        Stop once :math:`\\lVert g\\rVert_2 < \\text{tol}` (an approximate NE).
    delta_s : float, optional
        Data increment of the forward difference.
    """
    if not step > 0:
        raise ValueError("step: must be positive")
    if iterations < 0:
        raise ValueError("iterations: must be non-negative")
    if delta_s is not None and not delta_s > 0:
        raise ValueError("delta_s: must be positive")
    s = np.clip(np.asarray(s0, dtype=float), 0.0, game.tau)
    states = [s.copy()]
    converged = False
    for _ in range(iterations):
        g = game.projected_gradient(s, delta_s)
        if np.linalg.norm(g) < tol:
            converged = True
            break
        s = np.clip(s + step * g, 0.0, game.tau)
        states.append(s.copy())
    else:
        converged = tol > 0 and np.linalg.norm(game.projected_gradient(s, delta_s)) < tol
    return _record(game, states, converged, delta_s)


@dataclass(frozen=True)
class Theorem32:
    """The constants and bounds of Theorem 3.2.

    If :math:`G(s) + \\lambda I` is negative semi-definite (strong concavity)
    and :math:`|G_{ij}| \\le L` on the region the dynamics visit, then eq. (4)
    with :math:`\\delta = \\lambda/(n^2L^2)` satisfies
    :math:`\\lVert g^{t+1}\\rVert^2 \\le (1 - \\lambda^2/(n^2L^2))\\lVert g^t\\rVert^2`,
    hence :math:`\\lVert g^t\\rVert \\le e^{-\\lambda^2 t/(2n^2L^2)}\\lVert g^0\\rVert`
    and :math:`\\lVert g^T\\rVert < \\varepsilon` after
    :math:`T = \\frac{2n^2L^2}{\\lambda^2}\\ln(\\lVert g^0\\rVert/\\varepsilon)` steps.

    Attributes
    ----------
    lam : float
        Strong-concavity modulus :math:`\\lambda > 0`.
    lipschitz : float
        Bound :math:`L` on :math:`|G_{ij}|`.
    n : int
        Number of owners.
    """

    lam: float
    lipschitz: float
    n: int

    def __post_init__(self) -> None:
        if not self.lam > 0:
            raise ValueError(f"lam: the contraction condition needs lambda > 0, got {self.lam:.6g}")
        if not self.lipschitz > 0:
            raise ValueError("lipschitz: must be positive")

    @property
    def step(self) -> float:
        """:math:`\\delta = \\lambda/(n^2L^2)`."""
        return self.lam / (self.n**2 * self.lipschitz**2)

    @property
    def contraction(self) -> float:
        """Per-step factor on :math:`\\lVert g\\rVert`: :math:`\\sqrt{1 - \\lambda^2/(n^2L^2)}`."""
        return float(np.sqrt(1.0 - self.lam**2 / (self.n**2 * self.lipschitz**2)))

    def bound(self, t: np.ndarray, g0: float) -> np.ndarray:
        """:math:`e^{-\\lambda^2 t/(2n^2L^2)}\\lVert g^0\\rVert`."""
        return g0 * np.exp(-self.lam**2 * np.asarray(t, dtype=float) / (2 * self.n**2 * self.lipschitz**2))

    def iterations(self, g0: float, eps: float) -> float:
        """:math:`T = \\frac{2n^2L^2}{\\lambda^2}\\ln(\\lVert g^0\\rVert/\\varepsilon)`."""
        return 2 * self.n**2 * self.lipschitz**2 / self.lam**2 * np.log(g0 / eps)


def contraction_condition(game: ContributionGame, s: np.ndarray) -> tuple[float, float]:
    """Measure Theorem 3.2's conditions at ``s``: :math:`(\\lambda(s), L(s))`.

    :math:`\\lambda(s) = -\\lambda_{\\max}((G + G^T)/2)` is the largest
    :math:`\\lambda` with :math:`v^T(G + \\lambda I)v \\le 0` for all *v*
    (positive iff strong concavity holds at *s*); :math:`L(s) = \\max_{ij}|G_{ij}|`.
    """
    g = game.pseudo_jacobian(s)
    lam = -float(np.linalg.eigvalsh(0.5 * (g + g.T)).max())
    return lam, float(np.abs(g).max())


def measured_theorem_3_2(game: ContributionGame, points: np.ndarray) -> Theorem32:
    """Theorem 3.2 constants measured over ``points``: :math:`\\min\\lambda(s)`, :math:`\\max L(s)`.

    Raises
    ------
    ValueError
        If the contraction condition fails somewhere (:math:`\\lambda \\le 0`),
        e.g. an aggregate payoff with linear costs (docs/models/contribution_game.md#corr-thm-3-2).
    """
    measured = np.array([contraction_condition(game, s) for s in np.atleast_2d(points)])
    return Theorem32(lam=float(measured[:, 0].min()), lipschitz=float(measured[:, 1].max()), n=game.n)


def observed_rate(g_norm: np.ndarray) -> float:
    """Worst observed per-step factor :math:`\\max_t \\lVert g^{t+1}\\rVert / \\lVert g^t\\rVert`.

    Steps after :math:`g` has reached 0 are ignored.
    """
    g = np.asarray(g_norm, dtype=float)
    live = g[:-1] > 0
    if not np.any(live):
        return 0.0
    return float(np.max(g[1:][live] / g[:-1][live]))


def fedavg(game: ContributionGame) -> Trajectory:
    """FedAvg baseline: everyone contributes everything, :math:`s = \\tau`, no payments.

    Utilities are :math:`a_i(\\tau) - c_i(\\tau_i)` (+ :math:`B_i`).
    """
    return _record(game.with_beta(0.0), [game.tau.copy()], converged=True)


def fedbr(game: ContributionGame, s0: np.ndarray, steps: int = 100, step_size: float = 1.0,
          delta_s: float | None = None) -> Trajectory:
    """FedBR (Algorithm 2): best-response contribution steps without payments.

    ``steps`` contribution-update steps :math:`s_i \\leftarrow s_i + \\delta\\,\\partial u_i/\\partial s_i`
    with :math:`\\partial u_i/\\partial s_i = \\hat a'(S) - c_i` (forward difference
    with ``delta_s`` if given), frozen at the boundary as in the algorithm
    (see :func:`gradient_dynamics`).  The payoff comes from ``game.payoff``
    (a payoff family, or a :class:`~market.theory.contribution_game.payoffs.CallablePayoff` wrapping a
    trained model's accuracy); the inner FL training loop is that payoff's
    business.  Utilities exclude payments, as the paper evaluates FedBR.
    """
    return gradient_dynamics(game.with_beta(0.0), s0, step_size, steps, delta_s=delta_s)


def fedbr_bg(game: ContributionGame, s0: np.ndarray, steps: int = 100, step_size: float = 1.0,
             delta_s: float | None = None, beta: float | None = None) -> Trajectory:
    """FedBR-BG (Algorithm 1): FedBR under the budget-balanced mechanism :math:`\\mathcal M_\\beta`.

    The own gradient is :math:`\\hat a'(S) - (1-\\beta)c_i` with
    :math:`\\beta = \\beta^*` from the cost slopes (:func:`optimal_beta`)
    unless ``beta`` is given.  Utilities include the payments
    :math:`p_i(s)` (the paper does not say; docs/models/contribution_game.md#welfare).
    """
    rate = optimal_beta(game.cost.slope) if beta is None else float(beta)
    return gradient_dynamics(game.with_beta(rate), s0, step_size, steps, delta_s=delta_s)


def mwfed_shares(shares: np.ndarray, below_target: np.ndarray, boost: float) -> np.ndarray:
    """One multiplicative-weights update of MWFed's budget shares.

    .. math::  w_i \\leftarrow \\frac{w_i\\, r^{[a_i < \\mu_i]}}{\\sum_j w_j\\, r^{[a_j < \\mu_j]}}

    Owners still below their target gain the factor ``boost`` :math:`r`
    relative to the satisfied ones (Blum et al. 2021, MW-FED; their code
    uses :math:`r = 4`).  With every owner on the same side the shares are
    unchanged.

    Parameters
    ----------
    shares : numpy.ndarray
        Current shares :math:`w` (positive, summing to 1).
    below_target : numpy.ndarray of bool
        Whether :math:`a_i(s) < \\mu_i` at the latest evaluation.
    boost : float
        Factor :math:`r \\ge 1` (1 freezes the shares: FedAvg's uniform split).
    """
    grown = np.asarray(shares, dtype=float) * np.where(np.asarray(below_target, dtype=bool), boost, 1.0)
    return grown / grown.sum()


def mwfed(game: ContributionGame, target: Any, rounds: int = 100, batch: float = 10.0,
          boost: float = 4.0, s0: np.ndarray | None = None) -> Trajectory:
    """MWFed (Blum et al. 2021): federated averaging with multiplicatively weighted sample budgets.

    Blum et al.'s agents want the shared model to reach their own accuracy
    target, :math:`a_i(s) \\ge \\mu_i`, while sampling as little as possible
    (their constrained model; paper 003, Remark 1).  Each round of MW-FED
    the server draws a batch of :math:`n \\cdot \\text{batch}` fresh samples,
    agent *i* supplying the share :math:`w_i`; after training it evaluates
    every agent's accuracy, and the agents still below target have their
    share multiplied by ``boost`` (:func:`mwfed_shares`).  Sampling burden
    thus moves to the agents who still need the model to improve, towards a
    *stable* equilibrium in which no agent could sample less and still meet
    its target (:func:`stability_slack`).  Here, round *t* is

    .. math::  s^t = \\min\\big(s^{t-1} + n\\,\\text{batch}\\; w^t,\\ \\tau\\big), \\qquad
               w^{t+1} = \\text{mwfed\\_shares}(w^t, a(s^t) < \\mu),

    with :math:`w^1` uniform (the authors' code evaluates nothing before the
    first round), and the run stops once every owner meets its target (or
    every owner has given :math:`\\tau_i`).  Choices (paper 003 states none
    of them): an owner is satisfied when :math:`a_i(s) \\ge \\mu_i` (the
    constraint of Blum et al.'s model; the authors' code asks for accuracy
    above :math:`1 - \\varepsilon`); contributions accumulate and are capped
    at :math:`\\tau_i` (the capped part of a share is not redistributed);
    contributions are continuous (the authors round samples to integers); sampling stops when
    all targets are met (the authors' code flags that state and keeps
    training for a fixed number of rounds).  Owners with identical payoffs
    are all below or all above target together, so their shares stay
    uniform and MWFed is FedAvg stopped at the target (the i.i.d. setting of
    paper 003, Section 5).  Utilities are :math:`a_i(s) - c_i(s_i)` without
    payments, as paper 003 evaluates MWFed.

    Parameters
    ----------
    game : ContributionGame
        The game; its payoff gives the accuracies :math:`a_i(s)`.
    target : float or array_like
        Accuracy targets :math:`\\mu_i` (Blum et al.'s :math:`1 - \\varepsilon`).
    rounds : int, default 100
        Maximum number of rounds.
    batch : float, default 10
        Samples per owner per round on average (the round draws
        :math:`n \\cdot \\text{batch}`); the default is paper 003's :math:`\\Delta s`.
    boost : float, default 4
        Multiplicative factor of the owners below target (the authors' value).
    s0 : array_like, optional
        Contributions before the first round (default 0).
    """
    mu = np.asarray(target, dtype=float)
    mu = np.full(game.n, float(mu)) if mu.ndim == 0 else mu
    if mu.shape != (game.n,) or not np.all(np.isfinite(mu)):
        raise ValueError(f"target: needs a number or {game.n} finite values")
    if rounds < 1:
        raise ValueError("rounds: must be positive")
    if not batch > 0:
        raise ValueError("batch: must be positive")
    if not boost >= 1:
        raise ValueError("boost: must be at least 1")
    plain = game.with_beta(0.0)
    s = np.zeros(game.n) if s0 is None else np.clip(np.asarray(s0, dtype=float), 0.0, game.tau)
    w = np.full(game.n, 1.0 / game.n)
    states, shares = [s.copy()], []
    for _ in range(rounds):
        if np.all(plain.payoff(s) >= mu) or np.all(s >= game.tau):
            break
        s = np.minimum(s + game.n * batch * w, game.tau)
        states.append(s.copy())
        shares.append(w)
        w = mwfed_shares(w, plain.payoff(s) < mu, boost)
    return _record(plain, states, converged=bool(np.all(plain.payoff(s) >= mu)), shares=shares)


def stability_slack(game: ContributionGame, s: np.ndarray, target: Any, iterations: int = 60) -> np.ndarray:
    """How much each owner could cut its own contribution and still meet its target (Blum et al. 2021).

    .. math::  \\text{slack}_i = s_i - \\min\\{x \\in [0, s_i] : a_i(x, s_{-i}) \\ge \\mu_i\\}.

    A profile where every owner meets its target is a *stable equilibrium*
    of Blum et al.'s constrained model iff every slack is 0: no owner would
    unilaterally reduce its sampling burden.  The minimum is found by
    bisection (``iterations`` halvings of :math:`[0, s_i]`), which assumes
    :math:`a_i` non-decreasing in :math:`s_i` (Section 2).

    Parameters
    ----------
    game : ContributionGame
        The game; its payoff gives :math:`a_i`.
    s : array_like
        Contributions.
    target : float or array_like
        Targets :math:`\\mu_i`.
    iterations : int, default 60
        Bisection steps.

    Returns
    -------
    numpy.ndarray
        The slack of every owner; NaN for owners below their target (for
        whom the question does not arise).
    """
    s = np.asarray(s, dtype=float)
    mu = np.broadcast_to(np.asarray(target, dtype=float), (game.n,))
    met = game.payoff(s) >= mu
    lo, hi = np.zeros(game.n), s.copy()
    meets_at_zero = game.payoff.deviation(s, lo[:, None])[:, 0] >= mu
    hi = np.where(meets_at_zero, 0.0, hi)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        ok = game.payoff.deviation(s, mid[:, None])[:, 0] >= mu
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return np.where(met, s - hi, np.nan)


def welfare_maximum(game: ContributionGame, p: float, rng: np.random.Generator,
                    starts: int = 8, lower: float = 1e-9) -> tuple[float, np.ndarray]:
    """Direct maximisation of :math:`W_p(u(s))` over :math:`s \\in [\\text{lower}, \\tau]`.

    The benchmark of Theorem 4.1 ("maximises W_p among all s > 0"): L-BFGS-B
    from ``starts`` random points in the box plus the box's corners
    :math:`\\text{lower}\\cdot 1` and :math:`\\tau`; profiles where
    :math:`W_p` is undefined (a non-positive utility for ``p < 1``) are
    penalised.  Utilities include the mechanism's payments.

    Returns
    -------
    value : float
        The best un-normalised :math:`W_p` found.
    s : numpy.ndarray
        Where it is attained.
    """
    lo = np.full(game.n, lower)
    hi = game.tau

    def objective(s: np.ndarray) -> float:
        u = game.utility(s)
        if p < 1 and np.any(u <= 0):
            return 1e6 * (1.0 + float(np.sum(np.maximum(-u, 0.0))))
        return -float(p_mean_welfare(u, p, normalized=True))

    inits = [lo, hi] + [lo + (hi - lo) * rng.random(game.n) for _ in range(starts)]
    best_val, best_s = -np.inf, lo
    for x0 in inits:
        res = minimize(objective, x0, method="L-BFGS-B", bounds=list(zip(lo, hi)))
        if -res.fun > best_val:
            best_val, best_s = -res.fun, res.x
    return float(p_mean_welfare(game.utility(best_s), p)), best_s
