"""The market in the browser: a Mesa ``SolaraViz`` page (``privmarket app``).

Serve it with ``privmarket app [SCENARIO]``, or equivalently::

    PRIVMARKET_APP_SCENARIO=quickstart solara run analysis/app.py

The page is a view of :class:`market.simulation.model.DataMarket` and nothing else: its
sliders and selectors are ``--set`` overrides of the scenario (the same
``key.path=value`` strings the command line takes, built into a scenario by
:func:`scenarios.schema.load`), its Step and Play buttons advance the model's
own discrete-event simulator by one round, and its plots read the model's
per-round table (:meth:`DataMarket.model_frame`) and owner arrays.  Changing a
parameter takes effect on Reset, as everywhere in Mesa's ``SolaraViz``.

The plots are matplotlib figures rendered as SVG, one ``<g id="series-...">``
group per plotted series, so a browser test can count the plotted points.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import matplotlib
import networkx as nx
import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.experimental.devs import DEVSimulator
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter

from market.registry import MECHANISMS, RULES
from market.simulation.model import DataMarket
from scenarios.schema import DECISION_KEYS, REVISIONS, Scenario, ScenarioError, load, read_raw

matplotlib.use("Agg")

SCENARIO_ENV = "PRIVMARKET_APP_SCENARIO"
"""Environment variable naming the scenario the page starts from (default ``quickstart``)."""

DEFAULT_SCENARIO = "quickstart"
MAX_TYPES = 3
"""Sensitivity sliders are offered for the first ``MAX_TYPES`` owner types."""
TECHNICAL_PARAMS = frozenset({"eps", "tol", "grid_points", "seed_rounds", "shapley_nodes"})
"""Mechanism parameters that are numerical settings, not economics: no slider."""
SCATTER_OWNERS = 3000
"""At most this many owners are drawn in the owner scatter (every k-th owner beyond)."""
NETWORK_NODES = 150
"""Owners drawn in the network view (the first rows)."""


def app_scenario() -> str:
    """The scenario the page starts from: ``$PRIVMARKET_APP_SCENARIO`` or ``quickstart``."""
    return os.environ.get(SCENARIO_ENV, DEFAULT_SCENARIO)


# ------------------------------------------------------------------ parameters
def _toml_value(value: Any) -> str:
    """A page value as the TOML text of a ``--set`` override."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(float(value))
    return str(value)


def page_scenario(scenario: str | Path, params: dict[str, Any]) -> Scenario:
    """Build the scenario the page's controls describe.

    Parameters
    ----------
    scenario : str or path
        Built-in scenario name or TOML path the page started from.
    params : dict
        Control values keyed by override path (``"population.owners"``,
        ``"mechanism.alpha"``, ``"seed"``, ...).  ``mechanism.name`` switches
        the mechanism: the scenario's ``[mechanism]`` table is then replaced by
        the new mechanism's defaults, owner attributes only the old mechanism
        declares are dropped, and the initial action falls back to the new
        mechanism's default.  A ``mechanism.*`` or ``decision.*`` control that
        the chosen mechanism or rule does not have is ignored.

    Raises
    ------
    scenarios.schema.ScenarioError
        If the resulting scenario is invalid (the message names the key).
    """
    raw, label = read_raw(scenario)
    old = raw["mechanism"].get("name")
    new = params.get("mechanism.name", old)
    if new != old and new in MECHANISMS and old in MECHANISMS:
        raw["mechanism"] = {"name": new}
        dropped = set(MECHANISMS[old].owner_attributes) - set(MECHANISMS[new].owner_attributes)
        population = raw["population"]
        population.pop("initial_action", None)
        for table in population.get("types", []) + population.get("owner", []):
            for attr in dropped:
                table.pop(attr, None)
    mech_fields = {f.name for f in dataclasses.fields(MECHANISMS[new].Params)} if new in MECHANISMS else set()
    rule = params.get("decision.rule", raw.get("decision", {}).get("rule", DECISION_KEYS["rule"]))
    rule_fields = set(DECISION_KEYS) | (
        {f.name for f in dataclasses.fields(RULES[rule].Params)} if rule in RULES else set())
    overrides = []
    for key, value in params.items():
        section, _, field = key.partition(".")
        if key == "mechanism.name" or (section == "mechanism" and field not in mech_fields):
            continue
        if section == "decision" and field not in rule_fields:
            continue
        overrides.append(f"{key}={_toml_value(value)}")
    try:
        return load(raw, overrides)
    except ScenarioError as exc:
        raise ScenarioError(str(exc).replace("<dict>", label, 1)) from None


