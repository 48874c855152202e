"""Equilibria of data-contribution games (paper 001, Secs. 3-4 and App. C).

Owners choose data amounts ``m_i >= 0`` at marginal cost ``c_i``; a mechanism
returns each a model of value ``[M(m)]_i``.  This module holds

* the closed form of naive federated learning (Theorem III, eq. 9),
  :func:`naive_equilibrium`;
* the intersection point ``m_i^max`` of value shaping (eq. 11) for given
  others' data, :func:`max_contribution`, and the one-dimensional
  largest-root solver for the value-shaping equilibrium,
  :func:`value_shaping_equilibrium` / :func:`value_shaping_totals`;
* generic checks built on a *deviation-utility callable* (so other papers
  can reuse them): :func:`deviation_gain`, :func:`is_nash` and the
  symmetric-profile scan :func:`symmetric_equilibria`.

A deviation-utility callable ``f(profile, candidates)`` takes the profile
(shape ``(n,)``) and candidate amounts (shape ``(n, K)``) and returns the
``(n, K)`` utilities of owner ``i`` switching alone to ``candidates[i, k]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize_scalar

from market.theory.data_contribution.value_functions import (
    ValueFunction,
    best_top_up,
    bisect,
    on_unique,
    standalone_optimum,
)

#: ``f(profile (n,), candidates (n, K)) -> utilities (n, K)``.
DeviationUtility = Callable[[np.ndarray, np.ndarray], np.ndarray]


def naive_equilibrium(value: ValueFunction, c: np.ndarray, seed: float = 0.0) -> np.ndarray:
    """Equilibrium of naive federated learning (Theorem III, eq. 9).

    .. math::  m_i^{eq} = m_i^* \\text{ if } c_i = c_{min}, \\quad 0 \\text{ otherwise.}

    Only the cheapest agent contributes; everyone else free-rides.  With tied
    minimal costs the equilibrium is not unique (any split of ``m*_min`` among
    the tied agents is one); this function returns the split that gives
    everything to the first cheapest agent.  With platform seed data ``s``
    (Remark 3) the cheapest agent tops the pool up to ``b'^{-1}(c_min)`` if
    that pays.

    Parameters
    ----------
    value : ValueFunction
        The value function.
    c : numpy.ndarray
        Marginal costs, shape ``(n,)``.
    seed : float
        Data the platform contributes itself.
    """
    c = np.asarray(c, dtype=float)
    m = np.zeros_like(c)
    i = int(np.argmin(c))
    m[i] = best_top_up(value, c[i : i + 1], np.array([seed]))[0]
    return m


def shaping_lines(value: ValueFunction, c: np.ndarray, m_star: np.ndarray,
                  eps: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The parts of :func:`max_contribution` that depend on the owners' parameters alone.

    ``(v(m_i*), b'^{-1}(c_i + eps))``: the line's intercept and the ``x + D`` of
    ``g``'s peak.  A caller whose costs stay the same across rounds keeps them
    (only ``D_{-i}`` moves), saving two of the about ten value-function
    evaluations per owner of a solve.
    """
    return value(m_star), value.db_inv(np.asarray(c, dtype=float) + eps)


