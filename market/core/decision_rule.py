"""The decision-rule interface: how owners choose their next action.

A decision rule maps the owners' current actions, and what they can compute
or observe about payoffs, to new actions -- vectorized over the owners who
revise this round.  Rules see the mechanism only through its public interface
(:meth:`~market.core.mechanism.Mechanism.deviation_utilities` and
:meth:`~market.core.mechanism.Mechanism.best_response`), which is why every
rule works with every mechanism.

*Who* revises (everyone, a few owners in turn, or owners whose Poisson clock
rang) and inertia are the model's concern, common to all rules; see
:class:`market.simulation.model.DataMarket`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.core.mechanism import ActionSpace, Mechanism, RoundContext
from market.core.population import OwnerArrays


class DecisionRule(ABC):
    """Base class of decision rules.

    Subclasses set ``name``, define a frozen ``Params`` dataclass (its fields
    are read from the scenario's ``[decision]`` table) and implement
    :meth:`choose`.  Rules that keep per-owner state (beliefs, weights)
    resize it in :meth:`on_join` and :meth:`on_leave`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @dataclass(frozen=True)
    class Params:
        """No parameters."""

    def __init__(self, params: object, space: ActionSpace) -> None:
        self.params = params
        self.space = space
        self.validate()

    def validate(self) -> None:
        """Check parameter values; raise ``ValueError("key: problem")``."""

    @abstractmethod
    def choose(
        self,
        rows: np.ndarray,
        mechanism: Mechanism,
        owners: OwnerArrays,
        ctx: RoundContext,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """New actions for the owners in ``rows`` (others keep theirs)."""

    def observe(self, mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Learn from the settled round (every owner, revising or not).

        Called after settlement, when ``owners.action``, ``owners.payment`` and
        ``owners.utility`` hold this round's play and realised payoffs.  Rules
        with full information may also query ``mechanism.deviation_utilities``;
        bandit rules use only the owner's own ``owners.utility``.  The default
        learns nothing.
        """

    def on_join(self, n_new: int) -> None:
        """``n_new`` owners were appended at the end of the arrays."""

    def on_leave(self, keep: np.ndarray) -> None:
        """Owners were removed; ``keep`` is the boolean mask of remaining rows."""