def _slider_range(value: float) -> tuple[float, float]:
    """Slider bounds around a default: ``[0, 1]`` for values in ``(0, 1]``, else ``[0, 2 value]``."""
    if 0 < value <= 1:
        return 0.0, 1.0
    return 0.0, max(2.0 * abs(value), 1.0)


def _float_slider(label: str, value: float) -> Slider:
    low, high = _slider_range(float(value))
    step = (high - low) / 100
    return Slider(label, value=float(value), min=low, max=high, step=step, dtype=float)


def model_params(scenario: str | Path) -> dict[str, Any]:
    """Mesa ``model_params`` of the page: the scenario's main parameters as controls.

    Keys are override paths (see :func:`page_scenario`); the scenario itself is a
    fixed parameter.  Controls: number of owners, the numeric parameters of the
    first owner types' sensitivity distributions, the mechanism (selector) and
    its scalar economic parameters, the decision rule, revision and inertia,
    and the seed.
    """
    base = load(scenario)
    params: dict[str, Any] = {"scenario": str(scenario)}
    pop = base.population
    if "owners" in pop:
        n = int(pop["owners"])
        params["population.owners"] = Slider("owners", value=n, min=10, max=max(5000, n), step=10)
        for i, spec in enumerate(pop["types"][:MAX_TYPES]):
            sens = spec["sensitivity"]
            tag = f"type {i} sensitivity" if len(pop["types"]) > 1 else "sensitivity"
            if isinstance(sens, dict):
                for p, v in sens.items():
                    if p != "dist" and isinstance(v, (int, float)) and not isinstance(v, bool):
                        params[f"population.types.{i}.sensitivity.{p}"] = _float_slider(
                            f"{tag} {sens['dist']} {p}", v)
            else:
                params[f"population.types.{i}.sensitivity"] = _float_slider(tag, sens)
    params["mechanism.name"] = {"type": "Select", "value": base.mechanism.name,
                                "values": sorted(MECHANISMS), "label": "mechanism"}
    for f in dataclasses.fields(base.mechanism.params):
        value = getattr(base.mechanism.params, f.name)
        if (isinstance(value, float) and f.name not in TECHNICAL_PARAMS):
            params[f"mechanism.{f.name}"] = _float_slider(f"{base.mechanism.name} {f.name}", value)
    params["decision.rule"] = {"type": "Select", "value": base.rule.name, "values": sorted(RULES),
                               "label": "decision rule"}
    params["decision.revision"] = {"type": "Select", "value": base.decision["revision"],
                                   "values": list(REVISIONS), "label": "revision"}
    params["decision.inertia"] = Slider("inertia", value=float(base.decision["inertia"]),
                                        min=0.0, max=1.0, step=0.01, dtype=float)
    params["seed"] = Slider("seed", value=int(base.seed), min=0, max=max(999, int(base.seed)), step=1)
    return params


# ----------------------------------------------------------------------- model
class MarketApp(DataMarket):
    """A :class:`DataMarket` built from keyword parameters, as ``SolaraViz`` needs.

    Parameters
    ----------
    scenario : str
        Built-in scenario name or TOML path.
    simulator : DEVSimulator, optional
        The simulator of the page's Step/Play controls.  Mesa's
        ``SimulatorController`` hands it to every new model, which resets it
        and schedules its events (first round, buyer arrivals) on it.
    **kwargs
        Control values keyed by override path (see :func:`page_scenario`);
        Mesa's parameter check accepts arbitrary names only under ``**kwargs``.

    Attributes
    ----------
    problem : str or None
        Why the controls could not be applied (the scenario's one-line
        validation message), in which case the model is the scenario as
        loaded and the page shows the message; ``None`` when they were applied.
    """

    def __init__(self, scenario: str = DEFAULT_SCENARIO, simulator: DEVSimulator | None = None,
                 **kwargs: Any) -> None:
        try:
            resolved, problem = page_scenario(scenario, kwargs), None
        except ScenarioError as exc:
            resolved, problem = load(scenario), str(exc)
        super().__init__(resolved, simulator=simulator)
        self.problem = problem


