"""Imitation of better-paid neighbours on a social graph (pairwise comparison).

A revising owner *i* samples one neighbour *j* uniformly (on the scenario's
social graph, :class:`market.core.network.SocialNetwork`; every other owner when
there is none) and copies *j*'s action with probability

* ``protocol = "fermi"`` (Szabo & Toke 1998, *Phys. Rev. E* 58; Traulsen,
  Nowak & Pacheco 2006, *Phys. Rev. E* 74, eq. 2):
  :math:`\\big(1 + e^{-(u_j - u_i)/K}\\big)^{-1}` with noise *K*
  (``noise = 0``: copy iff :math:`u_j > u_i`);
* ``protocol = "proportional"`` (pairwise proportional imitation, Schlag
  1998, *J. Econ. Theory* 78): :math:`\\min\\{1, [u_j - u_i]^+ / s\\}` with
  ``scale`` *s*.

Here :math:`u` is last round's realised utility (``owners.utility``): owners
observe only their neighbours' actions and payoffs (local information),
never the mechanism's deviation utilities.  With probability ``mutation``
a revising owner instead tries a uniformly random candidate (so actions
absent from the population can appear).

Mean dynamics (complete graph, many owners, synchronous revision; shares
:math:`x_a`, payoff :math:`\\pi_a` of action *a*): proportional imitation
gives the discrete replicator dynamics
:math:`x_a' = x_a + x_a (\\pi_a - \\bar\\pi)/s` (Schlag 1998, Thm. 1), the
Fermi rule the pairwise-comparison dynamics
:math:`x_a' = x_a + x_a \\sum_b x_b \\tanh\\big((\\pi_a - \\pi_b)/2K\\big)`
(Traulsen et al. 2006), which is the replicator dynamics slowed by
:math:`1/2K` to first order.  Both keep shares of unused actions at 0 and
make a strictly dominant action (with equal payoffs for equal actions, i.e.
homogeneous owners) take over; imitation among heterogeneous owners can
settle on actions that are not each owner's best reply (no Nash guarantee).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.decision_rule import DecisionRule
from market.core.mechanism import Mechanism, RoundContext
from market.core.network import random_other
from market.core.population import OwnerArrays

PROTOCOLS = ("fermi", "proportional")


class Imitation(DecisionRule):
    """Copy a random neighbour's action if it earned more (Fermi or proportional)."""

    name = "imitation"
    description = "imitate a random neighbour on the social graph with a payoff-difference (Fermi) rule"

    @dataclass(frozen=True)
    class Params:
        """Parameters of imitation.

        Attributes
        ----------
        protocol : str
            ``"fermi"`` or ``"proportional"``.
        noise : float
            Fermi noise *K* in utility units.
        scale : float
            Proportional imitation's payoff scale *s* (at least the largest payoff difference).
        mutation : float
            Probability that a revising owner tries a uniformly random candidate instead.
        """

        protocol: str = "fermi"
        noise: float = 0.1
        scale: float = 1.0
        mutation: float = 0.0

    def validate(self) -> None:
        p = self.params
        if p.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: must be one of {', '.join(PROTOCOLS)}, got {p.protocol!r}")
        if not (np.isfinite(p.noise) and p.noise >= 0):
            raise ValueError("noise: must be finite and >= 0")
        if not (np.isfinite(p.scale) and p.scale > 0):
            raise ValueError("scale: must be finite and > 0")
        if not 0.0 <= p.mutation <= 1.0:
            raise ValueError("mutation: must be in [0, 1]")

    def adoption_probability(self, gain: np.ndarray) -> np.ndarray:
        """Probability of copying a neighbour whose utility exceeds one's own by ``gain``."""
        p = self.params
        if p.protocol == "proportional":
            return np.clip(gain / p.scale, 0.0, 1.0)
        if p.noise == 0:
            return (gain > 0).astype(float)
        return 0.5 * (1.0 + np.tanh(gain / (2.0 * p.noise)))  # = 1 / (1 + exp(-gain / K)), overflow-free

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Each revising owner copies its sampled neighbour with the adoption probability."""
        network = getattr(ctx, "network", None)
        if network is None:
            partner = random_other(rows, len(owners), rng)
        else:
            partner = network.random_neighbour(rows, rng)
        has = partner >= 0
        safe = np.where(has, partner, rows)
        gain = owners.utility[safe] - owners.utility[rows]
        adopt = has & (rng.random(rows.size) < self.adoption_probability(gain))
        new = np.where(adopt, owners.action[safe], owners.action[rows])
        if self.params.mutation > 0:
            mutate = rng.random(rows.size) < self.params.mutation
            new = np.where(mutate, self.space.values[rng.integers(0, self.space.size, rows.size)], new)
        return new
