"""Regret matching (Hart & Mas-Colell 2000): switch in proportion to past regrets.

**Conditional (internal) regret matching** -- the default, Hart & Mas-Colell
(2000, *Econometrica* 68, eq. 2.2).  For owner *i* with current action *j*
the average regret for not having played *k* whenever it played *j* is

.. math::  D_i^t(j, k) = \\frac1t \\sum_{s \\le t:\\, a_i^s = j}
           \\big[u_i(k, a_{-i}^s) - u_i(j, a_{-i}^s)\\big],

and the owner switches to :math:`k \\ne j` with probability
:math:`D_i^t(j, k)^+ / \\mu` and stays at *j* otherwise.  The inertia
constant must satisfy :math:`\\mu > 2 M (k-1)` for utilities bounded by *M*;
``mu = 0`` (the default) sets it per owner to
:math:`2 (k-1) \\max_s |u_i| + 10^{-12}` over the utilities seen so far, which
is that bound with *M* learnt online (the paper assumes *M* known) from the
finite utilities: a candidate the mechanism rules out (deviation utility
``-inf``) gets regret ``-inf`` and is never chosen, and does not inflate
*M* (an infinite *M* would stop all switching).

Convergence: the empirical distribution of joint play converges almost
surely to the set of correlated equilibria, i.e. every owner's maximal
conditional regret :math:`\\max_{j,k} D_i^t(j,k)^+ \\to 0` (Hart & Mas-Colell
2000, Main Theorem).  State: a ``k x k`` regret matrix per owner, so keep the
candidate grid small (``k <= 20``) at 100,000 owners.

**Unconditional regret matching** (``variant = "unconditional"``, Hart &
Mas-Colell 2000, Sect. 4(c)): play *k* with probability proportional to
:math:`R_i^t(k)^+`, where :math:`R_i^t(k) = \\frac1t \\sum_s [u_i(k, a_{-i}^s)
- u_i(a^s)]`; keep the current action when no regret is positive.  The
external regret :math:`\\max_k R_i^t(k)^+ \\to 0`: play approaches the Hannan
(coarse correlated equilibrium) set.

With a strictly dominant action every other action accumulates negative
regret against it and positive regret towards it, so play locks onto it.

With ``information = "local"`` the regrets compare the payoff the owner's
closed neighbourhood realised with each candidate (:mod:`market.rules.local`)
with the owner's own realised utility; a candidate nobody nearby played adds
no regret.  The guarantees then hold for the observed payoffs only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import Mechanism, RoundContext
from market.core.population import OwnerArrays
from market.rules.learning import LearningRule, sample_mixed
from market.rules.local import InformationParams, check_information, imputed, observe

VARIANTS = ("conditional", "unconditional")


class RegretMatching(LearningRule):
    """Hart & Mas-Colell regret matching (conditional or unconditional)."""

    name = "regret_matching"
    description = "regret matching: switch to actions in proportion to positive past regrets"

    @dataclass(frozen=True)
    class Params(InformationParams):
        """Parameters of regret matching.

        Attributes
        ----------
        variant : str
            ``"conditional"`` (internal regrets; correlated equilibria) or
            ``"unconditional"`` (external regrets; Hannan set).
        mu : float
            Inertia constant of the conditional variant (0 = learnt bound, see module doc).
        information : str
            ``"global"`` (deviation utilities) or ``"local"`` (payoffs seen among the neighbours).
        """

        variant: str = "conditional"
        mu: float = 0.0

    def validate(self) -> None:
        if self.params.variant not in VARIANTS:
            raise ValueError(f"variant: must be one of {', '.join(VARIANTS)}, got {self.params.variant!r}")
        if not (np.isfinite(self.params.mu) and self.params.mu >= 0):
            raise ValueError("mu: must be finite and >= 0")
        check_information(self.params.information)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        k = self.space.size
        shape = (k, k) if self.params.variant == "conditional" else (k,)
        return {"regret": shape, "count": (), "bound": ()}

    def regrets(self) -> np.ndarray:
        """Average regrets: (n, k, k) conditional :math:`D(j,k)` or (n, k) unconditional :math:`R(k)`."""
        count = np.maximum(self.count, 1.0)
        return self.regret / count.reshape((-1,) + (1,) * (self.regret.ndim - 1))

    def max_regret(self) -> np.ndarray:
        """Each owner's largest positive average regret (the quantity that tends to 0)."""
        r = np.maximum(self.regrets(), 0.0)
        return r.reshape(r.shape[0], -1).max(axis=1) if r.shape[0] else np.zeros(0)

    def choose(self, rows: np.ndarray, mechanism: Mechanism, owners: OwnerArrays,
               ctx: RoundContext, rng: np.random.Generator) -> np.ndarray:
        """Switch (or not) according to each revising owner's positive regrets."""
        self.sync(len(owners))
        current = self.played_index(owners.action[rows])
        n, k = rows.size, self.space.size
        ar = np.arange(n)
        if self.params.variant == "conditional":
            pos = np.maximum(self.regrets()[rows, current, :], 0.0)
            pos[ar, current] = 0.0
            mu = self.params.mu if self.params.mu > 0 else \
                2.0 * (k - 1) * self.bound[rows] + 1e-12
            prob = pos / np.maximum(mu, pos.sum(axis=1))[:, None]
            prob[ar, current] = 1.0 - prob.sum(axis=1)
        else:
            pos = np.maximum(self.regrets()[rows], 0.0)
            total = pos.sum(axis=1)
            prob = np.zeros((n, k))
            has = total > 0
            prob[has] = pos[has] / total[has, None]
            prob[ar[~has], current[~has]] = 1.0
        return self.space.values[sample_mixed(prob, rng)]

    def observe(self, mechanism: Mechanism, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Add this round's regrets (each candidate's utility minus the played one's)."""
        self.sync(len(owners))
        played = self.played_index(owners.action)
        ar = np.arange(len(owners))
        if self.params.information == "local":
            util = imputed(observe(self.space, owners, ctx), owners.utility)
            gain = util - owners.utility[:, None]
        else:
            util = mechanism.deviation_utilities(owners.action, owners, ctx)
            gain = util - util[ar, played][:, None]
            gain[~np.isfinite(util[ar, played])] = 0.0  # a ruled-out (-inf) played action: no comparison
        if self.params.variant == "conditional":
            self.regret[ar, played, :] += gain
        else:
            self.regret += gain
        self.count += 1.0
        finite = np.where(np.isfinite(util), np.abs(util), 0.0)
        self.bound = np.maximum(self.bound, finite.max(axis=1, initial=0.0))
