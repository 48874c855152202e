"""The full-information benchmark: the platform's best parameter when it knows every owner's cost.

A platform that knew every sensitivity could compute, for each parameter
vector :math:`g` it might post, the owners' response -- the best-response
fixed point :math:`a^*(g)` reached from their initial actions, each owner
maximising her utility against the others (:meth:`Mechanism.best_response`,
iterated) -- and its own utility :math:`U(g, a^*(g))` from settling that
profile.  The **first-best** is

.. math::  g^{FB} = \\arg\\max_g U(g, a^*(g)),

over the learning platform's candidates (``grid``) and over a fine grid of the
range they span (``points`` values per dimension), so it shows both the loss
from learning and the loss from a coarse grid.  The population and buyers are
those of round 1.  The **price of not knowing** is :math:`U(g^{FB}) - \\bar U`,
with :math:`\\bar U` the learning platform's mean utility over the last quarter
of its run (:func:`price_of_not_knowing`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.platform_regret import fixed_scenario
from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays
from market.rules.platform.parameters import post
from market.simulation.model import DataMarket
from scenarios.platform import candidates, keys_of
from scenarios.schema import Scenario

#: Best-response iterations before a profile is declared not to settle.
MAX_ITERATIONS = 500


@dataclass
class FirstBest:
    """The first-best parameters of a scenario.

    Attributes
    ----------
    keys : list of str
        The learnt keys (columns of ``table``).
    values : numpy.ndarray
        The best parameter vector over the fine grid of the range.
    utility : float
        The platform's utility there.
    grid_values : numpy.ndarray
        The best parameter vector among the learner's own candidates.
    grid_utility : float
        The platform's utility there.
    table : pandas.DataFrame
        Every evaluated candidate: the keys, ``platform_utility``,
        ``payments_above_cost`` (payments minus privacy cost), ``settled`` (whether best response reached a
        fixed point) and ``on_grid`` (a learner candidate).
    """

    keys: list[str]
    values: np.ndarray
    utility: float
    grid_values: np.ndarray
    grid_utility: float
    table: pd.DataFrame


def response(mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> tuple[np.ndarray, bool]:
    """The owners' best-response fixed point from their present actions (and whether it was reached)."""
    action = owners.action.copy()
    for _ in range(MAX_ITERATIONS):
        nxt = mechanism.best_response(action, owners, ctx)
        if np.array_equal(nxt, action):
            return action, True
        action = nxt
    return action, False


def evaluate(mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> tuple[float, float, bool]:
    """Platform utility and payments above privacy cost at the owners' response, and whether it settled."""
    action, settled = response(mechanism, owners, ctx)
    outcome = mechanism.settle(action, owners, ctx)
    rent = float(outcome.payment.sum() - outcome.cost.sum())
    return float(outcome.platform_utility), rent, settled


def first_best(scenario: Scenario, points: int = 101) -> FirstBest:
    """Compute the first-best of a scenario with a ``[platform]`` table (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
        A scenario with a learning platform.
    points : int
        Values per dimension of the fine grid over the candidates' range.
    """
    grid = candidates(scenario.platform, scenario.mechanism)
    low, high = grid.min(axis=0), grid.max(axis=0)
    fine = np.array(list(itertools.product(*[np.linspace(lo, hi, points) for lo, hi in zip(low, high)])))
    every = np.unique(np.concatenate([grid, fine]), axis=0)
    on_grid = (every[:, None, :] == grid[None, :, :]).all(axis=2).any(axis=1)
    market = DataMarket(fixed_scenario(scenario, grid[0]), collect=False)
    ctx = market.context()
    keys = keys_of(scenario.platform, scenario.mechanism)
    rows = []
    for values in every:
        mechanism = type(market.mechanism)(market.mechanism.params)
        post(keys, values, mechanism)
        rows.append(evaluate(mechanism, market.owners, ctx))
    names = [k.key for k in keys]
    table = pd.DataFrame(every, columns=names)
    table["platform_utility"] = [r[0] for r in rows]
    table["payments_above_cost"] = [r[1] for r in rows]
    table["settled"] = [r[2] for r in rows]
    table["on_grid"] = on_grid
    best = int(table["platform_utility"].idxmax())
    best_grid = int(table["platform_utility"].where(table["on_grid"]).idxmax())
    return FirstBest(names, every[best], float(table["platform_utility"][best]),
                     every[best_grid], float(table["platform_utility"][best_grid]), table)


def price_of_not_knowing(first_best_utility: float, platform_utility: np.ndarray) -> float:
    """First-best utility minus the learning platform's mean utility over the last quarter of the run."""
    utility = np.asarray(platform_utility, dtype=float)
    return float(first_best_utility - utility[-max(utility.size // 4, 1):].mean())
