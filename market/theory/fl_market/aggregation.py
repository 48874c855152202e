"""Aggregation of perturbed gradients: the error bound and the weighting rules.

The broker of FL-Market (paper 002, Sec. 3-4) combines the owners' perturbed
gradients as :math:`\\tilde g_\\lambda = \\sum_i \\lambda_i \\tilde g_i` (eq. 1) with
weights on the simplex, and judges the result by the worst-case error over
clipped gradients (:math:`\\lVert g_i \\rVert_1 \\le L`), eq. (P2.2), split into

.. math::
    \\mathrm{BIAS}(\\lambda) = L \\sum_i |\\lambda_i - w_i|, \\qquad
    \\mathrm{VAR}(\\lambda, \\varepsilon) = \\sum_i \\lambda_i^2 \\frac{8L^2}{\\varepsilon_i^2},

where :math:`w_i = |D_i| / \\sum_j |D_j|` are the weights of the raw global
gradient (:math:`w_i = 1/n` for the paper's equal data sizes; the proof of
Lemma 4.1 gives the bias, the proof of Lemma 4.2 the per-coordinate variance).

**Error measure (docs/models/fl_market.md#err-measure).**  P2.2 is a supremum of a
random norm; read as a worst-case mean squared error it is

.. math::  \\mathrm{ERR}(\\lambda, \\varepsilon) = d_{\\mathrm{var}} \\cdot \\mathrm{VAR} + \\mathrm{BIAS}^2 ,

where :math:`d_{\\mathrm{var}}` is the number of gradient coordinates the
variance is summed over.  The paper counts one coordinate
(:math:`d_{\\mathrm{var}} = 1`, the default here); the true vector MSE of a
:math:`d`-dimensional gradient has :math:`d_{\\mathrm{var}} = d`.  The choice
matters: the paper's claim that VarOpt beats BiasOpt holds only with the
d-scaled reading (docs/models/fl_market.md#allin-sanity).

An owner with :math:`\\varepsilon_i = 0` sold nothing and must get weight 0
(her variance is infinite).  When nobody sold anything the weights are all
zero and the error is ``inf`` (the paper's "curve disappears").

All weight rules take ``epsilon`` of shape ``(..., n)`` and work on a batch of
profiles at once; :func:`error_optimal_weights` solves its convex QP exactly
through the KKT conditions, every profile of the batch in one vectorised pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from market.theory.fl_market.ldp import laplace_variance


def raw_weights(n: int, data_size: np.ndarray | None = None) -> np.ndarray:
    """Weights :math:`w_i = |D_i|/\\sum_j |D_j|` of the raw global gradient (uniform 1/n by default)."""
    if data_size is None:
        return np.full(n, 1.0 / n)
    size = np.asarray(data_size, dtype=float)
    if size.shape[-1] != n or np.any(size <= 0) or np.any(~np.isfinite(size)):
        raise ValueError("data_size: needs n positive finite sizes")
    return size / size.sum(axis=-1, keepdims=True)


def bias_bound(weights: np.ndarray, L: float = 1.0, data_size: np.ndarray | None = None) -> np.ndarray:
    """:math:`\\mathrm{BIAS} = L \\sum_i |\\lambda_i - w_i|` (proof of Lemma 4.1).

    Parameters
    ----------
    weights : numpy.ndarray, shape (..., n)
        Aggregation weights.
    L : float
        Gradient bound.
    data_size : numpy.ndarray, optional
        Owners' data sizes; equal sizes (the paper's setting) by default.
    """
    lam = np.asarray(weights, dtype=float)
    w = raw_weights(lam.shape[-1], data_size)
    return L * np.abs(lam - w).sum(axis=-1)


def variance_bound(weights: np.ndarray, epsilon: np.ndarray, L: float = 1.0) -> np.ndarray:
    """Per-coordinate variance :math:`\\sum_i \\lambda_i^2 \\, 8L^2/\\varepsilon_i^2` (proof of Lemma 4.2).

    Owners with zero weight contribute nothing; a positive weight on an owner
    with :math:`\\varepsilon_i = 0` gives ``inf``.  All-zero weights (nothing
    bought) give ``inf``.
    """
    lam = np.asarray(weights, dtype=float)
    var = laplace_variance(epsilon, L)
    terms = np.where(lam > 0, lam**2 * np.where(lam > 0, var, 0.0), 0.0)
    total = terms.sum(axis=-1)
    return np.where(lam.sum(axis=-1) > 0, total, np.inf)


def error_bound(
    weights: np.ndarray,
    epsilon: np.ndarray,
    L: float = 1.0,
    d_var: int = 1,
    data_size: np.ndarray | None = None,
) -> np.ndarray:
    """Worst-case squared error :math:`d_{\\mathrm{var}} \\mathrm{VAR} + \\mathrm{BIAS}^2` (eq. P2.2, docs/models/fl_market.md#err-measure).

    Parameters
    ----------
    weights, epsilon : numpy.ndarray, shape (..., n)
        Aggregation weights and privacy parameters.
    L : float
        Gradient bound.
    d_var : int
        Number of coordinates the variance is summed over: 1 for the paper's
        per-coordinate reading, the gradient dimension ``d`` for the vector MSE.
    data_size : numpy.ndarray, optional
        Owners' data sizes (equal by default).

    Returns
    -------
    numpy.ndarray
        ERR per profile; ``inf`` when nothing was bought.
    """
    if d_var < 1:
        raise ValueError(f"d_var: must be a positive integer, got {d_var}")
    return d_var * variance_bound(weights, epsilon, L) + bias_bound(weights, L, data_size) ** 2


def bias_opt(epsilon: np.ndarray, data_size: np.ndarray | None = None) -> np.ndarray:
    """BiasOpt weights (Algorithm 2).

    Every winner (:math:`\\varepsilon_j > 0`) gets :math:`w_j` (= 1/n), losers get
    0, and the spare weight :math:`1 - \\sum_{j \\in W} w_j` goes to the winner
    with the largest :math:`\\varepsilon` (ties: lowest index, docs/models/fl_market.md#alg-2).
    By Lemma 4.1 the bias is :math:`2(1 - |W|/n)L`, the least possible with
    zero weight on losers.

    Parameters
    ----------
    epsilon : numpy.ndarray, shape (..., n)
        Privacy parameters.
    data_size : numpy.ndarray, optional
        Data sizes; with unequal sizes :math:`w_j = |D_j|/\\sum|D|` replaces 1/n
        (docs/models/fl_market.md#err-measure).

    Returns
    -------
    numpy.ndarray, shape (..., n)
        Weights; all zero for a profile without winners.
    """
    eps = np.asarray(epsilon, dtype=float)
    win = eps > 0
    lam = np.where(win, raw_weights(eps.shape[-1], data_size), 0.0)
    top = np.argmax(eps, axis=-1)[..., None]
    spare = np.where(win.any(axis=-1), 1.0 - lam.sum(axis=-1), 0.0)[..., None]
    np.put_along_axis(lam, top, np.take_along_axis(lam, top, axis=-1) + spare, axis=-1)
    return lam


def var_opt(epsilon: np.ndarray) -> np.ndarray:
    """VarOpt weights (Algorithm 3): inverse-variance weighting :math:`\\lambda_j = \\varepsilon_j^2 / \\sum_k \\varepsilon_k^2`.

    By Lemma 4.2 (and Lemma B.1) the variance is :math:`8L^2/\\sum_i \\varepsilon_i^2`,
    the least possible.  All weights are zero for a profile without winners.
    """
    eps = np.asarray(epsilon, dtype=float)
    sq = eps**2
    total = sq.sum(axis=-1, keepdims=True)
    return np.divide(sq, total, out=np.zeros_like(sq), where=total > 0)


def data_size_weights(epsilon: np.ndarray, data_size: np.ndarray | None = None) -> np.ndarray:
    """Conventional FedAvg weighting :math:`\\lambda_j = |D_j| / \\sum_{k \\in W} |D_k|` over the winners.

    The paper's baseline "data size-weighted averaging" [19]; owners who sold
    nothing submit nothing and get weight 0.
    """
    eps = np.asarray(epsilon, dtype=float)
    size = np.broadcast_to(raw_weights(eps.shape[-1], data_size), eps.shape)
    s = np.where(eps > 0, size, 0.0)
    total = s.sum(axis=-1, keepdims=True)
    return np.divide(s, total, out=np.zeros_like(s), where=total > 0)


def error_optimal_weights(
    epsilon: np.ndarray,
    L: float = 1.0,
    d_var: int = 1,
    data_size: np.ndarray | None = None,
) -> np.ndarray:
    """Weights minimising the full bound :math:`d_{\\mathrm{var}}\\mathrm{VAR} + \\mathrm{BIAS}^2` (extension).

    Not in the paper (docs/models/fl_market.md#alg-3: "no ERR-optimal rule is in the
    paper").  Over the winners :math:`W` (:math:`\\varepsilon_j > 0`), with
    :math:`c_j = 8 d_{\\mathrm{var}} L^2/\\varepsilon_j^2`, the outside weight
    :math:`o = \\sum_{i \\notin W} w_i` and the shortfall
    :math:`N(\\lambda) = \\sum_{j \\in W} (w_j - \\lambda_j)_+`, the bias is
    :math:`L\\sum_i |\\lambda_i - w_i| = 2L(o + N)` (the excess over the
    targets equals the shortfall plus :math:`o` because both weight vectors
    sum to one), so the problem is the convex QP

    .. math::
        \\min_{\\lambda \\ge 0,\\ \\sum_j \\lambda_j = 1}\\;
        \\sum_{j\\in W} c_j \\lambda_j^2 + 4L^2 \\big(o + N(\\lambda)\\big)^2 .

    **KKT solution.**  With the multiplier :math:`\\mu` of the simplex
    constraint and :math:`\\beta = 8L^2 (o + N)` (the derivative of the bias
    term in :math:`N`), each weight minimises
    :math:`c_j\\lambda^2 - \\mu\\lambda + \\beta (w_j - \\lambda)_+` over
    :math:`\\lambda \\ge 0`:

    .. math::
        \\lambda_j(\\mu, \\beta) = \\max\\!\\Big(0,\\ \\operatorname{clip}\\big(w_j,\\
        \\tfrac{\\mu}{2c_j},\\ \\tfrac{\\mu + \\beta}{2c_j}\\big)\\Big).

    For a fixed :math:`\\beta`, :math:`\\sum_j \\lambda_j(\\mu, \\beta)` is
    piecewise linear and nondecreasing in :math:`\\mu` with two breakpoints
    per owner (and :math:`-\\beta`), so :math:`\\mu(\\beta)` is exact after one sort
    (:func:`_simplex_multiplier`).  Then
    :math:`g(\\beta) = 8L^2 (o + N(\\lambda(\\mu(\\beta), \\beta))) - \\beta` is
    piecewise linear with slope at most :math:`-1` and has one root in
    :math:`[0, 8L^2]`; a Newton step with the exact slope of the current
    piece, safeguarded by bisection, lands on it (exactly once inside the
    root's piece).  Cost :math:`O(n \\log n)` per Newton step, a handful of
    steps, every profile of a batch at once.

    Parameters
    ----------
    epsilon : numpy.ndarray, shape (..., n)
        Privacy parameters; a batch of profiles is solved in one vectorised pass.
    L : float
        Gradient bound.
    d_var : int
        Variance multiplier (see :func:`error_bound`).
    data_size : numpy.ndarray, optional
        Data sizes, shape (n,) or (..., n) (equal by default).

    Returns
    -------
    numpy.ndarray, shape (..., n)
        Weights; all zero for a profile without winners.
    """
    eps = np.asarray(epsilon, dtype=float)
    n = eps.shape[-1]
    flat = eps.reshape(-1, n)
    win = flat > 0
    rows = win.any(axis=1)
    out = np.zeros_like(flat)
    if not rows.any():
        return out.reshape(eps.shape)
    flat, win = flat[rows], win[rows]
    w = np.broadcast_to(raw_weights(n, data_size), eps.shape).reshape(-1, n)[rows]
    # a_j = 1 / (2 c_j); owners outside W get a_j = 0 and target 0 (their weight is in o)
    a = np.where(win, flat * flat, 0.0) / (16.0 * d_var * L**2)
    target = np.where(win, w, 0.0)
    outside = 1.0 - target.sum(axis=1)
    rise = a.sum(axis=1)
    pieces = _Pieces(a, target, np.divide(target, a, out=np.zeros_like(a), where=win),
                     np.concatenate([-a, a], axis=1), rise, np.repeat((2 * n) * np.arange(a.shape[0]), 2 * n))
    k = 8.0 * L**2
    lo, hi = np.zeros(outside.size), np.full(outside.size, k)
    a, target = pieces.a, pieces.target
    # start from the bias pull of VarOpt's weights (lambda proportional to a)
    beta = k * (outside + np.maximum(target - a / rise[:, None], 0.0).sum(axis=1))
    result, open_ = np.zeros_like(a), np.ones(outside.size, dtype=bool)
    for _ in range(200):
        mu, shortfall, a_below, a_above, below, above = _piece_at(beta, pieces)
        g = k * (outside + shortfall) - beta
        lo = np.where(g > 0, beta, lo)
        hi = np.where(g < 0, beta, hi)
        both = np.where(a_below + a_above > 0, a_below + a_above, 1.0)
        # Newton step on this piece: dN/dbeta = -A_B A_A / (A_B + A_A), dmu/dbeta = -A_B / (A_B + A_A)
        step = beta - g / (-k * a_below * a_above / both - 1.0)
        mu_step = (mu + (step - beta) * (-a_below / both))[:, None]
        nu_step = mu_step + step[:, None]
        # the step is the root when the owners stay below / at / above their targets there
        over, under = target * (1.0 + 1e-12), target * (1.0 - 1e-12)
        same = ~(below & (a * nu_step > over) | above & (a * mu_step < under)
                 | ~below & ~above & ((a * mu_step > over) | (a * nu_step < under))).any(axis=1)
        landed = open_ & same
        result[landed] = np.minimum(a * nu_step, np.maximum(target, a * mu_step))[landed]
        open_ &= ~same
        if not open_.any():
            break
        beta = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
    out[rows] = result / result.sum(axis=1, keepdims=True)
    return out.reshape(eps.shape)


class _Pieces(NamedTuple):
    """Per-profile constants of the KKT solve (one row per profile with at least one winner)."""

    a: np.ndarray  #: 1 / (2 c_j), 0 outside W
    target: np.ndarray  #: w_j, 0 outside W
    knee: np.ndarray  #: w_j / a_j, 0 outside W
    deltas: np.ndarray  #: slope changes at the breakpoints knee - beta (-a_j) and knee (+a_j)
    rise: np.ndarray  #: sum_j a_j, the slope of sum(lambda) just above mu = -beta
    offsets: np.ndarray  #: row offsets into the flattened (rows, 2n) breakpoints


def _simplex_multiplier(beta: np.ndarray, p: _Pieces) -> np.ndarray:
    """The :math:`\\mu` with :math:`\\sum_j \\lambda_j(\\mu, \\beta) = 1`, exactly, for each row.

    Every :math:`\\lambda_j` rises with slope :math:`a_j` from :math:`\\mu = -\\beta`,
    stops at :math:`w_j` when :math:`\\mu` reaches its knee :math:`w_j/a_j` minus
    :math:`\\beta` and rises again from :math:`\\mu = w_j/a_j`; the sum is piecewise
    linear between the sorted breakpoints and is inverted on the segment where
    it reaches 1.  Owners outside :math:`W` (:math:`a_j = 0`) change no slope.
    """
    r, m = p.deltas.shape
    points = np.concatenate([p.knee - beta[:, None], p.knee], axis=1)
    order = np.argsort(points, axis=1).ravel() + p.offsets
    grid = np.empty((r, m + 1))
    grid[:, 0] = -beta
    grid[:, 1:] = points.ravel()[order].reshape(r, m)
    slope = np.empty((r, m + 1))
    slope[:, 0] = p.rise
    np.cumsum(p.deltas.ravel()[order].reshape(r, m), axis=1, out=slope[:, 1:])
    slope[:, 1:] += p.rise[:, None]
    total = np.zeros((r, m + 1))
    np.cumsum(slope[:, :-1] * (grid[:, 1:] - grid[:, :-1]), axis=1, out=total[:, 1:])
    seg = (total < 1.0).sum(axis=1) - 1 + (m + 1) * np.arange(r)
    return grid.ravel()[seg] + (1.0 - total.ravel()[seg]) / slope.ravel()[seg]


def _piece_at(beta: np.ndarray, p: _Pieces) -> tuple[np.ndarray, ...]:
    """The piece of :math:`\\lambda(\\mu(\\beta), \\beta)` at ``beta``.

    Returns :math:`\\mu`, the shortfall :math:`N`, the slopes :math:`A_B` and
    :math:`A_A` of the owners below their target (:math:`\\lambda_j = a_j(\\mu+\\beta)`)
    and above it (:math:`\\lambda_j = a_j \\mu`), and those two sets; the others
    sit at their target.  :math:`\\mu + \\beta > 0` (otherwise no weight is
    positive), so every winner has a positive weight.
    """
    mu = _simplex_multiplier(beta, p)
    low = p.a * (mu + beta)[:, None]
    below = low < p.target
    above = p.a * mu[:, None] > p.target
    return (mu, np.einsum("ij,ij->i", p.target - low, below), np.einsum("ij,ij->i", p.a, below),
            np.einsum("ij,ij->i", p.a, above), below, above)


#: Aggregation rules by name: ``f(epsilon, L, d_var, data_size) -> weights``.
AGGREGATIONS: dict[str, Callable[..., np.ndarray]] = {
    "bias_opt": lambda eps, L=1.0, d_var=1, data_size=None: bias_opt(eps, data_size),
    "var_opt": lambda eps, L=1.0, d_var=1, data_size=None: var_opt(eps),
    "data_size": lambda eps, L=1.0, d_var=1, data_size=None: data_size_weights(eps, data_size),
    "error_opt": error_optimal_weights,
}


def aggregate(
    name: str,
    epsilon: np.ndarray,
    L: float = 1.0,
    d_var: int = 1,
    data_size: np.ndarray | None = None,
) -> np.ndarray:
    """Weights of the aggregation rule ``name`` (one of :data:`AGGREGATIONS`)."""
    if name not in AGGREGATIONS:
        raise ValueError(f"aggregation: unknown rule {name!r} (known: {', '.join(AGGREGATIONS)})")
    return AGGREGATIONS[name](epsilon, L, d_var, data_size)
