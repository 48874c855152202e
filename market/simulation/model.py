"""``DataMarket``: the Mesa model of a market for private data.

Time advances with Mesa's discrete-event simulator
(:class:`mesa.experimental.devs.DEVSimulator`).  Scheduled events are

* a **round** at every whole time ``1, 2, ..., rounds``: owner churn, the
  owners' revisions (decision rule), settlement by the platform's mechanism,
  buyer payments, and one row of metrics;
* **buyer arrivals**, a Poisson process with the scenario's rate, and each
  buyer's **departure** after its stay (or earlier, when its budget is spent).

Owner state lives in :class:`market.core.population.OwnerArrays`, and every
per-round computation is vectorized over it; the :class:`agents.DataOwner`
agents are views of its rows.  Randomness comes from independent streams
spawned from the scenario's seed (owners, decisions, mechanism, buyers,
churn), so a run is reproducible and one subsystem's draws never shift
another's.
"""

from __future__ import annotations

import dataclasses
import itertools
from functools import partial
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from mesa import Agent
from mesa.agent import AgentSet
from mesa.experimental.devs import DEVSimulator, Priority

from agents.buyer import GradientBuyer
from agents.buyer_strategy import BuyerGame, empty_buyers, surplus
from agents.owner import DataOwner
from agents.platform import Platform
from market.core.decision_rule import DecisionRule
from market.core.mechanism import ActionSpace, Mechanism, RoundContext
from market.core.network import SocialNetwork
from market.core.population import ARRAY_COLUMNS, CORE_ATTRIBUTES, OwnerArrays, draw, drift, sample_owners
from market.registry import MECHANISMS, RULES
from market.rules.mixed import GROUP_ATTRIBUTE, MixedRules
from market.simulation import checkpoint
from market.simulation.deviation_measures import DEVIATION_COLUMNS, deviation_measures
from market.simulation.metrics import round_metrics
from market.simulation.recorder import Recorder
from scenarios import platform as platform_spec
from scenarios.schema import Scenario, load

STREAMS = ("owners", "decision", "mechanism", "buyers", "churn", "network", "drift", "platform",
           "buyer_decision")


def build_mechanism(scenario: Scenario) -> Mechanism:
    """The scenario's mechanism, built from its parameters (also for reading a finished run's outputs)."""
    return MECHANISMS[scenario.mechanism.name](scenario.mechanism.params)


def build(scenario: Scenario) -> tuple[Mechanism, DecisionRule]:
    """The mechanism and the decision rule of a scenario, built from its parameters.

    The one place they are built for a run: a model calls it once (and a checkpoint once more, for
    the freshly built objects its saved state is the difference from).
    """
    mechanism = build_mechanism(scenario)
    return mechanism, build_rule(scenario, mechanism.action_space)


def build_rule(scenario: Scenario, space: ActionSpace) -> DecisionRule:
    """The ``[decision]`` rule, or a :class:`~market.rules.mixed.MixedRules` when owner types name their own rules.

    Group 0 is ``[decision] rule`` with its parameters; every other rule a type (of the population or the
    newcomers) names is a further group, in order of first appearance, with its default parameters.
    """
    decision = scenario.decision
    names = [decision.rule]
    for spec in scenario.population.types + scenario.churn.newcomers:
        if "rule" in spec and spec["rule"] not in names:
            names.append(spec["rule"])
    if len(names) == 1:
        return RULES[decision.rule](decision.params, space)
    members = ((RULES[decision.rule], decision.params),) + tuple((RULES[n], RULES[n].Params()) for n in names[1:])
    return MixedRules(MixedRules.Params(rules=members), space)


