"""The market in the browser: a Mesa ``SolaraViz`` page (``privmarket app``).

Serve it with ``privmarket app [SCENARIO]``, or equivalently::

    PRIVMARKET_APP_SCENARIO=quickstart solara run analysis/app.py

The page is a view of :class:`market.simulation.model.DataMarket` and nothing else: its
sliders and selectors are ``--set`` overrides of the scenario (the same
``key.path=value`` strings the command line takes, built into a scenario by
:func:`scenarios.schema.load`), its Step and Play buttons advance the model's
own discrete-event simulator by Mesa's "Render Interval (steps)" rounds (the
rounds per frame, default :data:`ROUNDS_PER_FRAME`), and its plots read the
model's per-round ``DataCollector`` lists and owner arrays.  Changing a
parameter takes effect on Reset, as everywhere in Mesa's ``SolaraViz``.

The plots are live figures (:class:`LiveFigure`): axes, ticks and legends are
drawn once, and each frame only draws the data (the new rounds appended) over
that background and sends a PNG.  Each figure's element carries
``data-points`` (points per series) and ``data-title``, which the browser test
reads.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Mesa 3.3's own ComponentsView trips solara's hook linter when mesa.visualization is imported: a
# warning about Mesa's code, printed at every start of the page; silenced before that import.
warnings.filterwarnings("ignore", message=r".*ComponentsView: `use_state` found despite early return",
                        category=UserWarning)

import matplotlib  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import solara  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from mesa.experimental.devs import DEVSimulator  # noqa: E402
from mesa.visualization import Slider, SolaraViz  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402
from PIL import Image  # noqa: E402

from market.registry import MECHANISMS, RULES  # noqa: E402
from market.simulation.metrics import STANDARD_NAMES  # noqa: E402
from market.simulation.model import DataMarket  # noqa: E402
from scenarios.schema import DECISION_KEYS, REVISIONS, Scenario, ScenarioError, load, read_raw  # noqa: E402

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
ROUNDS_PER_FRAME = 1
"""Default of the page's rounds-per-frame control (Mesa's "Render Interval (steps)" slider: Play and
Step advance this many rounds, then the figures are drawn once).  Step moves one round by default;
raise it for a fast Play (10 rounds per frame: quickstart with 1,000 owners runs above 20 rounds/s)."""
PLAY_INTERVAL_MS = 1
"""Pause between frames while playing (Mesa's default, 100 ms, would cap Play at 10 frames/s)."""


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
    return load(raw, overrides, label=label)


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
FIGSIZE = (5.6, 3.0)
DPI = 100
MARGINS = {"left": 0.12, "right": 0.70, "bottom": 0.17, "top": 0.88}
"""Fixed figure margins (the legend sits right of the axes, outside the area the lines are drawn in)."""
HEADROOM = 0.25
"""When a series leaves the y-range, the range grows by this share of its span (few full redraws)."""


def _grown(limits: tuple[float, float] | None, low: float, high: float) -> tuple[float, float] | None:
    """New axis limits if ``[low, high]`` is not inside ``limits`` (``None``: keep the limits)."""
    if limits is not None and limits[0] <= low and high <= limits[1]:
        return None
    if limits is not None:
        low, high = min(low, limits[0]), max(high, limits[1])
    span = max(high - low, abs(high), 1e-9)
    return low - (HEADROOM * span if low < 0 or low > 0 else 0.0), high + HEADROOM * span


class LiveFigure:
    """A matplotlib figure drawn by blitting: the frame once, the data on every frame.

    Axes, ticks, labels, title and legend (the slow part of drawing: text
    layout) are drawn once into a background and drawn again only when the
    axis limits must grow (:data:`HEADROOM` makes that rare); each frame
    restores the background, draws only the data artists (``animated=True``)
    on top and encodes the canvas as PNG (matplotlib's animation technique,
    ``Canvas.copy_from_bbox`` / ``restore_region`` / ``Axes.draw_artist``).

    Attributes
    ----------
    points : dict
        Number of points of each drawn series (shown as ``data-points`` in the
        page, where the browser test reads them).
    """

    def __init__(self, title: str, xlabel: str, ylabel: str) -> None:
        self.fig = Figure(figsize=FIGSIZE, dpi=DPI)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.subplots_adjust(**MARGINS)
        self.ax = self.fig.subplots()
        self.ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        self.background = None
        self.points: dict[str, int] = {}
        self.frame = 0

    def artists(self) -> list:
        """The data artists drawn on every frame."""
        raise NotImplementedError

    def render(self, redraw: bool) -> bytes:
        """The figure as PNG bytes: the background again only if ``redraw`` (limits changed)."""
        if redraw or self.background is None:
            self.canvas.draw()  # animated artists are left out of the background
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.canvas.restore_region(self.background)
        for artist in self.artists():
            self.ax.draw_artist(artist)
        buffer = io.BytesIO()
        Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
                         ).save(buffer, format="png", compress_level=1)
        self.frame += 1
        return buffer.getvalue()