# ------------------------------------------------------------------ components
STANDARD_COLUMNS = frozenset({"round", "time", "n_owners", "n_buyers", "mean_action", "total_payments",
                              "total_cost", "mean_utility", "information_rent", "platform_utility",
                              "buyer_spend"})


def _frame(model: DataMarket):
    """The per-round table so far, or ``None`` before the first round."""
    return model.model_frame() if model.datacollector is not None else None


def _line_figure(model: DataMarket, title: str, series: dict[str, str], ylabel: str = ""):
    """A matplotlib line plot of model-table columns; ``series`` maps column to legend label."""
    update_counter.get()
    fig = Figure(figsize=(5.6, 3.0), layout="constrained")
    ax = fig.subplots()
    frame = _frame(model)
    if frame is not None:
        for column, label in series.items():
            if column in frame:
                ax.plot(frame["round"], frame[column], label=label, gid=f"series-{column}")
        ax.legend(loc="best", fontsize="small")
    ax.set_title(title)
    ax.set_xlabel("round")
    ax.set_ylabel(ylabel)
    return solara.FigureMatplotlib(fig, format="svg")


@solara.component
def Metrics(model: DataMarket) -> None:
    """The current round's numbers: round, owners, buyers, shares, money, welfare, regime."""
    update_counter.get()
    row = model.row
    welfare = row.get("welfare")
    if welfare is None and row:
        welfare = row["platform_utility"] + row["mean_utility"] * row["n_owners"]
    lines = [f"**{model.scenario.name}** · mechanism `{model.mechanism.name}` · rule `{model.rule.name}` "
             f"· seed {model.scenario.seed}",
             "",
             "| quantity | value |", "|---|---|",
             f"| round | {model.steps} of {model.rounds} |",
             f"| owners | {len(model.owners)} |",
             f"| buyers | {len(model.buyers)} |"]
    if row:
        lines += [f"| {k} | {v:.4g} |" for k, v in row.items()
                  if k.startswith("share_") or k in ("mean_action", "total_payments", "information_rent",
                                                     "platform_utility")]
        lines.append(f"| welfare | {welfare:.4g} |")
        if welfare:
            lines.append(f"| platform's share of welfare | {row['platform_utility'] / welfare:.3g} |")
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, (int, float)) else f"| {k} | {v} |"
                  for k, v in row.items() if k not in STANDARD_COLUMNS and not k.startswith("share_")]
    with solara.Column(classes=["market-metrics"]):
        if model.problem:
            solara.Error(f"Controls not applied ({model.problem}); showing {model.scenario.name} as loaded.")
        solara.Text(f"Round {model.steps}", classes=["market-round"])
        solara.Markdown("\n".join(lines))


def ActionShares(model: DataMarket):
    """Share of owners at each privacy level (or contributing nothing) per round."""
    row = model.row or {}
    series = {k: k.removeprefix("share_") for k in row if k.startswith("share_")}
    return _line_figure(model, "Action shares", series, "share of owners")


def PaymentsAndRents(model: DataMarket):
    """Total payments, the owners' privacy cost, information rent and buyer spend per round."""
    return _line_figure(model, "Payments and rents", {
        "total_payments": "payments", "total_cost": "privacy cost",
        "information_rent": "information rent", "buyer_spend": "buyer spend"})