class DataMarket(mesa.Model):
    """Owners, a platform and buyers trading data over repeated rounds.

    Parameters
    ----------
    scenario : Scenario, str or path
        A validated :class:`~scenarios.schema.Scenario`, or a built-in
        scenario name / TOML path to load.
    seed : int, optional
        Overrides the scenario's seed.
    rounds : int, optional
        Overrides the scenario's number of rounds.
    overrides : list of str, optional
        ``key.path=value`` overrides (as ``--set`` on the command line).
    recorder : Recorder, optional
        Where the per-round tables go; by default they stay in memory.
    collect : bool
        Also keep the per-round rows in a Mesa ``DataCollector``
        (:meth:`model_frame`); runs that stream to disk turn it off so that
        memory does not grow with the horizon.
    restore : (dict, dict), optional
        A checkpoint's state and arrays (:mod:`market.simulation.checkpoint`) to continue from.
    simulator : DEVSimulator, optional
        The event scheduler to use (e.g. the one a SolaraViz page controls);
        it is reset first.  By default the model makes its own.

    Attributes
    ----------
    owners : OwnerArrays
        Per-owner arrays of the active owners.
    platform : Platform
        The platform agent (holds the mechanism).
    buyers : list of GradientBuyer
        The active buyers, in arrival order.
    simulator : DEVSimulator
        The event scheduler.
    datacollector : mesa.DataCollector
        Collects the per-round model row (``model_frame()``).
    """

    def __init__(self, scenario: Scenario | str | Path, *, seed: int | None = None,
                 rounds: int | None = None, overrides: list[str] | None = None,
                 recorder: Recorder | None = None, collect: bool = True,
                 restore: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None,
                 simulator: DEVSimulator | None = None) -> None:
        if not isinstance(scenario, Scenario):
            scenario = load(scenario, overrides, seed=seed, rounds=rounds)
        elif seed is not None or rounds is not None or overrides:
            scenario = load(scenario.to_dict(), overrides, seed=seed, rounds=rounds)
        super().__init__(seed=scenario.seed)
        self.scenario = scenario
        self.rounds = scenario.rounds
        streams = np.random.SeedSequence(scenario.seed).spawn(len(STREAMS))
        self.streams = {name: np.random.default_rng(s) for name, s in zip(STREAMS, streams)}
        mechanism, self.rule = build(scenario)
        self.recorder = recorder if recorder is not None else Recorder(owner_every=scenario.output.owner_every)
        learner, learning = (platform_spec.build(dict(scenario.platform), scenario.platform_params, mechanism)
                             if scenario.platform else (None, None))
        self.platform = Platform(self, mechanism, learner, learning)
        self.owners = OwnerArrays.empty(self._attribute_names()[len(CORE_ATTRIBUTES):])
        self.buyers: list[GradientBuyer] = []
        strategy = scenario.buyers.strategy
        self.buyer_game = BuyerGame(strategy["spend"], mechanism) if strategy else None
        self.buyer_rule = (RULES[strategy["rule"]](scenario.buyer_rule_params, self.buyer_game.action_space)
                           if strategy else None)
        self.buyer_state = empty_buyers()
        # DataOwner views, created on demand (owner(), agents_by_type) and kept while their owner stays
        self._owner_views: dict[int, DataOwner] = {}
        self.row: dict[str, float] = {}
        self.collect = collect
        self.datacollector: mesa.DataCollector | None = None
        self.simulator = simulator if simulator is not None else DEVSimulator()
        self.simulator.reset()
        self.simulator.setup(self)
        self._next_arrival = None
        self.network: SocialNetwork | None = None
        if restore is not None:
            self._restore(*restore)
            return
        self._add_initial_owners()
        self._build_network()
        for _ in range(scenario.buyers.initial):
            self._buyer_arrival(schedule_next=False)
        self._schedule_next_arrival()
        self.simulator.schedule_event_absolute(self.step, 1.0, priority=Priority.HIGH)

    # ----------------------------------------------------------------- owners
    @property
    def mechanism(self):
        """The platform's mechanism."""
        return self.platform.mechanism

    def _attribute_names(self) -> tuple[str, ...]:
        """Owner attributes: the core ones, the mechanism's, and the rule group of a mixed population."""
        mixed = (GROUP_ATTRIBUTE,) if isinstance(self.rule, MixedRules) else ()
        return CORE_ATTRIBUTES + tuple(self.mechanism.owner_attributes) + mixed

    def _sample(self, types: list[dict[str, Any]], n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` owners drawn from a mixture of types; in a mixed population each gets its type's rule group."""
        attrs, type_index = sample_owners(types, n, rng, self._attribute_names())
        if isinstance(self.rule, MixedRules):
            names = self.rule.names
            group_of_type = np.array([names.index(t.get("rule", names[0])) for t in types], dtype=float)
            attrs[GROUP_ATTRIBUTE] = group_of_type[type_index]
        return attrs

    def _add_initial_owners(self) -> None:
        pop = self.scenario.population
        names = self._attribute_names()
        rng = self.streams["owners"]
        if pop.owner:
            counts = np.array([o["count"] for o in pop.owner])
            attrs = {k: np.repeat([float(o.get(k, 0.0)) for o in pop.owner], counts) for k in names}
        else:
            attrs = self._sample(pop.types, pop.owners, rng)
        self.add_owners(attrs, draw(self.initial_action, attrs["sensitivity"].size, rng))

    @property
    def initial_action(self) -> Any:
        """Newcomers' action before their first revision: the scenario's, else the mechanism's starting action."""
        given = self.scenario.population.initial_action
        return self.mechanism.initial_action if given is None else given

    def add_owners(self, attributes: dict[str, np.ndarray], action: np.ndarray) -> np.ndarray:
        """Create owners (array rows with fresh Mesa ``unique_id`` values); return their ids.

        The ids come from the model's Mesa id counter, as an ``Agent`` would
        take them, but no per-owner Python object is made: the
        :class:`~agents.DataOwner` agents are views created on demand
        (:meth:`owner`, ``agents_by_type[DataOwner]``).

        Raises
        ------
        ValueError
            If an attribute is negative where it must not be, or not finite.
        """
        for name in CORE_ATTRIBUTES:
            values = attributes[name]
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise ValueError(f"{name}: drawn values must be finite and non-negative")
        n_new = attributes["sensitivity"].size
        ids = np.zeros(0, dtype=np.int64)
        if n_new:
            first = next(Agent._ids[self])
            ids = np.arange(first, first + n_new, dtype=np.int64)
            Agent._ids[self] = itertools.count(first + n_new)
        self.owners.append(ids, attributes, action, joined=self.steps)
        self.rule.on_join(ids.size)
        if self.network is not None:
            self.network.add(ids.size, self.streams["network"])
        return ids

    def remove_owners(self, rows: np.ndarray) -> np.ndarray:
        """Remove the owners in ``rows`` (agents and array rows); return their ids."""
        keep = np.ones(len(self.owners), dtype=bool)
        keep[rows] = False
        gone = self.owners.remove(rows)
        self.rule.on_leave(keep)
        if self.network is not None:
            self.network.remove(keep)
        for uid in gone.tolist():
            self._owner_views.pop(uid, None)
        return gone

    def owner(self, unique_id: int) -> DataOwner:
        """The ``DataOwner`` agent (a view of its row in :attr:`owners`) with this id.

        Raises
        ------
        KeyError
            If no active owner has this id.
        """
        view = self._owner_views.get(unique_id)
        if view is None:
            row_of = self.owners.row_of
            if not 0 <= unique_id < row_of.size or row_of[unique_id] < 0:
                raise KeyError(unique_id)
            view = self._owner_views[unique_id] = DataOwner.view(self, int(unique_id))
        return view

    @property
    def agents_by_type(self) -> dict[type[Agent], AgentSet]:
        """Mesa's agents by type, with ``DataOwner`` views of every active owner built on demand."""
        groups = dict(super().agents_by_type)
        groups[DataOwner] = AgentSet([self.owner(uid) for uid in self.owners.ids.tolist()], random=self.random)
        return groups

    def _churn(self) -> None:
        rng = self.streams["churn"]
        churn = self.scenario.churn
        if churn.leave_rate > 0 and len(self.owners):
            leaving = np.flatnonzero(rng.random(len(self.owners)) < churn.leave_rate)
            self.recorder.events(self.simulator.time, "owner_leave", self.remove_owners(leaving))
        if churn.join_rate > 0:
            n_new = int(rng.poisson(churn.join_rate))
            types = churn.newcomers or self.scenario.population.types
            if n_new and types:
                attrs = self._sample(types, n_new, rng)
                action = draw(self.initial_action, n_new, rng)
                self.recorder.events(self.simulator.time, "owner_join", self.add_owners(attrs, action))

    # ----------------------------------------------------------------- buyers
    def _draw_buyer_value(self, key: str) -> float:
        return float(draw(getattr(self.scenario.buyers, key), 1, self.streams["buyers"])[0])

    def _schedule_next_arrival(self) -> None:
        rate = self.scenario.buyers.arrival_rate
        if rate > 0:
            gap = float(self.streams["buyers"].exponential(1.0 / rate))
            self._next_arrival = self.simulator.schedule_event_relative(self._buyer_arrival, gap)

    def _buyer_arrival(self, schedule_next: bool = True) -> None:
        now = self.simulator.time
        buyer = self._add_buyer(budget=self._draw_buyer_value("budget"),
                                valuation=self._draw_buyer_value("valuation"),
                                arrival=now, departure=now + self._draw_buyer_value("stay"))
        self.recorder.events(now, "buyer_arrival", [buyer.unique_id])
        if schedule_next:
            self._schedule_next_arrival()

    def _add_buyer(self, **attributes: float) -> GradientBuyer:
        buyer = GradientBuyer(self, **attributes)
        self.buyers.append(buyer)
        if self.buyer_rule is not None:
            self.buyer_state.append(np.array([buyer.unique_id]), {
                "sensitivity": np.zeros(1), "data_size": np.ones(1), "valuation": np.array([buyer.valuation])},
                np.array([self.scenario.buyers.strategy["initial_spend"]], dtype=float), joined=self.steps)
            self.buyer_rule.on_join(1)
        buyer.departure_event = self.simulator.schedule_event_absolute(
            self._buyer_departure, buyer.departure, function_args=[buyer])
        return buyer

    def _buyer_departure(self, buyer: GradientBuyer, kind: str = "buyer_departure") -> None:
        if buyer in self.buyers:
            self.buyers.remove(buyer)
            if self.buyer_rule is not None:
                keep = self.buyer_state.ids != buyer.unique_id
                self.buyer_state.remove(np.flatnonzero(~keep))
                self.buyer_rule.on_leave(keep)
            buyer.remove()
            self.recorder.events(self.simulator.time, kind, [buyer.unique_id])

    # ----------------------------------------------------------------- rounds
    def revising_rows(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Rows that revise this round, as a list of groups revised one after another.

        ``synchronous``: one group with every owner; ``sequential``:
        ``revisions_per_round`` single owners drawn at random; ``asynchronous``:
        one group with the owners whose Poisson clock (rate ``clock_rate``)
        rang during the round.  Each revising owner then keeps its action with
        probability ``inertia``.
        """
        n = len(self.owners)
        decision = self.scenario.decision
        if decision.revision == "synchronous":
            groups = [np.arange(n)]
        elif decision.revision == "sequential":
            k = min(int(decision.revisions_per_round), n)
            groups = [np.array([i]) for i in rng.choice(n, size=k, replace=False)]
        else:
            rang = rng.random(n) < -np.expm1(-decision.clock_rate)
            groups = [np.flatnonzero(rang)]
        if decision.inertia > 0:
            groups = [g[rng.random(g.size) >= decision.inertia] for g in groups]
        return [g for g in groups if g.size]

    def context(self) -> RoundContext:
        """The :class:`RoundContext` of the current round."""
        return RoundContext(
            round=self.steps, time=float(self.simulator.time), rng=self.streams["mechanism"],
            buyer_budgets=np.array([b.budget for b in self.buyers]),
            buyer_valuations=np.array([b.valuation for b in self.buyers]),
            network=self.network,
        )

    def _build_network(self) -> None:
        """The owners' social graph from the scenario's ``[network]`` table (see :mod:`market.core.network`)."""
        self.network = SocialNetwork.build(dataclasses.asdict(self.scenario.network), len(self.owners),
                                           self.streams["network"])

    def _drift(self) -> None:
        """Sensitivity drift at the start of a round (``[drift]``; :func:`market.core.population.drift`)."""
        spec = self.scenario.drift
        if spec.schedule or spec.random_walk_sd > 0:
            self.owners.sensitivity = drift(self.owners.sensitivity, self.steps, dataclasses.asdict(spec),
                                            self.streams["drift"])

    def step(self) -> None:
        """One round: churn, revisions, settlement, learning, metrics, buyer payments, adaptation."""
        self._churn()
        self._drift()
        ctx = self.context()
        self.platform.post(self.streams["platform"])
        rng = self.streams["decision"]
        for rows in self.revising_rows(rng):
            self.owners.action[rows] = self.rule.choose(rows, self.mechanism, self.owners, ctx, rng)
        if self.buyer_rule is not None and self.buyers:
            self.buyer_game.bind(self.owners)
            every = np.arange(len(self.buyer_state))
            self.buyer_state.action[:] = self.buyer_rule.choose(
                every, self.buyer_game, self.buyer_state, ctx, self.streams["buyer_decision"])
            ctx.buyer_spend = self.buyer_state.action.copy()
        outcome = self.platform.settle(ctx)
        self.rule.observe(self.mechanism, self.owners, ctx)
        if self.buyer_rule is not None and self.buyers:
            self.buyer_state.payment[:] = outcome.buyer_payments
            self.buyer_state.utility[:] = surplus(ctx.buyer_valuations, outcome.buyer_accuracy,
                                                  outcome.buyer_payments)
            self.buyer_rule.observe(self.buyer_game, self.buyer_state, ctx)
        self._record(outcome, ctx)
        for buyer, paid in zip(list(self.buyers), outcome.buyer_payments):
            buyer.pay(float(paid))
            if buyer.budget <= 1e-12:
                buyer.departure_event.cancel()
                self._buyer_departure(buyer, kind="buyer_budget_spent")
        self.platform.adapt(ctx)
        if self.steps < self.rounds:
            self.simulator.schedule_event_absolute(self.step, float(self.steps + 1), priority=Priority.HIGH)
        else:
            self.running = False

    def measures(self, outcome, ctx: RoundContext) -> dict[str, float]:
        """The deviation-based columns of this round (:mod:`market.simulation.deviation_measures`).

        Computed every ``output.measures_every`` rounds (and always in the
        last round); NaN in the rounds between.
        """
        every = self.scenario.output.measures_every
        if self.steps % every == 0 or self.steps == self.rounds:
            return deviation_measures(self.mechanism, self.owners, ctx, outcome.utility, outcome.deviation)
        names = DEVIATION_COLUMNS + (("free_riding_share",) if self.mechanism.shared_good else ())
        return dict.fromkeys(names, float("nan"))

    def _record(self, outcome, ctx: RoundContext) -> None:
        self.row = round_metrics(self.steps, self.simulator.time, self.owners.action, outcome,
                                 self.mechanism.action_space, len(self.buyers), self.platform.state(),
                                 self.measures(outcome, ctx))
        # a mechanism that charges buyers nothing may leave buyer_payments empty (its default)
        paid = outcome.buyer_payments if outcome.buyer_payments.size else np.zeros(len(ctx.buyer_valuations))
        self.row["buyer_surplus"] = float(np.sum(surplus(ctx.buyer_valuations, outcome.buyer_accuracy, paid)))
        if self.buyer_rule is not None:
            self.row["buyer_mean_spend"] = float(ctx.buyer_spend.mean()) if ctx.buyer_spend is not None else 0.0
        if self.collect:
            if self.datacollector is None:
                self.datacollector = mesa.DataCollector(
                    model_reporters={key: partial(_row_value, key=key) for key in self.row})
            self.datacollector.collect(self)
        owners = None
        if self.recorder.wants_owners(self.steps):
            o = self.owners
            owners = {"owner_id": o.ids.copy(), "round": np.full(len(o), self.steps, dtype=np.int64),
                      "sensitivity": o.sensitivity.copy(), "data_size": o.data_size.copy(),
                      "action": o.action.copy(), "payment": o.payment.copy(),
                      "cost": o.cost.copy(), "utility": o.utility.copy()}
        self.recorder.round(self.row, owners)

    def run(self, progress: Any = None, stop: Any = None) -> None:
        """Run every remaining round.

        Parameters
        ----------
        progress : callable, optional
            Called with the round number after each round (e.g. a progress bar update).
        stop : callable, optional
            Asked after each round (after ``progress``); returning True stops the run there.
        """
        while self.running:
            self.simulator.run_until(float(self.steps + 1))
            if progress is not None:
                progress(self.steps)
            if stop is not None and stop():
                return

    def model_frame(self):
        """The per-round model table as a pandas DataFrame (one row per round)."""
        if self.datacollector is None:
            raise RuntimeError("no round has been collected (collect=False or no round run yet)")
        return self.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    # ------------------------------------------------------------ checkpoints
    def checkpoint_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The model's full state as JSON data and numpy arrays (see :mod:`market.simulation.checkpoint`)."""
        counter = Agent._ids[self]
        next_id = next(counter)
        Agent._ids[self] = itertools.count(next_id)
        # the checkpoint's reference objects, built from the CURRENT parameters (a learning platform changes
        # them) and the rule's own space (a posted price changes the mechanism's level meanings)
        fresh_mechanism = type(self.mechanism)(self.mechanism.params)
        fresh_rule = type(self.rule)(self.rule.params, self.rule.space)
        mech_scalars, mech_arrays = checkpoint.object_state(self.mechanism, fresh_mechanism, "mechanism")
        rule_scalars, rule_arrays = _rule_state(self.rule, fresh_rule)
        learning_scalars, learning_arrays = self._platform_learning_state()
        buyer_scalars, buyer_arrays = {}, {}
        if self.buyer_rule is not None:
            fresh_buyer_rule = type(self.buyer_rule)(self.buyer_rule.params, self.buyer_game.action_space)
            buyer_scalars, buyer_arrays = checkpoint.object_state(self.buyer_rule, fresh_buyer_rule, "buyer_rule")
            buyer_arrays.update({f"buyer_state.{k}": v for k, v in self.buyer_state.columns().items()})
            buyer_arrays["buyer_state.row_of"] = self.buyer_state.row_of
        arrival = self._next_arrival
        state = {
            "round": self.steps, "time": float(self.simulator.time), "running": self.running,
            "streams": {k: g.bit_generator.state for k, g in self.streams.items()},
            "model_rng": self.rng.bit_generator.state, "random": self.random.getstate(),
            "next_id": next_id, "platform_id": self.platform.unique_id,
            "platform": {k: getattr(self.platform, k) for k in ("utility", "total_utility", "cash")},
            "buyers": [{"unique_id": b.unique_id, "budget": b.budget, "valuation": b.valuation,
                        "arrival": b.arrival, "departure": b.departure, "spent": b.spent}
                       for b in self.buyers],
            "next_arrival": None if arrival is None or arrival.CANCELED else arrival.time,
            "mechanism": mech_scalars, "rule": rule_scalars, "row": self.row,
            "platform_learning": learning_scalars, "buyer_rule": buyer_scalars,
        }
        arrays = {f"owners.{k}": v for k, v in self.owners.columns().items()}
        arrays["owners.row_of"] = self.owners.row_of
        arrays.update(mech_arrays)
        arrays.update(rule_arrays)
        arrays.update(learning_arrays)
        arrays.update(buyer_arrays)
        arrays.update({f"network.{k}": v for k, v in self.network.arrays().items()})
        return state, arrays

    def _platform_learning_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The learning platform's learner and controller state (empty for a fixed platform)."""
        if self.platform.learning is None:
            return {}, {}
        learner, learning = platform_spec.build(dict(self.scenario.platform), self.scenario.platform_params,
                                                build_mechanism(self.scenario))
        scalars, arrays = {}, {}
        for name, obj, fresh in (("learner", self.platform.learner, learner),
                                 ("learning", self.platform.learning, learning)):
            scalars[name], more = checkpoint.object_state(obj, fresh, f"platform_{name}")
            arrays.update(more)
        return scalars, arrays

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.steps = int(state["round"])
        self.simulator.time = float(state["time"])
        self.running = bool(state["running"])
        for name, stream in self.streams.items():
            stream.bit_generator.state = state["streams"][name]
        self.rng.bit_generator.state = state["model_rng"]
        version, internal, gauss = state["random"]
        self.random.setstate((version, tuple(internal), gauss))
        cols = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("owners.")}
        extra = {k: cols[k] for k in self.owners.extra}
        core = {k: cols[k] for k in ARRAY_COLUMNS}
        self.owners = OwnerArrays(**core, extra=extra, row_of=cols["row_of"].copy())
        self.platform.unique_id = int(state["platform_id"])
        for key, value in state["platform"].items():
            setattr(self.platform, key, value)
        for saved in state["buyers"]:
            buyer = self._add_buyer(**{k: saved[k] for k in ("budget", "valuation", "arrival", "departure")})
            buyer.unique_id, buyer.spent = saved["unique_id"], saved["spent"]
        Agent._ids[self] = itertools.count(int(state["next_id"]))
        if state["next_arrival"] is not None:
            self._next_arrival = self.simulator.schedule_event_absolute(
                self._buyer_arrival, state["next_arrival"])
        if self.platform.learning is not None:
            for name in ("learner", "learning"):
                checkpoint.restore_object(getattr(self.platform, name), f"platform_{name}",
                                          state["platform_learning"][name], arrays)
            self.platform.learning.repost(self.mechanism)
        checkpoint.restore_object(self.mechanism, "mechanism", state["mechanism"], arrays)
        _restore_rule(self.rule, state["rule"], arrays)
        if self.buyer_rule is not None:
            cols = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("buyer_state.")}
            core = {k: cols[k] for k in ("ids", "sensitivity", "data_size", "action", "payment", "cost",
                                         "utility", "joined")}
            self.buyer_state = OwnerArrays(**core, extra={"valuation": cols["valuation"]},
                                           row_of=cols["row_of"].copy())
            checkpoint.restore_object(self.buyer_rule, "buyer_rule", state["buyer_rule"], arrays)
        self.network = SocialNetwork.from_arrays(
            {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("network.")})
        self.row = state["row"]
        if self.running:
            self.simulator.schedule_event_absolute(self.step, float(self.steps + 1), priority=Priority.HIGH)


def _rule_state(rule: Any, fresh: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The decision rule's checkpoint state; a mixed population saves each group's rule as ``rule.<g>``."""
    if not isinstance(rule, MixedRules):
        return checkpoint.object_state(rule, fresh, "rule")
    scalars, arrays = {}, {}
    for g, (member, blank) in enumerate(zip(rule.rules, fresh.rules)):
        scalars[str(g)], member_arrays = checkpoint.object_state(member, blank, f"rule.{g}")
        arrays.update(member_arrays)
    return scalars, arrays


def _restore_rule(rule: Any, scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Restore what :func:`_rule_state` saved onto a fresh rule."""
    if not isinstance(rule, MixedRules):
        checkpoint.restore_object(rule, "rule", scalars, arrays)
        return
    for g, member in enumerate(rule.rules):
        checkpoint.restore_object(member, f"rule.{g}", scalars[str(g)], arrays)


def _row_value(model: DataMarket, key: str) -> float:
    """DataCollector model reporter: one column of the model's current row."""
    return model.row[key]
