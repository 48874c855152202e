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
profiles at once, except :func:`error_optimal_weights` (one convex program per
profile, solved with :func:`scipy.optimize.minimize`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

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
    paper").  Over the winners :math:`W`, with :math:`t_j \\ge |\\lambda_j - w_j|`,

    .. math::
        \\min_{\\lambda, t}\\; d_{\\mathrm{var}} \\sum_{j\\in W} \\frac{8L^2\\lambda_j^2}{\\varepsilon_j^2}
              + L^2 \\Big(\\sum_{j\\in W} t_j + \\sum_{i\\notin W} w_i\\Big)^2
        \\quad\\text{s.t.}\\quad \\sum_j \\lambda_j = 1,\\ \\lambda \\ge 0,\\
        t_j \\ge \\lambda_j - w_j,\\ t_j \\ge w_j - \\lambda_j ,

    a smooth convex program, solved with SLSQP (:func:`scipy.optimize.minimize`)
    from the better of BiasOpt and VarOpt.  One solve per profile.

    Parameters
    ----------
    epsilon : numpy.ndarray, shape (..., n)
        Privacy parameters.
    L : float
        Gradient bound.
    d_var : int
        Variance multiplier (see :func:`error_bound`).
    data_size : numpy.ndarray, optional
        Data sizes (equal by default).

    Returns
    -------
    numpy.ndarray, shape (..., n)
        Weights; all zero for a profile without winners.
    """
    eps = np.asarray(epsilon, dtype=float)
    flat = eps.reshape(-1, eps.shape[-1])
    w_all = np.broadcast_to(raw_weights(eps.shape[-1], data_size), eps.shape).reshape(flat.shape)
    out = np.zeros_like(flat)
    for row in range(flat.shape[0]):
        out[row] = _error_optimal_one(flat[row], w_all[row], L, d_var)
    return out.reshape(eps.shape)


def _error_optimal_one(eps: np.ndarray, w: np.ndarray, L: float, d_var: int) -> np.ndarray:
    win = np.flatnonzero(eps > 0)
    lam = np.zeros_like(eps)
    if win.size == 0:
        return lam
    k = win.size
    coef = d_var * 8.0 * L**2 / eps[win] ** 2
    ww = w[win]
    outside = 1.0 - ww.sum()

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        lw, t = x[:k], x[k:]
        s = t.sum() + outside
        grad = np.concatenate([2.0 * coef * lw, np.full(k, 2.0 * L**2 * s)])
        return float(coef @ lw**2 + L**2 * s**2), grad

    eye = np.eye(k)
    constraints = [
        {"type": "eq", "fun": lambda x: x[:k].sum() - 1.0,
         "jac": lambda x: np.concatenate([np.ones(k), np.zeros(k)])},
        {"type": "ineq", "fun": lambda x: x[k:] - x[:k] + ww, "jac": lambda x: np.hstack([-eye, eye])},
        {"type": "ineq", "fun": lambda x: x[k:] + x[:k] - ww, "jac": lambda x: np.hstack([eye, eye])},
    ]
    starts = [bias_opt(eps, w)[win], var_opt(eps)[win]]
    values = [objective(np.concatenate([s, np.abs(s - ww)]))[0] for s in starts]
    x0_l = starts[int(np.argmin(values))]
    x0 = np.concatenate([x0_l, np.abs(x0_l - ww)])
    res = minimize(objective, x0, jac=True, method="SLSQP", constraints=constraints,
                   bounds=[(0.0, 1.0)] * (2 * k), options={"ftol": 1e-14, "maxiter": 500})
    sol = np.clip(res.x[:k], 0.0, None)
    lam[win] = sol / sol.sum()
    return lam


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