class LiveLines(LiveFigure):
    """Per-round columns as lines that grow with the run.

    Built once per model; each frame appends only the rounds collected since
    the previous frame (from the model's Mesa ``DataCollector`` lists) and
    draws the lines over the cached background.  The x-axis spans the run's
    rounds from the start (integer ticks).

    Parameters
    ----------
    title, ylabel : str
        Figure title and y-axis label (money axes carry their unit).
    series : dict
        ``{series id: legend label}``.
    rounds : int
        Rounds of the run (the x-axis range).
    values : callable, optional
        Maps the new rows (``{column: list}``) to ``{series id: values}``;
        default: the columns named by the series ids.
    ylim : tuple, optional
        Fixed y-range (shares: 0 to 1); default: grown to fit the data.
    """

    def __init__(self, title: str, series: dict[str, str], ylabel: str, rounds: int,
                 values: Callable[[dict[str, list]], dict[str, np.ndarray]] | None = None,
                 ylim: tuple[float, float] | None = None) -> None:
        super().__init__(title, "round", ylabel)
        self.values = values or (lambda rows: {k: np.asarray(rows[k], dtype=float) for k in series if k in rows})
        self.lines = {k: self.ax.plot([], [], label=label, animated=True)[0] for k, label in series.items()}
        self.ax.set_xlim(0, max(rounds, 1))
        self.ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        self.ylim = ylim
        if ylim is not None:
            self.ax.set_ylim(*ylim)
        self.x = np.empty(0)
        self.y = {k: np.empty(0) for k in series}
        self.points = dict.fromkeys(series, 0)
        self.drawn = 0
        if series:
            self.ax.legend(handles=list(self.lines.values()), loc="upper left", bbox_to_anchor=(1.02, 1),
                           fontsize="small", frameon=False)

    def artists(self) -> list:
        return list(self.lines.values())

    def update(self, model: DataMarket) -> tuple[int, bool]:
        """Append the rounds collected since the last call; return the rounds drawn and whether the limits grew."""
        collector = model.datacollector
        n = len(collector.model_vars["round"]) if collector is not None else 0
        if n <= self.drawn:
            return self.drawn, False
        rows = {k: v[self.drawn:n] for k, v in collector.model_vars.items()}
        self.x = np.concatenate([self.x, np.asarray(rows["round"], dtype=float)])
        new = self.values(rows)
        for k, values in new.items():
            self.y[k] = np.concatenate([self.y[k], values])
            self.lines[k].set_data(self.x, self.y[k])
            self.points[k] = len(self.y[k])
        self.drawn = n
        finite = np.concatenate([v[np.isfinite(v)] for v in new.values()] or [np.zeros(1)])
        grown = _grown(self.ylim, float(finite.min(initial=0.0)), float(finite.max(initial=0.0)))
        if grown is not None:
            self.ylim = grown
            self.ax.set_ylim(*grown)
        return self.drawn, grown is not None


def _view(model: DataMarket, name: str, build: Callable[[], Any]) -> Any:
    """The model's live view ``name``, built on first use (one set of figures per model)."""
    views = model.__dict__.setdefault("views", {})
    if name not in views:
        views[name] = build()
    return views[name]