def max_contribution(value: ValueFunction, c: np.ndarray, m_star: np.ndarray,
                     others: np.ndarray, eps: float = 0.0,
                     lines: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Intersection point ``m_i^max`` of value shaping (eq. 11).

    The largest root ``x >= m_i*`` of

    .. math::  g(x) = v(x + D_{-i}) - v(m_i^*) - (c_i + \\varepsilon)(x - m_i^*) .

    ``g(m_i*) >= 0`` always and ``g < 0`` beyond ``m_i* + v_max/c_i``; ``g`` is
    concave and decreasing between its peak (``x + D = b'^{-1}(c_i + eps)``,
    and ``x + D >= m^0``) and that upper bound, so Newton's method started at
    the upper bound decreases monotonically to the largest root (each tangent
    lies above the concave ``g``, so no step overshoots it).  The iteration
    is vectorized over the owners still moving and drops each owner once its
    step is below ``1e-13`` relative (a few steps, except near a tangency,
    where convergence is linear and the root itself is ill-conditioned; an
    exact tangency, such as ``D_{-i} = 0`` where ``m_i^max = m_i*``, returns
    the peak at once).  If ``g`` is negative at its peak (possible only when
    ``m_i* = 0`` and ``v(D_{-i}) = 0``) the only root is ``m_i* = 0``.

    Parameters
    ----------
    value : ValueFunction
        The value function.
    c, m_star, others : numpy.ndarray
        Marginal costs, stand-alone optima and others' data ``D_{-i}``
        (including any platform seed), one entry per owner.
    eps : float
        The slope premium ``epsilon >= 0`` of eq. (11).
    lines : tuple of numpy.ndarray, optional
        :func:`shaping_lines` of ``(c, m_star, eps)`` if already at hand (same result).
    """
    base, turn = shaping_lines(value, c, m_star, eps) if lines is None else lines
    return on_unique(lambda c, m_star, others, base, turn:
                     _largest_intersection(value, c, m_star, others, eps, base, turn),
                     c, m_star, others, base, turn)


def _largest_intersection(value: ValueFunction, c: np.ndarray, m_star: np.ndarray, others: np.ndarray,
                          eps: float, base: np.ndarray, turn: np.ndarray) -> np.ndarray:
    c, m_star, others, base, turn = np.broadcast_arrays(c, m_star, others, base, turn)
    shape = c.shape
    # flat contiguous copies: the iteration gathers and scatters by plain indices (``.flat`` is ~10x slower)
    c, m_star, others, base, turn = (np.ascontiguousarray(a, dtype=float).reshape(-1)
                                     for a in (c, m_star, others, base, turn))
    slope = c + eps

    peak = np.maximum.reduce([m_star, value.m0 - others, turn - others])
    hi = m_star + value.v_max / slope * (1.0 + 1e-9) + 1e-12
    peak = np.minimum(peak, hi)
    pooled = value(peak + others)
    g_peak = pooled - base - slope * (peak - m_star)
    # g(peak) = 0 up to rounding: a tangency (e.g. D = 0, where m^max = m*), the root is the peak
    tangent = g_peak <= 8.0 * np.finfo(float).eps * (pooled + np.abs(base) + slope * (peak - m_star))
    x = np.where(g_peak >= 0, np.where(tangent, peak, hi), m_star)
    active = np.flatnonzero((g_peak >= 0) & ~tangent)
    for _ in range(100):                   # quadratic convergence; linear only near a tangency
        if active.size == 0:
            break
        xa, da, sa = x[active], others[active], slope[active]
        ga = value(xa + da) - base[active] - sa * (xa - m_star[active])
        dga = value.dv(xa + da) - sa
        step = np.where(dga < 0, ga / np.where(dga < 0, dga, -1.0), 0.0)
        x[active] = np.maximum(xa - step, peak[active])
        active = active[np.abs(step) > 1e-13 * np.maximum(xa, 1.0)]
    return x.reshape(shape)


def _shaping_gap(value: ValueFunction, c: np.ndarray, eps: float, seed: float
                 ) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, float]:
    m_star = standalone_optimum(value, c)
    slope = c + eps
    base = value(m_star)
    inv_slope = float(np.sum(1.0 / slope))

    def gap(total: np.ndarray) -> np.ndarray:
        return seed + np.sum(m_star) + (value(total) * inv_slope - np.sum(base / slope)) - total

    return gap, m_star, inv_slope


def value_shaping_totals(value: ValueFunction, c: np.ndarray, eps: float = 0.0,
                         seed: float = 0.0) -> np.ndarray:
    """Every equilibrium total ``M`` of value shaping (eq. 11), ascending.

    At an equilibrium every agent sits on its intersection point, so with
    ``M = s + sum_j m_j`` (``s`` = platform seed)

    .. math::  G(M) = s + \\sum_i \\Big[m_i^* + \\frac{v(M) - v(m_i^*)}{c_i + \\varepsilon}\\Big] - M = 0

    (docs/models/data_contribution.md#value-shaping).  ``G`` is linear on the flat region ``[0, m0]`` and
    concave above it, so it has at most one root there and at most two above:
    with all ``m_i* = 0`` and no seed these are 0, the unstable tipping point
    and the stable data-maximizing total (Remark 3).

    Parameters
    ----------
    value : ValueFunction
        The value function.
    c : numpy.ndarray
        Marginal costs.
    eps : float
        Slope premium of eq. (11); the paper's limit is ``eps -> 0``.
    seed : float
        Data the platform contributes itself (Remark 3).

    Returns
    -------
    numpy.ndarray
        Equilibrium totals including the seed.
    """
    c = np.asarray(c, dtype=float)
    gap, _, inv_slope = _shaping_gap(value, c, eps, seed)
    roots = []
    flat_root = float(gap(np.array(0.0)))          # G(M) = G(0) - M on [0, m0]
    if 0.0 <= flat_root <= value.m0:
        roots.append(flat_root)
    peak = float(max(value.m0, value.db_inv(1.0 / inv_slope)))
    if gap(np.array(peak)) >= 0:
        hi = seed + float(np.sum(standalone_optimum(value, c))) + value.v_max * inv_slope + 1.0
        neg = lambda t: -gap(t)  # noqa: E731  (increasing crossing on [m0, peak])
        if gap(np.array(value.m0)) < 0:
            roots.append(float(bisect(neg, np.array(value.m0), np.array(peak))))
        roots.append(float(bisect(gap, np.array(peak), np.array(hi))))
    return np.unique(np.array(roots))


def value_shaping_equilibrium(value: ValueFunction, c: np.ndarray, eps: float = 0.0,
                              seed: float = 0.0) -> np.ndarray:
    """Data-maximizing equilibrium of value shaping (Theorem IV; docs/models/data_contribution.md#value-shaping).

    Takes the largest root ``M`` of :func:`value_shaping_totals` and returns

    .. math::  m_i = m_i^* + \\frac{v(M) - v(m_i^*)}{c_i + \\varepsilon} .

    By Theorem V every agent's utility equals its stand-alone utility.

    Parameters
    ----------
    value : ValueFunction
        The value function.
    c : numpy.ndarray
        Marginal costs.
    eps : float
        Slope premium of eq. (11).
    seed : float
        Platform seed data (included in ``M`` but not in the returned amounts).
    """
    c = np.asarray(c, dtype=float)
    total = value_shaping_totals(value, c, eps, seed)[-1]
    m_star = standalone_optimum(value, c)
    return m_star + (value(total) - value(m_star)) / (c + eps)


def deviation_gain(profile: np.ndarray, deviation_utility: DeviationUtility, grid: np.ndarray,
                   extra: np.ndarray | None = None) -> np.ndarray:
    """Largest gain of each owner from deviating alone.

    Parameters
    ----------
    profile : numpy.ndarray
        Current amounts, shape ``(n,)``.
    deviation_utility : callable
        ``f(profile, candidates (n, K)) -> (n, K)`` utilities.
    grid : numpy.ndarray
        Candidate amounts shared by every owner, shape ``(K,)`` (a fine grid
        of the action box; 0 is always added).
    extra : numpy.ndarray, optional
        Owner-specific candidates, shape ``(n, J)`` (e.g. ``m_i*`` and the
        exact best response): the non-concave payoffs of this game have two
        local maxima (Lemma 7), so a grid alone can miss the better one.

    Returns
    -------
    numpy.ndarray
        ``max_k u_i(candidate_k) - u_i(profile_i)`` per owner (``>= 0`` up to
        rounding).
    """
    profile = np.asarray(profile, dtype=float)
    n = profile.size
    cands = [np.zeros((n, 1)), np.broadcast_to(np.asarray(grid, dtype=float), (n, len(grid)))]
    if extra is not None:
        cands.append(np.asarray(extra, dtype=float).reshape(n, -1))
    cand = np.concatenate(cands, axis=1)
    current = deviation_utility(profile, profile[:, None])[:, 0]
    return np.max(deviation_utility(profile, cand), axis=1) - current


def is_nash(profile: np.ndarray, deviation_utility: DeviationUtility, grid: np.ndarray,
            tol: float = 1e-9, extra: np.ndarray | None = None) -> bool:
    """Whether no owner gains more than ``tol`` by deviating alone (pure Nash check).

    See :func:`deviation_gain` for the arguments.
    """
    return bool(np.all(deviation_gain(profile, deviation_utility, grid, extra) <= tol))


def symmetric_equilibria(levels: np.ndarray, deviation_utility: Callable[[np.ndarray, np.ndarray], np.ndarray],
                         candidates: np.ndarray, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Scan symmetric profiles for equilibria with a global deviation check.

    For every level ``d`` (all owners contribute ``d``) the profile is an
    equilibrium when no single owner gains more than ``tol`` by switching to
    any candidate amount (up- and down-deviations alike, including 0).  This
    replaces the one-sided first-order conditions of Theorem VI (whose signs
    are garbled in the paper, docs/models/data_contribution.md#fairness-baselines) by a global check.

    Parameters
    ----------
    levels : numpy.ndarray
        Symmetric levels ``d`` to test, shape ``(L,)``.
    deviation_utility : callable
        ``f(d (L, 1), x (L, K)) -> (L, K)``: utility of one owner playing ``x``
        while all others play ``d``.
    candidates : numpy.ndarray
        Deviation amounts, shape ``(K,)``; 0 is always added.
    tol : float
        Largest gain still counted as no gain.

    Returns
    -------
    is_eq : numpy.ndarray of bool
        Whether each level is an equilibrium.
    utility : numpy.ndarray
        Each owner's utility at each symmetric level.
    """
    d = np.asarray(levels, dtype=float)[:, None]
    cand = np.concatenate([[0.0], np.asarray(candidates, dtype=float)])[None, :]
    own = deviation_utility(d, d)[:, 0]
    best = np.max(deviation_utility(d, np.broadcast_to(cand, (d.shape[0], cand.shape[1]))), axis=1)
    return best - own <= tol, own


def minimum_viable_n(value: ValueFunction, c: float) -> float:
    """Smallest number of identical agents for which value shaping collects data (Remark 3).

    With ``m* = 0`` and equal costs ``c`` the total solves ``(c/n) M = v(M)``,
    which has a positive root iff ``n >= c / max_M (v(M)/M)``.  ``v(M)/M`` is
    quasi-concave on ``[m0, inf)`` and is maximised on ``log M`` with
    :func:`scipy.optimize.minimize_scalar`.  For the ``sqrt`` surrogate this
    is ``6.75 c k / a^3`` (Fig. 4(c): linear in ``c`` and ``k``).

    Parameters
    ----------
    value : ValueFunction
        The value function.
    c : float
        The common marginal cost.

    Returns
    -------
    float
        The real threshold; the smallest integer ``n`` is its ceiling.
    """
    if not c > 0:
        raise ValueError("c: must be positive")
    lo = np.log(value.m0)
    res = minimize_scalar(lambda t: -float(value(np.exp(t))) / np.exp(t),
                          bounds=(lo, lo + 60.0), method="bounded",
                          options={"xatol": 1e-12, "maxiter": 2000})
    return float(c / (-res.fun))
