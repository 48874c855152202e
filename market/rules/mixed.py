"""A mixed population: owners of different types follow different decision rules in one market.

A population type may name its own rule (``[[population.types]] rule = "hedge"``);
owners of types without one follow ``[decision] rule``.  Each owner carries its
rule group as the owner attribute ``rule_group`` (so it follows churn like any
other attribute), and :class:`MixedRules` hands each group's revising rows to
that group's rule -- one vectorised call per rule and round, never a loop over
owners.  Every sub-rule keeps its per-owner state for the whole population
(the rows of other groups are never used to choose), so learning rules see the
same arrays and updates as in a single-rule market.

This is the tournament sense of Axelrod (1984, *The Evolution of Cooperation*):
rules meet in the same market and are ranked by their own owners' payoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.decision_rule import DecisionRule
from market.core.mechanism import ActionSpace, Mechanism, RoundContext
from market.core.population import OwnerArrays

#: The owner attribute holding each owner's rule group (an index into :attr:`MixedRules.rules`).
GROUP_ATTRIBUTE = "rule_group"


class MixedRules(DecisionRule):
    """Several decision rules, each applied to its own group of owners.

    Parameters
    ----------
    params : MixedRules.Params
        The sub-rules: ``rules`` is a tuple of ``(rule class, rule params)``,
        group ``g`` follows ``rules[g]``.
    space : ActionSpace
        The mechanism's action space.
    """

    name = "mixed"
    description = "owners of different types follow different decision rules"

    @dataclass(frozen=True)
    class Params:
        """The sub-rules.

        Attributes
        ----------
        rules : tuple of (type, object)
            ``(rule class, its Params)`` per group; group 0 is ``[decision] rule``.
        """

        rules: tuple = ()

    def validate(self) -> None:
        if not self.params.rules:
            raise ValueError("rule: a mixed population needs at least one rule")

    def __init__(self, params: Params, space: ActionSpace) -> None:
        super().__init__(params, space)
        self.rules = tuple(cls(p, space) for cls, p in params.rules)

    @property
    def names(self) -> tuple[str, ...]:
        """The rule name of each group."""
        return tuple(rule.name for rule in self.rules)

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """New actions of ``rows``: each group's rows from its own rule (groups in order, one call each)."""
        group = owners.extra[GROUP_ATTRIBUTE][rows].astype(np.int64)
        out = owners.action[rows].copy()
        for g, rule in enumerate(self.rules):
            members = group == g
            if members.any():
                out[members] = rule.choose(rows[members], mechanism, owners, ctx, rng)
        return out

    def observe(self, mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Every sub-rule learns from the settled round."""
        for rule in self.rules:
            rule.observe(mechanism, owners, ctx)

    def on_join(self, n_new: int) -> None:
        for rule in self.rules:
            rule.on_join(n_new)

    def on_leave(self, keep: np.ndarray) -> None:
        for rule in self.rules:
            rule.on_leave(keep)
