"""The owners' privacy game and the platform's choice of payout share (paper 000, §§4.2-5).

Owners choose privacy levels; with fair payments (Theorem 2) owner *i* gets

.. math::  u_i(\\rho_i; \\rho_{-i}) = \\alpha\\, \\phi_i(\\rho_i; \\rho_{-i}) - c_i(\\rho_i)   \\qquad (16)

and the platform keeps :math:`(1 - \\alpha) U(\\rho)`.  This module provides

* :class:`PrivacyGame` -- owners grouped in classes (equal data size,
  importance and sensitivity function); profiles are counts per (class,
  level), so the best response (eq. 17) and the pure NE set (eq. 18) are
  searched over types, never over :math:`|\\mathcal E|^N` profiles.  The
  :math:`\\alpha` for which a profile is a NE is an interval (every deviation
  condition is linear in :math:`\\alpha`), so the platform's problem (eq. 19)
  with its favourite equilibrium is solved exactly (Algorithm 1 without an
  :math:`\\alpha` grid);
* :class:`SymmetricBinaryGame` -- Section 5: identical owners, two levels,
  common cost :math:`c`; :math:`\\gamma(p)` (eq. 23) and :math:`U(p)` from the
  fair values, the symmetric mixed NE :math:`p^*(\\alpha)` (eq. 88) and the
  platform's :math:`\\alpha^*` (eq. 21, Theorem 3) by grid search + refinement;
* :func:`two_group_payoffs`, :func:`bimatrix_equilibria`,
  :func:`two_group_optimal_alpha` -- two groups with different sensitivities
  (eqs. 25-26, App. E), equilibria enumerated with ``nashpy``.

Equilibrium selection is explicit (:data:`SELECTIONS`): ``"symmetric_mixed"``
(Theorem 3, Fig. 8) or ``"platform_favourite"`` (eq. 19, Algorithm 1, Fig. 9).
They differ: for two owners with :math:`c = 0.45` the platform earns 0.2167
with its favourite pure NE and 0.1408 at the symmetric mixed NE (docs/models/fair_value.md#two-groups).

The objective of eq. 26 is printed as :math:`\\alpha E[U]` (the payments); the
corrected objective :math:`(1-\\alpha) E[U]` (docs/models/fair_value.md#corr-eq-26) is used throughout, and the
payoff matrices are the corrected (untransposed) ones of docs/models/fair_value.md#corr-transposed.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any

import nashpy
import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import gammaln, xlog1py, xlogy

from market.theory.fair_value.fair_values import shapley_by_type
from market.theory.fair_value.mean_estimation import OwnerTypes

#: Equilibrium-selection rules for the platform's design problem.
SELECTIONS = ("symmetric_mixed", "platform_favourite")
#: Most profiles :class:`PrivacyGame` enumerates.
MAX_PROFILES = 200_000
#: Slack in equilibrium conditions (ties break towards the platform: the profile is a NE).
TIE_TOL = 1e-12


@dataclass(frozen=True)
class OwnerClasses:
    """Owners grouped by everything that matters to the game.

    Attributes
    ----------
    size : numpy.ndarray of int, shape (C,)
        Owners per class.
    cost : numpy.ndarray, shape (C, L)
        Privacy cost :math:`c_i(\\rho)` of each level for an owner of the class.
    data_size, importance : numpy.ndarray, shape (C,)
        Data size :math:`n_i` and importance :math:`a_i` (default 1).
    """

    size: np.ndarray
    cost: np.ndarray
    data_size: np.ndarray = field(default_factory=lambda: np.ones(0))
    importance: np.ndarray = field(default_factory=lambda: np.ones(0))

    def __post_init__(self) -> None:
        size = np.atleast_1d(np.asarray(self.size, dtype=np.int64))
        cost = np.atleast_2d(np.asarray(self.cost, dtype=float))
        C = size.size
        ds = np.asarray(self.data_size, float)
        imp = np.asarray(self.importance, float)
        ds = np.ones(C) if ds.size == 0 else np.broadcast_to(ds, (C,)).copy()
        imp = np.ones(C) if imp.size == 0 else np.broadcast_to(imp, (C,)).copy()
        if cost.shape[0] != C:
            raise ValueError("cost: needs one row per class")
        if np.any(size < 1):
            raise ValueError("size: every class needs at least one owner")
        if np.any(cost < 0) or not np.all(np.isfinite(cost)):
            raise ValueError("cost: privacy costs must be finite and non-negative")
        for name, value in (("size", size), ("cost", cost), ("data_size", ds), ("importance", imp)):
            object.__setattr__(self, name, value)

    @property
    def owners(self) -> int:
        """Total number of owners."""
        return int(self.size.sum())


@dataclass(frozen=True)
class AlphaChoice:
    """The platform's payout share and the equilibrium it induces.

    Attributes
    ----------
    alpha : float
        Chosen :math:`\\alpha^*`.
    platform_payoff : float
        :math:`(1 - \\alpha^*)\\, E[U]` at the selected equilibrium.
    utility : float
        :math:`E[U]` at the selected equilibrium.
    strategy : Any
        The equilibrium: a profile (counts per class and level) for
        :class:`PrivacyGame`, the probability ``p`` of the private level for
        :class:`SymmetricBinaryGame`, or the two mixed strategies for two groups.
    """

    alpha: float
    platform_payoff: float
    utility: float
    strategy: Any = None


class PrivacyGame:
    """The owners' game of eq. 16 over owner classes, with exact type-aggregated fair values.

    A profile is an integer array ``X`` of shape ``(C, L)``: ``X[c, l]`` owners of
    class ``c`` at level ``l`` (rows sum to the class sizes).  Owners of one
    class at one level are interchangeable, so every quantity is per cell.

    Parameters
    ----------
    utility : object
        A utility of :mod:`market.theory.fair_value.mean_estimation` (``levels`` and
        ``coalition_utility(K, types)``).
    classes : OwnerClasses
        Owner classes; ``classes.cost`` has one column per level.
    """

    def __init__(self, utility: Any, classes: OwnerClasses) -> None:
        self.utility = utility
        self.classes = classes
        self.n_levels = len(utility.levels)
        if classes.cost.shape[1] != self.n_levels:
            raise ValueError(f"cost: needs {self.n_levels} columns, one per privacy level")
        C = classes.size.size
        self._level = np.tile(np.arange(self.n_levels), C)
        self._ds = np.repeat(classes.data_size, self.n_levels)
        self._imp = np.repeat(classes.importance, self.n_levels)
        self._values: dict[bytes, np.ndarray] = {}
        self._utilities: dict[bytes, float] = {}

    def _types(self, X: np.ndarray) -> OwnerTypes:
        return OwnerTypes(self._level, X.reshape(-1), self._ds, self._imp)

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.int64)
        if X.shape != (self.classes.size.size, self.n_levels) or np.any(X < 0) \
                or np.any(X.sum(axis=1) != self.classes.size):
            raise ValueError("profile: needs non-negative counts per (class, level) summing to class sizes")
        return X

    def profile(self, levels: np.ndarray) -> np.ndarray:
        """The profile in which every owner of class ``c`` plays ``levels[c]``."""
        X = np.zeros((self.classes.size.size, self.n_levels), dtype=np.int64)
        X[np.arange(X.shape[0]), np.asarray(levels, dtype=np.int64)] = self.classes.size
        return X

    def cell_values(self, X: np.ndarray) -> np.ndarray:
        """Fair value (eq. 7, :math:`\\alpha = 1`) of one owner in each cell ``(c, l)``; 0 for empty cells."""
        X = self._check(X)
        key = X.tobytes()
        if key not in self._values:
            types = self._types(X)
            phi = shapley_by_type(
                types.count, lambda K: self.utility.coalition_utility(K, types), null=types.null
            )
            self._values[key] = phi.reshape(X.shape)
        return self._values[key]

    def total_utility(self, X: np.ndarray) -> float:
        """:math:`U(\\rho)` of the profile."""
        X = self._check(X)
        key = X.tobytes()
        if key not in self._utilities:
            types = self._types(X)
            self._utilities[key] = float(self.utility.coalition_utility(types.count[None, :], types)[0])
        return self._utilities[key]

    def deviation_values(self, X: np.ndarray) -> np.ndarray:
        """``D[c, l, k]``: fair value of an owner of cell ``(c, l)`` after switching alone to level ``k``.

        Owners of one cell facing the same others share one computation;
        entries of empty cells are 0.
        """
        X = self._check(X)
        C, L = X.shape
        D = np.zeros((C, L, L))
        base = self.cell_values(X)
        for c, l in zip(*np.nonzero(X)):
            for k in range(L):
                if k == l:
                    D[c, l, k] = base[c, l]
                    continue
                Y = X.copy()
                Y[c, l] -= 1
                Y[c, k] += 1
                D[c, l, k] = self.cell_values(Y)[c, k]
        return D

    def payoffs(self, X: np.ndarray, alpha: float) -> np.ndarray:
        """``u[c, l, k] = alpha * D[c, l, k] - cost[c, k]`` (eq. 16 at each unilateral deviation)."""
        return alpha * self.deviation_values(X) - self.classes.cost[:, None, :]

    def best_response(self, X: np.ndarray, alpha: float) -> np.ndarray:
        """Best level (eq. 17) of an owner in each cell; ties go to the current level, then the lowest."""
        u = self.payoffs(X, alpha)
        C, L, _ = u.shape
        stay = u[:, np.arange(L), np.arange(L)]
        best = np.argmax(u, axis=2)
        keep = stay >= u.max(axis=2) - TIE_TOL
        return np.where(keep, np.arange(L)[None, :], best)

    def equilibrium_interval(self, X: np.ndarray) -> tuple[float, float] | None:
        """The closed set of :math:`\\alpha \\in [0,1]` for which ``X`` is a pure NE (eq. 18), or None.

        Each deviation condition :math:`\\alpha(D_{stay} - D_{dev}) \\ge c(l) - c(k)`
        is linear in :math:`\\alpha`, so the set is an interval.
        """
        X = self._check(X)
        D = self.deviation_values(X)
        cost = self.classes.cost
        lo, hi = 0.0, 1.0
        for c, l in zip(*np.nonzero(X)):
            for k in range(self.n_levels):
                if k == l:
                    continue
                d = D[c, l, l] - D[c, l, k]
                e = cost[c, l] - cost[c, k]
                if abs(d) <= TIE_TOL:
                    if e > TIE_TOL:
                        return None
                elif d > 0:
                    lo = max(lo, e / d)
                else:
                    hi = min(hi, e / d)
        return (lo, hi) if lo <= hi + TIE_TOL else None

    def is_equilibrium(self, X: np.ndarray, alpha: float) -> bool:
        """Whether no owner gains by switching level alone (eq. 18)."""
        u = self.payoffs(X, alpha)
        L = u.shape[1]
        stay = u[:, np.arange(L), np.arange(L)]
        occupied = np.asarray(X) > 0
        return bool(np.all(~occupied | (stay >= u.max(axis=2) - TIE_TOL)))

    def profiles(self) -> list[np.ndarray]:
        """Every profile (counts per class and level).

        Raises
        ------
        ValueError
            If there are more than :data:`MAX_PROFILES`.
        """
        L = self.n_levels
        per_class = []
        total = 1
        for m in self.classes.size:
            comps = [np.array(c) for c in itertools.product(range(m + 1), repeat=L) if sum(c) == m]
            per_class.append(comps)
            total *= len(comps)
            if total > MAX_PROFILES:
                raise ValueError(f"classes: more than {MAX_PROFILES} profiles to search")
        return [np.array(rows, dtype=np.int64) for rows in itertools.product(*per_class)]

    def pure_equilibria(self, alpha: float) -> list[np.ndarray]:
        """NE(:math:`\\alpha`) of eq. 18: every pure equilibrium profile."""
        out = []
        for X in self.profiles():
            iv = self.equilibrium_interval(X)
            if iv is not None and iv[0] - TIE_TOL <= alpha <= iv[1] + TIE_TOL:
                out.append(X)
        return out

    def platform_optimum(self) -> AlphaChoice:
        """Eq. 19 with the platform's favourite pure NE: :math:`\\max_{\\alpha, \\rho \\in NE(\\alpha)} (1-\\alpha) U(\\rho)`.

        Exact: for each profile the best :math:`\\alpha` is the lower end of its
        NE interval.  Ties go to the smaller :math:`\\alpha`.
        """
        best = AlphaChoice(0.0, -np.inf, 0.0, None)
        for X in self.profiles():
            iv = self.equilibrium_interval(X)
            if iv is None:
                continue
            U = self.total_utility(X)
            a = iv[0] if U >= 0 else iv[1]
            pay = (1.0 - a) * U
            if pay > best.platform_payoff + TIE_TOL or (
                abs(pay - best.platform_payoff) <= TIE_TOL and a < best.alpha
            ):
                best = AlphaChoice(float(a), float(pay), U, X)
        return best

    def landscape(self, alphas: np.ndarray) -> np.ndarray:
        """:math:`\\max_{\\rho \\in NE(\\alpha)} (1 - \\alpha) U(\\rho)` on a grid (Fig. 7 top; NaN if no pure NE)."""
        alphas = np.asarray(alphas, float)
        out = np.full(alphas.shape, -np.inf)
        for X in self.profiles():
            iv = self.equilibrium_interval(X)
            if iv is None:
                continue
            inside = (alphas >= iv[0] - TIE_TOL) & (alphas <= iv[1] + TIE_TOL)
            out = np.where(inside, np.maximum(out, (1 - alphas) * self.total_utility(X)), out)
        return np.where(np.isfinite(out), out, np.nan)


def _binomial_pmf(n: int, q: np.ndarray) -> np.ndarray:
    """``P[..., k]`` = Binomial(n, q) probability of k, for k = 0..n (broadcast over ``q``)."""
    k = np.arange(n + 1)
    q = np.asarray(q, float)[..., None]
    log_c = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return np.exp(log_c + xlogy(k, q) + xlog1py(n - k, -q))


class SymmetricBinaryGame:
    """Section 5: :math:`N` identical owners, levels :math:`\\rho'_1 < \\rho'_2`, cost :math:`c\\,1\\{\\rho_i = \\rho'_2\\}` (eq. 20).

    ``p`` is the probability of the *private* level :math:`\\rho'_1`, as in the paper.
    With :math:`\\Delta_j = \\phi(\\rho'_2; j) - \\phi(\\rho'_1; j)` the fair-value gap
    (at :math:`\\alpha = 1`) when :math:`j` of the other owners share,

    .. math::  \\gamma(p) = \\sum_{j=0}^{N-1} \\binom{N-1}{j} (1-p)^j p^{N-1-j} \\Delta_j  \\quad (23),
               \\qquad U(p) = \\sum_{k=0}^{N} \\binom{N}{k} (1-p)^k p^{N-k} U_k ,

    both computed from the type-aggregated fair values of the utility.

    Parameters
    ----------
    utility : object
        A utility of :mod:`market.theory.fair_value.mean_estimation`.
    n_owners : int
        :math:`N \\ge 2`.
    levels : tuple of int
        Indices of :math:`(\\rho'_1, \\rho'_2)` in ``utility.levels``; default the
        lowest and the highest.
    data_size, importance : float
        Common data size and importance.
    """

    def __init__(self, utility: Any, n_owners: int, levels: tuple[int, int] | None = None,
                 data_size: float = 1.0, importance: float = 1.0) -> None:
        if n_owners < 2:
            raise ValueError("n_owners: needs at least 2")
        L = len(utility.levels)
        lo, hi = (0, L - 1) if levels is None else levels
        if not 0 <= lo < hi < L:
            raise ValueError("levels: need two increasing level indices")
        self.utility = utility
        self.n_owners = N = int(n_owners)
        types_level = np.array([lo, hi])
        share_phi = np.zeros(N)
        private_phi = np.zeros(N)
        U = np.zeros(N + 1)
        for k in range(N + 1):
            types = OwnerTypes(types_level, [N - k, k], [data_size] * 2, [importance] * 2)
            phi = shapley_by_type(types.count, lambda K, t=types: utility.coalition_utility(K, t),
                                  null=types.null)
            U[k] = float(utility.coalition_utility(types.count[None, :], types)[0])
            if k >= 1:
                share_phi[k - 1] = phi[1]
            if k <= N - 1:
                private_phi[k] = phi[0]
        self.share_values = share_phi
        self.private_values = private_phi
        self.profile_utility = U
        self.gap = share_phi - private_phi
        self._increasing = bool(np.all(np.diff(self.gamma(np.linspace(0, 1, 201))) > 0))

    def gamma(self, p: np.ndarray | float) -> np.ndarray:
        """Expected relative payoff :math:`\\gamma(p)` of eq. 23 (normalised by :math:`\\alpha`)."""
        p = np.asarray(p, float)
        return np.sum(_binomial_pmf(self.n_owners - 1, 1.0 - p) * self.gap, axis=-1)

    def expected_utility(self, p: np.ndarray | float) -> np.ndarray:
        """:math:`U(p) = E_{\\rho \\sim p}[U(\\rho)]` when each owner is private with probability ``p``."""
        p = np.asarray(p, float)
        return np.sum(_binomial_pmf(self.n_owners, 1.0 - p) * self.profile_utility, axis=-1)

    @property
    def gamma_min(self) -> float:
        """:math:`\\gamma_{min} = \\gamma(0)`."""
        return float(self.gamma(0.0))

    @property
    def gamma_max(self) -> float:
        """:math:`\\gamma_{max} = \\gamma(1)`."""
        return float(self.gamma(1.0))

    def satisfies_assumption_2(self) -> bool:
        """Whether :math:`\\gamma` is strictly increasing (diminishing returns, eq. 22), on a 201-point grid."""
        return self._increasing

    def p_star(self, alpha: np.ndarray | float, c: float) -> np.ndarray:
        """Symmetric NE :math:`p^*(\\alpha)` of eq. 88 (vectorised over ``alpha``).

        1 if :math:`\\alpha\\gamma_{max} < c`, 0 if :math:`\\alpha\\gamma_{min} \\ge c`
        (ties towards sharing), else the root of :math:`\\gamma(p) = c/\\alpha`
        (Brent's method for a scalar, vectorised bisection for an array, both to
        machine precision).

        Raises
        ------
        ValueError
            If :math:`\\gamma` is not increasing (Assumption 2 fails), where
            eq. 88 does not describe the symmetric NE.
        """
        if not self.satisfies_assumption_2():
            raise ValueError("utility: gamma(p) is not increasing (Assumption 2 fails)")
        if c < 0:
            raise ValueError("c: must be non-negative")
        alpha = np.asarray(alpha, float)
        p = np.where(alpha * self.gamma_max < c, 1.0, 0.0)
        mixed = (alpha * self.gamma_max >= c) & (alpha * self.gamma_min < c)
        if alpha.ndim == 0:
            if mixed:
                root = brentq(lambda q: float(self.gamma(q)) - c / float(alpha), 0.0, 1.0, xtol=1e-15)
                p = np.asarray(root)
            return p
        g = c / np.where(mixed, alpha, 1.0)
        lo, hi = np.zeros(alpha.shape), np.ones(alpha.shape)
        for _ in range(53):
            mid = 0.5 * (lo + hi)
            below = self.gamma(mid) < g
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return np.where(mixed, 0.5 * (lo + hi), p)

    def cheng_objective(self, p: np.ndarray | float, alpha: float, c: float) -> np.ndarray:
        """Eq. 76: :math:`[(1-p)(c - \\alpha\\gamma(p))]_+^2 + [-p(c - \\alpha\\gamma(p))]_+^2`; zero exactly at symmetric NE."""
        p = np.asarray(p, float)
        slack = c - alpha * self.gamma(p)
        return np.maximum((1 - p) * slack, 0) ** 2 + np.maximum(-p * slack, 0) ** 2

    def platform_payoff(self, alpha: np.ndarray | float, c: float) -> np.ndarray:
        """:math:`(1-\\alpha)\\, U(p^*(\\alpha))`, the objective of eq. 21.

        Eq. 21 is printed "maximize :math:`\\alpha = (1-\\alpha)\\ldots`" and eq. 89 "min";
        both mean :math:`\\max_\\alpha (1-\\alpha) U(p^*(\\alpha))` (docs/models/fair_value.md#theorem-3).
        """
        alpha = np.asarray(alpha, float)
        return (1 - alpha) * self.expected_utility(self.p_star(alpha, c))

    def optimal_alpha(self, c: float, selection: str = "symmetric_mixed", grid: int = 2001) -> AlphaChoice:
        """The platform's :math:`\\alpha^*` (eq. 21 / Theorem 3, or eq. 19).

        ``"symmetric_mixed"``: grid search over :math:`\\alpha \\in [0,1]`, then a
        bounded scalar refinement around the best grid point, also trying the
        regime corner :math:`c/\\gamma_{min}` (Theorem 3, case 3); ties go to the
        smaller :math:`\\alpha` (so :math:`\\alpha^* = 0` when nothing pays).
        Theorem 3's middle regime is printed as "the *minimizing*
        :math:`\\alpha` such that :math:`p^*(\\alpha) \\in \\gamma^{-1}(c/\\alpha)`"; it is
        the *maximiser* of :math:`(1-\\alpha) U(\\gamma^{-1}(c/\\alpha))` over
        :math:`[c/\\gamma_{max}, c/\\gamma_{min}]` (docs/models/fair_value.md#eq-24), which the search
        finds.  For the two-owner example this gives eq. 97; the text of
        App. B.4.1 says "for :math:`c < 1/3` ... maximum at :math:`6c/(3c+2)`",
        which holds for :math:`c > 1/3` (docs/models/fair_value.md#example-n2).
        ``"platform_favourite"``: the exact optimum over pure NE
        (:meth:`PrivacyGame.platform_optimum` with one class).
        """
        if selection not in SELECTIONS:
            raise ValueError(f"selection: must be one of {SELECTIONS}")
        if selection == "platform_favourite":
            if len(self.utility.levels) != 2:
                raise ValueError("selection: platform_favourite needs a two-level utility here")
            game = PrivacyGame(self.utility, OwnerClasses([self.n_owners], [[0.0, c]]))
            res = game.platform_optimum()
            X = res.strategy
            p = float(X[0, 0]) / self.n_owners if X is not None else 1.0
            return AlphaChoice(res.alpha, res.platform_payoff, res.utility, p)
        alphas = np.linspace(0.0, 1.0, grid)
        pay = self.platform_payoff(alphas, c)
        k = int(np.argmax(pay))
        cands = [(float(pay[k]), float(alphas[k]))]
        lo, hi = alphas[max(k - 1, 0)], alphas[min(k + 1, grid - 1)]
        if hi > lo:
            res = minimize_scalar(lambda a: -float(self.platform_payoff(a, c)), bounds=(lo, hi),
                                  method="bounded", options={"xatol": 1e-12})
            cands.append((-float(res.fun), float(res.x)))
        corner = c / self.gamma_min if self.gamma_min > 0 else np.inf
        if corner <= 1.0:
            cands.append((float(self.platform_payoff(corner, c)), float(corner)))
        best_pay = max(pay for pay, _ in cands)
        alpha = min(a for pay, a in cands if pay >= best_pay - 1e-12)
        if best_pay <= 1e-12:
            alpha, best_pay = 0.0, float(self.platform_payoff(0.0, c))
        p = float(self.p_star(alpha, c))
        return AlphaChoice(alpha, float(self.platform_payoff(alpha, c)), float(self.expected_utility(p)), p)

    def sensitivity_threshold(self, step: float = 1e-3, alpha_points: int = 401) -> float:
        """:math:`c_{th}` of eq. 24 by scanning :math:`c` in steps of ``step``.

        The largest scanned :math:`c` with
        :math:`(1 - c/\\gamma_{min})/(1-\\alpha) - U(p^*(\\alpha))/U(0) \\ge 0` for all
        :math:`\\alpha \\le c/\\gamma_{min}` (checked on ``alpha_points`` values).
        """
        U0 = float(self.expected_utility(0.0))
        best = 0.0
        for c in np.arange(step, self.gamma_max, step):
            top = c / self.gamma_min
            if top >= 1.0:
                break
            alphas = np.linspace(0.0, top, alpha_points)[:-1]
            lhs = (1 - top) / (1 - alphas) - self.expected_utility(self.p_star(alphas, c)) / U0
            if np.all(lhs >= -1e-12):
                best = float(c)
        return best


def _two_group_game(
    utility: Any, cost: tuple[float, float], sizes: tuple[int, int],
    data_size: tuple[float, float], importance: tuple[float, float],
) -> tuple[PrivacyGame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The game, the fair-value matrices Phi_1, Phi_2 (alpha = 1), U and the level costs kappa."""
    L = len(utility.levels)
    kappa = np.zeros(L)
    kappa[-1] = 1.0
    classes = OwnerClasses(list(sizes), np.outer(cost, kappa), list(data_size), list(importance))
    game = PrivacyGame(utility, classes)
    phi1 = np.zeros((L, L))
    phi2 = np.zeros((L, L))
    U = np.zeros((L, L))
    for l1, l2 in itertools.product(range(L), repeat=2):
        X = game.profile([l1, l2])
        phi = game.cell_values(X)
        phi1[l1, l2], phi2[l1, l2] = phi[0, l1], phi[1, l2]
        U[l1, l2] = game.total_utility(X)
    return game, phi1, phi2, U, kappa


def two_group_payoffs(
    utility: Any, cost: tuple[float, float], alpha: float, sizes: tuple[int, int] = (1, 1),
    data_size: tuple[float, float] = (1.0, 1.0), importance: tuple[float, float] = (1.0, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Bimatrix of eq. 25 for two groups that each choose one level together.

    ``A[l1, l2] = alpha * Phi_1[l1, l2] - c_1 1{l1 = top}`` is a member of group
    1's payoff and ``B[l1, l2] = alpha * Phi_2[l1, l2] - c_2 1{l2 = top}`` group
    2's: rows = group 1's level, columns = group 2's.  This is the corrected
    orientation of eqs. 11/12/92 (docs/models/fair_value.md#corr-transposed): a group at level 0 gets 0
    (null player), and :math:`\\Phi_2 = \\Phi_1^T` for equal groups.
    """
    _, phi1, phi2, _, kappa = _two_group_game(utility, cost, sizes, data_size, importance)
    return alpha * phi1 - cost[0] * kappa[:, None], alpha * phi2 - cost[1] * kappa[None, :]


def bimatrix_equilibria(A: np.ndarray, B: np.ndarray, method: str = "support") -> list[tuple[np.ndarray, np.ndarray]]:
    """All Nash equilibria of the bimatrix game ``(A, B)`` found by ``nashpy``.

    Parameters
    ----------
    method : {"support", "vertex"}
        Support enumeration (handles degenerate games) or vertex enumeration.

    Returns
    -------
    list of (sigma_1, sigma_2)
        Mixed strategies (probabilities per level), duplicates removed.
    """
    game = nashpy.Game(A, B)
    if method == "support":
        it = game.support_enumeration()
    elif method == "vertex":
        it = game.vertex_enumeration()
    else:
        raise ValueError("method: must be 'support' or 'vertex'")
    out: list[tuple[np.ndarray, np.ndarray]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s1, s2 in it:
            s1 = np.clip(np.asarray(s1, float), 0, None)
            s2 = np.clip(np.asarray(s2, float), 0, None)
            s1, s2 = s1 / s1.sum(), s2 / s2.sum()
            if not any(np.allclose(s1, a) and np.allclose(s2, b) for a, b in out):
                out.append((s1, s2))
    return out


def two_group_optimal_alpha(
    utility: Any, cost: tuple[float, float], sizes: tuple[int, int] = (1, 1),
    data_size: tuple[float, float] = (1.0, 1.0), importance: tuple[float, float] = (1.0, 1.0),
    grid: int = 201, include_mixed: bool = True,
) -> AlphaChoice:
    """Eq. 26 with the corrected objective :math:`(1-\\alpha) E[U]` and the platform's favourite NE.

    Eq. 26 as printed maximises :math:`p_1^T U p_2 - (1-\\alpha) p_1^T U p_2 = \\alpha E[U]`,
    the payments; the platform keeps :math:`(1-\\alpha) E[U]` (docs/models/fair_value.md#two-groups).

    Candidates: every pure profile at the lower end of its exact NE interval
    (the optimum of a pure NE sits on its boundary), and, if ``include_mixed``,
    the platform's favourite of the equilibria ``nashpy`` finds at each point
    of an :math:`\\alpha` grid, refined by a bounded scalar search between the
    neighbours of the best grid point.  The refinement matters at knife edges:
    for :math:`(c_1, c_2) = (0.275, 0.3)` the mixed NE
    :math:`(p, q) = (\\gamma^{-1}(c_2/\\alpha), \\gamma^{-1}(c_1/\\alpha))` (App. E,
    indices corrected as in docs/models/fair_value.md#two-groups) pays the platform up to 0.4091 as
    :math:`\\alpha \\uparrow 2 c_1 = 0.55`, above the best pure NE (0.4); the grid
    alone finds 0.4036.  The best payoff wins; ties go to the smaller
    :math:`\\alpha`.

    Returns
    -------
    AlphaChoice
        ``strategy`` is ``(sigma_1, sigma_2)``, each group's probabilities per level.
    """
    game, phi1, phi2, Umat, kappa = _two_group_game(utility, cost, sizes, data_size, importance)
    L = kappa.size
    best = AlphaChoice(0.0, 0.0, 0.0, (np.eye(L)[0], np.eye(L)[0]))
    cands: list[AlphaChoice] = []
    for l1, l2 in itertools.product(range(L), repeat=2):
        X = game.profile([l1, l2])
        iv = game.equilibrium_interval(X)
        if iv is not None:
            a = iv[0]
            cands.append(AlphaChoice(a, (1 - a) * Umat[l1, l2], Umat[l1, l2], (np.eye(L)[l1], np.eye(L)[l2])))

    def favourite(a: float) -> AlphaChoice:
        """The platform's favourite of the equilibria nashpy finds at ``a``."""
        out = AlphaChoice(float(a), -np.inf, 0.0, None)
        A = a * phi1 - cost[0] * kappa[:, None]
        B = a * phi2 - cost[1] * kappa[None, :]
        for s1, s2 in bimatrix_equilibria(A, B):
            EU = float(s1 @ Umat @ s2)
            if (1 - a) * EU > out.platform_payoff:
                out = AlphaChoice(float(a), (1 - a) * EU, EU, (s1, s2))
        return out

    if include_mixed:
        alphas = np.linspace(0.0, 1.0, grid)
        on_grid = [favourite(a) for a in alphas]
        k = int(np.argmax([c.platform_payoff for c in on_grid]))
        lo, hi = alphas[max(k - 1, 0)], alphas[min(k + 1, grid - 1)]
        res = minimize_scalar(lambda a: -favourite(a).platform_payoff, bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-10})
        cands += on_grid + [favourite(float(res.x))]
    for cand in cands:
        if cand.platform_payoff > best.platform_payoff + TIE_TOL or (
            abs(cand.platform_payoff - best.platform_payoff) <= TIE_TOL and cand.alpha < best.alpha
        ):
            best = cand
    return best
