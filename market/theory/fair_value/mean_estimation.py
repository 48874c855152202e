"""Platform utilities of paper 000: private mean estimation (and the unanimity basis).

Three utilities, selectable by name through :data:`UTILITIES`:

``"dp_mean"`` -- :class:`DPMeanEstimation`
    Section 3 / Appendix B.1 (eqs. 8-10, 28-37): owners hold one bit
    :math:`X_i \\in \\{\\pm 1/2\\}`; the platform releases the Bayes-optimal
    linear-Laplace estimate :math:`w \\sum_{i \\text{ shares}} X_i + Z`,
    :math:`Z \\sim \\text{Laplace}(w/\\epsilon')`, and its utility is
    :math:`U = 2 - 24 r` (normalised so that :math:`U(\\mathbf 0) = 0` and, for
    two owners, :math:`\\sup U = 1`).  Levels: 0 (private) and 1 (shares at
    :math:`\\epsilon'`).
``"federated_mean"`` -- :class:`FederatedMeanEstimation`
    Section 4 / Appendix B.3 (eqs. 13-15, 55-64): three levels (0 nothing,
    1 secure aggregation with the other level-1 owners, 2 local estimate sent
    directly), optimal weights of Proposition 5 and
    :math:`U(\\rho) = \\sum_i a_i \\log\\big((r^2 + 2 s^2)/\\mathrm{EMSE}_i(\\rho)\\big)`
    (the printed upper limit "n" of the sum is :math:`N`, docs/models/fair_value.md#eq-15).
``"unanimity"`` -- :class:`UnanimityUtility`
    Appendix B.2 (eq. 48): :math:`U_T(\\rho) = 1` if every member of
    :math:`T` shares, else 0; the basis of the uniqueness proof of Theorem 2.

All work on *type tables* (:class:`OwnerTypes`): owners with equal level,
data size and importance are interchangeable, so a coalition is described by
how many members of each type it holds.  ``coalition_utility(K, types)``
evaluates :math:`U(\\rho_S)` for a batch of such count vectors ``K`` (members
at their type's level, everybody else at level 0), which is what the
type-aggregated fair values of :mod:`market.theory.fair_value.fair_values` need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OwnerTypes:
    """Owners grouped into interchangeable types.

    Attributes
    ----------
    level : numpy.ndarray of int
        Privacy level (index into the utility's ``levels``) of each type.
    count : numpy.ndarray of int
        Number of owners of each type.
    data_size : numpy.ndarray
        Samples :math:`n_t` held by each owner of the type.
    importance : numpy.ndarray
        Platform's importance weight :math:`a_t` of each owner of the type.
    total_importance : float, optional
        :math:`\\sum_i a_i` over all owners of the game; defaults to
        ``count @ importance`` (differs only when one owner appears as several
        types, see :func:`profile_types`).
    """

    level: np.ndarray
    count: np.ndarray
    data_size: np.ndarray
    importance: np.ndarray
    total_importance: float | None = None

    def __post_init__(self) -> None:
        for name in ("level", "count", "data_size", "importance"):
            object.__setattr__(self, name, np.atleast_1d(np.asarray(getattr(self, name))))
        object.__setattr__(self, "level", self.level.astype(np.int64))
        object.__setattr__(self, "count", self.count.astype(np.int64))
        object.__setattr__(self, "data_size", self.data_size.astype(float))
        object.__setattr__(self, "importance", self.importance.astype(float))
        sizes = {self.level.size, self.count.size, self.data_size.size, self.importance.size}
        if len(sizes) != 1:
            raise ValueError("types: level, count, data_size and importance need equal lengths")
        if np.any(self.count < 0):
            raise ValueError("count: must be non-negative")
        if np.any(self.data_size <= 0):
            raise ValueError("data_size: must be positive")
        if self.total_importance is None:
            object.__setattr__(self, "total_importance", float(self.count @ self.importance))

    @property
    def size(self) -> int:
        """Number of types."""
        return int(self.level.size)

    @property
    def owners(self) -> int:
        """Number of owners :math:`N = \\sum_t m_t`."""
        return int(self.count.sum())

    @property
    def null(self) -> np.ndarray:
        """Types at level 0: null players of every coalition game."""
        return self.level == 0

    @classmethod
    def from_owners(
        cls, level: np.ndarray, data_size: np.ndarray, importance: np.ndarray
    ) -> tuple[OwnerTypes, np.ndarray]:
        """Group owners with equal (level, data size, importance).

        Returns
        -------
        types : OwnerTypes
        owner_type : numpy.ndarray of int
            The type index of each owner.
        """
        # Types in the lexicographic order of (level, data size, importance) that np.unique(rows, axis=0)
        # gives, found from one integer key per owner: each column's few distinct values (a hash-based
        # np.unique) and searchsorted codes, then the distinct keys, instead of sorting the rows.
        # A column with few distinct values is coded by comparisons, and keys in a small range are counted
        # by bincount (no sort): the same codes and types, in linear time.
        columns = [np.asarray(c, float).reshape(-1) for c in (level, data_size, importance)]
        distinct = [np.unique(c) for c in columns]
        key = np.zeros(columns[0].size, dtype=np.int64)
        for column, values in zip(columns, distinct):
            key *= values.size
            if values.size <= FEW_VALUES:
                for value in values[:-1]:            # code = number of distinct values below
                    key += column > value
            else:
                key += np.searchsorted(values, column)
        span = int(np.prod([v.size for v in distinct], dtype=float))
        if span <= max(4 * key.size, 1024):
            counts = np.bincount(key, minlength=span)
            keys = np.flatnonzero(counts)
            inverse = (np.cumsum(counts > 0) - 1)[key]
            counts = counts[keys]
        else:
            keys = np.unique(key)
            inverse = np.searchsorted(keys, key)
            counts = np.bincount(inverse, minlength=keys.size)
        codes = []
        for values in reversed(distinct):
            keys, code = np.divmod(keys, values.size)
            codes.append(code)
        level_v, size_v, importance_v = (v[c] for v, c in zip(distinct, reversed(codes)))
        return cls(level_v.astype(np.int64), counts, size_v, importance_v), inverse.astype(np.int64)


#: Distinct values of a column below which :meth:`OwnerTypes.from_owners` codes it by comparisons.
FEW_VALUES = 16


def profile_types(
    rho: np.ndarray, n_levels: int, data_size: np.ndarray, importance: np.ndarray
) -> tuple[OwnerTypes, np.ndarray]:
    """Turn a batch of privacy profiles into coalition count vectors.

    Every owner becomes one type per non-zero level; row ``m`` of the returned
    ``K`` marks, for profile ``rho[m]``, the (owner, level) type the owner uses.

    Parameters
    ----------
    rho : numpy.ndarray, shape (M, N)
        Privacy levels (integers in ``0 .. n_levels-1``).
    n_levels : int
        Number of levels of the utility.
    data_size, importance : numpy.ndarray, shape (N,)

    Returns
    -------
    types : OwnerTypes
        ``N * (n_levels - 1)`` single-owner types.
    K : numpy.ndarray, shape (M, N * (n_levels - 1))
    """
    rho = np.asarray(rho)
    n = rho.shape[-1]
    lv = np.arange(1, n_levels)
    types = OwnerTypes(
        np.repeat(lv, n), np.ones(n * lv.size, dtype=np.int64),
        np.tile(np.asarray(data_size, float), lv.size), np.tile(np.asarray(importance, float), lv.size),
        total_importance=float(np.sum(importance)),
    )
    K = np.concatenate([(rho == level).astype(float) for level in lv], axis=-1)
    return types, K


class DPMeanEstimation:
    """DP mean estimation with a common privacy level (Section 3, App. B.1).

    With :math:`k` owners sharing at :math:`\\epsilon'` the Bayes risk of the
    best linear-Laplace estimator (eqs. 29-36, generalised from two owners to
    :math:`k`) is

    .. math::  r(k) = \\tfrac{1}{12}\\,(1 - k w^*), \\qquad
               w^* = \\frac{k}{k^2 + 2k + 24/\\epsilon'^2},

    so :math:`U(k) = 2 - 24\\, r(k) = 2k^2/(k^2 + 2k + 24/\\epsilon'^2)`; for
    :math:`k = 1, 2` this is eq. 37 and for :math:`\\epsilon' = \\infty` eq. 10
    (:math:`U = [[0, 2/3], [2/3, 1]]`).  As in docs/models/fair_value.md#dp-example, :math:`w^*(1) = 1/(3 +
    24/\\epsilon'^2)` where eq. 31 is garbled, and eq. 33's noise term "2²/η" is
    :math:`2/\\eta^2`.  The utility depends on the profile only
    through the number of sharers, so every sharer is interchangeable (data size
    and importance are ignored: each owner holds one sample).

    Parameters
    ----------
    epsilon : float
        The sharing level :math:`\\epsilon' > 0` (``inf`` = no noise).
    """

    name = "dp_mean"
    levels = (0, 1)

    def __init__(self, epsilon: float = float("inf")) -> None:
        if not epsilon > 0:
            raise ValueError("epsilon: must be positive")
        self.epsilon = float(epsilon)

    def _noise(self) -> float:
        return 0.0 if np.isinf(self.epsilon) else 24.0 / self.epsilon**2

    def weight(self, k: np.ndarray) -> np.ndarray:
        """Optimal weight :math:`w^*(k)` per sharer (eqs. 31, 35); 0 for ``k = 0``."""
        k = np.asarray(k, dtype=float)
        den = k**2 + 2 * k + self._noise()
        return np.divide(k, den, out=np.zeros_like(den), where=k > 0)

    def risk(self, k: np.ndarray) -> np.ndarray:
        """Bayes risk :math:`r(k) = (1 - k w^*(k))/12` (eqs. 28, 32, 36)."""
        k = np.asarray(k, dtype=float)
        return (1.0 - k * self.weight(k)) / 12.0

    def utility_of_count(self, k: np.ndarray) -> np.ndarray:
        """:math:`U(k) = 2 - 24 r(k)` for ``k`` sharers (eqs. 10, 37)."""
        return 2.0 - 24.0 * self.risk(k)

    def coalition_utility(self, K: np.ndarray, types: OwnerTypes) -> np.ndarray:
        """:math:`U(\\rho_S)` for coalition count vectors ``K`` (shape ``(M, T)``)."""
        K = np.asarray(K, dtype=float)
        return self.utility_of_count(K[..., types.level > 0].sum(axis=-1))

    def __call__(self, rho: np.ndarray, data_size: np.ndarray | None = None,
                 importance: np.ndarray | None = None) -> np.ndarray:
        """:math:`U(\\rho)` for a profile or a batch of profiles (last axis = owners)."""
        return self.utility_of_count(np.sum(np.asarray(rho) > 0, axis=-1))


class FederatedMeanEstimation:
    """Federated mean estimation with optional federation (Section 4, App. B.3).

    Each owner's error of the platform's estimator
    :math:`\\hat\\theta^p_i = w_{i0}\\hat\\theta^f + \\sum_{j: \\rho_j = 2} w_{ij}\\hat\\theta_j`
    (eq. 14) with the optimal weights of Proposition 5 (eqs. 59-64) has the
    closed forms below, with :math:`V_k = r^2/n_k + s^2`,
    :math:`W = \\sum_{k: \\rho_k = 2} 1/V_k`, :math:`N_1` federating owners of
    harmonic-mean size :math:`\\bar n` (over *all* level-1 owners, docs/models/fair_value.md#corr-typos;
    the reading of eq. 55 that matches the numerical optimum), :math:`V_0 = r^2/\\bar n + s^2` and :math:`g = r^2/(N_1 \\bar n)`:

    * level 0 (and every owner outside the coalition): :math:`s^2 + 1/(W + N_1/V_0)`;
    * level 2: :math:`\\frac{r^2}{n_i}(1 + s^2 P_i)/(r^2 P_i/n_i + 1 + s^2 P_i)` with
      :math:`P_i = W - 1/V_i + N_1/V_0` (others' total precision);
    * level 1 (identical for all federating owners): the minimum over the
      aggregate weight :math:`x` of
      :math:`(1-x)^2/W + x^2 (g + s^2 (N_1-1)/N_1^2) + s^2 (1 - x/N_1)^2`.

    :math:`\\mathrm{EMSE}_i(\\mathbf 0) := r^2 + 2 s^2` when nobody shares (paper's
    convention) and :math:`U = \\sum_i a_i \\log((r^2+2s^2)/\\mathrm{EMSE}_i)` (eq. 15).
    These equal the numerical QP optimum of eq. 56 (see :meth:`qp_weights`).
    The utility is *not* monotone in the coalition (docs/models/fair_value.md#fl-structure), so fair
    values can be negative.

    Parameters
    ----------
    s2 : float
        Between-owner variance :math:`s^2 = \\mathrm{Var}(\\theta_i) \\ge 0`.
    r2 : float
        Mean within-owner variance :math:`r^2 = E[\\sigma_i^2] > 0`.
    """

    name = "federated_mean"
    levels = (0, 1, 2)

    def __init__(self, s2: float = 100.0, r2: float = 1.0) -> None:
        if not s2 >= 0:
            raise ValueError("s2: must be non-negative")
        if not r2 > 0:
            raise ValueError("r2: must be positive")
        self.s2 = float(s2)
        self.r2 = float(r2)

    # ---- closed-form errors on coalition count vectors --------------------------------
    def coalition_emse(
        self, K: np.ndarray, types: OwnerTypes
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Errors of the three kinds of owner for coalition count vectors ``K``.

        Returns
        -------
        emse_out : numpy.ndarray, shape (M,)
            EMSE of every owner outside the coalition or at level 0.
        emse_fed : numpy.ndarray, shape (M,)
            EMSE of every federating member (NaN-free; meaningless if none).
        emse_direct : numpy.ndarray, shape (M, T)
            EMSE of a level-2 member of each type (only level-2 columns matter).
        """
        s2, r2 = self.s2, self.r2
        K = np.atleast_2d(np.asarray(K, dtype=float))
        fed = types.level == 1
        direct = types.level == 2
        n = types.data_size
        V = r2 / n + s2
        n1 = K[:, fed].sum(axis=1)
        H = K[:, fed] @ (1.0 / n[fed])
        W = K[:, direct] @ (1.0 / V[direct])
        has1 = n1 > 0
        n1s = np.where(has1, n1, 1.0)
        V0 = r2 * H / n1s + s2
        Q0 = np.where(has1, n1 / np.where(V0 > 0, V0, 1.0), 0.0)
        prec = W + Q0
        emse_out = np.where(prec > 0, s2 + 1.0 / np.where(prec > 0, prec, 1.0), r2 + 2 * s2)
        g = r2 * H / n1s**2
        C = g + s2 * (n1s - 1) / n1s**2
        den = 1.0 + W * C + W * s2 / n1s**2
        x = (1.0 + W * s2 / n1s) / den
        emse_fed = W * g**2 / den**2 + x**2 * C + s2 * (1.0 - x / n1s) ** 2
        P = np.maximum(W[:, None] - 1.0 / V[None, :] + Q0[:, None], 0.0)
        own = (r2 / n)[None, :]
        emse_direct = own * (1.0 + s2 * P) / (own * P + 1.0 + s2 * P)
        return emse_out, emse_fed, emse_direct

    def coalition_utility(self, K: np.ndarray, types: OwnerTypes) -> np.ndarray:
        """:math:`U(\\rho_S)` of eq. 15 for coalition count vectors ``K`` (shape ``(M, T)``).

        Owners outside the coalition still count in the sum of eq. 15 (at their
        level-0 error); their importance is ``types.total_importance`` minus
        the members'.
        """
        K = np.atleast_2d(np.asarray(K, dtype=float))
        R0 = self.r2 + 2 * self.s2
        e_out, e_fed, e_dir = self.coalition_emse(K, types)
        a = types.importance
        fed = types.level == 1
        direct = types.level == 2
        a_fed = K[:, fed] @ a[fed]
        a_dir = K[:, direct] * a[direct]
        a_out = types.total_importance - a_fed - a_dir.sum(axis=1)
        u = a_out * np.log(R0 / e_out)
        fed_members = K[:, fed].sum(axis=1) > 0
        u = u + np.where(fed_members, a_fed * np.log(R0 / np.where(fed_members, e_fed, R0)), 0.0)
        return u + (a_dir * np.log(R0 / e_dir[:, direct])).sum(axis=1)

    def __call__(self, rho: np.ndarray, data_size: np.ndarray,
                 importance: np.ndarray | None = None) -> np.ndarray:
        """:math:`U(\\rho)` (eq. 15) for a profile or a batch of profiles (last axis = owners)."""
        rho = np.asarray(rho)
        batch = np.atleast_2d(rho)
        a = np.ones(batch.shape[-1]) if importance is None else np.asarray(importance, float)
        types, K = profile_types(batch, 3, data_size, a)
        out = self.coalition_utility(K, types)
        return out.reshape(rho.shape[:-1])

    def emse(self, rho: np.ndarray, data_size: np.ndarray) -> np.ndarray:
        """:math:`\\mathrm{EMSE}_i(\\rho)` of every owner for one profile (eq. 13)."""
        rho = np.asarray(rho)
        types, K = profile_types(rho[None, :], 3, data_size, np.ones(rho.size))
        e_out, e_fed, e_dir = self.coalition_emse(K, types)
        out = np.full(rho.size, e_out[0])
        out[rho == 1] = e_fed[0]
        n = rho.size
        out[rho == 2] = e_dir[0, n:][rho == 2]
        return out

    # ---- weights: Proposition 5 closed form and the numerical QP ----------------------
    def optimal_weights(self, i: int, rho: np.ndarray, data_size: np.ndarray) -> tuple[float, np.ndarray]:
        """Proposition 5 weights (eqs. 59-64) of owner ``i``'s estimator.

        Needs :math:`N_1 \\ge 1` and :math:`N_2 \\ge 1` (as the paper).  Plain
        "V" in eqs. 59-64 is read as :math:`\\bar V` (docs/models/fair_value.md#eq-59).

        Returns
        -------
        w0 : float
            Weight :math:`w_{i0}` of the federated aggregate.
        w : numpy.ndarray
            Weights :math:`w_{ij}` of the level-2 owners, in owner order.
        """
        rho = np.asarray(rho)
        n = np.asarray(data_size, float)
        fed, direct = rho == 1, rho == 2
        N1, N2 = int(fed.sum()), int(direct.sum())
        if N1 < 1 or N2 < 1:
            raise ValueError("rho: Proposition 5 needs at least one owner at level 1 and one at 2")
        s2, r2 = self.s2, self.r2
        nbar = N1 / np.sum(1.0 / n[fed])
        V = r2 / n[direct] + s2
        V0 = r2 / nbar + s2
        Vbar = N2 / np.sum(1.0 / V)
        D = N1 + N2 * V0 / Vbar
        if rho[i] == 0:
            return N1 / D, (V0 / V) / D
        if rho[i] == 1:
            return N1 / D + (N2 / D) * s2 / Vbar, (V0 / V) / D - s2 / (D * V)
        Vi = r2 / n[i] + s2
        w = (V0 / V) / D * (1 - s2 / Vi)
        k = int(np.flatnonzero(np.flatnonzero(direct) == i)[0])
        w[k] = (V0 / Vi) / D + ((D - V0 / Vi) / D) * (s2 / Vi)
        return (N1 / D) * (1 - s2 / Vi), w

    def _design(self, i: int, rho: np.ndarray, data_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map source weights to per-owner weights ``v = M w`` and eq. 56's matrix."""
        rho = np.asarray(rho)
        n = np.asarray(data_size, float)
        N = rho.size
        direct = np.flatnonzero(rho == 2)
        fed = np.flatnonzero(rho == 1)
        cols = [np.eye(N)[j] for j in direct]
        if fed.size:
            col = np.zeros(N)
            col[fed] = 1.0 / fed.size
            cols = [col] + cols
        M = np.column_stack(cols)
        ind = np.ones(N)
        ind[i] = 0.0
        A = np.diag(self.r2 / n) + self.s2 * (np.diag(ind) + np.outer(ind, ind))
        return M, M.T @ A @ M

    def qp_weights(self, i: int, rho: np.ndarray, data_size: np.ndarray) -> np.ndarray:
        """Numerical minimiser of eq. 56 subject to :math:`\\sum_j w_{ij} = 1`.

        Returns the source weights ``[w_i0 (if N_1 > 0), w_ij for level-2 owners]``,
        found by solving the KKT system :math:`w = Q^{-1} 1 / (1^T Q^{-1} 1)`.
        """
        _, Q = self._design(i, rho, data_size)
        x = np.linalg.solve(Q, np.ones(Q.shape[0]))
        return x / x.sum()

    def emse_of_weights(self, i: int, rho: np.ndarray, data_size: np.ndarray, w: np.ndarray) -> float:
        """Eq. 56: :math:`r^2 \\sum_j v_{ij}^2/n_j + s^2(\\sum_{j\\ne i} v_{ij}^2 + (\\sum_{j \\ne i} v_{ij})^2)`."""
        M, Q = self._design(i, rho, data_size)
        w = np.asarray(w, float)
        return float(w @ Q @ w)


class UnanimityUtility:
    """The unanimity utility of eq. 48: :math:`U_T(\\rho) = 1\\{T \\subseteq \\mathrm{supp}(\\rho)\\}`.

    The coalition :math:`T` is the set of owners with importance :math:`a_i > 0`
    (default: every owner); levels are 0 (private) and 1 (shares).  Its fair
    values (eq. 49) are :math:`\\alpha/|T|` for every member of :math:`T` when all
    of them share and 0 otherwise (the paper prints :math:`\\alpha/T`); every
    utility is a linear combination of these, which is how the paper proves
    Theorem 2 unique.  Sharing pays only when everybody else in :math:`T`
    shares: :math:`\\gamma(p)` decreases, the owners' choices are strategic
    complements and Assumption 2 fails.
    """

    name = "unanimity"
    levels = (0, 1)

    def coalition_utility(self, K: np.ndarray, types: OwnerTypes) -> np.ndarray:
        """:math:`U_T(\\rho_S)` for coalition count vectors ``K`` (shape ``(M, T)``).

        The coalition holds :math:`T` iff its sharing members carry all the
        importance :math:`\\sum_i a_i` (``types.total_importance``), which also
        holds when one owner appears as several types (:func:`profile_types`).
        """
        K = np.atleast_2d(np.asarray(K, dtype=float))
        held = K[:, types.level > 0] @ types.importance[types.level > 0]
        return (held >= types.total_importance * (1 - 1e-12)).astype(float)

    def __call__(self, rho: np.ndarray, data_size: np.ndarray | None = None,
                 importance: np.ndarray | None = None) -> np.ndarray:
        """:math:`U_T(\\rho)` for a profile or a batch of profiles (last axis = owners)."""
        rho = np.asarray(rho)
        a = np.ones(rho.shape[-1]) if importance is None else np.asarray(importance, float)
        return np.all((rho > 0) | (a == 0), axis=-1).astype(float)


#: Utility names usable in scenarios -> classes (constructed with their keyword parameters).
UTILITIES: dict[str, type] = {
    DPMeanEstimation.name: DPMeanEstimation,
    FederatedMeanEstimation.name: FederatedMeanEstimation,
    UnanimityUtility.name: UnanimityUtility,
}


def make_utility(name: str, **params: float) -> DPMeanEstimation | FederatedMeanEstimation | UnanimityUtility:
    """Construct the utility registered as ``name`` with its parameters.

    Raises
    ------
    ValueError
        ``"utility: ..."`` for an unknown name or parameter.
    """
    if name not in UTILITIES:
        raise ValueError(f"utility: unknown {name!r}; choose from {sorted(UTILITIES)}")
    try:
        return UTILITIES[name](**params)
    except TypeError as exc:
        raise ValueError(f"utility_params: {exc}") from None
