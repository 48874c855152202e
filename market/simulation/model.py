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

import itertools
from functools import partial
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from mesa import Agent
from mesa.experimental.devs import DEVSimulator, Priority

from agents.buyer import GradientBuyer
from agents.owner import DataOwner
from agents.platform import Platform
from market.core.mechanism import RoundContext
from market.core.network import SocialNetwork
from market.core.population import ARRAY_COLUMNS, CORE_ATTRIBUTES, OwnerArrays, draw, drift, sample_owners
from market.simulation import checkpoint
from market.simulation.metrics import round_metrics
from market.simulation.recorder import Recorder
from scenarios.schema import Scenario, load

STREAMS = ("owners", "decision", "mechanism", "buyers", "churn", "network", "drift")


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
        # Fresh copies: mechanisms and rules may keep state across rounds.
        mechanism = type(scenario.mechanism)(scenario.mechanism.params)
        self.rule = type(scenario.rule)(scenario.rule.params, mechanism.action_space)
        self.recorder = recorder if recorder is not None else Recorder(
            owner_every=int(scenario.output["owner_every"]))
        self.owners = OwnerArrays.empty(tuple(mechanism.owner_attributes))
        self.platform = Platform(self, mechanism)
        self.buyers: list[GradientBuyer] = []
        self._owner_agents: dict[int, DataOwner] = {}
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
        for _ in range(int(scenario.buyers["initial"])):
            self._buyer_arrival(schedule_next=False)
        self._schedule_next_arrival()
        self.simulator.schedule_event_absolute(self.step, 1.0, priority=Priority.HIGH)

    # ----------------------------------------------------------------- owners
    @property
    def mechanism(self):
        """The platform's mechanism."""
        return self.platform.mechanism

    def _add_initial_owners(self) -> None:
        pop = self.scenario.population
        names = CORE_ATTRIBUTES + tuple(self.mechanism.owner_attributes)
        rng = self.streams["owners"]
        if "owner" in pop:
            counts = np.array([o["count"] for o in pop["owner"]])
            attrs = {k: np.repeat([float(o[k]) for o in pop["owner"]], counts) for k in names}
        else:
            attrs, _ = sample_owners(pop["types"], pop["owners"], rng, names)
        self.add_owners(attrs, draw(pop["initial_action"], attrs["sensitivity"].size, rng))

    def add_owners(self, attributes: dict[str, np.ndarray], action: np.ndarray) -> np.ndarray:
        """Create owners (Mesa agents and array rows); return their unique ids.

        Raises
        ------
        ValueError
            If an attribute is negative where it must not be, or not finite.
        """
        for name in CORE_ATTRIBUTES:
            values = attributes[name]
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise ValueError(f"{name}: drawn values must be finite and non-negative")
        agents = [DataOwner(self) for _ in range(attributes["sensitivity"].size)]
        ids = np.fromiter((a.unique_id for a in agents), dtype=np.int64, count=len(agents))
        self._owner_agents.update(zip(ids.tolist(), agents))
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
            self._owner_agents.pop(uid).remove()
        return gone

    def owner(self, unique_id: int) -> DataOwner:
        """The ``DataOwner`` agent with this id."""
        return self._owner_agents[unique_id]

    def _churn(self) -> None:
        rng = self.streams["churn"]
        churn = self.scenario.churn
        if churn["leave_rate"] > 0 and len(self.owners):
            leaving = np.flatnonzero(rng.random(len(self.owners)) < churn["leave_rate"])
            self.recorder.events(self.simulator.time, "owner_leave", self.remove_owners(leaving))
        if churn["join_rate"] > 0:
            n_new = int(rng.poisson(churn["join_rate"]))
            types = churn.get("newcomers") or self.scenario.population.get("types")
            if n_new and types:
                names = CORE_ATTRIBUTES + tuple(self.mechanism.owner_attributes)
                attrs, _ = sample_owners(types, n_new, rng, names)
                action = draw(self.scenario.population["initial_action"], n_new, rng)
                self.recorder.events(self.simulator.time, "owner_join", self.add_owners(attrs, action))

    # ----------------------------------------------------------------- buyers
    def _draw_buyer_value(self, key: str) -> float:
        return float(draw(self.scenario.buyers[key], 1, self.streams["buyers"])[0])

    def _schedule_next_arrival(self) -> None:
        rate = self.scenario.buyers["arrival_rate"]
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
        buyer.departure_event = self.simulator.schedule_event_absolute(
            self._buyer_departure, buyer.departure, function_args=[buyer])
        return buyer

    def _buyer_departure(self, buyer: GradientBuyer, kind: str = "buyer_departure") -> None:
        if buyer in self.buyers:
            self.buyers.remove(buyer)
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
        if decision["revision"] == "synchronous":
            groups = [np.arange(n)]
        elif decision["revision"] == "sequential":
            k = min(int(decision["revisions_per_round"]), n)
            groups = [np.array([i]) for i in rng.choice(n, size=k, replace=False)]
        else:
            rang = rng.random(n) < -np.expm1(-decision["clock_rate"])
            groups = [np.flatnonzero(rang)]
        if decision["inertia"] > 0:
            groups = [g[rng.random(g.size) >= decision["inertia"]] for g in groups]
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
        self.network = SocialNetwork.build(self.scenario.network, len(self.owners), self.streams["network"])

    def _drift(self) -> None:
        """Sensitivity drift at the start of a round (``[drift]``; :func:`market.core.population.drift`)."""
        spec = self.scenario.drift
        if spec["schedule"] or spec["random_walk_sd"] > 0:
            self.owners.sensitivity = drift(self.owners.sensitivity, self.steps, spec, self.streams["drift"])

    def step(self) -> None:
        """One round: churn, revisions, settlement, learning, metrics, buyer payments, adaptation."""
        self._churn()
        self._drift()
        ctx = self.context()
        rng = self.streams["decision"]
        for rows in self.revising_rows(rng):
            self.owners.action[rows] = self.rule.choose(rows, self.mechanism, self.owners, ctx, rng)
        outcome = self.platform.settle(ctx)
        self.rule.observe(self.mechanism, self.owners, ctx)
        self._record(outcome)
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

    def _record(self, outcome) -> None:
        self.row = round_metrics(self.steps, self.simulator.time, self.owners.action, outcome,
                                 self.mechanism.action_space, len(self.buyers), self.mechanism.state())
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
        fresh_mechanism = type(self.mechanism)(self.mechanism.params)
        fresh_rule = type(self.rule)(self.rule.params, fresh_mechanism.action_space)
        mech_scalars, mech_arrays = checkpoint.object_state(self.mechanism, fresh_mechanism, "mechanism")
        rule_scalars, rule_arrays = checkpoint.object_state(self.rule, fresh_rule, "rule")
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
        }
        arrays = {f"owners.{k}": v for k, v in self.owners.columns().items()}
        arrays["owners.row_of"] = self.owners.row_of
        arrays.update(mech_arrays)
        arrays.update(rule_arrays)
        arrays.update({f"network.{k}": v for k, v in self.network.arrays().items()})
        return state, arrays

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
        for uid in self.owners.ids.tolist():
            agent = DataOwner(self)
            agent.unique_id = uid
            self._owner_agents[uid] = agent
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
        checkpoint.restore_object(self.mechanism, "mechanism", state["mechanism"], arrays)
        checkpoint.restore_object(self.rule, "rule", state["rule"], arrays)
        self.network = SocialNetwork.from_arrays(
            {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("network.")})
        self.row = state["row"]
        if self.running:
            self.simulator.schedule_event_absolute(self.step, float(self.steps + 1), priority=Priority.HIGH)


def _row_value(model: DataMarket, key: str) -> float:
    """DataCollector model reporter: one column of the model's current row."""
    return model.row[key]
