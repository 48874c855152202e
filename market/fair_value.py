"""Fair values of data under heterogeneous privacy levels (paper 000, Theorems 1-2).

For a privacy profile :math:`\\rho` and the coalition game
:math:`v(S) = U(\\rho_S)` (members keep their level, everybody else is set to
level 0, eq. 4):

* Theorem 2 (fairness among users, payout share :math:`\\alpha`), eq. 7:

  .. math::  \\phi_i(\\rho) = \\frac{\\alpha}{N} \\sum_{S \\subseteq [N]\\setminus\\{i\\}}
             \\binom{N-1}{|S|}^{-1} \\big(U(\\rho_{S \\cup \\{i\\}}) - U(\\rho_S)\\big);

* Theorem 1 (the platform as a veto coalition member), eqs. 5-6:

  .. math::  \\phi_p = \\frac{1}{N+1} \\sum_{S \\subseteq [N]} \\frac{U(\\rho_S)}{\\binom{N}{|S|}}, \\qquad
             \\phi_i = \\frac{1}{N+1} \\sum_{S \\subseteq [N]\\setminus\\{i\\}}
             \\frac{U(\\rho_{S\\cup\\{i\\}}) - U(\\rho_S)}{\\binom{N}{|S|+1}}

  (the sum in eq. 5 includes :math:`S = [N]`, spec section 2.2).

Three ways to compute them:

* :func:`shapley_exact`, :func:`fair_values_with_platform` -- enumerate all
  :math:`2^N` coalitions (small :math:`N`);
* :func:`shapley_by_type` -- exact, over owner *types*: owners with equal
  level, data size and importance are interchangeable, so a coalition is a
  count vector :math:`k \\le m` and carries the weight
  :math:`\\prod_s \\binom{m'_s}{k_s} / \\binom{N-1}{|k|}` (:math:`m' = m - e_t`);
  the cost is :math:`\\prod_t (m_t + 1)` over the non-null types, polynomial in
  :math:`N` for a fixed number of types;
* :func:`shapley_monte_carlo`, :func:`shapley_by_type_monte_carlo` --
  permutation sampling with a standard error, for populations too large for
  either exact method.

Level-0 owners are null players (:math:`\\rho_S` is unchanged by adding them);
their value is 0 and removing them leaves every other value unchanged, so the
type computations drop them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import gammaln

#: ``U(profiles)``: an ``(M, N)`` array of privacy profiles -> ``(M,)`` utilities.
ProfileUtility = Callable[[np.ndarray], np.ndarray]
#: ``G(K)``: an ``(M, T)`` array of coalition count vectors by type -> ``(M,)`` utilities.
TypeUtility = Callable[[np.ndarray], np.ndarray]

#: Largest number of coalitions (or count vectors) the exact methods enumerate.
MAX_COALITIONS = 4_000_000


def _log_binom(n: np.ndarray | float, k: np.ndarray | float) -> np.ndarray:
    n = np.asarray(n, float)
    k = np.asarray(k, float)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def _check_alpha(alpha: float) -> float:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha: must lie in [0, 1]")
    return float(alpha)


def _coalition_values(rho: np.ndarray, utility: ProfileUtility) -> tuple[np.ndarray, np.ndarray]:
    rho = np.asarray(rho)
    N = rho.size
    if N > 22 or 2**N > MAX_COALITIONS:
        raise ValueError(f"rho: {N} owners is too many for exact enumeration; use shapley_by_type")
    masks = np.arange(2**N)
    members = (masks[:, None] >> np.arange(N)) & 1
    values = np.asarray(utility(members * rho[None, :]), dtype=float).reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ValueError("utility: returned a non-finite value")
    return members, values


def shapley_exact(rho: np.ndarray, utility: ProfileUtility, alpha: float = 1.0) -> np.ndarray:
    """Fair values of Theorem 2 (eq. 7) by enumerating all coalitions.

    Parameters
    ----------
    rho : numpy.ndarray, shape (N,)
        Privacy profile (level 0 = shares nothing).
    utility : callable
        ``U(profiles)`` for an ``(M, N)`` batch of profiles.
    alpha : float
        Payout share :math:`\\alpha \\in [0, 1]`.

    Returns
    -------
    numpy.ndarray, shape (N,)
        :math:`\\phi_i(\\rho)`; they sum to :math:`\\alpha\\,(U(\\rho) - U(\\mathbf 0))`.
    """
    alpha = _check_alpha(alpha)
    members, v = _coalition_values(rho, utility)
    N = members.shape[1]
    size = members.sum(axis=1)
    bit = 1 << np.arange(N)
    masks = np.arange(v.size)
    without = members == 0
    delta = v[masks[:, None] | bit[None, :]] - v[:, None]
    weight = np.exp(-_log_binom(N - 1, np.minimum(size, N - 1)))
    return alpha / N * np.sum(np.where(without, delta * weight[:, None], 0.0), axis=0)


def fair_values_with_platform(
    rho: np.ndarray, utility: ProfileUtility, z: int = 1
) -> tuple[float, np.ndarray]:
    """Fair values of Theorem 1 (eqs. 5-6): the platform as a coalition member.

    Parameters
    ----------
    rho : numpy.ndarray, shape (N,)
        Privacy profile.
    utility : callable
        ``U(profiles)`` for an ``(M, N)`` batch of profiles.
    z : {0, 1}
        Whether the platform joins; ``z = 0`` gives all zeros.

    Returns
    -------
    phi_p : float
        The platform's value.
    phi : numpy.ndarray, shape (N,)
        The owners' values; :math:`\\phi_p + \\sum_i \\phi_i = U(\\rho)` (axiom A.ii).
    """
    if z not in (0, 1):
        raise ValueError("z: must be 0 or 1")
    members, v = _coalition_values(rho, utility)
    N = members.shape[1]
    if z == 0:
        return 0.0, np.zeros(N)
    size = members.sum(axis=1)
    phi_p = float(np.sum(v * np.exp(-_log_binom(N, size)))) / (N + 1)
    bit = 1 << np.arange(N)
    masks = np.arange(v.size)
    delta = v[masks[:, None] | bit[None, :]] - v[:, None]
    weight = np.exp(-_log_binom(N, np.minimum(size + 1, N)))
    phi = np.sum(np.where(members == 0, delta * weight[:, None], 0.0), axis=0) / (N + 1)
    return phi_p, phi


def _count_grid(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All count vectors ``0 <= k <= counts`` (row-major) and the radix strides."""
    shape = tuple(int(c) + 1 for c in counts)
    total = int(np.prod(shape, dtype=np.float64))
    if total > MAX_COALITIONS:
        raise ValueError(
            f"counts: {total:.3g} coalition count vectors exceed {MAX_COALITIONS}; "
            "use shapley_by_type_monte_carlo"
        )
    grid = np.indices(shape).reshape(len(shape), -1).T
    strides = np.array([int(np.prod(shape[t + 1:])) for t in range(len(shape))], dtype=np.int64)
    return grid, strides


