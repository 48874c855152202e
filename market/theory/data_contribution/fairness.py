"""Fairness baselines of paper 001 (App. C.2, eqs. 12-14): contribution measures and their mean-field Shapley values."""

from __future__ import annotations

import numpy as np

from market.theory.data_contribution.value_functions import ValueFunction

#: Contribution measures psi of the fairness baselines (App. C.2).
FAIRNESS_RULES = ("pd", "pv", "ps")


def _k_nodes(n: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Coalition sizes ``k = 0..n-1`` for a Shapley sum, and their weights.

    Exact (every ``k``, weight 1) when ``n <= nodes``; otherwise ``nodes``
    blocks of consecutive ``k`` represented by their midpoints (midpoint rule).
    """
    if n <= nodes:
        return np.arange(n, dtype=float), np.ones(n)
    edges = np.linspace(0, n, nodes + 1)
    return 0.5 * (edges[:-1] + edges[1:]) - 0.5, np.diff(edges)


def mean_field_shapley(value: ValueFunction, own: np.ndarray, per_other: np.ndarray, n: int,
                       seed: float = 0.0, nodes: int = 64) -> np.ndarray:
    """Shapley value of an agent with ``own`` data when the others hold ``per_other`` each.

    .. math::  \\phi_i = \\frac1n \\sum_{k=0}^{n-1}
               \\big[v(s + k\\bar d + m_i) - v(s + k\\bar d)\\big]

    (App. C.2 with the index range ``k = 0..n-1`` that makes the values
    efficient, docs/models/data_contribution.md#corr-shapley-range; ``s`` = platform seed, a fixed part of every
    coalition).  This is exact when every other agent holds ``d``; for
    unequal others it is the mean-field approximation ``d = D_{-i}/(n-1)``.
    For ``n > nodes`` the sum over ``k`` uses ``nodes`` midpoint blocks.
    """
    own = np.asarray(own, dtype=float)
    per_other = np.broadcast_to(np.asarray(per_other, dtype=float), own.shape)
    ks, weights = _k_nodes(n, nodes)
    total = np.zeros(own.shape)
    for k, w in zip(ks, weights):
        base = seed + k * per_other
        total += w * (value(base + own) - value(base))
    return total / n


def top_other(psi: np.ndarray) -> np.ndarray:
    """For every owner, the largest ``psi`` among the *other* owners (0 if alone)."""
    if psi.size < 2:
        return np.zeros_like(psi)
    order = np.argsort(psi)
    first, second = psi[order[-1]], psi[order[-2]]
    out = np.full(psi.shape, first)
    out[order[-1]] = second
    return out


def fairness_ratio(own: np.ndarray, top: np.ndarray, p: float) -> np.ndarray:
    """``(psi_i / max_j psi_j)^p`` with ``0/0 := 1`` (no one contributes more)."""
    top = np.maximum(own, top)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(top > 0, own / np.where(top > 0, top, 1.0), 1.0)
    return r**p


def symmetric_deviation_utility(rule: str, value: ValueFunction, n: int, c: float, p: float,
                                nodes: int = 2000):
    """Payoff of one agent playing ``x`` while ``n - 1`` identical agents play ``d`` (eqs. 12-14).

    Exact for all three rules (for PS the Shapley values of the deviator and
    of the others are computed exactly for this two-valued profile; the sums
    over ``k`` use midpoint blocks when ``n > nodes``).  Feed it to
    :func:`market.theory.data_contribution.equilibrium.symmetric_equilibria`.

    Returns
    -------
    callable
        ``f(d, x) -> utility`` on broadcastable arrays.
    """
    if rule not in FAIRNESS_RULES:
        raise ValueError(f"rule: must be one of {FAIRNESS_RULES}")

    def payoff(d: np.ndarray, x: np.ndarray) -> np.ndarray:
        d, x = np.broadcast_arrays(np.asarray(d, dtype=float), np.asarray(x, dtype=float))
        if rule == "pd":
            own, top = x, d
        elif rule == "pv":
            own, top = value(x), value(d)
        else:
            own = mean_field_shapley(value, x, d, n, nodes=nodes)
            ks, w = _k_nodes(n, nodes)
            top = np.zeros(d.shape)
            for k, wk in zip(ks, w):
                with_dev = k / max(n - 1, 1)
                top += wk * (with_dev * (value(k * d + x) - value((k - 1) * d + x))
                             + (1 - with_dev) * (value((k + 1) * d) - value(k * d)))
            top = top / n if n > 1 else np.zeros(d.shape)
        return fairness_ratio(own, top, p) * value((n - 1) * d + x) - c * x

    return payoff