def PlatformAndWelfare(model: DataMarket):
    """Platform utility and welfare (platform plus owners' total utility, or the mechanism's own)."""
    update_counter.get()
    fig = Figure(figsize=(5.6, 3.0), layout="constrained")
    ax = fig.subplots()
    frame = _frame(model)
    if frame is not None:
        owners_total = frame["mean_utility"] * frame["n_owners"]
        welfare = frame["welfare"] if "welfare" in frame else frame["platform_utility"] + owners_total
        ax.plot(frame["round"], frame["platform_utility"], label="platform", gid="series-platform_utility")
        ax.plot(frame["round"], owners_total, label="owners (total)", gid="series-owners_utility")
        ax.plot(frame["round"], welfare, label="welfare", gid="series-welfare")
        ax.legend(loc="best", fontsize="small")
    ax.set_title("Platform utility and welfare")
    ax.set_xlabel("round")
    return solara.FigureMatplotlib(fig, format="svg")


def MechanismState(model: DataMarket):
    """The mechanism's own metrics and state (e.g. its regime), when it reports any."""
    row = model.row or {}
    series = {k: k for k, v in row.items() if k not in STANDARD_COLUMNS and not k.startswith("share_")
              and isinstance(v, (int, float, np.number))}
    if not series:
        update_counter.get()
        return solara.Text("The mechanism reports no metrics or state of its own.")
    return _line_figure(model, "Mechanism metrics and state (regime)", series)


def OwnerScatter(model: DataMarket):
    """Owners' sensitivity against their action, coloured by payment."""
    update_counter.get()
    owners = model.owners
    stride = max(1, math.ceil(len(owners) / SCATTER_OWNERS))
    fig = Figure(figsize=(5.6, 3.0), layout="constrained")
    ax = fig.subplots()
    points = ax.scatter(owners.sensitivity[::stride], owners.action[::stride], c=owners.payment[::stride],
                        s=8, alpha=0.5, cmap="viridis", gid="series-owners")
    fig.colorbar(points, ax=ax, label="payment")
    ax.set_title(f"Owners (round {model.steps})")
    ax.set_xlabel("sensitivity")
    ax.set_ylabel("action")
    return solara.FigureMatplotlib(fig, format="svg")


def NetworkView(model: DataMarket):
    """The owners' social graph (``model.network``), the first owners' rows, coloured by action.

    Node positions (networkx spring layout) are computed once per model for
    rows ``0 .. NETWORK_NODES-1``; under churn the rows, and so the drawn
    owners, change while the positions stay.
    """
    update_counter.get()
    network = model.network
    k = min(network.n, NETWORK_NODES)
    layout = solara.use_memo(lambda: nx.spring_layout(network.to_networkx().subgraph(range(k)), seed=0),
                             [id(model)])
    graph = network.to_networkx().subgraph(n for n in range(k) if n in layout)
    fig = Figure(figsize=(5.6, 3.0), layout="constrained")
    ax = fig.subplots()
    nx.draw_networkx(graph, pos=layout, ax=ax, with_labels=False, node_size=14, width=0.3,
                     node_color=model.owners.action[list(graph.nodes)], cmap="viridis")
    stats = network.statistics()
    ax.set_title(f"Social graph ({network.kind}, {stats['nodes']} owners, mean degree "
                 f"{stats['mean_degree']:.3g}; first {k} drawn, colour: action)", fontsize="small")
    ax.set_axis_off()
    return solara.FigureMatplotlib(fig, format="svg")


def components(model: DataMarket) -> list:
    """The page's components; the network view only if the model has an explicit social graph."""
    parts = [Metrics, ActionShares, PaymentsAndRents, PlatformAndWelfare, OwnerScatter, MechanismState]
    network = getattr(model, "network", None)
    if network is not None and getattr(network, "adjacency", None) is not None:
        parts.append(NetworkView)
    return parts


@solara.component
def Page() -> None:
    """The page: one model per browser session, driven by Mesa's ``SolaraViz``."""
    scenario = app_scenario()
    model = solara.use_memo(lambda: MarketApp(scenario=scenario), [])
    params = solara.use_memo(lambda: model_params(scenario), [])
    SolaraViz(model, components=components(model), model_params=params, simulator=model.simulator,
              name=f"privmarket · {model.scenario.name}")
