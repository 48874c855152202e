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
through the KKT conditions without iteration, every profile of the batch in one
vectorised pass.
"""

from __future__ import annotations

from collections.abc import Callable
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

    **KKT solution (non-iterative).**  With the multiplier :math:`\\mu` of the
    simplex constraint, :math:`\\nu = \\mu + \\beta` where
    :math:`\\beta = k (o + N)`, :math:`k = 8L^2` (the derivative of the bias
    term in :math:`N`), :math:`a_j = 1/(2c_j) = \\varepsilon_j^2/(16 d_{\\mathrm{var}} L^2)`
    and the knees :math:`\\kappa_j = w_j / a_j`, each weight minimises
    :math:`c_j\\lambda^2 - \\mu\\lambda + \\beta (w_j - \\lambda)_+` over
    :math:`\\lambda \\ge 0`:

    .. math::
        \\lambda_j = \\operatorname{median}(a_j \\mu,\\ w_j,\\ a_j \\nu), \\qquad
        \\sum_j \\lambda_j = 1, \\qquad
        \\nu - \\mu = k \\Big(o + \\sum_j (w_j - a_j \\nu)_+\\Big).

    The last condition gives :math:`\\mu = h(\\nu) = \\nu - k(o + \\sum_j (w_j - a_j\\nu)_+)`,
    increasing and piecewise linear with breakpoints at the knees, so
    :math:`\\Phi(\\nu) = \\sum_j \\operatorname{median}(a_j h(\\nu), w_j, a_j\\nu) - 1`
    is nondecreasing and piecewise linear with breakpoints at the knees
    :math:`\\nu = \\kappa_j` and at :math:`\\nu = h^{-1}(\\kappa_j)`;
    :math:`\\Phi(0) = -1`, and beyond every breakpoint
    :math:`\\Phi = (\\sum_j a_j) h(\\nu) - 1`.  One sort of the knees gives
    :math:`h` at every knee by prefix sums; one stable sort of the merged
    sorted knees and sorted values :math:`h(\\kappa_j)` inverts :math:`h` at
    the knees and counts the knees below :math:`h(\\kappa_j)`; :math:`\\Phi` at all
    :math:`2n` breakpoints then follows from prefix sums.  The root lies
    between the largest breakpoint with :math:`\\Phi < 0` and the smallest with
    :math:`\\Phi \\ge 0` (no breakpoint between them, so :math:`\\Phi` and
    :math:`h` are linear there) and is found by one linear interpolation.
    Exact up to rounding, :math:`O(n \\log n)`, a fixed number of numpy calls
    and no iteration, every profile of a batch at once (the two sorts are
    row-wise).

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
    w = raw_weights(n, data_size)  # validates every profile's sizes
    if not rows.all():  # profiles without winners keep zero weights
        out = np.zeros_like(flat)
        size = data_size
        if size is not None and np.ndim(size) > 1:  # one size vector per profile
            size = np.broadcast_to(size, eps.shape).reshape(-1, n)[rows]
        if rows.any():
            out[rows] = error_optimal_weights(flat[rows], L, d_var, size)
        return out.reshape(eps.shape)
    if w.ndim > 1:
        w = np.broadcast_to(w, eps.shape).reshape(-1, n)
    r = flat.shape[0]
    # owners outside W get a_j = 0, target 0 and knee 0: they change no sum (their weight is in o)
    a_w = np.zeros((2, r, n))
    a, target = a_w
    np.multiply(flat, flat / (16.0 * d_var * L**2), out=a, where=win)
    np.copyto(target, w, where=win)
    knee = np.divide(target, a, out=np.zeros((r, n)), where=win)
    k = 8.0 * L**2
    row = np.arange(r)[:, None]  # fancy indexing by (row, column) gathers within each profile
    order = knee.argsort(axis=1)
    knee = knee[row, order]
    # prefix sums of (a, w) over the sorted knees: cum[:, :, i] sums the knees before index i
    cum = np.zeros((2, r, n + 1))
    a_w[:, row, order].cumsum(axis=2, out=cum[:, :, 1:])
    total = cum[:, :, -1:]
    total_a, total_w = total
    outside = 1.0 - total_w
    up = total - cum  # sums over the knees from index i on
    # (nu, h(nu), Phi(nu)) at the breakpoints of Phi: nu = 0, the knees, h^{-1}(knees) and an end point
    at = np.empty((3, r, 2 * n + 2))
    nu, h, phi = at
    nu[:, 0], h[:, 0], phi[:, 0] = 0.0, -k, -1.0
    nu[:, 1:n + 1] = h[:, n + 1:-1] = knee
    # h at the knees: on the piece below knee i the owners from i on are below their target
    # (h is nondecreasing; the running maximum only removes rounding so that equal knees keep their order)
    np.maximum.accumulate(knee * (1.0 + k * up[0, :, :n]) - k * (outside + up[1, :, :n]), axis=1,
                          out=h[:, 1:n + 1])
    # merge the sorted h(knee) with the sorted knees (h[:, 1:-1]): a stable sort puts h first on ties
    place = np.empty((r, 2 * n), dtype=np.intp)
    place[row, h[:, 1:-1].argsort(axis=1, kind="stable")] = np.arange(2 * n)
    # [knees before h(knee_i) | values h(knee) up to knee_j: h^{-1}(knee_j) is on the piece below that knee]
    place -= np.arange(2 * n) % n
    a_piece, w_piece = up[:, row, place[:, n:]]
    np.divide(knee + k * (outside + w_piece), 1.0 + k * a_piece, out=nu[:, n + 1:-1])
    a_low, w_low = cum[:, row, place[:, :n]]
    # Phi = nu A_above(nu) + h A_below(h) + (W - W_above(nu) - W_below(h)) - 1 at both kinds of breakpoints;
    # beyond every breakpoint h = nu - k o and Phi = A h - 1: the end point has Phi >= 0, nu = 0 has Phi = -1
    phi[:, 1:n + 1] = knee * up[0, :, :n] + h[:, 1:n + 1] * a_low - up[1, :, :n] - w_low
    phi[:, n + 1:-1] = nu[:, n + 1:-1] * a_piece + knee * cum[0, :, :n] - w_piece - cum[1, :, :n]
    phi[:, 1:-1] += total_w - 1.0
    h[:, -1:] = np.maximum(knee[:, -1:], 1.0 / total_a)
    nu[:, -1:] = h[:, -1:] + k * outside
    phi[:, -1:] = total_a * h[:, -1:] - 1.0
    # Phi is linear between the last breakpoint below 0 and the first at or above it
    neg = phi < 0
    lo = at[:, row, np.argmax(np.where(neg, nu, -1.0), axis=1)[:, None]]
    hi = at[:, row, np.argmin(np.where(neg, np.inf, nu), axis=1)[:, None]]
    root, mu = lo[:2] + lo[2] / (lo[2] - hi[2]) * (hi[:2] - lo[:2])
    result = np.minimum(a * root, np.maximum(target, a * mu))
    return (result / result.sum(axis=1, keepdims=True)).reshape(eps.shape)


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