def shapley_by_type(
    counts: np.ndarray,
    utility: TypeUtility,
    alpha: float = 1.0,
    null: np.ndarray | None = None,
    platform: bool = False,
) -> np.ndarray | tuple[float, np.ndarray]:
    """Exact fair value of one owner of each type, counting coalitions by type.

    With :math:`m` the type multiplicities, :math:`N = \\sum_t m_t` and
    :math:`m' = m - e_t`, an owner of type :math:`t` gets (Theorem 2)

    .. math::  \\phi_t = \\frac{\\alpha}{N} \\sum_{0 \\le k \\le m'}
               \\frac{\\prod_s \\binom{m'_s}{k_s}}{\\binom{N-1}{|k|}}
               \\big(G(k + e_t) - G(k)\\big),

    or, with ``platform=True`` (Theorem 1), weights
    :math:`\\prod_s \\binom{m'_s}{k_s} / ((N+1)\\binom{N}{|k|+1})` and the platform's
    value :math:`\\frac{1}{N+1}\\sum_{k \\le m} \\prod_s\\binom{m_s}{k_s} G(k)/\\binom{N}{|k|}`.
    Never enumerates the :math:`2^N` coalitions: it evaluates :math:`G` on the
    :math:`\\prod_t (m_t + 1)` count vectors of the non-null types.

    Parameters
    ----------
    counts : numpy.ndarray of int, shape (T,)
        Owners per type.
    utility : callable
        ``G(K)``: utility of coalitions given as an ``(M, T)`` array of member
        counts per type (null types always 0).
    alpha : float
        Payout share (Theorem 2 only).
    null : numpy.ndarray of bool, optional
        Types known to be null players (level 0); they get 0 and are left out
        of the enumeration (null players do not change the others' values).
    platform : bool
        Theorem 1 values instead of Theorem 2.

    Returns
    -------
    numpy.ndarray, shape (T,)
        Value of one owner of each type (0 for empty and null types); with
        ``platform=True`` a tuple ``(phi_p, phi)``.
    """
    alpha = _check_alpha(alpha)
    counts = np.asarray(counts, dtype=np.int64)
    if np.any(counts < 0):
        raise ValueError("counts: must be non-negative")
    T = counts.size
    null = np.zeros(T, bool) if null is None else np.asarray(null, bool)
    active = np.flatnonzero(~null & (counts > 0))
    phi = np.zeros(T)
    N = int(counts[active].sum())
    if N == 0:
        return (0.0, phi) if platform else phi
    m = counts[active]
    grid, strides = _count_grid(m)
    K = np.zeros((grid.shape[0], T))
    K[:, active] = grid
    v = np.asarray(utility(K), dtype=float).reshape(-1)
    if not np.all(np.isfinite(v)):
        raise ValueError("utility: returned a non-finite value")
    size = grid.sum(axis=1)
    log_multi = _log_binom(m[None, :], grid).sum(axis=1)
    for j, t in enumerate(active):
        ok = grid[:, j] < m[j]
        # prod_s C(m'_s, k_s) = prod_s C(m_s, k_s) * (m_t - k_t) / m_t
        lw = log_multi[ok] + np.log((m[j] - grid[ok, j]) / m[j])
        delta = v[np.flatnonzero(ok) + strides[j]] - v[ok]
        if platform:
            w = np.exp(lw - _log_binom(N, size[ok] + 1)) / (N + 1)
            phi[t] = float(np.sum(w * delta))
        else:
            w = np.exp(lw - _log_binom(N - 1, size[ok])) / N
            phi[t] = alpha * float(np.sum(w * delta))
    if platform:
        phi_p = float(np.sum(np.exp(log_multi - _log_binom(N, size)) * v)) / (N + 1)
        return phi_p, phi
    return phi


