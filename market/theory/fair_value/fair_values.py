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

  (the sum in eq. 5 includes :math:`S = [N]`, docs/models/fair_value.md#eq-5).

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

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy.special import gammaln

#: ``U(profiles)``: an ``(M, N)`` array of privacy profiles -> ``(M,)`` utilities.
ProfileUtility = Callable[[np.ndarray], np.ndarray]
#: ``G(K)``: an ``(M, T)`` array of coalition count vectors by type -> ``(M,)`` utilities.
TypeUtility = Callable[[np.ndarray], np.ndarray]

#: Largest number of coalitions (or count vectors) the exact methods enumerate.
MAX_COALITIONS = 4_000_000
#: Share of the stratified estimator's sampling budget allocated in proportion to the bin widths
#: (the rest follows the other types' Neyman profiles).
WIDTH_SHARE = 0.2


def _log_binom(n: np.ndarray | float, k: np.ndarray | float) -> np.ndarray:
    """:math:`\\log \\binom{n}{k}` elementwise; from a table of :math:`\\log\\Gamma` at integers when n, k are counts.

    Integer arrays (the estimators' counts) index the table directly, without the float round trip and
    its integrality checks: the same table entries in the same order, so the same values.
    """
    n, k = np.asarray(n), np.asarray(k)
    if n.dtype.kind in "iu" and k.dtype.kind in "iu":
        rest = n - k
        if k.size and rest.size and k.min() >= 0 and rest.min() >= 0 and n.max() + 1 < LGAMMA_TABLE_LIMIT:
            table = _lgamma_table(1 << int(n.max() + 1).bit_length())
            return table[n + 1] - table[k + 1] - table[rest + 1]
    n = np.asarray(n, float)
    k = np.asarray(k, float)
    args = (n + 1, k + 1, n - k + 1)
    low = min((float(a.min()) for a in args if a.size), default=1.0)
    high = max((float(a.max()) for a in args if a.size), default=1.0)
    if low >= 1 and high < LGAMMA_TABLE_LIMIT and all(np.array_equal(a, np.rint(a)) for a in args):
        # the same gammaln values, looked up: the counts are integers, gammaln is evaluated once per integer
        table = _lgamma_table(1 << int(high).bit_length())
        return table[args[0].astype(np.int64)] - table[args[1].astype(np.int64)] - table[args[2].astype(np.int64)]
    return gammaln(args[0]) - gammaln(args[1]) - gammaln(args[2])


#: Largest integer argument served from the log-gamma table (above it, gammaln is called directly).
LGAMMA_TABLE_LIMIT = 1 << 22


@lru_cache(maxsize=8)
def _lgamma_table(size: int) -> np.ndarray:
    """:math:`\\log\\Gamma(x)` for :math:`x = 0, 1, \\ldots, size - 1` (read-only)."""
    table = gammaln(np.arange(size, dtype=float))
    table.setflags(write=False)
    return table


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

    Notes
    -----
    For the two-owner example of eq. 11 the printed matrices
    :math:`\\Phi_1, \\Phi_2` (and those of eqs. 12, 92) are transposed: with rows
    :math:`\\rho_1` and columns :math:`\\rho_2`, as for **U**, owner 1 gets
    :math:`\\Phi_1 = [[0, 0], [1/3, 2/9]]` (0 whenever :math:`\\rho_1 = 0`, the
    null player), which is what this function returns (docs/models/fair_value.md#corr-transposed).
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


def _compositions(n_types: int, size: int) -> np.ndarray:
    """All count vectors of ``n_types`` non-negative parts summing to at most ``size``."""
    rows = np.zeros((1, 0), dtype=np.int64)
    left = np.array([size], dtype=np.int64)
    for _ in range(n_types):
        reps = left + 1
        parent = np.repeat(np.arange(rows.shape[0]), reps)
        value = np.arange(parent.size) - np.repeat(np.cumsum(reps) - reps, reps)
        rows = np.column_stack([rows[parent], value])
        left = left[parent] - value
    return rows


class _CompositionIndex:
    """Ranks of count vectors of total at most ``size`` (stars and bars, combinatorial number system).

    A vector :math:`k` of total :math:`j` over :math:`T` parts is the
    :math:`(T-1)`-subset :math:`\\{c_s = k_0 + \\dots + k_s + s\\}` of
    :math:`\\{0..j+T-2\\}`; its rank is
    :math:`\\binom{j-1+T}{T} + \\sum_s \\binom{c_s}{s+1}` (vectors of smaller
    total first), a bijection onto :math:`0..\\binom{\\text{size}+T}{T}-1`.
    """

    def __init__(self, n_types: int, size: int) -> None:
        self.T = n_types
        n_max = size + n_types + 1
        table = np.zeros((n_max + 1, n_types + 1), dtype=np.int64)
        for n in range(n_max + 1):
            for r in range(min(n, n_types) + 1):
                table[n, r] = min(math.comb(n, r), 2**62)
        self.table = table

    def _offset(self, total: np.ndarray) -> np.ndarray:
        return np.where(total > 0, self.table[np.maximum(total - 1 + self.T, 0), self.T], 0)

    def rank(self, K: np.ndarray) -> np.ndarray:
        """Rank of each row of ``K``."""
        s = np.arange(self.T - 1)
        c = np.cumsum(K, axis=1)[:, : self.T - 1] + s
        return self._offset(K.sum(axis=1)) + self.table[c, s + 1].sum(axis=1)

    def rank_plus_one(self, K: np.ndarray) -> np.ndarray:
        """``R[r, t]`` = rank of ``K[r] + e_t`` (Pascal: adding 1 to part t raises every later c_s)."""
        s = np.arange(self.T - 1)
        c = np.cumsum(K, axis=1)[:, : self.T - 1] + s
        total = K.sum(axis=1)
        lift = self.table[c, s]  # C(c_s + 1, s + 1) - C(c_s, s + 1) = C(c_s, s)
        suffix = np.concatenate([np.cumsum(lift[:, ::-1], axis=1)[:, ::-1],
                                 np.zeros((K.shape[0], 1), dtype=np.int64)], axis=1)
        base = self._offset(total + 1) + self.table[c, s + 1].sum(axis=1)
        return base[:, None] + suffix


@lru_cache(maxsize=16)
def _exact_grid(n_types: int, J: int) -> tuple[np.ndarray, ...]:
    """The exact ends' count vectors of :func:`shapley_by_type_stratified`, a function of ``(T, J)`` only.

    Returns ``comps`` (every count vector of total at most ``J + 1``), their ranks, ``base`` (those of total
    at most ``J``), its totals, its ranks ``r0`` and ``r1[r, t]`` = rank of ``base[r] + e_t``.  A round of
    fair payments estimates several compositions with the same ``(T, J)``; the grid is built once (read-only
    arrays, the same values as building it each call).
    """
    index = _CompositionIndex(n_types, J + 1)
    comps = _compositions(n_types, J + 1)
    base = comps[comps.sum(axis=1) <= J]
    grid = (comps, index.rank(comps), base, base.sum(axis=1), index.rank(base), index.rank_plus_one(base))
    for array in grid:
        array.flags.writeable = False
    return grid


def _hypergeometric_counts(rng: np.random.Generator, others: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Row ``r``: type counts of ``k[r]`` owners drawn without replacement from ``others[r]``."""
    K = np.zeros(others.shape, dtype=np.int64)
    left = k.astype(np.int64).copy()
    pool = others.sum(axis=1)
    for s in range(others.shape[1] - 1):
        pool = pool - others[:, s]
        draw = rng.hypergeometric(others[:, s], pool, left) if others.shape[0] else left
        K[:, s] = draw
        left = left - draw
    K[:, -1] = left
    return K


def _exact_budget_size(n_types: int, rows: int) -> int:
    """Largest ``J`` with ``C(J + 1 + T, T)`` count vectors (sizes up to ``J + 1``) within ``rows``."""
    J = 0
    while math.comb(J + 2 + n_types, n_types) <= rows:
        J += 1
    return J


def shapley_by_type_stratified(
    counts: np.ndarray,
    utility: TypeUtility,
    rng: np.random.Generator,
    alpha: float = 1.0,
    null: np.ndarray | None = None,
    n_samples: int = 400,
    exact_rows: int = 4000,
    n_bins: int = 16,
    groups: np.ndarray | None = None,
    small_count: int = 2,
    wanted: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified estimate of the value of one owner of each type, with standard errors.

    Eq. 7 by type is an average over the coalition size :math:`k` of the
    owner's predecessors (uniform on :math:`0..N-1`):

    .. math::  \\phi_t = \\frac{\\alpha}{N}\\sum_{k=0}^{N-1} f_t(k), \\qquad
               f_t(k) = E\\big[G(K + e_t) - G(K)\\big],\\quad
               K \\sim \\text{MultiHypergeometric}(m - e_t, k).

    Strata are coalition sizes (Maleki et al. 2013; Castro et al. 2017):

    * **exact ends.**  For :math:`k \\le J` and :math:`k \\ge N-1-J`
      :math:`f_t(k)` is summed exactly over all count vectors of :math:`k`
      members (respectively of the :math:`N-1-k` non-members), with their
      hypergeometric probabilities; :math:`J` is the largest size whose count
      vectors (:math:`\\binom{J+1+T}{T}` of them, shared by all types) fit
      ``exact_rows``.  These are the coalitions where one owner's marginal
      contribution is largest and most variable.
    * **control variate.**  :math:`h_t(k) = G(\\bar K_k + e_t) - G(\\bar K_k)` at
      the mean composition :math:`\\bar K_k = k (m - e_t)/(N-1)`, computed at
      ``n_bins + 1`` nodes and interpolated linearly in :math:`k`, plus, for
      each owner ``groups`` label :math:`g` and each rare event "no member of
      :math:`g`", "exactly one member of :math:`g`, of type :math:`s`" and
      "exactly :math:`c` members of :math:`g`" (:math:`2 \\le c \\le`
      ``small_count``), an indicator times the jump of the marginal
      contribution at the event's conditional mean composition.  These are the
      coalitions where the utility changes regime (for ``federated_mean`` with
      groups = levels: no federating member, or a lone federator that acts as
      level 2, docs/models/fair_value.md#fl-structure).  The control's expectation is a known
      function of :math:`k` (hypergeometric event probabilities), summed
      exactly over every middle :math:`k` (event terms are cut where all event
      probabilities are below :math:`e^{-60}`), so only the residual is sampled.
    * **sampled middle.**  The remaining sizes are cut into ``n_bins``
      geometrically growing bins; in each, :math:`k` is drawn uniformly and
      :math:`K` by sequential hypergeometric draws.  A pilot of a quarter of
      the budget (at least 2 per bin) measures every type's spread
      :math:`\\hat\\sigma_{t,b}` per bin.  The rest of type :math:`t`'s budget
      goes a share ``WIDTH_SHARE`` in proportion to the bin widths and the
      remainder by the mean Neyman profile
      (:math:`n_b \\propto |b|\\,\\hat\\sigma_{s,b}`) of the *other* types
      :math:`s \\ne t` (by the widths alone for a single type).  Each bin's
      mean uses all its samples, pilot included.

    The estimate is unbiased: type :math:`t`'s sample sizes do not depend on
    its own samples.  (Letting a type's own pilot set its allocation biased
    it by +1.8% of its value at 200 samples per type: a pilot that drew a rare
    large residual also shows a large spread, so its bin got more samples
    that diluted it.)
    Its variance is :math:`\\sum_b (|b|/N)^2 \\hat\\sigma_b^2 / n_b`;
    the standard error is its square root.  Efficiency is *not* forced:
    :math:`\\sum_t m_t \\phi_t - \\alpha U(m)` is a zero-mean error with standard
    error :math:`\\sqrt{\\sum_t m_t^2 se_t^2}` (see :func:`efficiency_residual`).
    When all count vectors fit ``exact_rows`` the exact :func:`shapley_by_type`
    is returned with zero standard errors.

    Parameters
    ----------
    counts : numpy.ndarray of int, shape (T,)
    utility : callable
        ``G(K)`` on an ``(M, T)`` batch of count vectors (null types always 0).
    rng : numpy.random.Generator
    alpha : float
    null : numpy.ndarray of bool, optional
        Null types (value 0, left out).
    n_samples : int
        Sampled marginal contributions per type (at least ``2 * n_bins``; the
        pilot takes at least 2 per bin).
    exact_rows : int
        Budget of count vectors evaluated exactly at each end (at least ``T + 1``
        are always used: sizes 0 and 1).
    n_bins : int
        Strata of the sampled middle range (at least 1).
    groups : numpy.ndarray, optional
        A label per type (e.g. its privacy level) whose small-count events get
        control variates; default: one group (no event controls beyond the
        empty coalition).
    small_count : int
        Largest aggregated member count of a group with its own control (>= 1).
    wanted : numpy.ndarray of bool, shape (T,), optional
        The types whose estimates are needed (default: all).  The others get NaN and skip their exact
        ends and control means (the expensive part: event probabilities over every middle size); every
        type is still sampled, so the random stream, the allocation and the wanted types' estimates are
        exactly those of the full call.  A deviation needs one type of its composition.

    Returns
    -------
    phi, se : numpy.ndarray, shape (T,)
        Estimates and standard errors (0 for empty and null types).
    """
    alpha = _check_alpha(alpha)
    if n_bins < 1:
        raise ValueError("n_bins: must be at least 1")
    if small_count < 1:
        raise ValueError("small_count: must be at least 1")
    if n_samples < 2 * n_bins:
        raise ValueError("n_samples: must be at least 2 * n_bins")
    counts = np.asarray(counts, dtype=np.int64)
    T = counts.size
    null = np.zeros(T, bool) if null is None else np.asarray(null, bool)
    active = np.flatnonzero(~null & (counts > 0))
    phi, se = np.zeros(T), np.zeros(T)
    m = counts[active]
    N = int(m.sum())
    if N == 0:
        return phi, se
    if float(np.prod(m + 1.0)) <= exact_rows:
        return shapley_by_type(counts, utility, alpha, null), se
    Ta = m.size
    need = np.ones(Ta, bool) if wanted is None else np.asarray(wanted, bool)[active]
    rows = np.flatnonzero(need)
    group_of = np.zeros(Ta, np.int64) if groups is None else np.unique(np.asarray(groups)[active],
                                                                        return_inverse=True)[1].reshape(-1)

    def G(K: np.ndarray) -> np.ndarray:
        full = np.zeros((K.shape[0], T))
        full[:, active] = K
        v = np.asarray(utility(full), dtype=float).reshape(-1)
        if not np.all(np.isfinite(v)):
            raise ValueError("utility: returned a non-finite value")
        return v

    others = m[None, :] - np.eye(Ta, dtype=np.int64)  # row t: m - e_t
    J = min(_exact_budget_size(Ta, exact_rows), N - 1)
    comps, rank, base, size, r0, r1 = _exact_grid(Ta, J)
    values = G(np.concatenate([comps, np.maximum(m[None, :] - comps, 0)]))
    low, high = np.empty(rank.size), np.empty(rank.size)
    low[rank], high[rank] = values[: rank.size], values[rank.size:]
    log_m = _log_binom(m[None, :], base).sum(axis=1)
    total = np.zeros(Ta)
    for t in rows:
        ok = base[:, t] < m[t]
        # prod_s C(m_s - [s=t], k_s) / C(N-1, k): hypergeometric probability of the composition
        lp = log_m[ok] + np.log((m[t] - base[ok, t]) / m[t]) - _log_binom(N - 1, size[ok])
        p = np.exp(lp)
        k_low = size[ok]
        in_low = k_low <= N - 1
        total[t] += np.sum(p[in_low] * (low[r1[ok, t]] - low[r0[ok]])[in_low])
        in_high = N - 1 - k_low > J  # sizes k = N - 1 - j not already counted at the low end
        total[t] += np.sum(p[in_high] * (high[r0[ok]] - high[r1[ok, t]])[in_high])
    var = np.zeros(Ta)
    ka, kb = J + 1, N - 2 - J  # the sampled middle sizes
    if kb >= ka:
        edges = np.unique(np.round(np.geomspace(ka, kb + 1, n_bins + 1)).astype(np.int64))
        edges[0], edges[-1] = ka, kb + 1
        width = np.diff(edges)
        B = width.size
        nodes = np.unique(np.append(edges[:-1], kb))
        # controls for small groups: per group g the events "no member", "exactly one member, of type s"
        # (one event per type s of g) and "exactly c members" for 2 <= c <= small_count
        member = group_of[None, :] == np.unique(group_of)[:, None]  # (Gn, Ta)
        ev_g, ev_c, ev_s = [], [], []
        for g in range(member.shape[0]):
            singles = np.flatnonzero(member[g])
            ev_g += [g] * (1 + singles.size + max(small_count - 1, 0))
            ev_c += [0] + [1] * singles.size + list(range(2, small_count + 1))
            ev_s += [-1] + list(singles) + [-1] * max(small_count - 1, 0)
        ev_g, ev_c, ev_s = np.array(ev_g), np.array(ev_c), np.array(ev_s)
        E = ev_g.size
        size_g = others @ member.T  # (Ta, Gn): M'_g
        inside, outside = size_g[:, ev_g], N - 1 - size_g[:, ev_g]  # (Ta, E)
        single = ev_s >= 0
        # members inside the group: their mean composition given the event
        in_mean = (ev_c[None, :, None] * others[:, None, :] * member[ev_g][None, :, :]
                   / np.maximum(inside, 1)[:, :, None])
        in_mean[:, single, :] = np.eye(Ta)[ev_s[single]][None, :, :]
        in_count = np.minimum(ev_c[None, :], inside)  # (Ta, E)
        # log of the number of ways to pick the in-group members
        log_in = _log_binom(inside, in_count)
        log_in[:, single] = np.log(np.maximum(others[:, ev_s[single]], 1))
        possible = (ev_c[None, :] <= inside) & np.where(single[None, :], others[:, np.maximum(ev_s, 0)] > 0, True)
        k_out = np.clip(nodes[None, None, :] - in_count[:, :, None], 0, outside[:, :, None])  # (Ta, E, nodes)
        frac_out = others[:, None, :] * ~member[ev_g][None, :, :] / np.maximum(outside, 1)[:, :, None]
        x_ev = in_mean[:, :, None, :] + k_out[..., None] * frac_out[:, :, None, :]
        x_all = nodes[None, None, :, None] * others[:, None, None, :] / (N - 1)
        xbar = np.concatenate([x_all, x_ev], axis=1)  # (Ta, 1 + E, nodes, Ta)
        xplus = xbar + np.eye(Ta)[:, None, None, :]
        full = np.zeros((2 * xbar[..., 0].size, T))
        full[:, active] = np.concatenate([xplus.reshape(-1, Ta), xbar.reshape(-1, Ta)])
        # fractional compositions may leave the utility's domain (e.g. 0.3 federating owners):
        # a control only needs to be finite, so non-finite control values become 0
        with np.errstate(invalid="ignore", divide="ignore"):
            hv = np.asarray(utility(full), dtype=float).reshape(-1)
        hv = np.where(np.isfinite(hv), hv, 0.0)
        d_nodes = (hv[: hv.size // 2] - hv[hv.size // 2:]).reshape(Ta, 1 + E, nodes.size)
        h_nodes = d_nodes[:, 0]
        jump_nodes = d_nodes[:, 1:] - h_nodes[:, None, :]  # (Ta, E, nodes)

        def log_p_event(k: np.ndarray, t: np.ndarray = np.arange(Ta)) -> np.ndarray:
            """(len(t), E, len(k)) log P(event | k) for the types ``t``; -inf where impossible."""
            c, o_ = ev_c[None, :, None], outside[t, :, None]
            ok = possible[t, :, None] & (k[None, None, :] >= c) & (k[None, None, :] - c <= o_)
            lp = (log_in[t, :, None] + _log_binom(o_, np.clip(k[None, None, :] - c, 0, o_))
                  - _log_binom(N - 1, k)[None, None, :])
            return np.where(ok, lp, -np.inf)

        # event probabilities fall geometrically in k: sum up to the first node past which all are < e^-60
        alive = np.flatnonzero(np.any(log_p_event(nodes) > -60.0, axis=(0, 1)))
        k_cut = kb if alive.size == 0 or alive[-1] + 1 >= nodes.size else int(nodes[alive[-1] + 1])
        k_ev = np.arange(ka, k_cut + 1)
        p_ev = np.exp(log_p_event(k_ev, rows))  # (wanted types, E, K)
        h_mid = _interp_sum(nodes, h_nodes[rows])
        jumps = _interp_many(k_ev, nodes, jump_nodes[rows].reshape(-1, nodes.size)).reshape(rows.size, E, -1)
        for row, t in enumerate(rows):
            # exact mean of the control over every middle size: h(k) + sum_e P(event e | k) jump_e(k)
            total[t] += h_mid[row] + np.sum(p_ev[row] * jumps[row])

        def residuals(n_per: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """Samples ``n_per[t, b]`` residuals Delta - control; returns (type, bin, residual)."""
            tb = np.repeat(np.arange(Ta * B), n_per.reshape(-1))
            t_of, b_of = tb // B, tb % B
            k = edges[b_of] + np.floor(rng.random(tb.size) * width[b_of]).astype(np.int64)
            K = _hypergeometric_counts(rng, others[t_of], k)
            v = G(np.concatenate([K + np.eye(Ta, dtype=np.int64)[t_of], K]))
            control = _interp_rows(k, nodes, h_nodes, t_of)
            in_group = K @ member.T.astype(np.int64)  # (rows, Gn)
            for e in range(E):
                hit = in_group[:, ev_g[e]] == ev_c[e]
                if ev_s[e] >= 0:
                    hit &= K[:, ev_s[e]] == 1
                control[hit] += _interp_rows(k[hit], nodes, jump_nodes[:, e], t_of[hit])
            return t_of, b_of, v[: tb.size] - v[tb.size:] - control

        # type t's allocation follows the OTHER types' pilots: its own would bias its pooled means
        pilot = max(2, n_samples // (4 * B))
        t1, b1, y1 = residuals(np.full((Ta, B), pilot))
        sd = y1.reshape(Ta, B, pilot).std(axis=2, ddof=1)
        score = width[None, :] * sd
        norm = score.sum(axis=1, keepdims=True)
        profile = np.where(norm > 0, score / np.where(norm > 0, norm, 1.0), 1.0 / B)
        proportional = width[None, :] / width.sum()
        others_profile = (profile.sum(axis=0, keepdims=True) - profile) / (Ta - 1) if Ta > 1 else proportional
        share = WIDTH_SHARE * proportional + (1 - WIDTH_SHARE) * others_profile
        extra = np.floor(max(n_samples - pilot * B, 0) * share).astype(np.int64)
        t2, b2, y2 = residuals(extra)
        tt, bb, yy = np.concatenate([t1, t2]), np.concatenate([b1, b2]), np.concatenate([y1, y2])
        cell = tt * B + bb
        n_cell = np.bincount(cell, minlength=Ta * B).astype(float)
        s1 = np.bincount(cell, yy, minlength=Ta * B)
        mean = s1 / n_cell
        s2 = np.bincount(cell, (yy - mean[cell]) ** 2, minlength=Ta * B)
        var_cell = s2 / (n_cell - 1) / n_cell
        total += (mean.reshape(Ta, B) * width[None, :]).sum(axis=1)
        var = (var_cell.reshape(Ta, B) * width[None, :] ** 2).sum(axis=1)
    phi[active] = np.where(need, alpha * total / N, np.nan)
    se[active] = np.where(need, alpha * np.sqrt(var) / N, np.nan)
    return phi, se


def _interp_many(x: np.ndarray, nodes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``out[r] = numpy.interp(x, nodes, values[r])`` for every row at once, with ``x`` inside the nodes' range.

    The same arithmetic as :func:`numpy.interp` (slope of the node interval times the offset from its left
    node, plus the left value; a node's own value where ``x`` is a node), so the same values bit for bit:
    the control means of every wanted type and event in one pass instead of one call per row.
    """
    xp, x = np.asarray(nodes, float), np.asarray(x, float)
    if xp.size == 1:
        return np.repeat(values[:, :1], x.size, axis=1)
    j = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, xp.size - 2)
    slope = (values[:, 1:] - values[:, :-1]) / (xp[1:] - xp[:-1])
    out = slope[:, j] * (x - xp[j]) + values[:, j]
    at_node = x == xp[j]
    out[:, at_node] = values[:, j[at_node]]
    at_last = x == xp[-1]
    out[:, at_last] = values[:, -1:]
    return out


def _interp_sum(nodes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``out[r]`` = sum of ``numpy.interp(k, nodes, values[r])`` over every integer ``k`` from the first node to the last.

    The interpolant is linear on each node interval, so the integers :math:`x_i \\le k < x_{i+1}`
    (:math:`n_i` of them) sum to :math:`n_i y_i + (y_{i+1} - y_i)(n_i - 1)/2`; with the last node's value
    the sum takes one term per node interval instead of one per coalition size (equal to the sum of the
    interpolated values up to rounding: ``tests/test_fast_paths.py`` pins it to 1e-12).
    """
    xp = np.asarray(nodes, np.int64)
    if xp.size == 1:
        return values[:, 0].copy()
    n = np.diff(xp).astype(float)
    y0, y1 = values[:, :-1], values[:, 1:]
    return (n * y0 + (y1 - y0) * ((n - 1) / 2)).sum(axis=1) + values[:, -1]


def _interp_rows(k: np.ndarray, nodes: np.ndarray, values: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``values[row[i]]`` (given at ``nodes``) at ``k[i]``."""
    if nodes.size == 1:
        return values[row, 0]
    j = np.clip(np.searchsorted(nodes, k, side="right") - 1, 0, nodes.size - 2)
    x0, x1 = nodes[j], nodes[j + 1]
    y0, y1 = values[row, j], values[row, j + 1]
    return y0 + (y1 - y0) * (k - x0) / (x1 - x0)


def efficiency_residual(
    counts: np.ndarray, phi: np.ndarray, se: np.ndarray, grand_utility: float, alpha: float = 1.0
) -> tuple[float, float]:
    """Residual of pseudo-efficiency (axiom B.ii) of estimated type values, and its standard error.

    Returns :math:`\\sum_t m_t \\phi_t - \\alpha U(m)` and
    :math:`\\sqrt{\\sum_t m_t^2 se_t^2}` (types are estimated independently).
    The exact values have residual 0 (with :math:`U(\\mathbf 0) = 0`).
    """
    counts = np.asarray(counts, float)
    return (float(counts @ np.asarray(phi) - alpha * grand_utility),
            float(np.sqrt(np.sum((counts * np.asarray(se)) ** 2))))
