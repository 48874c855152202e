"""Value of a pooled data set and the stand-alone optimum (paper 001, Sec. 2).

Data points are exchangeable, so the value of a model trained on ``m``
points depends on ``m`` alone (eq. 1):

.. math::  v(m) = \\max(0, b(m)),

with ``b`` continuous, non-decreasing and concave where ``v > 0``.  ``m^0``
is the zero crossing of ``b``: ``v`` is flat at 0 on ``[0, m^0]`` and
concave after it, so ``v`` is *not* concave overall ("minimum viability").

Three value functions are provided, selected by name in a scenario
(:data:`market.core.families.VALUE_FUNCTIONS`, :func:`market.core.families.make_value`):

``"sqrt"``
    the closed-form surrogate :math:`b(m) = a - \\sqrt{k/m}` used by the
    golden numbers (docs/models/data_contribution.md#golden);
``"erm_bound"``
    the ERM generalisation-bound form with difficulty ``k`` (docs/models/data_contribution.md#value-functions,
    choice 2): :math:`b(m) = a - (\\sqrt{2k(2 + \\ln(m/k))} + 4)/\\sqrt{m}`
    for :math:`m > k e^{-2}`;
``"power_law"``
    the GPT-3 example of App. C.1: :math:`b(m) = a\\,(1 - (k/m)^{\\alpha})`
    (``a`` = value of a fully trained model, ``k`` = the loss scale).

Every value function gives ``b'`` and its inverse on the concave region, and
:func:`standalone_optimum` / :func:`standalone_utility` give the optimum of
an agent training alone (Theorem I, eq. 4), vectorized over owners.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np


def bisect(f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
           iterations: int = 64) -> np.ndarray:
    """Vectorized bisection for a root of ``f`` on ``[lo, hi]``.

    Parameters
    ----------
    f : callable
        Elementwise function of an array shaped like ``lo``; ``f(lo) >= 0``
        and ``f(hi) < 0`` elementwise (a decreasing crossing).
    lo, hi : numpy.ndarray
        Brackets, one per element.
    iterations : int
        Number of halvings (64 shrink a bracket by ``2**-64``, below float precision).

    Returns
    -------
    numpy.ndarray
        The right end of the final bracket of each element: the largest point
        found with ``f >= 0`` is within one float spacing of it.
    """
    lo = np.array(lo, dtype=float, copy=True)
    hi = np.array(hi, dtype=float, copy=True)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        up = f(mid) >= 0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    return lo


#: Rows of the first column :func:`on_unique` inspects to decide whether sharing is worth a sort.
SHARING_PROBE = 1024


def on_unique(func: Callable[..., np.ndarray], *columns: np.ndarray) -> np.ndarray:
    """Evaluate an elementwise ``func`` once per distinct row of ``columns``.

    Populations often hold many owners with identical parameters (types);
    solving a scalar equation once per distinct value keeps the per-round
    cost independent of the number of owners in that case.  When the first
    ``SHARING_PROBE`` values of the first column are all distinct (a
    continuous distribution), the rows are evaluated directly, without the
    sorts that finding the distinct rows takes (``func`` is elementwise: the
    result is the same either way).
    """
    cols = np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in columns))
    probe = cols[0].ravel()[:SHARING_PROBE]
    if cols[0].size > SHARING_PROBE and np.unique(probe).size == probe.size:
        return np.asarray(func(*cols))
    code = np.zeros(cols[0].size, dtype=np.int64)
    for col in cols:                               # one integer code per distinct row
        _, inv = np.unique(col.ravel(), return_inverse=True)
        code = code * (int(inv.max(initial=0)) + 1) + inv.ravel()
        _, code = np.unique(code, return_inverse=True)
        if int(code.max(initial=-1)) + 1 == code.size:
            return np.asarray(func(*cols))         # every row already distinct: nothing to share
    first = np.zeros(int(code.max()) + 1, dtype=np.int64)
    first[code] = np.arange(code.size)             # any representative of each row
    picked = [col.ravel()[first] for col in cols]
    return np.asarray(func(*picked))[code].reshape(cols[0].shape)


class ValueFunction(ABC):
    """A value function ``v(m) = max(0, b(m))`` with ``b'`` and its inverse.

    Attributes
    ----------
    m0 : float
        Zero crossing of ``b`` (largest ``m`` with ``v(m) = 0``).
    v_max : float
        Supremum of ``v`` (the value of a model trained on infinite data).
    """

    name: ClassVar[str]
    m0: float
    v_max: float

    @abstractmethod
    def b(self, m: np.ndarray) -> np.ndarray:
        """The unclipped value ``b(m)`` for ``m > 0`` (``-inf`` where undefined)."""

    @abstractmethod
    def db(self, m: np.ndarray) -> np.ndarray:
        """The derivative ``b'(m)`` for ``m >= m0``."""

    @abstractmethod
    def _db_inv(self, y: np.ndarray) -> np.ndarray:
        """Root of ``b'(m) = y`` on ``[m0, inf)`` for ``0 < y < b'(m0)``."""

    def describe(self) -> dict:
        """JSON facts about the function for a run's summary (empty for closed forms)."""
        return {}

    def __call__(self, m: np.ndarray | float) -> np.ndarray:
        """``v(m) = max(0, b(m))`` (eq. 1), with ``v(m) = 0`` for ``m <= m0``."""
        m = np.asarray(m, dtype=float)
        safe = np.where(m > self.m0, m, 2.0 * self.m0 + 1.0)
        return np.where(m > self.m0, np.maximum(self.b(safe), 0.0), 0.0)

    def dv(self, m: np.ndarray | float) -> np.ndarray:
        """``v'(m)``: ``b'(m)`` above ``m0`` and 0 on the flat region."""
        m = np.asarray(m, dtype=float)
        safe = np.where(m > self.m0, m, 2.0 * self.m0 + 1.0)
        return np.where(m > self.m0, self.db(safe), 0.0)

    @property
    def db_m0(self) -> float:
        """``b'(m0)``: the marginal value at the viability threshold (the high-cost cutoff)."""
        return float(self.db(np.array(self.m0)))

    def db_inv(self, y: np.ndarray | float) -> np.ndarray:
        """Inverse of ``b'`` on the concave region: ``argmax_{m >= m0} b(m) - y m``.

        This is the root of ``b'(m) = y`` when ``0 < y < b'(m0)``, ``m0`` when
        ``y >= b'(m0)`` and ``+inf`` when ``y <= 0``.
        """
        y = np.asarray(y, dtype=float)
        inner = (y > 0) & (y < self.db_m0)
        safe = np.where(inner, y, 0.5 * self.db_m0)
        root = np.maximum(self._db_inv(safe), self.m0)
        return np.where(inner, root, np.where(y <= 0, np.inf, self.m0))