def shapley_monte_carlo(
    rho: np.ndarray,
    utility: ProfileUtility,
    rng: np.random.Generator,
    alpha: float = 1.0,
    n_permutations: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation estimate of the Theorem 2 values, with standard errors.

    Each of ``n_permutations`` uniform random orders adds the owners one by
    one; owner *i*'s sample is its marginal contribution
    :math:`U(\\rho_{P_i \\cup \\{i\\}}) - U(\\rho_{P_i})` (:math:`P_i` = its
    predecessors), whose mean over all orders is eq. 7.

    Parameters
    ----------
    rho : numpy.ndarray, shape (N,)
    utility : callable
        ``U(profiles)`` for an ``(M, N)`` batch.
    rng : numpy.random.Generator
    alpha : float
    n_permutations : int
        At least 2.

    Returns
    -------
    phi : numpy.ndarray, shape (N,)
        Estimates (each permutation's contributions sum to
        :math:`\\alpha(U(\\rho) - U(\\mathbf 0))`, so efficiency holds exactly).
    se : numpy.ndarray, shape (N,)
        Standard errors (sample standard deviation / sqrt(n_permutations)).
    """
    alpha = _check_alpha(alpha)
    if n_permutations < 2:
        raise ValueError("n_permutations: must be at least 2")
    rho = np.asarray(rho)
    N = rho.size
    samples = np.empty((n_permutations, N))
    chunk = max(1, 2_000_000 // max(1, N * (N + 1)))
    for start in range(0, n_permutations, chunk):
        P = min(chunk, n_permutations - start)
        order = rng.permuted(np.tile(np.arange(N), (P, 1)), axis=1)
        rank = np.argsort(order, axis=1)
        steps = np.arange(N + 1)
        included = rank[:, None, :] < steps[None, :, None]
        v = np.asarray(utility((included * rho).reshape(-1, N)), float).reshape(P, N + 1)
        marginal = np.diff(v, axis=1)
        samples[start:start + P] = np.take_along_axis(marginal, rank, axis=1)
    samples *= alpha
    return samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(n_permutations)


def shapley_by_type_monte_carlo(
    counts: np.ndarray,
    utility: TypeUtility,
    rng: np.random.Generator,
    alpha: float = 1.0,
    null: np.ndarray | None = None,
    n_samples: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation estimate of the value of one owner of each type, with standard errors.

    For an owner of type :math:`t` in a uniform random order, the number of
    predecessors :math:`k` is uniform on :math:`0..N-1` and, given :math:`k`,
    their type counts are multivariate hypergeometric with colours
    :math:`m - e_t`.  Sampling :math:`k` stratified over its range and the
    counts by sequential hypergeometric draws gives i.i.d. samples of
    :math:`G(K + e_t) - G(K)` whose mean is eq. 7; the cost is independent of
    :math:`N` (one batched ``G`` call per type).

    Parameters
    ----------
    counts : numpy.ndarray of int, shape (T,)
    utility : callable
        ``G(K)`` on an ``(M, T)`` batch of count vectors.
    rng : numpy.random.Generator
    alpha : float
    null : numpy.ndarray of bool, optional
        Null types (value 0, left out).
    n_samples : int
        Samples per type, at least 2.

    Returns
    -------
    phi, se : numpy.ndarray, shape (T,)
        Estimates and standard errors (0 for empty and null types).
    """
    alpha = _check_alpha(alpha)
    if n_samples < 2:
        raise ValueError("n_samples: must be at least 2")
    counts = np.asarray(counts, dtype=np.int64)
    T = counts.size
    null = np.zeros(T, bool) if null is None else np.asarray(null, bool)
    active = np.flatnonzero(~null & (counts > 0))
    phi, se = np.zeros(T), np.zeros(T)
    N = int(counts[active].sum())
    for t in active:
        others = counts[active].copy()
        others[active == t] -= 1
        # stratified positions: one uniform draw inside each of n_samples equal slices of [0, N)
        k = np.floor((np.arange(n_samples) + rng.random(n_samples)) * N / n_samples).astype(np.int64)
        k = np.minimum(k, N - 1)
        K = np.zeros((n_samples, T))
        left = k.copy()
        pool = int(others.sum())
        for j, s in enumerate(active):
            pool -= int(others[j])
            if others[j] == 0:
                continue
            draw = rng.hypergeometric(int(others[j]), max(pool, 0), left) if pool > 0 \
                else np.minimum(left, others[j])
            K[:, s] = draw
            left = left - draw
        with_t = K.copy()
        with_t[:, t] += 1
        delta = np.asarray(utility(with_t), float) - np.asarray(utility(K), float)
        phi[t] = alpha * delta.mean()
        se[t] = alpha * delta.std(ddof=1) / np.sqrt(n_samples)
    return phi, se
