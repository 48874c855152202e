"""Measures read from the mechanism's deviation utilities: information rent, distance from equilibrium, free-riding.

Every mechanism gives, for the current action profile :math:`a`, the matrix
:math:`U_{ik} = u_i(x_k, a_{-i})` of owner *i*'s utility had it alone played
candidate :math:`x_k` (:meth:`market.core.mechanism.Mechanism.deviation_utilities`).
From it, and nothing mechanism-specific, every round gets
(``docs/measures.md`` defines each one):

* the **information rent** of owner *i*, its utility above its participation
  constraint, :math:`r_i = u_i(a_i, a_{-i}) - u_i(o_i, a_{-i})` with :math:`o_i`
  the mechanism's outside option (:meth:`~market.core.mechanism.Mechanism.outside_utility`);
  ``information_rent_total`` :math:`= \\sum_i r_i` and ``information_rent_mean``
  :math:`= \\frac1n \\sum_i r_i`;
* the **distance from equilibrium**,
  ``nash_conv`` :math:`= \\sum_i \\max\\big(0, \\max_k U_{ik} - u_i(a_i, a_{-i})\\big)`
  and ``exploitability`` :math:`=` ``nash_conv`` :math:`/ n` (0 exactly at a
  Nash equilibrium over the candidates);
* where the mechanism has a shared good (``Mechanism.shared_good``), the
  **free-riding share**: owners contributing less than their stand-alone
  optimum :math:`a_i^{sa} = \\arg\\max_x u_i(x, \\underline a_{-i})` (every
  other owner withholding) while doing better than alone,
  :math:`u_i(a_i, a_{-i}) > \\max_k u_i(x_k, \\underline a_{-i})`.

:math:`u_i(a_i, a_{-i})` is read from :math:`U` where :math:`a_i` is a
candidate (an expected utility where the settlement is random, as in paper
004), else (an off-grid action of a continuous space, from an exact best
response) it is the settled utility.  For a continuous action space the
maximum over the candidate grid makes ``nash_conv`` a lower bound of the
exact one at the grid's resolution.

The mechanism is evaluated with a private random stream, so measuring never
changes a run.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays

#: The per-round columns this module computes (``free_riding_share`` only with a shared good).
DEVIATION_COLUMNS = ("information_rent_total", "information_rent_mean", "nash_conv", "exploitability")


def private_context(ctx: RoundContext) -> RoundContext:
    """``ctx`` with its own random stream (seeded by the round), so that measuring draws nothing from the run's."""
    return dataclasses.replace(ctx, rng=np.random.default_rng([int(ctx.round), 0x5EED]))


#: Up to this many candidates, row maxima and lookups run as one vectorised pass per column (numpy's
#: row-wise reduction over a few columns is several times slower than a few full-length passes).
FEW_CANDIDATES = 8


def row_max(deviation: np.ndarray) -> np.ndarray:
    """:math:`\\max_k U_{ik}` for every owner."""
    if deviation.shape[1] <= FEW_CANDIDATES:
        return np.maximum.reduce([deviation[:, k] for k in range(deviation.shape[1])])
    return deviation.max(axis=1)


def own_utilities(deviation: np.ndarray, action: np.ndarray, candidates: np.ndarray,
                  settled: np.ndarray) -> np.ndarray:
    """:math:`u_i(a_i, a_{-i})`: the deviation utility of the candidate equal to :math:`a_i`, else the settled utility.

    The settled utility also stands in where that deviation utility is not
    finite: a candidate the mechanism rules out for this owner (e.g. a
    contribution above its data in paper 003, which the settlement caps).
    """
    if candidates.size <= FEW_CANDIDATES:
        own = settled.astype(float, copy=True)
        for k, x in enumerate(candidates):
            np.copyto(own, deviation[:, k], where=(action == x) & np.isfinite(deviation[:, k]))
        return own
    idx = np.clip(np.searchsorted(candidates, action), 0, candidates.size - 1)
    left = np.clip(idx - 1, 0, candidates.size - 1)
    idx = np.where(np.abs(candidates[left] - action) < np.abs(candidates[idx] - action), left, idx)
    on_grid = np.abs(candidates[idx] - action) <= 1e-12 * (1.0 + np.abs(action))
    looked_up = deviation[np.arange(action.size), idx]
    return np.where(on_grid & np.isfinite(looked_up), looked_up, settled)


def free_riding_share(action: np.ndarray, standalone: np.ndarray, utility: np.ndarray,
                      standalone_utility: np.ndarray) -> float:
    """Share of owners with :math:`a_i < a_i^{sa}` and :math:`u_i > u_i^{sa}` (see the module docstring).

    Parameters
    ----------
    action, utility : numpy.ndarray
        Each owner's action and utility :math:`u_i(a_i, a_{-i})`.
    standalone, standalone_utility : numpy.ndarray
        Each owner's stand-alone optimum :math:`a_i^{sa}` and the utility it
        would get there with every other owner withholding.
    """
    if action.size == 0:
        return float("nan")
    tol = 1e-9 * np.maximum(1.0, np.abs(standalone))
    riding = (action < standalone - tol) & (utility > standalone_utility + 1e-12 * (1.0 + np.abs(utility)))
    return float(np.mean(riding))


def standalone(mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> tuple[np.ndarray, np.ndarray]:
    """Stand-alone optimum :math:`a_i^{sa}` (the mechanism's best response) and utility when every other owner withholds.

    Withholding is the lowest action; the utility is the best over the
    candidates and the best response.
    """
    lowest = np.full(len(owners), mechanism.action_space.values[0])
    alone = mechanism.deviation_utilities(lowest, owners, ctx)
    best = mechanism.best_response(lowest, owners, ctx)
    return best, np.max(alone, axis=1)


def deviation_measures(mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext,
                       utility: np.ndarray, deviation: np.ndarray | None = None) -> dict[str, float]:
    """The deviation-based columns of one round (see the module docstring).

    Parameters
    ----------
    mechanism : Mechanism
        The round's mechanism.
    owners : OwnerArrays
        The owners, with their settled actions.
    ctx : RoundContext
        The round (its random stream is not drawn from).
    utility : numpy.ndarray
        The settled utilities (:attr:`Outcome.utility`).
    deviation : numpy.ndarray, optional
        The deviation utilities of the settled profile if the settlement
        already computed them (:attr:`Outcome.deviation`).

    Returns
    -------
    dict
        :data:`DEVIATION_COLUMNS`, plus ``free_riding_share`` when
        ``mechanism.shared_good``; NaN means and shares without owners.
    """
    n = len(owners)
    out: dict[str, float]
    if n == 0:
        out = {"information_rent_total": 0.0, "information_rent_mean": float("nan"),
               "nash_conv": 0.0, "exploitability": float("nan")}
        if mechanism.shared_good:
            out["free_riding_share"] = float("nan")
        return out
    private = private_context(ctx)
    action = owners.action
    dev = deviation if deviation is not None else mechanism.deviation_utilities(action, owners, private)
    own = own_utilities(dev, action, mechanism.action_space.values, utility)
    gain = np.maximum(row_max(dev) - own, 0.0)
    rent = own - mechanism.outside_utility(dev, owners)
    out = {"information_rent_total": float(rent.sum()), "information_rent_mean": float(rent.mean()),
           "nash_conv": float(gain.sum()), "exploitability": float(gain.mean())}
    if mechanism.shared_good:
        best, best_utility = standalone(mechanism, owners, private)
        out["free_riding_share"] = free_riding_share(action, best, own, best_utility)
    return out
