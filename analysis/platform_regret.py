"""The benchmark of a learning platform's regret: the same market with each candidate posted throughout.

For each candidate parameter vector :math:`g` (the grid, or a product grid
over a range: :func:`scenarios.platform.candidates`) the scenario
is run again without the ``[platform]`` table, with :math:`g` posted as the
mechanism's fixed parameter and the same seed, so every random stream
(owners, revisions, buyers, churn) draws the same numbers; its per-round
platform utility :math:`U_g(t)` is the counterfactual the regret compares
with (:class:`market.rules.platform.controller.PlatformLearning`).

Cost: one full run per candidate, i.e. ``K`` times the cost of a fixed-parameter
run (``regret = false`` in ``[platform]`` skips it).
"""

from __future__ import annotations

import numpy as np

from market.rules.platform.parameters import changes
from market.simulation.model import DataMarket
from scenarios.platform import candidates, keys_of
from scenarios.schema import Scenario, load


def fixed_scenario(scenario: Scenario, values: np.ndarray) -> Scenario:
    """The scenario without its learning platform, the learnt parameters fixed at ``values``."""
    raw = scenario.to_dict()
    raw.pop("platform", None)
    raw["output"] = dict(raw["output"], owner_every=0, checkpoint_every=0)
    keys = keys_of(scenario.platform, scenario.mechanism)
    for name, value in changes(keys, values, scenario.mechanism).items():
        raw["mechanism"][name] = list(value) if isinstance(value, tuple) else value
    return load(raw)


def fixed_parameter_utilities(scenario: Scenario) -> np.ndarray:
    """Platform utility per round with each candidate posted throughout, shape ``(K, rounds)``."""
    grid = candidates(scenario.platform, scenario.mechanism)
    out = np.zeros((grid.shape[0], scenario.rounds))
    for k, values in enumerate(grid):
        model = DataMarket(fixed_scenario(scenario, values), collect=False)
        while model.running:
            model.simulator.run_until(float(model.steps + 1))
            out[k, model.steps - 1] = model.platform.utility
    return out