def _show(model: DataMarket, name: str, build: Callable[[], LiveFigure]):
    """A live figure of the model: its PNG, drawn again only when the model moved on."""
    update_counter.get()
    view = _view(model, name, build)
    drawn, redraw = view.update(model)
    image = solara.use_memo(lambda: view.render(redraw), [id(view), drawn])
    return solara.v.Html(tag="div", class_="market-figure",
                         attributes={"data-view": name, "data-points": json.dumps(view.points),
                                     "data-title": view.ax.get_title()},
                         children=[solara.Image(image, format="png")])


@solara.component
def Metrics(model: DataMarket) -> None:
    """The current round's numbers: round, owners, buyers, shares, money, welfare, regime.

    Two compact columns of ``quantity value`` pairs, so the table fits its panel.
    """
    update_counter.get()
    row = model.row
    welfare = row.get("welfare")
    if welfare is None and row:
        welfare = row["platform_utility"] + row["mean_utility"] * row["n_owners"]
    cells = [("round", f"{model.steps} of {model.rounds}"), ("owners", f"{len(model.owners)}"),
             ("buyers", f"{len(model.buyers)}")]
    if row:
        cells += [(k, f"{v:.4g}") for k, v in row.items()
                  if k.startswith("share_") or k in ("mean_action", "total_payments", "information_rent_total",
                                                     "exploitability", "platform_utility")]
        cells.append(("welfare", f"{welfare:.4g}"))
        if welfare:
            cells.append(("platform's share of welfare", f"{row['platform_utility'] / welfare:.3g}"))
        cells += [(k, f"{v:.4g}" if isinstance(v, (int, float)) else str(v))
                  for k, v in row.items() if k not in STANDARD_NAMES and not k.startswith("share_")]
    half = (len(cells) + 1) // 2
    rows = ["| quantity | value | quantity | value |", "|---|---|---|---|"]
    for left, right in itertools.zip_longest(cells[:half], cells[half:], fillvalue=("", "")):
        rows.append(f"| {left[0]} | {left[1]} | {right[0]} | {right[1]} |")
    with solara.Column(classes=["market-metrics"], style={"overflow": "auto", "font-size": "0.85em"}):
        if model.problem:
            solara.Error(f"Controls not applied ({model.problem}); showing {model.scenario.name} as loaded.")
        solara.Text(f"Round {model.steps}", classes=["market-round"])
        solara.Markdown(f"**{model.scenario.name}** · mechanism `{model.mechanism.name}` · rule "
                        f"`{model.rule.name}` · seed {model.scenario.seed}")
        solara.Markdown("\n".join(rows))


def _share_series(model: DataMarket) -> dict[str, str]:
    """Share columns of the mechanism's action levels, labelled by the levels' meanings."""
    space = model.mechanism.action_space
    if space.kind == "continuous":
        return {"share_zero": "contributes nothing"}
    return {f"share_{label}": f"level {text}" for label, text in zip(space.labels, space.legend_labels())}


def ActionShares(model: DataMarket):
    """Share of owners at each privacy level (or contributing nothing) per round."""
    return _show(model, "shares", lambda: LiveLines(
        "Action shares", _share_series(model), "share of owners", model.rounds, ylim=(-0.02, 1.02)))


def PaymentsAndRents(model: DataMarket):
    """Total payments, the owners' privacy cost, information rent and buyer spend per round."""
    return _show(model, "money", lambda: LiveLines("Payments and rents", {
        "total_payments": "payments", "total_cost": "privacy cost",
        "information_rent_total": "information rent", "buyer_spend": "buyer spend"}, "money per round", model.rounds))


def _welfare_values(rows: dict[str, list]) -> dict[str, np.ndarray]:
    platform = np.asarray(rows["platform_utility"], dtype=float)
    owners_total = np.asarray(rows["mean_utility"], dtype=float) * np.asarray(rows["n_owners"], dtype=float)
    welfare = np.asarray(rows["welfare"], dtype=float) if "welfare" in rows else platform + owners_total
    return {"platform_utility": platform, "owners_utility": owners_total, "welfare": welfare}


