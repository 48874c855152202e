"""The learning platform's round bookkeeping: blocks, rewards, recorded columns and regret.

Every ``update_every`` rounds the platform's learner proposes the parameter
values to post (:mod:`market.rules.platform.learner`); the platform posts
them before the owners revise, so owners respond to the new parameter in the
same round.  The block's mean realised platform utility :math:`\\bar U` is the
learner's reward, normalised to ``[0, 1]`` by the range of block utilities
seen so far (the platform knows neither the owners' costs nor the scale of its
own utility in advance):

.. math::  r = \\frac{\\bar U - U_{\\min}}{U_{\\max} - U_{\\min}}
           \\quad (r = 1/2 \\text{ while } U_{\\max} = U_{\\min}).

**Regret.**  Given the per-round utilities :math:`U_g(t)` of the markets with
each candidate :math:`g` posted throughout (same scenario, same seeds;
:func:`analysis.platform_regret.fixed_parameter_utilities`), the
controller records

``platform_regret``          :math:`\\max_g \\sum_{s \\le t} U_g(s) - \\sum_{s \\le t} U(s)`,
                             the cumulative regret against the best fixed
                             parameter in hindsight (regret/T at the horizon is
                             its last value over T);
``platform_regret_round``    :math:`U_{g^*}(t) - U(t)` with :math:`g^*` the best
                             fixed parameter over the whole run: its mean over a
                             window is the time-averaged regret of that window.

The learner sees none of this; it observes only its own utility.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from market.core.mechanism import Mechanism
from market.rules.platform.parameters import ParameterKey, current_values, post


class PlatformLearning:
    """Block schedule, reward normalisation and recorded state of a learning platform.

    Parameters
    ----------
    keys : list of ParameterKey
        The learnt mechanism parameters.
    update_every : int
        Rounds per block (one proposal and one reward per block).
    mechanism : Mechanism
        The mechanism whose parameters are learnt (its present values are the
        recorded values until the first proposal).

    Attributes
    ----------
    values : numpy.ndarray
        The parameter values posted now.
    """

    def __init__(self, keys: list[ParameterKey], update_every: int, mechanism: Mechanism) -> None:
        self.keys = keys
        self.update_every = int(update_every)
        self.values = current_values(keys, mechanism)
        self.block_sum = 0.0
        self.block_rounds = 0
        self.low = np.inf
        self.high = -np.inf
        self.fixed_utility = np.zeros((0, 0))
        self.fixed_cumulative = np.zeros(0)
        self.best_fixed = -1
        self.cumulative_utility = 0.0
        self.rounds_seen = 0

    @property
    def block_starts(self) -> bool:
        """Whether the next round opens a block (the learner proposes)."""
        return self.block_rounds == 0

    def post(self, values: np.ndarray, mechanism: Mechanism) -> None:
        """Post the learner's proposal on the mechanism."""
        self.values = np.asarray(values, dtype=float)
        post(self.keys, self.values, mechanism)

    def repost(self, mechanism: Mechanism) -> None:
        """Post the present values again (on a mechanism rebuilt from the scenario, when resuming)."""
        post(self.keys, self.values, mechanism)

    def observe(self, utility: float) -> float | None:
        """Book one round's platform utility; at the end of a block return the normalised reward."""
        self.rounds_seen += 1
        self.cumulative_utility += utility
        if self.fixed_utility.size:
            self.fixed_cumulative = self.fixed_cumulative + self.fixed_utility[:, self.rounds_seen - 1]
        self.block_sum += utility
        self.block_rounds += 1
        if self.block_rounds < self.update_every:
            return None
        mean = self.block_sum / self.block_rounds
        self.block_sum, self.block_rounds = 0.0, 0
        self.low, self.high = min(self.low, mean), max(self.high, mean)
        if self.high <= self.low:
            return 0.5
        return float((mean - self.low) / (self.high - self.low))

    def set_benchmark(self, fixed_utility: np.ndarray) -> None:
        """Per-round utilities of the fixed-parameter markets, shape ``(candidates, rounds)``."""
        self.fixed_utility = np.asarray(fixed_utility, dtype=float)
        self.fixed_cumulative = np.zeros(self.fixed_utility.shape[0])
        self.best_fixed = int(np.argmax(self.fixed_utility.sum(axis=1)))

    def state(self, utility: float) -> dict[str, float]:
        """This round's recorded columns (after :meth:`observe`)."""
        row: dict[str, Any] = {k.column: float(v) for k, v in zip(self.keys, self.values)}
        if self.fixed_utility.size:
            t = self.rounds_seen - 1
            row["platform_regret"] = float(self.fixed_cumulative.max() - self.cumulative_utility)
            row["platform_regret_round"] = float(self.fixed_utility[self.best_fixed, t] - utility)
        return row
