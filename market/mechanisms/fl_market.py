"""FL-Market (paper 002): gradient buyers run privacy procurement auctions every round.

Each round, every active buyer runs one auction of the trading framework
(Algorithm 1) among the owners: the auction (:mod:`market.theory.fl_market.auctions`) decides
each owner's privacy parameter :math:`\\varepsilon_i` and payment :math:`p_i`,
the owners submit Laplace-perturbed gradients (:mod:`market.theory.fl_market.ldp`), and the
broker aggregates them with an aggregation rule (:mod:`market.theory.fl_market.aggregation`).
The buyer's auction budget is :math:`B_k = \\min(\\text{round\\_budget}, \\text{remaining}_k)`;
the broker keeps a ``commission`` share, so the owners' auction runs with
:math:`(1 - c)B_k` and the buyer pays :math:`\\sum_i p_i / (1 - c) \\le B_k`.
Auctions of different buyers are independent, each with the owners' per-round
privacy budgets :math:`\\bar\\varepsilon_i` (the paper's per-auction reading;
composition across auctions is not modelled, docs/models/fl_market.md#simulator-choices).

**Owners.**  Owner i's true valuation is :math:`v_i(\\varepsilon) = \\alpha_i
v^{f_i}(\\varepsilon)` with the rate :math:`\\alpha_i` = the owner's
``sensitivity``, the family :math:`f_i` = the attribute ``valuation`` (an id
into :data:`market.theory.fl_market.auctions.VALUATIONS`: 0 linear, 1 quadratic, 2 sqrt,
3 exp, 4 step/single-minded) and the privacy budget ``eps_bar``.  Her
**action is the shading factor** :math:`s_i` of her reported valuation,
:math:`\\alpha'_i = s_i\\alpha_i` (truthful: ``s = 1``); budgets are reported
truthfully.  Her utility is :math:`\\sum_k p_{ik} - v_i(\\varepsilon_{ik})` over the
round's auctions, and her ``cost`` is the true valuation of what she sold.
Learning rules over the shading grid can therefore discover All-in's
profitable under-reports (docs/models/fl_market.md#g8).

**Auctions.** ``all_in`` (Algorithm 4 on :math:`V_i = v_i(\\bar\\varepsilon_i)`,
not truthful; when owners' ``data_size`` differ, unit valuations and payments are per
unit of :math:`\\bar\\varepsilon_i |D_i|` as in the authors' released code),
``fair_query`` (the authors' single-minded baseline: budget feasible and IR,
every winner sells the same :math:`\\varepsilon`), ``proportional_share`` (truthful in the valuation,
budget feasible and IR; see :func:`market.theory.fl_market.auctions.proportional_share`) and
``murba``, the learned auction of Sec. 5.2 (Algorithm 5; budget feasible by
construction, approximately truthful and IR): a network trained for the
scenario by ``privmarket train-auction`` (which needs PyTorch) and loaded from
the ``weights`` file; it runs in numpy (:mod:`market.theory.fl_market.murba`) and needs a
fixed number of owners, the one it was trained for.

**Error measure.** ``error_measure = "per_coordinate"`` is the paper's
:math:`\\mathrm{VAR} + \\mathrm{BIAS}^2`; ``"vector_mse"`` is
:math:`d\\,\\mathrm{VAR} + \\mathrm{BIAS}^2` for gradients of dimension ``d``
(docs/models/fl_market.md#err-measure).

Per-round metrics (columns of ``model.parquet``):

``auctions``            auctions held (active buyers with a positive budget)
``winners``             mean number of owners with :math:`\\varepsilon_i > 0` per auction
``mean_epsilon``        mean privacy parameter per owner and auction
``error_bound``         mean error bound over the auctions that bought a gradient;
                        ``inf`` if auctions were held but none bought anything (the
                        paper's "curve disappears"), NaN if no auction was held
``no_winner_share``     share of the auctions without any winner
``budget_used``         buyer payments / auction budgets (NaN if no auction was held)
``regret_share``        share of owners with a profitable deviation on the shading grid
``truthfulness_gap``    mean over owners of (utility at the current shading -
                        utility had she reported truthfully), the others fixed

An owner's outside option is selling nothing (no payment, no privacy lost:
utility 0), so the standard ``information_rent_*`` columns are the payments
above the true valuations of what was sold
(``docs/measures.md#information-rent``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from market.core.mechanism import ActionSpace, Mechanism, Outcome, RoundContext
from market.core.population import OwnerArrays
from market.theory.fl_market.aggregation import AGGREGATIONS, aggregate, error_bound
from market.theory.fl_market.auctions import (
    AUCTIONS,
    Allocation,
    MenuHull,
    SupplyJumps,
    menu_choice_by_shading,
    supply_jumps,
    unilateral_utilities,
    valuation,
)
from market.theory.fl_market.murba import TORCH_HINT, load_model

ERROR_MEASURES = ("per_coordinate", "vector_mse")
#: Array entries per block of owners in the proportional share's deviation utilities.
DEVIATION_BLOCK = 2**18


class FLMarket(Mechanism):
    """Gradient buyers' procurement auctions of privacy parameters with LDP aggregation (paper 002)."""

    name = "fl_market"
    outside_option = None
    description = "FL-Market: buyers auction owners' privacy budgets for an aggregated LDP gradient"
    owner_attributes = {"valuation": 0.0, "eps_bar": 1.0}
    strategic_buyers = True

    @dataclass(frozen=True)
    class Params:
        """Parameters of the FL-Market mechanism.

        Attributes
        ----------
        auction : str
            ``"all_in"``, ``"proportional_share"``, ``"fair_query"`` (the authors' single-minded
            baseline, :func:`market.auctions.fair_query`) or ``"murba"``.
        aggregation : str
            ``"bias_opt"``, ``"var_opt"``, ``"data_size"`` or ``"error_opt"``.
        loop : str
            All-in's loop reading, ``"skip"`` (printed pseudo-code) or ``"prefix"``.
        M : int
            Sub-bids of the bid transformation :math:`\\bar\\varepsilon_i/m`: the
            proportional share's menu grid (0: a continuous menu), and MURBA's
            M (must match its weights).
        L : float
            Gradient clipping bound.
        d : int
            Gradient dimension (used by ``error_measure = "vector_mse"``).
        error_measure : str
            ``"per_coordinate"`` (paper) or ``"vector_mse"`` (variance times ``d``).
        commission : float
            Broker's share of each buyer's payment, in [0, 1).
        round_budget : float
            The paper's financial budget B: most a buyer spends per round.
        shading : list of float
            Grid of shading factors (owners' actions); must contain 1.0.
        weights : str
            ``auction = "murba"`` only: the weights file written by
            ``privmarket train-auction`` (a path relative to the working
            directory, or the name of a file shipped with the built-in scenarios).
        """

        auction: str = "all_in"
        aggregation: str = "var_opt"
        loop: str = "skip"
        M: int = 20
        L: float = 1.0
        d: int = 1
        error_measure: str = "per_coordinate"
        commission: float = 0.0
        round_budget: float = 10.0
        shading: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0)
        weights: str = ""

    def validate(self) -> None:
        p = self.params
        if p.auction not in AUCTIONS and p.auction != "murba":
            raise ValueError(f"auction: unknown auction {p.auction!r} (known: {', '.join(AUCTIONS)}, murba)")
        if p.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation: unknown rule {p.aggregation!r} (known: {', '.join(AGGREGATIONS)})")
        if p.loop not in ("skip", "prefix"):
            raise ValueError(f"loop: must be 'skip' or 'prefix', got {p.loop!r}")
        if int(p.M) != p.M or p.M < 0:
            raise ValueError(f"M: must be a non-negative integer, got {p.M}")
        if not np.isfinite(p.L) or p.L <= 0:
            raise ValueError(f"L: must be positive, got {p.L}")
        if int(p.d) != p.d or p.d < 1:
            raise ValueError(f"d: must be a positive integer, got {p.d}")
        if p.error_measure not in ERROR_MEASURES:
            raise ValueError(f"error_measure: must be one of {', '.join(ERROR_MEASURES)}")
        if not 0 <= p.commission < 1:
            raise ValueError(f"commission: must be in [0, 1), got {p.commission}")
        if not p.round_budget > 0:
            raise ValueError(f"round_budget: must be positive, got {p.round_budget}")
        shading = np.asarray(p.shading, dtype=float)
        if shading.ndim != 1 or np.any(shading <= 0) or not np.any(shading == 1.0):
            raise ValueError("shading: needs positive factors including 1.0 (truthful)")
        if p.auction == "murba":
            if not p.weights:
                raise ValueError("weights: MURBA needs the file of a trained network (privmarket train-auction "
                                 f"SCENARIO --out FILE); {TORCH_HINT}")
            trained = load_model(p.weights)
            if trained.M != p.M:
                raise ValueError(f"M: the MURBA weights {p.weights!r} were trained with M = {trained.M}, "
                                 f"not {p.M}")
        elif p.weights:
            raise ValueError(f"weights: only used by auction = \"murba\", not {p.auction!r}")

    def setup(self) -> None:
        p = self.params
        self._space = self.space_of(p)
        self._truthful = int(np.flatnonzero(self._space.values == 1.0)[0])
        self._d_var = int(p.d) if p.error_measure == "vector_mse" else 1
        self._options = {"all_in": {"loop": p.loop}, "proportional_share": {"M": int(p.M)}}.get(p.auction, {})
        self._model = load_model(p.weights) if p.auction == "murba" else None
        # the last deviation utilities and their inputs, for one reuse (see deviation_utilities); arrays, so
        # that a checkpoint stores them like any other state
        self._deviation_owners = np.empty((6, 0))
        self._deviation_budgets = np.empty(0)
        self._deviation_last = np.empty((0, self._space.size))
        # the proportional share's menu hulls (MenuHull.to_array) and the (families, budgets) they are of
        self._hull_of = np.empty((2, 0))
        self._hull = np.empty((4, int(p.M) + 1, 0))
        # the supply jumps of those hulls by group (side false first, split at _jumps_split) and the side
        # they are of: owners, then (breaks, steps)
        self._jumps_side = np.empty(0, dtype=bool)
        self._jumps_owner = np.empty(0, dtype=np.int64)
        self._jumps_table = np.empty((2, 0))
        self._jumps_split = 0

    @classmethod
    def space_of(cls, params: Params) -> ActionSpace:
        """Shading factors of the reported valuation (1.0 = truthful), sorted."""
        return ActionSpace(np.sort(np.asarray(params.shading, dtype=float)), kind="continuous")

    def check_population(self, owners: int, churn: bool) -> None:
        """MURBA's network serves exactly the number of owners it was trained for, so no churn either."""
        if self.params.auction != "murba":
            return
        trained = load_model(self.params.weights)
        if owners != trained.n:
            raise ValueError(f"weights: the MURBA network {self.params.weights!r} was trained for {trained.n} "
                             f"owners, the population has {owners}")
        if churn:
            raise ValueError("weights: MURBA serves a fixed number of owners; remove the churn")

    @property
    def action_space(self) -> ActionSpace:
        """Shading factors of the reported valuation (1.0 = truthful)."""
        return self._space

    # --------------------------------------------------------------- helpers
    def _budgets(self, ctx: RoundContext) -> np.ndarray:
        """Each active buyer's budget for this round's auction (before commission).

        ``min(B, remaining)`` with B the ``round_budget``, or the buyer's own
        chosen spend when buyers are strategic (``ctx.buyer_spend``).
        """
        cap = self.params.round_budget if ctx.buyer_spend is None else ctx.buyer_spend
        return np.minimum(cap, np.maximum(ctx.buyer_budgets, 0.0))

    def _bids(self, owners: OwnerArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kind = owners.extra["valuation"].astype(np.int64)
        if np.any(kind != owners.extra["valuation"]):
            raise ValueError("valuation: owner valuation ids must be integers 0..4")
        return kind, owners.sensitivity, owners.extra["eps_bar"]

    def _auction(self) -> Callable[..., Allocation]:
        """The auction, ``f(kind, rate, eps_bar, budget, **options)``: a named one or the MURBA network."""
        return self._model if self._model is not None else AUCTIONS[self.params.auction]

    @staticmethod
    def _sizes(owners: OwnerArrays) -> np.ndarray | None:
        """Owners' data sizes, or ``None`` when all are equal (the paper's setting: the auctions and
        weights are then exactly the paper's, whatever the common size)."""
        return None if np.all(owners.data_size == owners.data_size[0]) else owners.data_size

    def _auction_options(self, owners: OwnerArrays) -> dict[str, object]:
        """The auction's keyword options for this population (All-in prices data sizes when they differ; a
        MURBA network with data-size inputs gets the sizes)."""
        options = dict(self._options)
        if self.params.auction == "all_in" and len(owners):
            options["data_size"] = self._sizes(owners)
        if self._model is not None and self._model.data_size_inputs:
            options["data_size"] = owners.data_size
        return options

    def _menu_hull(self, kind: np.ndarray, eps_bar: np.ndarray) -> MenuHull | None:
        """The owners' menu hulls for the proportional share's grid (``M >= 1``), kept while their
        families and budgets are unchanged (only the reports move between rounds)."""
        if self.params.auction != "proportional_share" or self.params.M == 0:
            return None
        of = np.stack([kind.astype(float), eps_bar])
        if not np.array_equal(of, self._hull_of):
            self._hull_of, self._hull = of, MenuHull.of(kind, eps_bar, int(self.params.M)).to_array()
            self._jumps_side = np.empty(0, dtype=bool)
        return MenuHull(*self._hull)

    def _supply_jumps(self, hull: MenuHull | None, side: np.ndarray) -> tuple[SupplyJumps, SupplyJumps] | None:
        """The two groups' supply jumps of ``hull`` (:func:`supply_jumps`), kept while the hulls and the
        split are unchanged: each clearing price is then one product per jump and a selection."""
        if hull is None or hull.items.ndim != 2:
            return None
        if not np.array_equal(side, self._jumps_side):
            pair = [supply_jumps(hull, side == g) for g in (False, True)]
            self._jumps_side = side.copy()
            self._jumps_owner = np.concatenate([j.owner for j in pair])
            self._jumps_table = np.concatenate([np.stack([j.breaks, j.steps]) for j in pair], axis=1)
            self._jumps_split = int(pair[0].owner.size)
        k, size = self._jumps_split, int(np.count_nonzero(~side))
        owner, (breaks, steps) = self._jumps_owner, self._jumps_table
        return (SupplyJumps(owner[:k], breaks[:k], steps[:k], size),
                SupplyJumps(owner[k:], breaks[k:], steps[k:], side.size - size))

    def _run(self, action: np.ndarray, owners: OwnerArrays, budgets: np.ndarray) -> Allocation:
        """One auction per buyer (batch axis 0) with the reported rates ``action * sensitivity``."""
        kind, rate, eps_bar = self._bids(owners)
        options = self._auction_options(owners)
        if self.params.auction == "proportional_share":
            options["side"] = owners.ids % 2 == 1
            options["hull"] = self._menu_hull(kind, eps_bar)
            options["jumps"] = self._supply_jumps(options["hull"], options["side"])
        shape = (budgets.size, len(owners))
        return self._auction()(
            np.broadcast_to(kind, shape), np.broadcast_to(action * rate, shape),
            np.broadcast_to(eps_bar, shape), budgets * (1.0 - self.params.commission), **options)

    # ------------------------------------------------------------ interface
    def settle(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext) -> Outcome:
        """Run every buyer's auction, aggregate, and pay (see the module docstring)."""
        n = len(owners)
        budgets = self._budgets(ctx)
        held = budgets > 0
        if n == 0 or not held.any():
            zeros = np.zeros(n)
            return Outcome(payment=zeros, cost=zeros, utility=zeros, platform_utility=0.0,
                           buyer_payments=np.zeros(budgets.size), metrics=self._empty_metrics(held.any()),
                           buyer_accuracy=np.zeros(budgets.size))
        kind, rate, eps_bar = self._bids(owners)
        alloc = self._run(action, owners, budgets[held])
        eps = alloc.epsilon
        sizes = self._sizes(owners)
        weights = aggregate(self.params.aggregation, eps, self.params.L, self._d_var, sizes)
        err = error_bound(weights, eps, self.params.L, self._d_var, sizes)
        payment = alloc.payment.sum(axis=0)
        cost = valuation(kind, rate, eps).sum(axis=0)
        owner_pay = alloc.payment.sum(axis=1)
        buyer_payments = np.zeros(budgets.size)
        buyer_payments[held] = np.minimum(owner_pay / (1.0 - self.params.commission), budgets[held])
        bought = (eps > 0).any(axis=1)
        dev = self.deviation_utilities(action, owners, ctx, alloc)
        current = dev[np.arange(n), self._space.index_of(action)]
        metrics = {
            "auctions": float(held.sum()),
            "winners": float((eps > 0).sum(axis=1).mean()),
            "mean_epsilon": float(eps.mean()),
            "error_bound": float(err[bought].mean()) if bought.any() else np.inf,
            "no_winner_share": float(1.0 - bought.mean()),
            "budget_used": float(buyer_payments.sum() / budgets.sum()),
            "regret_share": float(np.mean(dev.max(axis=1) > current + 1e-9)),
            "truthfulness_gap": float(np.mean(current - dev[:, self._truthful])),
        }
        return Outcome(payment=payment, cost=cost, utility=payment - cost,
                       platform_utility=float(buyer_payments.sum() - payment.sum()),
                       buyer_payments=buyer_payments, metrics=metrics, deviation=dev,
                       buyer_accuracy=self._accuracy_of(err, held))

    @staticmethod
    def accuracy(err: np.ndarray) -> np.ndarray:
        """A buyer's accuracy of an aggregate with error bound ERR: :math:`1 / (1 + \\mathrm{ERR})`.

        Zero if nothing was bought (ERR infinite).

        The buyer's value of a round is its ``valuation`` times this accuracy,
        so a buyer trades its spend against the error bound (eq. P2.2), as
        FL-Market's buyers choose their budget for a target accuracy
        (``docs/models/fl_market.md``).
        """
        return 1.0 / (1.0 + np.asarray(err, dtype=float))

    def _accuracy_of(self, err: np.ndarray, held: np.ndarray) -> np.ndarray:
        out = np.zeros(held.size)
        out[held] = self.accuracy(err)
        return out

    def buyer_outcomes(self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext,
                       spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Accuracy and payment of each buyer's auction at every candidate spend (batched auctions)."""
        remaining = np.maximum(ctx.buyer_budgets, 0.0)
        budgets = np.minimum(spend[None, :], remaining[:, None])
        accuracy, paid = np.zeros(budgets.shape), np.zeros(budgets.shape)
        held = budgets > 0
        if len(owners) == 0 or not held.any():
            return accuracy, paid
        alloc = self._run(action, owners, budgets[held])
        sizes = None if np.all(owners.data_size == owners.data_size[0]) else owners.data_size
        weights = aggregate(self.params.aggregation, alloc.epsilon, self.params.L, self._d_var, sizes)
        accuracy[held] = self.accuracy(error_bound(weights, alloc.epsilon, self.params.L, self._d_var, sizes))
        paid[held] = np.minimum(alloc.payment.sum(axis=1) / (1.0 - self.params.commission), budgets[held])
        return accuracy, paid

    @staticmethod
    def _empty_metrics(held: bool) -> dict[str, float]:
        return {"auctions": 0.0, "winners": 0.0, "mean_epsilon": 0.0,
                "error_bound": np.inf if held else np.nan, "no_winner_share": 1.0 if held else np.nan,
                "budget_used": 0.0 if held else np.nan, "regret_share": 0.0, "truthfulness_gap": 0.0}

    def outside_utility(self, deviation: np.ndarray, owners: OwnerArrays) -> np.ndarray:
        """Selling nothing: utility 0."""
        return np.zeros(len(owners))

    def best_response(
        self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext
    ) -> np.ndarray:
        """Best shading on the grid; ties with truthful reporting go to ``s = 1`` (not the lowest factor)."""
        util = self.deviation_utilities(action, owners, ctx)
        best = np.argmax(util, axis=1)
        truthful_best = util[:, self._truthful] >= util.max(axis=1, initial=-np.inf) - 1e-9
        return self._space.values[np.where(truthful_best, self._truthful, best)]

    def deviation_utilities(
        self, action: np.ndarray, owners: OwnerArrays, ctx: RoundContext, alloc: Allocation | None = None
    ) -> np.ndarray:
        """True utility of owner i, summed over the round's auctions, if she alone reported shading ``s_k``.

        For the proportional share each owner's menu (price and cap) does not
        depend on her own report, so her deviations are closed forms over
        ``(buyers, owners, candidates)`` (:func:`~market.theory.fl_market.auctions.menu_choice_by_shading`;
        ``alloc``, the round's allocation at ``action`` if already run, saves
        re-running the auction); for All-in and MURBA each deviation re-runs
        the auction, batched over ``(buyers, owners, candidates)``.

        The result is a function of the reports, the owners' private values
        and the budgets alone, so the last one is kept with these inputs and
        handed out once more when they are equal: a round's settlement
        computes it for its regret metrics and a learning rule asks for it
        again at the end of the same round.
        """
        n, cand = len(owners), self._space.values
        budgets = self._budgets(ctx)
        budgets = budgets[budgets > 0]
        if n == 0 or budgets.size == 0:
            return np.zeros((n, cand.size))
        inputs = np.stack([action, owners.ids, owners.sensitivity, owners.data_size, owners.extra["valuation"],
                           owners.extra["eps_bar"]])
        hit = np.array_equal(inputs, self._deviation_owners) and np.array_equal(budgets, self._deviation_budgets)
        last = self._deviation_last
        self._deviation_owners, self._deviation_budgets = np.empty((6, 0)), np.empty(0)
        self._deviation_last = np.empty((0, cand.size))
        if hit:
            return last
        out = self._deviation_utilities(action, owners, budgets, alloc)
        self._deviation_owners, self._deviation_budgets, self._deviation_last = inputs, budgets.copy(), out.copy()
        return out

    def _deviation_utilities(self, action: np.ndarray, owners: OwnerArrays, budgets: np.ndarray,
                             alloc: Allocation | None) -> np.ndarray:
        """:meth:`deviation_utilities` computed (positive ``budgets`` only, at least one owner)."""
        n, cand = len(owners), self._space.values
        kind, rate, eps_bar = self._bids(owners)
        if self.params.auction == "proportional_share":
            alloc = self._run(action, owners, budgets) if alloc is None else alloc
            hull = self._menu_hull(kind, eps_bar)
            # blocks of owners keep the (buyers, owners, candidates) arrays small at any n
            block = max(1, DEVIATION_BLOCK // (budgets.size * cand.size))
            out = np.empty((n, cand.size))
            for lo in range(0, n, block):
                i = slice(lo, lo + block)
                e, unit = menu_choice_by_shading(kind[i], rate[i], cand, alloc.price[:, i], alloc.cap[:, i],
                                                 eps_bar[i], int(self.params.M), None if hull is None else hull.take(i))
                util = alloc.price[:, i, None] * e - rate[i, None] * unit
                out[i] = util.sum(axis=0)
            return out
        shape = (budgets.size, n)
        util = unilateral_utilities(
            self._auction(), np.broadcast_to(kind, shape), np.broadcast_to(rate, shape),
            np.broadcast_to(eps_bar, shape), np.broadcast_to(action * rate, shape),
            budgets * (1.0 - self.params.commission),
            np.broadcast_to(rate[:, None] * cand, shape + (cand.size,)), **self._auction_options(owners))
        return util.sum(axis=0)