def PlatformAndWelfare(model: DataMarket):
    """Platform utility and welfare (platform plus owners' total utility, or the mechanism's own)."""
    return _show(model, "welfare", lambda: LiveLines(
        "Platform utility and welfare", {"platform_utility": "platform", "owners_utility": "owners (total)",
                                         "welfare": "welfare"}, "money per round", model.rounds, _welfare_values))


def MechanismState(model: DataMarket):
    """The mechanism's own metrics and state (e.g. its regime), when it reports any."""
    row = model.row or {}
    series = {k: k for k, v in row.items() if k not in STANDARD_NAMES and not k.startswith("share_")
              and isinstance(v, (int, float, np.number))}
    if not series:
        update_counter.get()
        return solara.Text("The mechanism reports no metrics or state of its own.")
    return _show(model, "mechanism", lambda: LiveLines(
        "Mechanism metrics and state (regime)", series, "value", model.rounds))


class OwnerCloud(LiveFigure):
    """The owner scatter (sensitivity against action, coloured by payment), blitted every frame.

    Before the first round no payment exists: the points are grey and there is
    no colour bar.  From the first round on, the colour bar spans the payments
    (a range that only grows, so the background is rarely drawn again).
    """

    def __init__(self, model: DataMarket) -> None:
        super().__init__("Owners (round 0)", "sensitivity", "action")
        self.fig.subplots_adjust(right=0.80)
        self.points_artist = self.ax.scatter(np.empty(0), np.empty(0), c=np.empty(0), s=8, alpha=0.5,
                                             cmap="viridis", animated=True)
        space = model.mechanism.action_space
        if space.kind == "levels":
            self.ax.set_ylim(space.values[0] - 0.3, space.values[-1] + 0.3)
            if space.size <= 8:
                self.ax.set_yticks(space.values, space.labels)
        else:
            self.ax.set_ylim(*_grown(None, float(space.values[0]), float(space.values[-1])))
        self.xlim: tuple[float, float] | None = None
        self.clim: tuple[float, float] | None = None
        self.colorbar = None
        self.drawn = -1
        self.ax.title.set_animated(True)  # the round in the title changes every frame: drawn with the points

    def artists(self) -> list:
        return [self.points_artist, self.ax.title]

    def update(self, model: DataMarket) -> tuple[int, bool]:
        """Draw the owners of the model's current round; return that round and whether the frame changed."""
        if model.steps == self.drawn:
            return self.drawn, False
        owners = model.owners
        stride = max(1, math.ceil(len(owners) / SCATTER_OWNERS))
        x = owners.sensitivity[::stride]
        self.points_artist.set_offsets(np.column_stack([x, owners.action[::stride]]))
        redraw = self.drawn == -1 or (model.steps > 0) != (self.drawn > 0)
        grown = _grown(self.xlim, min(0.0, float(x.min(initial=0.0))), float(x.max(initial=1.0)))
        if grown is not None:
            self.xlim = grown
            self.ax.set_xlim(*grown)
            redraw = True
        if model.steps == 0:
            self.points_artist.set_array(None)
            self.points_artist.set_color("grey")
        else:
            payment = owners.payment[::stride]
            self.points_artist.set_array(payment)
            grown = _grown(self.clim, float(payment.min(initial=0.0)), float(payment.max(initial=0.0)))
            if grown is not None:
                self.clim = grown
                self.points_artist.set_clim(*grown)
                redraw = True
            if self.colorbar is None:
                cax = self.fig.add_axes((0.83, MARGINS["bottom"], 0.025, MARGINS["top"] - MARGINS["bottom"]))
                self.colorbar = self.fig.colorbar(self.points_artist, cax=cax, label="payment")
        self.ax.set_title(f"Owners (round {model.steps})")
        self.points = {"owners": len(x)}
        self.drawn = model.steps
        return self.drawn, True


def OwnerScatter(model: DataMarket):
    """Owners' sensitivity against their action, coloured by payment (no colour bar before round 1)."""
    return _show(model, "owners", lambda: OwnerCloud(model))


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
              name=f"privmarket · {model.scenario.name}", play_interval=PLAY_INTERVAL_MS,
              render_interval=ROUNDS_PER_FRAME)