class SqrtValue(ValueFunction):
    """Square-root surrogate ``b(m) = a - sqrt(k/m)`` (docs/models/data_contribution.md#value-functions, choice 1).

    Closed forms: ``b'(m) = sqrt(k) m^{-3/2} / 2``,
    ``b'^{-1}(y) = (sqrt(k) / (2y))^{2/3}``, ``m0 = k / a^2``,
    ``m* = (k / (4c^2))^{1/3}`` and ``u* = a - 1.5 (2ck)^{1/3}`` for viable
    ``c < a^3 / (6.75 k)``.

    Parameters
    ----------
    a : float
        Optimal value (``a_opt``; the paper uses 0.95).
    k : float
        Difficulty of the task.
    """

    name = "sqrt"

    def __init__(self, a: float = 0.95, k: float = 1.0) -> None:
        if not a > 0:
            raise ValueError("a: must be positive")
        if not k > 0:
            raise ValueError("k: must be positive")
        self.a, self.k = float(a), float(k)
        self.m0 = self.k / self.a**2
        self.v_max = self.a

    def b(self, m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        with np.errstate(divide="ignore"):
            return self.a - np.sqrt(self.k / m)

    def db(self, m: np.ndarray) -> np.ndarray:
        return 0.5 * np.sqrt(self.k) * np.asarray(m, dtype=float) ** -1.5

    def _db_inv(self, y: np.ndarray) -> np.ndarray:
        return (np.sqrt(self.k) / (2.0 * y)) ** (2.0 / 3.0)


class ErmBoundValue(ValueFunction):
    """ERM generalisation-bound value with difficulty ``k`` (docs/models/data_contribution.md#value-functions, choice 2).

    .. math::  b(m) = a - \\frac{\\sqrt{2k\\,(2 + \\ln(m/k))} + 4}{\\sqrt{m}}
               \\quad (m > k e^{-2}),

    and ``v = 0`` below.  The paper cites [38, Thm 11.8] without printing
    the formula; this form is a plausible default (a third-party
    replication, docs/models/data_contribution.md#value-functions), not the paper's confirmed choice.  ``b'`` is analytic; its
    inverse is found by vectorized bisection on ``log m``.  ``k`` must be
    small enough that ``b(k e^{-2}) < 0`` (``k < 16 e^2 / a^2``), so that
    ``v`` is continuous.
    """

    name = "erm_bound"

    def __init__(self, a: float = 0.95, k: float = 1.0) -> None:
        if not a > 0:
            raise ValueError("a: must be positive")
        if not 0 < k < 16.0 * np.e**2 / a**2:
            raise ValueError(f"k: must lie in (0, 16 e^2 / a^2 = {16.0 * np.e**2 / a**2:.4g})")
        self.a, self.k = float(a), float(k)
        self.v_max = self.a
        lo = np.array(self.k * np.exp(-2.0) * (1.0 + 1e-12))
        hi = np.array(max(1.0, self.k) * 1e12)
        # b is increasing from b(lo) < 0 to b(hi) > 0: bisect -b.
        self.m0 = float(bisect(lambda m: -self.b(m), lo, hi, iterations=200))

    def _g(self, m: np.ndarray) -> np.ndarray:
        return np.sqrt(2.0 * self.k * np.maximum(2.0 + np.log(m / self.k), 0.0))

    def b(self, m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            val = self.a - (self._g(m) + 4.0) / np.sqrt(m)
        return np.where(m > self.k * np.exp(-2.0), val, -np.inf)

    def db(self, m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        g = self._g(m)
        return (0.5 * (g + 4.0) - self.k / g) * m**-1.5

    def _db_inv(self, y: np.ndarray) -> np.ndarray:
        return on_unique(self._solve_db, y)

    def _solve_db(self, y: np.ndarray) -> np.ndarray:
        lo = np.full(y.shape, np.log(self.m0))
        hi = np.full(y.shape, np.log(self.m0) + 120.0)
        log_m = bisect(lambda t: self.db(np.exp(t)) - y, lo, hi)
        return np.exp(log_m)


class PowerLawValue(ValueFunction):
    """Power-law value of the GPT-3 example (App. C.1): ``b(m) = a (1 - (k/m)^alpha)``.

    With ``a = 1e9`` USD, ``k = 5.4e13`` tokens and the printed exponent
    ``alpha = 0.95`` (docs/models/data_contribution.md#g6: the paper's "at least 1000 agents"
    fits ``alpha = 0.095`` instead; both are valid inputs).
    ``b'(m) = a alpha k^alpha m^{-alpha-1}``, ``m0 = k``.
    """

    name = "power_law"

    def __init__(self, a: float = 1e9, k: float = 5.4e13, alpha: float = 0.95) -> None:
        if not a > 0:
            raise ValueError("a: must be positive")
        if not k > 0:
            raise ValueError("k: must be positive")
        if not alpha > 0:
            raise ValueError("alpha: must be positive")
        self.a, self.k, self.alpha = float(a), float(k), float(alpha)
        self.m0 = self.k
        self.v_max = self.a

    def b(self, m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        with np.errstate(divide="ignore"):
            return self.a * (1.0 - (self.k / m) ** self.alpha)

    def db(self, m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        return self.a * self.alpha * self.k**self.alpha * m ** (-self.alpha - 1.0)

    def _db_inv(self, y: np.ndarray) -> np.ndarray:
        return (self.a * self.alpha * self.k**self.alpha / y) ** (1.0 / (self.alpha + 1.0))




def _check_costs(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=float)
    if np.any(~(c > 0)):
        raise ValueError("sensitivity: marginal costs c_i must be positive")
    return c


def standalone_optimum(value: ValueFunction, c: np.ndarray | float) -> np.ndarray:
    """Optimal amount of data for an agent training alone (Theorem I, eq. 4).

    .. math::  m_i^* = \\alpha_i^* \\text{ with } b'(\\alpha_i^*) = c_i
               \\text{ if } \\max_m v(m) - c_i m > 0, \\text{ else } 0 .

    The utility ``v(m) - c m`` is ``-c m`` on the flat region ``[0, m0]`` and
    concave after it, so its global maximum is the better of ``m = 0`` and the
    concave maximiser ``b'^{-1}(c)`` (clipped to ``m0``); ``m*`` therefore
    jumps discontinuously to 0 at the viability cutoff.  A tie (utility 0)
    resolves to 0.

    Parameters
    ----------
    value : ValueFunction
        The value function ``v``.
    c : array_like
        Marginal costs ``c_i > 0``.
    """
    c = _check_costs(c)
    alpha = on_unique(value.db_inv, c)
    return np.where(value(alpha) - c * alpha > 0, alpha, 0.0)


def standalone_utility(value: ValueFunction, c: np.ndarray | float) -> np.ndarray:
    """Stand-alone utility ``u_i* = v(m_i*) - c_i m_i*`` (eq. 3 at Theorem I's optimum)."""
    c = _check_costs(c)
    m = standalone_optimum(value, c)
    return value(m) - c * m


def best_top_up(value: ValueFunction, c: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``argmax_{x >= 0} v(x + D) - c x``: best own amount on top of others' data ``D``.

    The best response of naive federated learning (eq. 8; docs/models/data_contribution.md#naive).
    The candidates are ``x = 0`` and ``x = max(0, b'^{-1}(c) - D)``; the
    better one wins, ties going to 0 (needed because of the flat region
    below ``m0``).

    Parameters
    ----------
    value : ValueFunction
        The value function.
    c : numpy.ndarray
        Marginal costs.
    others : numpy.ndarray
        Data ``D`` already in the pool besides the agent's own.
    """
    c = _check_costs(c)
    others = np.asarray(others, dtype=float)
    x = np.maximum(value.db_inv(c) - others, 0.0)
    gain = value(x + others) - c * x - value(others)
    return np.where(gain > 0, x, 0.0)
