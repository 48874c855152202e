"""Learning payoffs a_i(s) and convex contribution costs c_i(s_i) (paper 003, Section 2).

Owner *i* contributes :math:`s_i \\in [0, \\tau_i]` data points and receives the
learning payoff :math:`a_i(s)`, which may depend on the whole contribution
vector :math:`s`, at the cost :math:`c_i(s_i)`.  Every payoff is a callable
``s -> a(s)`` on an ``(n,)`` array; a real learning task can replace the
closed-form families by wrapping its accuracy function in
:class:`CallablePayoff` (derivatives then come from finite differences).

Besides evaluation every payoff provides what the equilibrium code needs:

* :meth:`Payoff.own_gradient` -- :math:`\\partial a_i / \\partial s_i` for every *i*;
* :meth:`Payoff.jacobian` -- :math:`\\partial^2 a_i / \\partial s_j \\partial s_i`
  (the payoff part of the matrix :math:`G(s)` of Theorem 3.2);
* :meth:`Payoff.deviation` -- :math:`a_i(x, s_{-i})` for candidate
  contributions *x* of every owner at once;
* :meth:`Payoff.own_value` -- the same for one owner and one candidate
  (the objective of a scalar best-response solver).

Families (selected by name through :data:`market.core.families.PAYOFFS` /
:func:`market.core.families.make_payoff`):

``linear``               linear / random discovery, :math:`a = W s` (Section 2.1)
``random_coverage``      random coverage, eq. (1)
``generalization_bound`` PAC generalisation bound of the total data, eq. (2)
``power_law``            empirical scaling law, eq. (3)
``exponential``          :math:`w_i (1 - e^{-S/\\text{scale}})`, the synthetic
                         accuracy curve and the payoff of docs/models/contribution_game.md#g6
``logarithmic``          :math:`w_i \\ln(1 + S/\\text{scale})`, docs/models/contribution_game.md#g8 and #g10
``ramp_cycle``           the non-concave payoffs (8)-(9) of Theorem A.2

where :math:`S = \\lVert s \\rVert_1`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np


def _per_owner(value: Any, n: int, name: str, positive: bool = False,
               nonnegative: bool = False) -> np.ndarray:
    """Broadcast a scalar or length-n list to an ``(n,)`` float array, validated."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name}: needs a number or {n} values (one per owner), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: values must be finite")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name}: values must be positive")
    if nonnegative and np.any(arr < 0):
        raise ValueError(f"{name}: values must be non-negative")
    return arr


