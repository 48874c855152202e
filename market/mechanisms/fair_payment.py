"""Fair payments under heterogeneous privacy levels (paper 000): the ``fair_payment`` mechanism.

Owners choose a privacy level; the platform extracts :math:`U(\\rho)` from
what it receives (a utility of :mod:`market.theory.fair_value.mean_estimation`, chosen by
name) and pays each owner a fair share of it (Theorem 2, eq. 7):

.. math::  t_i = \\alpha\\, \\phi_i(\\rho), \\qquad
           u_i = \\alpha\\, \\phi_i(\\rho) - c_i(\\rho_i) \\quad (16), \\qquad
           c_i(\\rho) = s_i\\, g(t)\\, \\kappa_\\rho ,

where :math:`s_i` is the owner's ``sensitivity``, :math:`\\kappa` the
``privacy_cost`` per level (:math:`\\kappa_0 = 0`) and
:math:`g(t) = 1 + \\text{sensitivity\\_growth}\\,(t - 1)` a common drift of
privacy sensitivity over rounds (the regime-shift scenarios; implemented here
because the privacy cost is part of the mechanism's payoff rule).  The
platform keeps :math:`(1 - \\alpha) U(\\rho)`.

Fair values are computed over owner types (equal level, data size and
importance): exactly by counting coalitions by type while the number of
count vectors stays below ``exact_limit``, otherwise by the ``estimator``
with ``mc_samples`` samples per type: ``"stratified"`` (default,
:func:`~market.theory.fair_value.fair_values.shapley_by_type_stratified`: strata by coalition
size, exact ends, control variates for the level groups; for 10,000 owners
in 20 types with 200-400 samples per type, 0.13-0.26 s on a loaded 2-core
machine and a largest relative standard error of 0.02-0.03%,
``benchmarks/bench_fair_value.py``) or
``"permutation"`` (:func:`~market.theory.fair_value.fair_values.shapley_by_type_monte_carlo`).
The largest standard error is reported as ``fair_value_se``; estimated
values are not rescaled, so payments sum to :math:`\\alpha U` only up to
the metric ``efficiency_residual`` (:math:`\\sum_i t_i - \\alpha U`, zero
when exact).  Deviation utilities are computed
once per (type, candidate level) and shared by all owners of the type.

Every ``resolve_every`` rounds (0 = never) the platform re-chooses
:math:`\\alpha` from what it observes -- the owners' data sizes,
importances and current cost functions (the paper's known-sensitivity
assumption, §2.3) -- by solving eq. 19/21 with the equilibrium ``selection``:

``"platform_favourite"``
    its best pure NE over owner classes (exact, :meth:`PrivacyGame.platform_optimum`);
``"symmetric_mixed"``
    Theorem 3's symmetric mixed NE of the binary game between the lowest and
    the highest level, with the owners' mean cost gap as :math:`c`.

Per-round metrics: ``alpha``, ``utility_U`` (:math:`U(\\rho)`),
``platform_share`` (share of :math:`U` the platform keeps),
``negative_fair_values`` (owners with :math:`\\phi_i < 0`: the federated
utility is not monotone, docs/models/fair_value.md#fl-structure; payments are never clipped) and
``fair_value_se``.

The outside option is the most private level (level 0, :math:`\\kappa_0 = 0`).
Under the ``federated_mean`` utility the owners share the federated estimate
(a shared good), so ``free_riding_share`` is recorded there.  Regime classes
(:meth:`FairPayment.regime_classes`) are Theorem 3's: ``no incentives``
(everyone at the most private level), ``mixed``, ``all low-privacy``
(everyone at the least private level).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market.core.mechanism import ActionSpace, Mechanism, Outcome, RoundContext
from market.core.population import OwnerArrays
from market.theory.fair_value.fair_values import (
    shapley_by_type,
    shapley_by_type_monte_carlo,
    shapley_by_type_stratified,
)
from market.theory.fair_value.mean_estimation import OwnerTypes, make_utility
from market.theory.fair_value.privacy_game import OwnerClasses, PrivacyGame, SELECTIONS, SymmetricBinaryGame


#: Estimators of the fair values beyond ``exact_limit``.
ESTIMATORS = ("stratified", "permutation")
#: Coalition-size strata of the stratified estimator.
STRATA = 16
#: Regime names of Theorem 3, from most to least private.
REGIMES = ("no incentives", "mixed", "all low-privacy")


class FairPayment(Mechanism):
    """Fair (Shapley) payments with payout share alpha, re-chosen by the platform."""

    name = "fair_payment"
    description = "the platform pays alpha times each owner's fair value (paper 000) and re-chooses alpha"
    owner_attributes = {"importance": 1.0}

    @dataclass(frozen=True)
    class Params:
        """Parameters of the fair-payment mechanism.

        Attributes
        ----------
        utility : str
            Platform utility: ``"federated_mean"`` (levels 0/1/2, eq. 15),
            ``"dp_mean"`` (levels 0/1, eq. 10/37) or ``"unanimity"`` (levels 0/1,
            eq. 48; :math:`T` = the owners with importance > 0).
        s2, r2 : float
            Between- and within-owner variance of ``federated_mean``.
        epsilon : float
            Sharing privacy level :math:`\\epsilon'` of ``dp_mean``; 0 stands for
            :math:`\\epsilon' = \\infty` (noiseless; scenarios hold finite numbers only).
        privacy_cost : list of float
            :math:`\\kappa_\\rho`, the privacy cost of each level per unit of
            sensitivity (first entry 0; one entry per level of the utility).
        alpha : float
            Initial payout share in [0, 1].
        selection : str
            ``"platform_favourite"`` or ``"symmetric_mixed"``.
        resolve_every : int
            Re-choose alpha every this many rounds (0 = keep ``alpha``).
        alpha_grid : int
            Grid points of the alpha search (symmetric mixed selection).
        tie_margin : float
            Added to the solved alpha (capped at 1) so that owners who are exactly
            indifferent at the platform's chosen boundary break the tie towards
            its equilibrium (docs/models/fair_value.md#simulator-choices; decision rules break ties to the lowest level).
        sensitivity_growth : float
            Relative growth of every owner's privacy cost per round (>= 0).
        exact_limit : int
            Largest number of coalition count vectors computed exactly.
        mc_samples : int
            Monte Carlo samples per type beyond ``exact_limit``.
        estimator : str
            ``"stratified"`` or ``"permutation"``: the estimator beyond ``exact_limit``.
        """

        utility: str = "federated_mean"
        s2: float = 100.0
        r2: float = 1.0
        epsilon: float = 0.0
        privacy_cost: tuple[float, ...] = (0.0, 0.08, 1.0)
        alpha: float = 0.5
        selection: str = "platform_favourite"
        resolve_every: int = 0
        alpha_grid: int = 2001
        tie_margin: float = 1e-6
        sensitivity_growth: float = 0.0
        exact_limit: int = 200_000
        mc_samples: int = 400
        estimator: str = "stratified"

    def validate(self) -> None:
        p = self.params
        if p.epsilon < 0:
            raise ValueError("epsilon: must be non-negative (0 = infinity)")
        utility = self.utility()
        if len(p.privacy_cost) != len(utility.levels):
            raise ValueError(f"privacy_cost: needs {len(utility.levels)} entries, one per level of {p.utility}")
        if p.privacy_cost[0] != 0 or min(p.privacy_cost) < 0:
            raise ValueError("privacy_cost: must be non-negative with level 0 costing 0")
        if not 0.0 <= p.alpha <= 1.0:
            raise ValueError("alpha: must lie in [0, 1]")
        if p.selection not in SELECTIONS:
            raise ValueError(f"selection: must be one of {SELECTIONS}")
        if p.resolve_every < 0:
            raise ValueError("resolve_every: must be non-negative")
        if p.alpha_grid < 3:
            raise ValueError("alpha_grid: needs at least 3 points")
        if not 0.0 <= p.tie_margin < 0.01:
            raise ValueError("tie_margin: must lie in [0, 0.01)")
        if p.sensitivity_growth < 0:
            raise ValueError("sensitivity_growth: must be non-negative")
        if p.exact_limit < 1 or p.mc_samples < 2:
            raise ValueError("exact_limit, mc_samples: must be at least 1 and 2")
        if p.estimator not in ESTIMATORS:
            raise ValueError(f"estimator: must be one of {ESTIMATORS}")
        if p.estimator == "stratified" and p.mc_samples < 2 * STRATA:
            raise ValueError(f"mc_samples: the stratified estimator needs at least {2 * STRATA}")

    def setup(self) -> None:
        self.alpha = float(self.params.alpha)
        self.cost_scale = 1.0
        #: Seed of the fair-value estimates, drawn from the round's generator at first use.
        self.estimate_seed: int | None = None

    def utility(self):
        """The platform utility object (rebuilt from the parameters)."""
        p = self.params
        if p.utility == "federated_mean":
            return make_utility(p.utility, s2=p.s2, r2=p.r2)
        if p.utility == "dp_mean":
            return make_utility(p.utility, epsilon=p.epsilon if p.epsilon > 0 else float("inf"))
        return make_utility(p.utility)

    @property
    def action_space(self) -> ActionSpace:
        """Privacy levels ``0 .. L-1`` of the utility."""
        kappa = self.params.privacy_cost
        meanings = tuple("shares nothing" if level == 0 and k == 0 else f"privacy cost {k:g} x s"
                         for level, k in enumerate(kappa))  # level 0: a null player (docs/models/fair_value.md)
        return ActionSpace(np.arange(len(kappa), dtype=float), kind="levels", meanings=meanings)

    # ---------------------------------------------------------------- fair values
    def _scale(self, ctx: RoundContext) -> float:
        return 1.0 + self.params.sensitivity_growth * (ctx.round - 1)

    def _values(self, types: OwnerTypes, ctx: RoundContext, cell: int | None = None) -> tuple[np.ndarray, float]:
        """Fair value (alpha = 1) of one owner of each type, and the largest standard error.

        The fair values are a function of the type composition: an estimate
        draws its samples from a generator seeded by ``estimate_seed`` (drawn
        from the round's generator before the first estimate) and the
        composition (common random numbers), so the same composition always
        gets the same values and they are memoised (:data:`FAIR_VALUE_MEMO`)
        while the composition stays the same, across rounds and across the
        deviation candidates of a round.  With ``cell`` only that type's value
        is needed (a deviation): the stratified estimator then skips the other
        types' exact terms (their values are NaN, the cell's value is the full
        call's, :func:`~market.theory.fair_value.fair_values.shapley_by_type_stratified`).
        """
        live = ~types.null & (types.count > 0)
        exact = float(np.prod(types.count[live] + 1.0)) <= self.params.exact_limit
        if not exact and self.estimate_seed is None:
            self.estimate_seed = int(ctx.rng.integers(2**63))
        key = (repr(self.params), None if exact else self.estimate_seed, types.level.tobytes(),
               types.count.tobytes(), types.data_size.tobytes(), types.importance.tobytes())
        found = FAIR_VALUE_MEMO.get(key)
        if found is None and cell is not None and not exact:
            key = key + (cell,)
            found = FAIR_VALUE_MEMO.get(key)
        if found is None:
            found = self._estimate(types, exact, None if exact else cell)
            FAIR_VALUE_MEMO[key] = found
            if len(FAIR_VALUE_MEMO) > MEMO_SIZE:
                del FAIR_VALUE_MEMO[next(iter(FAIR_VALUE_MEMO))]
        return found

    def _estimate(self, types: OwnerTypes, exact: bool, cell: int | None = None) -> tuple[np.ndarray, float]:
        """Fair values of ``types``: exact by type, or estimated with common random numbers (``cell``: only
        that type's value is needed)."""
        utility = self.utility()
        G = lambda K: utility.coalition_utility(K, types)  # noqa: E731
        if exact:
            return shapley_by_type(types.count, G, null=types.null), 0.0
        composition = np.concatenate([types.level, types.count, types.data_size.view(np.int64),
                                      types.importance.view(np.int64)])
        rng = np.random.default_rng([self.estimate_seed, *(composition & (2**63 - 1)).tolist()])
        if self.params.estimator == "stratified":
            wanted = None if cell is None else np.arange(types.size) == cell
            phi, se = shapley_by_type_stratified(
                types.count, G, rng, null=types.null, n_samples=self.params.mc_samples,
                exact_rows=min(self.params.exact_limit, 4000), n_bins=STRATA, groups=types.level, wanted=wanted)
            return phi, float(np.nanmax(se, initial=0.0))
        else:
            phi, se = shapley_by_type_monte_carlo(types.count, G, rng, null=types.null,
                                                  n_samples=self.params.mc_samples)
        return phi, float(se.max(initial=0.0))

    def _types(self, action: np.ndarray, owners: OwnerArrays) -> tuple[OwnerTypes, np.ndarray]:
        level = np.rint(action).astype(np.int64)
        return OwnerTypes.from_owners(level, owners.data_size, owners.extra["importance"])

    def settle(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> Outcome:
        """Pay ``alpha * phi_i``; charge ``s_i g(t) kappa[level]``."""
        self.cost_scale = self._scale(ctx)
        kappa = np.asarray(self.params.privacy_cost)
        level = np.rint(action).astype(np.int64)
        if len(owners) == 0:
            empty = np.zeros(0)
            return Outcome(empty, empty, empty, 0.0, metrics=self._metrics(0.0, empty, 0.0))
        types, owner_type = self._types(action, owners)
        phi, se = self._values(types, ctx)
        U = float(self.utility().coalition_utility(types.count[None, :], types)[0])
        payment = self.alpha * phi[owner_type]
        cost = owners.sensitivity * self.cost_scale * kappa[level]
        return Outcome(
            payment=payment, cost=cost, utility=payment - cost,
            platform_utility=U - float(payment.sum()),
            metrics=self._metrics(U, phi[owner_type], se, float(payment.sum()), self.alpha * U),
        )

    def _metrics(self, U: float, phi: np.ndarray, se: float, paid: float = 0.0,
                 owed: float = 0.0) -> dict[str, float]:
        share = 1.0 - paid / U if U != 0 else 1.0 - self.alpha
        return {"alpha": self.alpha, "utility_U": U, "platform_share": share,
                "negative_fair_values": float(np.count_nonzero(phi < 0)), "fair_value_se": se,
                "efficiency_residual": paid - owed}

    @property
    def shared_good(self) -> bool:
        """The federated estimate is shared by the owners (``utility = "federated_mean"``)."""
        return self.params.utility == "federated_mean"

    def regime_classes(self, table):
        """Theorem 3's regimes from the shares of the most and the least private level (exactly 1: everyone)."""
        labels = self.action_space.labels
        private, public = np.asarray(table[f"share_{labels[0]}"]), np.asarray(table[f"share_{labels[-1]}"])
        return np.where(private >= 1, REGIMES[0], np.where(public >= 1, REGIMES[2], REGIMES[1]))

    def deviation_utilities(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> np.ndarray:
        """``alpha * phi(level k | others) - s_i g(t) kappa_k``, one fair-value computation per (type, k).

        Only the deviating owner's value is computed in each moved composition, and none for a move to the
        null level 0 (value 0).
        """
        kappa = np.asarray(self.params.privacy_cost)
        L = kappa.size
        n = len(owners)
        if n == 0:
            return np.zeros((0, L))
        types, owner_type = self._types(action, owners)
        base, _ = self._values(types, ctx)
        dev = np.zeros((types.size, L))
        for t in range(types.size):
            for k in range(L):
                if k == types.level[t]:
                    dev[t, k] = base[t]
                    continue
                moved, cell = _move_one(types, t, k)
                # a null type's fair value is 0 (level 0 shares nothing): no estimate needed
                dev[t, k] = 0.0 if moved.null[cell] else self._values(moved, ctx, cell)[0][cell]
        cost = owners.sensitivity[:, None] * self._scale(ctx) * kappa[None, :]
        return self.alpha * dev[owner_type] - cost

    # ---------------------------------------------------------------- platform
    def update(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> None:
        """Every ``resolve_every`` rounds, re-choose alpha for the next round's cost functions."""
        every = self.params.resolve_every
        if every == 0 or ctx.round % every != 0 or len(owners) == 0:
            return
        choice = self.choose_alpha(owners, 1.0 + self.params.sensitivity_growth * ctx.round)
        self.alpha = min(1.0, choice.alpha + self.params.tie_margin) if choice.alpha > 0 else 0.0

    def choose_alpha(self, owners: OwnerArrays, scale: float):
        """The platform's design problem (eqs. 19, 21) for the current owners and cost scale.

        Returns the :class:`~market.theory.fair_value.privacy_game.AlphaChoice`.

        Raises
        ------
        ValueError
            ``"selection: ..."`` if the population is too varied for the selected rule
            (too many owner classes to enumerate the pure profiles).
        """
        kappa = np.asarray(self.params.privacy_cost)
        utility = self.utility()
        if self.params.selection == "symmetric_mixed":
            game = SymmetricBinaryGame(utility, len(owners), levels=(0, kappa.size - 1),
                                       data_size=float(np.mean(owners.data_size)),
                                       importance=float(np.mean(owners.extra["importance"])))
            c = float(np.mean(owners.sensitivity)) * scale * kappa[-1]
            return game.optimal_alpha(c, "symmetric_mixed", grid=self.params.alpha_grid)
        rows = np.column_stack([owners.data_size, owners.extra["importance"], owners.sensitivity])
        uniq, counts = np.unique(rows, axis=0, return_counts=True)
        classes = OwnerClasses(counts, np.outer(uniq[:, 2] * scale, kappa), uniq[:, 0], uniq[:, 1])
        try:
            return PrivacyGame(utility, classes).platform_optimum()
        except ValueError as exc:
            raise ValueError(f"selection: platform_favourite cannot search this population ({exc})") from None

    def state(self) -> dict[str, float]:
        """The privacy-cost scale :math:`g(t)` of the last settled round."""
        return {"cost_scale": self.cost_scale}


#: Memo of fair values by (parameters, estimate seed, type composition): a pure function's cache,
#: bounded to the ``MEMO_SIZE`` most recent compositions (oldest dropped first).
FAIR_VALUE_MEMO: dict[tuple, tuple[np.ndarray, float]] = {}
MEMO_SIZE = 4096


def _move_one(types: OwnerTypes, t: int, k: int) -> tuple[OwnerTypes, int]:
    """The type table after one owner of type ``t`` switches to level ``k``, and its new type's index."""
    count = types.count.copy()
    count[t] -= 1
    same = np.flatnonzero((types.level == k) & (types.data_size == types.data_size[t])
                          & (types.importance == types.importance[t]))
    if same.size:
        count[same[0]] += 1
        return OwnerTypes(types.level, count, types.data_size, types.importance), int(same[0])
    return OwnerTypes(
        np.append(types.level, k), np.append(count, 1), np.append(types.data_size, types.data_size[t]),
        np.append(types.importance, types.importance[t]),
    ), types.size