def _column(param: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Reshape an ``(n,)`` parameter to broadcast along the leading axis of ``like``."""
    return param.reshape((-1,) + (1,) * (np.ndim(like) - 1))


class Payoff(ABC):
    """A learning payoff :math:`s \\mapsto a(s) \\in \\mathbb{R}^n`.

    Subclasses implement ``__call__``; the derivative and deviation methods
    have generic (finite-difference / loop) defaults that closed-form
    families override with exact, vectorised versions.

    Parameters
    ----------
    n : int
        Number of owners.
    """

    #: Step of the central finite differences used by the generic derivatives.
    fd_step: float = 1e-5

    def __init__(self, n: int) -> None:
        if int(n) < 1:
            raise ValueError("n: needs at least one owner")
        self.n = int(n)

    @abstractmethod
    def __call__(self, s: np.ndarray) -> np.ndarray:
        """Payoff of every owner at the contribution vector ``s`` (shape ``(n,)``)."""

    def describe(self) -> dict:
        """JSON facts about the payoff for a run's summary (empty for closed forms)."""
        return {}

    def own_value(self, i: int, x: float, s: np.ndarray) -> float:
        """:math:`a_i(x, s_{-i})`: owner *i*'s payoff if it alone contributes ``x``."""
        dev = np.array(s, dtype=float)
        dev[i] = x
        return float(self(dev)[i])

    def deviation(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        """:math:`a_i(x_{ik}, s_{-i})` for every owner *i* and candidate *k*.

        Parameters
        ----------
        s : numpy.ndarray
            Current contributions, shape ``(n,)``.
        x : numpy.ndarray
            Candidate contributions, shape ``(n, K)`` (row *i* for owner *i*).
        """
        x = np.asarray(x, dtype=float)
        out = np.empty_like(x)
        for i in range(self.n):
            for k in range(x.shape[1]):
                out[i, k] = self.own_value(i, x[i, k], s)
        return out

    def own_gradient(self, s: np.ndarray) -> np.ndarray:
        """:math:`\\partial a_i/\\partial s_i` (central differences by default)."""
        s = np.asarray(s, dtype=float)
        h = self.fd_step
        x = s[:, None] + np.array([[-h, h]])
        vals = self.deviation(s, x)
        return (vals[:, 1] - vals[:, 0]) / (2 * h)

    def jacobian(self, s: np.ndarray) -> np.ndarray:
        """:math:`J_{ij} = \\partial^2 a_i / \\partial s_j \\partial s_i` (central differences by default)."""
        s = np.asarray(s, dtype=float)
        h = self.fd_step
        jac = np.empty((self.n, self.n))
        for j in range(self.n):
            up, down = s.copy(), s.copy()
            up[j] += h
            down[j] -= h
            jac[:, j] = (self.own_gradient(up) - self.own_gradient(down)) / (2 * h)
        return jac


class CallablePayoff(Payoff):
    """Any callable ``s -> a(s)`` as a payoff (e.g. a trained model's accuracies).

    This is the hook for a real learning task: the platform evaluates the
    model trained on the contributed data and returns each owner's accuracy.
    Derivatives are central finite differences with step ``fd_step`` unless
    ``own_gradient`` is given.

    Parameters
    ----------
    func : callable
        Maps an ``(n,)`` contribution vector to the ``(n,)`` payoffs.
    n : int
        Number of owners.
    own_gradient : callable, optional
        Exact :math:`\\partial a_i/\\partial s_i` as a function of ``s``.
    fd_step : float, default 1e-5
        Finite-difference step.
    """

    def __init__(self, func: Callable[[np.ndarray], np.ndarray], n: int,
                 own_gradient: Callable[[np.ndarray], np.ndarray] | None = None,
                 fd_step: float = 1e-5) -> None:
        super().__init__(n)
        if not callable(func):
            raise ValueError("func: must be callable s -> a(s)")
        if fd_step <= 0:
            raise ValueError("fd_step: must be positive")
        self._func = func
        self._grad = own_gradient
        self.fd_step = float(fd_step)

    def __call__(self, s: np.ndarray) -> np.ndarray:
        a = np.asarray(self._func(np.asarray(s, dtype=float)), dtype=float)
        if a.shape != (self.n,):
            raise ValueError(f"func: must return {self.n} payoffs, got shape {a.shape}")
        return a

    def own_gradient(self, s: np.ndarray) -> np.ndarray:
        """Exact gradient if one was given, else central differences."""
        if self._grad is not None:
            return np.asarray(self._grad(np.asarray(s, dtype=float)), dtype=float)
        return super().own_gradient(s)


class AggregatePayoff(Payoff):
    """Payoffs of the total data only: :math:`a_i(s) = w_i\\,\\hat a_i(\\lVert s \\rVert_1)`.

    This is the form of eqs. (2), (3) and of the paper's experiments
    (:math:`a_i(s) = \\hat a_i(\\lVert s\\rVert_1)`, Section 4).  Subclasses
    give the curve and its first two derivatives as functions of the total
    ``S``; ``S`` has the owners on its leading axis, parameters broadcast
    along it.

    Parameters
    ----------
    n : int
        Number of owners.
    weight : float or array_like, default 1
        Per-owner weight :math:`w_i \\ge 0` (docs/models/contribution_game.md#g10 uses :math:`w = c`).
    """

    def __init__(self, n: int, weight: Any = 1.0) -> None:
        super().__init__(n)
        self.weight = _per_owner(weight, self.n, "weight", nonnegative=True)

    @abstractmethod
    def curve(self, total: np.ndarray) -> np.ndarray:
        """:math:`\\hat a_i(S)` for ``S`` with owners on the leading axis."""

    @abstractmethod
    def slope(self, total: np.ndarray) -> np.ndarray:
        """:math:`\\hat a_i'(S)`."""

    @abstractmethod
    def curvature(self, total: np.ndarray) -> np.ndarray:
        """:math:`\\hat a_i''(S)`."""

    def __call__(self, s: np.ndarray) -> np.ndarray:
        total = np.full(self.n, float(np.sum(s)))
        return self.weight * self.curve(total)

    def own_value(self, i: int, x: float, s: np.ndarray) -> float:
        """:math:`w_i \\hat a_i(S - s_i + x)` (the other owners' rows are not evaluated)."""
        total = np.full(self.n, float(np.sum(s)) - float(s[i]) + float(x))
        return float(self.weight[i] * self.curve(total)[i])

    def deviation(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        """:math:`w_i \\hat a_i(S_{-i} + x_{ik})`, vectorised."""
        s = np.asarray(s, dtype=float)
        total = (s.sum() - s)[:, None] + np.asarray(x, dtype=float)
        return self.weight[:, None] * self.curve(total)

    def own_gradient(self, s: np.ndarray) -> np.ndarray:
        """:math:`w_i \\hat a_i'(S)`."""
        return self.weight * self.slope(np.full(self.n, float(np.sum(s))))

    def jacobian(self, s: np.ndarray) -> np.ndarray:
        """:math:`w_i \\hat a_i''(S)` in every column: the payoff part of G(s) is rank one per row."""
        second = self.weight * self.curvature(np.full(self.n, float(np.sum(s))))
        return np.repeat(second[:, None], self.n, axis=1)


class PowerLaw(AggregatePayoff):
    """Empirical scaling law, eq. (3): :math:`a_i(s) = w_i(\\text{offset}_i - \\alpha_i S^{-\\beta_i})`.

    The paper has ``offset = 1`` (accuracy = 1 - loss, Kaplan et al. 2020);
    Example 1 of Section 4 is ``offset = 8, alpha = exponent = 1``.  The
    curve tends to :math:`-\\infty` as :math:`S \\to 0`; following the paper's
    footnote for eq. (2) (:math:`a(0) := 0`, docs/models/contribution_game.md#corr-eq-4) the payoff at
    ``S = 0`` is defined as 0 and its slope there as :math:`+\\infty`, so
    best responses never choose an empty data set when a contribution helps.

    Parameters
    ----------
    n : int
        Number of owners.
    alpha : float or array_like, default 1
        Loss scale :math:`\\alpha_i > 0`.
    exponent : float or array_like, default 0.5
        Loss exponent :math:`\\beta_i \\in (0, 1]` (named ``exponent`` to keep
        :math:`\\beta` for the mechanism).
    offset : float or array_like, default 1
        Payoff ceiling.
    weight : float or array_like, default 1
        Per-owner weight.
    """

    def __init__(self, n: int, alpha: Any = 1.0, exponent: Any = 0.5, offset: Any = 1.0,
                 weight: Any = 1.0) -> None:
        super().__init__(n, weight)
        self.alpha = _per_owner(alpha, self.n, "alpha", positive=True)
        self.exponent = _per_owner(exponent, self.n, "exponent", positive=True)
        if np.any(self.exponent > 1):
            raise ValueError("exponent: eq. (3) needs exponents in (0, 1]")
        self.offset = _per_owner(offset, self.n, "offset")

    def _parts(self, total: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        total = np.asarray(total, dtype=float)
        pos = total > 0
        safe = np.where(pos, total, 1.0)
        return pos, safe, _column(self.alpha, total), _column(self.exponent, total)

    def curve(self, total: np.ndarray) -> np.ndarray:
        """:math:`\\text{offset} - \\alpha S^{-\\beta}`, and 0 at ``S = 0``."""
        pos, safe, alpha, b = self._parts(total)
        return np.where(pos, _column(self.offset, total) - alpha * safe ** (-b), 0.0)

    def slope(self, total: np.ndarray) -> np.ndarray:
        """:math:`\\alpha\\beta S^{-\\beta-1}` (:math:`+\\infty` at ``S = 0``)."""
        pos, safe, alpha, b = self._parts(total)
        return np.where(pos, alpha * b * safe ** (-b - 1), np.inf)

    def curvature(self, total: np.ndarray) -> np.ndarray:
        """:math:`-\\alpha\\beta(\\beta+1) S^{-\\beta-2}` (:math:`-\\infty` at ``S = 0``)."""
        pos, safe, alpha, b = self._parts(total)
        return np.where(pos, -alpha * b * (b + 1) * safe ** (-b - 2), -np.inf)


class GeneralizationBound(AggregatePayoff):
    """PAC generalisation bound, eq. (2): :math:`a(m) = a_0 - (4 + \\sqrt{2k(2 + \\ln(m/k))})/\\sqrt m`.

    Evaluated at :math:`m = S = \\lVert s\\rVert_1`.  The formula is only
    defined for :math:`m \\ge k e^{-2}` and is negative for small *m*
    (docs/models/contribution_game.md#corr-eq-4: for ``k = 10, a_0 = 1`` until :math:`m \\approx 195`),
    while the paper requires non-negative payoffs and sets :math:`a(0) := 0`.
    Documented choice: :math:`a(m) = \\max(\\text{formula}, 0)` where the
    formula is defined and 0 elsewhere.  The payoff is then continuous and
    non-decreasing, and concave where it is positive; derivatives are those
    of the formula where it is positive and 0 elsewhere.  The paper calls
    :math:`1 - a_0` the optimal accuracy; the formula makes :math:`a_0` the
    optimal accuracy (docs/models/contribution_game.md#corr-eq-4), which is what ``a0`` means here.

    Parameters
    ----------
    n : int
        Number of owners.
    a0 : float, default 1
        Accuracy of the best hypothesis (the payoff's supremum).
    k : float, default 1
        Difficulty of the learning problem, ``k > 0``.
    weight : float or array_like, default 1
        Per-owner weight.
    """

    def __init__(self, n: int, a0: float = 1.0, k: float = 1.0, weight: Any = 1.0) -> None:
        super().__init__(n, weight)
        if not np.isfinite(a0):
            raise ValueError("a0: must be finite")
        if not k > 0:
            raise ValueError("k: must be positive")
        self.a0 = float(a0)
        self.k = float(k)

    def _terms(self, total: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = np.asarray(total, dtype=float)
        defined = m >= self.k * np.exp(-2.0)
        safe = np.where(defined, m, 1.0)
        q = np.sqrt(2 * self.k * np.maximum(2 + np.log(safe / self.k), 0.0))
        formula = self.a0 - (4 + q) / np.sqrt(safe)
        active = defined & (formula > 0)
        return active, safe, q

    def curve(self, total: np.ndarray) -> np.ndarray:
        """:math:`\\max(a(m), 0)`."""
        active, m, q = self._terms(total)
        return np.where(active, self.a0 - (4 + q) / np.sqrt(m), 0.0)

    def slope(self, total: np.ndarray) -> np.ndarray:
        """:math:`-f'(m)` with :math:`f = (4+q)m^{-1/2}`, :math:`q' = k/(mq)`."""
        active, m, q = self._terms(total)
        q = np.where(q > 0, q, 1.0)
        dq = self.k / (m * q)
        df = dq / np.sqrt(m) - 0.5 * (4 + q) * m ** -1.5
        return np.where(active, -df, 0.0)

    def curvature(self, total: np.ndarray) -> np.ndarray:
        """:math:`-f''(m) = -(q'' m^{-1/2} - q' m^{-3/2} + \\tfrac34 (4+q) m^{-5/2})`."""
        active, m, q = self._terms(total)
        q = np.where(q > 0, q, 1.0)
        dq = self.k / (m * q)
        ddq = -self.k / (m**2 * q) - self.k**2 / (m**2 * q**3)
        ddf = ddq / np.sqrt(m) - dq * m**-1.5 + 0.75 * (4 + q) * m**-2.5
        return np.where(active, -ddf, 0.0)


class ExponentialSaturation(AggregatePayoff):
    """:math:`a_i(s) = w_i (1 - e^{-S/\\text{scale}})`: a bounded, strongly concave accuracy curve.

    Not one of the paper's four families; a synthetic stand-in for an
    accuracy curve (docs/models/contribution_game.md#simulator-choices) and the payoff of docs/models/contribution_game.md#g6.

    Parameters
    ----------
    n : int
        Number of owners.
    scale : float, default 1
        Data size at which the curve reaches :math:`1 - e^{-1}` of its ceiling.
    weight : float or array_like, default 1
        Per-owner ceiling :math:`w_i`.
    """

    def __init__(self, n: int, scale: float = 1.0, weight: Any = 1.0) -> None:
        super().__init__(n, weight)
        if not scale > 0:
            raise ValueError("scale: must be positive")
        self.scale = float(scale)

    def curve(self, total: np.ndarray) -> np.ndarray:
        """:math:`1 - e^{-S/\\text{scale}}`."""
        return 1.0 - np.exp(-np.asarray(total, dtype=float) / self.scale)

    def slope(self, total: np.ndarray) -> np.ndarray:
        """:math:`e^{-S/\\text{scale}}/\\text{scale}`."""
        return np.exp(-np.asarray(total, dtype=float) / self.scale) / self.scale

    def curvature(self, total: np.ndarray) -> np.ndarray:
        """:math:`-e^{-S/\\text{scale}}/\\text{scale}^2`."""
        return -np.exp(-np.asarray(total, dtype=float) / self.scale) / self.scale**2


class Logarithmic(AggregatePayoff):
    """:math:`a_i(s) = w_i \\ln(1 + S/\\text{scale})`: the public-good payoff of docs/models/contribution_game.md#g8 and #g10.

    Parameters
    ----------
    n : int
        Number of owners.
    scale : float, default 1
        Data scale.
    weight : float or array_like, default 1
        Per-owner weight :math:`w_i`.
    """

    def __init__(self, n: int, scale: float = 1.0, weight: Any = 1.0) -> None:
        super().__init__(n, weight)
        if not scale > 0:
            raise ValueError("scale: must be positive")
        self.scale = float(scale)

    def curve(self, total: np.ndarray) -> np.ndarray:
        """:math:`\\ln(1 + S/\\text{scale})`."""
        return np.log1p(np.asarray(total, dtype=float) / self.scale)

    def slope(self, total: np.ndarray) -> np.ndarray:
        """:math:`1/(\\text{scale} + S)`."""
        return 1.0 / (self.scale + np.asarray(total, dtype=float))

    def curvature(self, total: np.ndarray) -> np.ndarray:
        """:math:`-1/(\\text{scale} + S)^2`."""
        return -1.0 / (self.scale + np.asarray(total, dtype=float)) ** 2


class LinearDiscovery(Payoff):
    """Linear / random discovery (Section 2.1): :math:`a(s) = W s`.

    With sampling distributions :math:`q_i` over an instance space (rows of
    ``q``) Blum et al. (2021) get :math:`W = Q Q^T`.  The paper says this
    ``W`` has an all-one diagonal; that holds only for point-mass rows
    (docs/models/contribution_game.md#model), so ``W = q q^T`` is used as is, not normalised.
    With linear costs the best response is bang-bang: :math:`\\tau_i` if
    :math:`W_{ii} > c_i`, else 0.

    Parameters
    ----------
    n : int
        Number of owners.
    weights : array_like, optional
        The ``(n, n)`` matrix ``W`` with a non-negative diagonal.
    q : array_like, optional
        Sampling distributions, shape ``(n, |X|)``; gives ``W = q q^T``.
        Exactly one of ``weights`` and ``q`` is required.
    """

    def __init__(self, n: int, weights: Any = None, q: Any = None) -> None:
        super().__init__(n)
        if (weights is None) == (q is None):
            raise ValueError("weights: give exactly one of weights (W) or q (W = q q^T)")
        if q is not None:
            q_arr = _distribution_rows(q, self.n)
            w = q_arr @ q_arr.T
        else:
            w = np.asarray(weights, dtype=float)
            if w.shape != (self.n, self.n) or not np.all(np.isfinite(w)):
                raise ValueError(f"weights: needs a finite {self.n}x{self.n} matrix")
            if np.any(np.diag(w) < 0):
                raise ValueError("weights: the diagonal must be non-negative (a_i non-decreasing in s_i)")
        self.weights = w

    def __call__(self, s: np.ndarray) -> np.ndarray:
        return self.weights @ np.asarray(s, dtype=float)

    def own_value(self, i: int, x: float, s: np.ndarray) -> float:
        """:math:`(W s)_i + W_{ii}(x - s_i)`."""
        return float(self.weights[i] @ s + self.weights[i, i] * (x - s[i]))

    def deviation(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        """:math:`(W s)_i + W_{ii}(x_{ik} - s_i)`."""
        s = np.asarray(s, dtype=float)
        diag = np.diag(self.weights)
        return (self.weights @ s - diag * s)[:, None] + diag[:, None] * np.asarray(x, dtype=float)

    def own_gradient(self, s: np.ndarray) -> np.ndarray:
        """:math:`W_{ii}`."""
        return np.diag(self.weights).copy()

    def jacobian(self, s: np.ndarray) -> np.ndarray:
        """Zero: the payoff is linear."""
        return np.zeros((self.n, self.n))


class RandomCoverage(Payoff):
    """Random coverage, eq. (1): :math:`a_i(s) = 1 - \\tfrac12 \\sum_x q_{ix} \\prod_j (1 - q_{jx})^{s_j}`.

    Owner *i* earns :math:`q_{ix}` once when instance *x* is sampled by
    anyone (binary classification, Blum et al. 2021); the payoff lies in
    [1/2, 1] and is concave in every :math:`s_i`.

    Parameters
    ----------
    n : int
        Number of owners.
    q : array_like
        Sampling distributions, shape ``(n, |X|)``, rows summing to 1, entries in [0, 1).
    """

    def __init__(self, n: int, q: Any) -> None:
        super().__init__(n)
        self.q = _distribution_rows(q, self.n)
        if np.any(self.q >= 1):
            raise ValueError("q: entries must be below 1 (a sure instance makes (1 - q)^s degenerate)")
        self._log_miss = np.log1p(-self.q)          # ln(1 - q_jx), shape (n, X)

    def _uncovered(self, s: np.ndarray) -> np.ndarray:
        """:math:`P_x = \\prod_j (1 - q_{jx})^{s_j}`, shape ``(|X|,)``."""
        return np.exp(np.asarray(s, dtype=float) @ self._log_miss)

    def __call__(self, s: np.ndarray) -> np.ndarray:
        return 1.0 - 0.5 * self.q @ self._uncovered(s)

    def deviation(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        """:math:`1 - \\tfrac12\\sum_x q_{ix} P_x (1 - q_{ix})^{x_{ik} - s_i}`, vectorised."""
        s = np.asarray(s, dtype=float)
        x = np.asarray(x, dtype=float)
        uncovered = self._uncovered(s)                                  # (X,)
        shift = np.exp((x - s[:, None])[:, :, None] * self._log_miss[:, None, :])   # (n, K, X)
        return 1.0 - 0.5 * np.einsum("ix,x,ikx->ik", self.q, uncovered, shift)

    def own_value(self, i: int, x: float, s: np.ndarray) -> float:
        """Owner *i*'s payoff at :math:`(x, s_{-i})`."""
        return float(self.deviation(s, np.full((self.n, 1), float(x)))[i, 0])

    def own_gradient(self, s: np.ndarray) -> np.ndarray:
        """:math:`-\\tfrac12 \\sum_x q_{ix} P_x \\ln(1 - q_{ix})`."""
        return -0.5 * (self.q * self._log_miss) @ self._uncovered(s)

    def jacobian(self, s: np.ndarray) -> np.ndarray:
        """:math:`-\\tfrac12 \\sum_x q_{ix} P_x \\ln(1 - q_{ix}) \\ln(1 - q_{jx})`."""
        return -0.5 * (self.q * self._log_miss * self._uncovered(s)) @ self._log_miss.T


class RampCycle(Payoff):
    """The non-concave payoffs (8)-(9) of Theorem A.2, on a ring of owners.

    With the ramp :math:`e(x)` = 0 on :math:`[0, \\tfrac12 - \\varepsilon]`,
    linear up to 1 on :math:`[\\tfrac12 - \\varepsilon, \\tfrac12 + \\varepsilon]`
    and 1 above (eq. 8), owner *i*'s payoff is

    .. math::  a_i(s) = e(s_i) + e(s_{i-1}) - e(s_i)\\, e(s_{i-1}),

    indices mod *n* (owner 1 depends on owner *n*).  For ``n = 3`` these are
    exactly eq. (9); with costs :math:`s_i/4` and :math:`S_i = [0, 1]` the
    game has no Nash equilibrium and best-response dynamics cycle.

    Parameters
    ----------
    n : int, default 3
        Number of owners on the ring (``n >= 2``).
    eps : float, default 0.05
        Half-width of the ramp, :math:`\\varepsilon \\in (0, 1/16)` in the theorem.
    """

    def __init__(self, n: int = 3, eps: float = 0.05) -> None:
        super().__init__(n)
        if self.n < 2:
            raise ValueError("n: the ring needs at least two owners")
        if not 0 < eps < 0.5:
            raise ValueError("eps: the ramp half-width must lie in (0, 1/2)")
        self.eps = float(eps)

    def ramp(self, x: np.ndarray) -> np.ndarray:
        """:math:`e(x)` of eq. (8)."""
        return np.clip(0.5 + (np.asarray(x, dtype=float) - 0.5) / (2 * self.eps), 0.0, 1.0)

    def ramp_slope(self, x: np.ndarray) -> np.ndarray:
        """Right derivative of :math:`e`: :math:`1/(2\\varepsilon)` on the ramp, else 0."""
        x = np.asarray(x, dtype=float)
        return np.where((x >= 0.5 - self.eps) & (x < 0.5 + self.eps), 1 / (2 * self.eps), 0.0)

    def __call__(self, s: np.ndarray) -> np.ndarray:
        e = self.ramp(s)
        prev = np.roll(e, 1)
        return e + prev - e * prev

    def own_value(self, i: int, x: float, s: np.ndarray) -> float:
        """:math:`e(x)(1 - e(s_{i-1})) + e(s_{i-1})`."""
        prev = float(self.ramp(s[i - 1]))
        return float(self.ramp(x) * (1 - prev) + prev)

    def deviation(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        """:math:`e(x_{ik})(1 - e(s_{i-1})) + e(s_{i-1})`."""
        prev = np.roll(self.ramp(s), 1)[:, None]
        return self.ramp(x) * (1 - prev) + prev

    def own_gradient(self, s: np.ndarray) -> np.ndarray:
        """:math:`e'(s_i)(1 - e(s_{i-1}))`."""
        return self.ramp_slope(s) * (1 - np.roll(self.ramp(s), 1))

    def jacobian(self, s: np.ndarray) -> np.ndarray:
        """:math:`-e'(s_i) e'(s_{i-1})` at :math:`(i, i-1)`; zero elsewhere."""
        jac = np.zeros((self.n, self.n))
        rows = np.arange(self.n)
        jac[rows, rows - 1] = -self.ramp_slope(s) * np.roll(self.ramp_slope(s), 1)
        return jac


def _distribution_rows(q: Any, n: int) -> np.ndarray:
    arr = np.asarray(q, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"q: needs one sampling distribution per owner, shape ({n}, |X|)")
    if np.any(arr < 0) or not np.allclose(arr.sum(axis=1), 1.0):
        raise ValueError("q: every row must be a probability distribution")
    return arr




class ConvexCost:
    """Convex contribution cost :math:`c_i(x) = c_i x + \\tfrac{k_i}{2} x^2 + d_i`.

    ``curvature = 0`` (the default) gives the linear cost :math:`c_i x + d_i`
    of Section 4 (Theorem 4.1 and the experiments); ``curvature > 0`` is the
    strictly convex option that makes the game strongly concave (Theorem 3.2;
    docs/models/contribution_game.md#g6 uses :math:`k_i = 0.5`).

    Parameters
    ----------
    slope : float or array_like
        Marginal cost at zero, :math:`c_i \\ge 0` (the cost per data point;
        :math:`\\beta^*` needs :math:`c_i > 0`).
    curvature : float or array_like, default 0
        :math:`k_i \\ge 0`.
    offset : float or array_like, default 0
        Fixed cost :math:`d_i` (affine costs of Section 4).
    n : int, optional
        Number of owners (needed only if every argument is a scalar).
    """

    def __init__(self, slope: Any, curvature: Any = 0.0, offset: Any = 0.0, n: int | None = None) -> None:
        if n is None:
            n = max(np.size(slope), np.size(curvature), np.size(offset))
        self.slope = _per_owner(slope, n, "slope", nonnegative=True)
        self.curvature = _per_owner(curvature, n, "curvature", nonnegative=True)
        self.offset = _per_owner(offset, n, "offset")
        self.n = int(n)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """:math:`c_i(x_i)`; ``x`` has the owners on its leading axis."""
        x = np.asarray(x, dtype=float)
        c, k, d = (_column(v, x) for v in (self.slope, self.curvature, self.offset))
        return c * x + 0.5 * k * x**2 + d

    def derivative(self, x: np.ndarray) -> np.ndarray:
        """:math:`c_i'(x_i) = c_i + k_i x_i`."""
        x = np.asarray(x, dtype=float)
        return _column(self.slope, x) + _column(self.curvature, x) * x

    def second_derivative(self, x: np.ndarray) -> np.ndarray:
        """:math:`c_i'' = k_i`."""
        return np.broadcast_to(_column(self.curvature, np.asarray(x)), np.shape(x)).astype(float)
