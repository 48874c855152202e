"""Standard figures of a run or a sweep (``privmarket plot DIR``), as PNG, PDF and SVG.

Of a run directory (``privmarket run --out DIR``):

``action_shares``   share of owners at each action level over the rounds
``payments``        payments, privacy cost, information rent and platform utility per round
``welfare``         utilitarian welfare (owners' total utility) in every round, from
                    ``model.parquet``, and the Gini of owner utility in each round whose
                    owner state was recorded (``owners.parquet``), drawn as points, not
                    joined: a line between rounds k apart would invent a trend
``regimes``         the headline series (mean action) with the transient shaded, each regime's
                    level as a coloured bar and each regime shift as a vertical line where it
                    is (only shifts, not change points), above ``exploitability`` over time
                    (``docs/measures.md``)
``two_sided``       with a learning platform or strategic buyers: the posted parameters,
                    the action shares, the information rent and platform utility (with the
                    regret per round so far), and the buyers' mean spend and surplus

Of a sweep directory (``privmarket sweep --out DIR``):

``phase_band``      one swept parameter: the final action shares against it (mean over
                    replicates, with 95% intervals) above a band coloured by each cell's
                    regime (the most frequent final regime over replicates)
``phase_diagram``   two or more swept parameters: each cell of the first two as a square
                    coloured by its regime (most frequent over replicates and other keys)
``sweep_metrics``   payout share, mean action and final Gini against the first parameter

Every figure reads without the code: a title, axes labelled in words with their
units (money in ``MONEY_UNIT``), integer ticks on round axes, action levels
labelled by their meaning (:meth:`ActionSpace.legend_labels`), and legends that
list only what is drawn, line styles included.  :func:`run_figure_objects` and
:func:`sweep_figure_objects` return the matplotlib figures (for inspection or
restyling); :func:`run_figures` and :func:`sweep_figures` save them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from analysis.regimes import EQUILIBRIUM_TOL, analyse_regimes, regime_order  # noqa: E402
from analysis.welfare_measures import welfare_table  # noqa: E402
from market.simulation.model import build_mechanism
from scenarios.schema import load


FORMATS = ("png", "pdf", "svg")
"""Every figure is saved in these formats: PNG for screens, PDF and SVG (vector) for papers."""
MONEY_UNIT = "money units"
"""The unit of every money axis: prices, payments and budgets of a scenario share one currency."""


def _save(fig: plt.Figure, out: Path, name: str) -> list[Path]:
    """Write ``name.png``, ``name.pdf`` and ``name.svg``, grown to hold every legend placed outside the axes.

    SVG text stays text (``svg.fonttype = "none"``), so it can be searched and read by screen readers;
    PDF fonts are embedded as TrueType (``pdf.fonttype = 42``), editable in a journal's tools.
    """
    paths = [out / f"{name}.{fmt}" for fmt in FORMATS]
    fig.tight_layout()
    with plt.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
        for path in paths:
            fig.savefig(path, dpi=120, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return paths


def _save_all(figures: dict[str, plt.Figure], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [path for name, fig in figures.items() for path in _save(fig, out, name)]


def _round_axis(ax: plt.Axes) -> None:
    """Integer ticks on a round axis."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


#: Words for the sections of a ``--set`` key path.
SECTIONS = {"mechanism": "", "decision": "decision rule", "buyers": "buyers", "churn": "churn",
            "drift": "drift", "network": "network", "population": "population", "output": "output"}


def describe_key(key: str) -> str:
    """A swept key path in words, for axis labels.

    ``population.types.1.sensitivity`` -> ``"sensitivity of owner type 1"``,
    ``mechanism.sale_price`` -> ``"sale price"``, ``decision.inertia`` ->
    ``"inertia (decision rule)"``, ``population.owners`` -> ``"owners"``;
    a distribution parameter ``...sensitivity.high`` -> ``"sensitivity high of owner type 0"``.
    """
    if match := re.fullmatch(r"population\.(types|owner)\.(\d+)\.(.+)", key):
        what = match.group(3).replace(".", " ").replace("_", " ")
        return f"{what} of owner {'type ' if match.group(1) == 'types' else ''}{match.group(2)}"
    section, _, rest = key.partition(".")
    if section not in SECTIONS or not rest:
        return key.replace("_", " ")
    words = rest.replace(".", " ").replace("_", " ")
    context = SECTIONS[section]
    return f"{words} ({context})" if context and section not in ("population",) else words


#: ``model.parquet`` money columns of the payments figure and their legend labels.
MONEY = {"total_payments": "payments to owners", "total_cost": "owners' privacy cost",
         "information_rent_total": "information rent (utility above the outside option)",
         "platform_utility": "platform utility"}
ZERO_LINE = "zero (grey line)"


def _palette(order: list[str]) -> dict[str, tuple]:
    return dict(zip(order, sns.color_palette("Set2", len(order))))


def _action_title(space) -> str:
    """Legend title of the action-share lines."""
    return "action level" if space.kind == "levels" else "action"


def _share_columns(model: pd.DataFrame, space) -> list[str]:
    if space.kind == "continuous":
        return ["share_zero"]
    return [f"share_{label}" for label in space.labels]


def _share_names(space) -> dict[str, str]:
    """Legend label of each share column: the level and its meaning."""
    if space.kind == "continuous":
        return {"share_zero": "contributes nothing"}
    return {f"share_{label}": text for label, text in zip(space.labels, space.legend_labels())}


def _regime_handles(present: list[str], colours: dict[str, tuple], alpha: float = 1.0) -> list:
    """Legend patches of the regimes that are drawn (in the regime order), and nothing else."""
    return [plt.Rectangle((0, 0), 1, 1, color=colours[r], alpha=alpha, label=r) for r in present]


def run_figures(run_dir: Path, out: Path | None = None) -> list[Path]:
    """Write the figures of a run directory (default into ``DIR/figures``); return their paths.

    Raises
    ------
    ValueError
        If ``run_dir`` lacks ``model.parquet`` or ``scenario.toml``.
    """
    figures = run_figure_objects(run_dir)
    return _save_all(figures, Path(out) if out is not None else Path(run_dir) / "figures")


def run_figure_objects(run_dir: Path) -> dict[str, plt.Figure]:
    """The figures of a run directory as matplotlib figures, by name (see the module docstring).

    Raises
    ------
    ValueError
        If ``run_dir`` lacks ``model.parquet`` or ``scenario.toml``.
    """
    run_dir = Path(run_dir)
    for name in ("model.parquet", "scenario.toml"):
        if not (run_dir / name).exists():
            raise ValueError(f"dir: {run_dir} has no {name} (not a run directory)")
    model = pd.read_parquet(run_dir / "model.parquet")
    owners_path = run_dir / "owners.parquet"
    owners = pd.read_parquet(owners_path) if owners_path.exists() else pd.DataFrame()
    scenario = load(run_dir / "scenario.toml")
    mechanism = build_mechanism(scenario)
    space, mech = mechanism.action_space, scenario.mechanism.name
    shares = _share_columns(model, space)
    names = _share_names(space)
    title = f"{scenario.name} ({mech}, seed {scenario.seed})"
    figures: dict[str, plt.Figure] = {}
    sns.set_theme(style="whitegrid")

    fig, ax = plt.subplots(figsize=(8, 4))
    long = model.melt(id_vars="round", value_vars=shares, var_name="action", value_name="share")
    long["action"] = long["action"].map(names)
    sns.lineplot(data=long, x="round", y="share", hue="action", hue_order=[names[c] for c in shares], ax=ax)
    ax.legend(title=_action_title(space), loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set(title=f"Share of owners at each action: {title}", xlabel="round", ylabel="share of owners",
           ylim=(-0.02, 1.02))
    _round_axis(ax)
    figures["action_shares"] = fig

    fig, ax = plt.subplots(figsize=(10, 4))
    long = model.melt(id_vars="round", value_vars=list(MONEY), var_name="quantity", value_name="value")
    long["quantity"] = long["quantity"].map(MONEY)
    sns.lineplot(data=long, x="round", y="value", hue="quantity", ax=ax)
    ax.axhline(0, color="grey", lw=0.8, label=ZERO_LINE)
    ax.legend(title="per round", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set(title=f"Payments, privacy cost, information rent, platform utility: {scenario.name}",
           xlabel="round", ylabel=f"amount per round ({MONEY_UNIT})")
    _round_axis(ax)
    figures["payments"] = fig

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    welfare_per_round = model["mean_utility"] * model["n_owners"]
    axes[0].plot(model["round"], welfare_per_round, lw=1.2)
    axes[0].set(title="Utilitarian welfare (sum of owner utility), every round", xlabel="round",
                ylabel=f"welfare ({MONEY_UNIT})")
    _round_axis(axes[0])
    every = scenario.output.owner_every
    if not owners.empty:
        welfare = welfare_table(owners)
        defined = welfare[welfare["gini"].notna()]
        if not defined.empty:
            axes[1].plot(defined["round"], defined["gini"], ls="none", marker="o", ms=4)
            axes[1].set(title=f"Gini of owner utility, recorded every {every} rounds\n(points, not joined; "
                              "missing: undefined)", xlabel="round", ylabel="Gini", ylim=(0, 1),
                        xlim=axes[0].get_xlim())
            _round_axis(axes[1])
        else:
            axes[1].set_axis_off()
            axes[1].text(0.5, 0.5, "Gini of owner utility undefined in every recorded round\n"
                         "(some owner has a negative utility, or all have 0)", ha="center", va="center")
    else:
        axes[1].set_axis_off()
        axes[1].text(0.5, 0.5, "no owner state recorded\n(--owner-every 0)", ha="center", va="center")
    fig.suptitle(f"Owner welfare: {title}")
    figures["welfare"] = fig

    figures["regimes"] = _regime_figure(model, scenario, title)
    if any(c.startswith("platform_param_") for c in model) or "buyer_mean_spend" in model:
        figures["two_sided"] = _two_sided(model, shares, space, title)
    return figures


def _regime_figure(model: pd.DataFrame, scenario, title: str) -> plt.Figure:
    """The headline series with transient, regimes and shifts (top) and exploitability (bottom)."""
    analysis = analyse_regimes(model, build_mechanism(scenario))
    rounds = model["round"].to_numpy()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=(3, 2))
    top.plot(rounds, model[analysis.series], color="k", lw=1, label=analysis.series)
    first = analysis.regimes[0].start if analysis.regimes else len(rounds)
    if first > 0:
        top.axvspan(rounds[0] - 0.5, rounds[first - 1] + 0.5, color="grey", alpha=0.25, lw=0,
                    label=f"transient ({first} rounds)")
    colours = _palette(regime_order(r.label for r in analysis.regimes))
    for r in analysis.regimes:
        top.hlines(r.level, rounds[r.start] - 0.5, rounds[r.end] + 0.5, color=colours[r.label], lw=4, alpha=0.8,
                   label=f"regime {r.label}")
    for old, new in analysis.shifts():
        at = rounds[old.end + 1]
        top.axvline(at, color="tab:red", lw=1.5)
        top.annotate(f"shift at {at}: {old.label} -> {new.label}", (at, 1.0), xycoords=("data", "axes fraction"),
                     xytext=(3, -12), textcoords="offset points", fontsize=8, color="tab:red")
    handles, labels = top.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    top.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.01, 1))
    kind = "theory classes" if analysis.kind == "class" else f"levels of {analysis.series} (threshold {analysis.threshold:.3g})"
    n_shifts = len(analysis.shifts())
    top.set(title=f"Regimes ({kind}; {n_shifts} shift{'' if n_shifts == 1 else 's'}): {title}",
            ylabel=analysis.series)
    e = model["exploitability"].to_numpy(dtype=float)
    measured = np.isfinite(e)
    bottom.plot(rounds[measured], e[measured], color="tab:blue", marker="." if measured.sum() < 60 else None)
    bottom.axhline(EQUILIBRIUM_TOL, color="grey", ls=":", label=f"equilibrium_tol {EQUILIBRIUM_TOL:g}")
    bottom.set_yscale("symlog", linthresh=EQUILIBRIUM_TOL)
    bottom.set_ylim(bottom=0)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    bottom.set(title="Distance from equilibrium: exploitability (mean gain from the best deviation)",
               xlabel="round", ylabel="exploitability")
    _round_axis(bottom)
    return fig


def _two_sided(model: pd.DataFrame, shares: list[str], space, title: str) -> plt.Figure:
    """The ``two_sided`` figure: what the platform posts and the buyers spend, and what it does to the market."""
    window = max(len(model) // 50, 1)
    smooth = model.rolling(window, min_periods=1).mean(numeric_only=True)
    params = [c for c in model if c.startswith("platform_param_")]
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
    ax = axes[0, 0]
    if params:
        for col in params:
            name = col.removeprefix("platform_param_")
            ax.plot(model["round"], model[col], lw=0.4, alpha=0.35)
            ax.plot(model["round"], smooth[col], lw=1.5, label=f"{name} (mean of {window} rounds)")
        ax.legend(loc="best", fontsize=8)
        ax.set(title="Posted parameter (learning platform)", ylabel="posted value")
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "the platform posts fixed parameters", ha="center", va="center")
    ax = axes[0, 1]
    if space.kind == "levels":
        for col in shares:
            ax.plot(model["round"], smooth[col], label=col.removeprefix("share_"))
        ax.legend(title=_action_title(space), loc="best", fontsize=8)
        ax.set(title=f"Share of owners at each action (mean of {window} rounds)", ylabel="share",
               ylim=(-0.02, 1.02))
    else:
        ax.plot(model["round"], smooth["mean_action"], label="mean owner action")
        ax.legend(loc="best", fontsize=8)
        ax.set(title=f"Mean owner action (mean of {window} rounds)", ylabel=_action_title(space))
    ax = axes[1, 0]
    for col, label in (("information_rent_total", "information rent"), ("platform_utility", "platform utility")):
        ax.plot(model["round"], smooth[col], label=label)
    if "platform_regret" in model:
        ax.plot(model["round"], model["platform_regret"] / model["round"], ls="--",
                label="regret / t (against the best fixed parameter)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.legend(loc="best", fontsize=8)
    ax.set(title=f"Rent, platform utility (mean of {window} rounds) and regret per round", xlabel="round",
           ylabel=f"amount per round ({MONEY_UNIT})")
    ax = axes[1, 1]
    if "buyer_mean_spend" in model:
        ax.plot(model["round"], smooth["buyer_mean_spend"], label="mean chosen spend per buyer")
        ax.plot(model["round"], smooth["buyer_surplus"], label="buyer surplus (all buyers)")
        ax.legend(loc="best", fontsize=8)
        ax.set(title=f"Strategic buyers (mean of {window} rounds)", xlabel="round",
               ylabel=f"amount per round ({MONEY_UNIT})")
    elif model["n_buyers"].any():
        ax.plot(model["round"], smooth["buyer_surplus"], label="buyer surplus")
        ax.legend(loc="best", fontsize=8)
        ax.set(title=f"Buyer surplus (mean of {window} rounds)", xlabel="round",
               ylabel=f"amount per round ({MONEY_UNIT})")
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no buyers in this market", ha="center", va="center")
    for ax in axes.flat:
        _round_axis(ax)
    fig.suptitle(f"Two-sided dynamics: {title}")
    return fig


def _mode(values: pd.Series) -> str:
    return values.value_counts().sort_index().idxmax()


def sweep_figures(sweep_dir: Path, out: Path | None = None) -> list[Path]:
    """Write the figures of a sweep directory (default into ``DIR/figures``); return their paths.

    Raises
    ------
    ValueError
        If ``sweep_dir`` lacks ``sweep.json`` or ``summary.parquet``.
    """
    figures = sweep_figure_objects(sweep_dir)
    return _save_all(figures, Path(out) if out is not None else Path(sweep_dir) / "figures")


def sweep_figure_objects(sweep_dir: Path) -> dict[str, plt.Figure]:
    """The figures of a sweep directory as matplotlib figures, by name (see the module docstring).

    Raises
    ------
    ValueError
        If ``sweep_dir`` lacks ``sweep.json`` or ``summary.parquet``.
    """
    sweep_dir = Path(sweep_dir)
    for name in ("sweep.json", "summary.parquet", "scenario.toml"):
        if not (sweep_dir / name).exists():
            raise ValueError(f"dir: {sweep_dir} has no {name} (not a finished sweep directory)")
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    summary = pd.read_parquet(sweep_dir / "summary.parquet")
    scenario = load(sweep_dir / "scenario.toml")
    keys = list(manifest["grid"])
    order = regime_order(sorted(summary["regime"].astype(str).unique()))
    colours = _palette(order)
    shares = [c for c in summary.columns if c.startswith("share_")]
    names = _share_names(build_mechanism(scenario).action_space)
    sns.set_theme(style="whitegrid")
    figures: dict[str, plt.Figure] = {}
    x = keys[0]
    numeric = pd.api.types.is_numeric_dtype(summary[x])

    if len(keys) == 1:
        cells = summary.groupby(x)["regime"].agg(_mode).reset_index()
        fig, (top, band) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=numeric,
                                        gridspec_kw={"height_ratios": [4, 1]})
        long = summary.melt(id_vars=[x], value_vars=shares, var_name="action", value_name="share")
        long["action"] = long["action"].map(lambda c: names.get(c, c.removeprefix("share_")))
        sns.lineplot(data=long, x=x, y="share", hue="action", ax=top, errorbar=("ci", 95), marker=".")
        top.legend(title="action (band: 95% interval)", loc="center left", bbox_to_anchor=(1.01, 0.5))
        top.set(title=f"Final action shares and regime across {describe_key(x)}\n{scenario.name}: "
                      f"{manifest['replicates']} replicate(s) per value, {manifest['rounds']} rounds",
                ylabel="share of owners", ylim=(-0.02, 1.02))
        values = cells[x].to_numpy(dtype=float) if numeric else np.arange(len(cells))
        edges = _edges(values)
        for k, regime in enumerate(cells["regime"]):
            band.axvspan(edges[k], edges[k + 1], color=colours.get(regime, "grey"), lw=0)
        band.set(yticks=[], xlabel=describe_key(x), xlim=(edges[0], edges[-1]))
        if not numeric:
            band.set_xticks(values, cells[x].astype(str))
        present = [r for r in order if r in set(cells["regime"])]
        band.legend(handles=_regime_handles(present, colours), title="regime", loc="center left",
                    bbox_to_anchor=(1.01, 0.5))
        figures["phase_band"] = fig
    else:
        y = keys[1]
        cells = summary.groupby([y, x])["regime"].agg(_mode).unstack(x)
        codes = cells.apply(lambda col: col.map({r: k for k, r in enumerate(order)}))
        fig, ax = plt.subplots(figsize=(8, 6))
        sns.heatmap(codes.astype(float), ax=ax, cmap=[colours[r] for r in order], vmin=-0.5,
                    vmax=len(order) - 0.5, cbar=False, linewidths=0.5,
                    xticklabels=[f"{v:g}" if isinstance(v, float) else str(v) for v in cells.columns],
                    yticklabels=[f"{v:g}" if isinstance(v, float) else str(v) for v in cells.index])
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelrotation=0)
        ax.tick_params(axis="y", labelrotation=0)
        present = [r for r in order if r in set(cells.stack())]
        ax.legend(handles=_regime_handles(present, colours), title="regime", loc="upper left",
                  bbox_to_anchor=(1.01, 1))
        ax.set(title=f"Phase diagram of the final regime: {scenario.name}", xlabel=describe_key(x),
               ylabel=describe_key(y))
        figures["phase_diagram"] = fig

    metrics = [m for m in SWEEP_METRICS if m in summary]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 4), squeeze=False)
    data = summary.copy()
    hue = keys[1] if len(keys) > 1 else None
    if hue is not None:  # one colour per value of the second key (a category, not a colour scale)
        data[hue] = data[hue].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    for k, (ax, metric) in enumerate(zip(axes[0], metrics)):
        sns.lineplot(data=data, x=x, y=metric, hue=hue, ax=ax, marker=".", errorbar=("ci", 95),
                     palette="tab10" if hue is not None else None, legend=k == len(metrics) - 1)
        ax.set(title=SWEEP_METRICS[metric][0], xlabel=describe_key(x), ylabel=SWEEP_METRICS[metric][1])
    if hue is not None:
        axes[0][-1].legend(title=describe_key(hue), loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle(f"Sweep summary: {scenario.name} (lines: mean over replicates; bands: 95% interval)")
    figures["sweep_metrics"] = fig
    return figures


#: Summary columns of the ``sweep_metrics`` figure: (title, y label).
SWEEP_METRICS = {"payout_share": ("payout share", "payments / (payments + platform utility)"),
                 "mean_action": ("final mean action", "mean action"),
                 "final_gini": ("final Gini of owner utility", "Gini")}


def _edges(values: np.ndarray) -> np.ndarray:
    """Band edges halfway between consecutive values (a cell's band covers its neighbourhood)."""
    if values.size == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    mid = (values[1:] + values[:-1]) / 2
    return np.r_[values[0] - (mid[0] - values[0]), mid, values[-1] + (values[-1] - mid[-1])]


def plot(directory: str | Path, out: str | Path | None = None) -> list[Path]:
    """The standard figures of a run or sweep directory (default into ``DIR/figures``).

    Raises
    ------
    ValueError
        If the directory is a tournament or a designed sweep (one line pointing to ``privmarket report
        DIR``, which renders them), or neither a run nor a sweep.
    """
    directory = Path(directory)
    for name, kind in (("tournament.json", "tournament"), ("design.json", "designed sweep")):
        if (directory / name).is_file():
            raise ValueError(f"{directory / name}: dir: this folder is a {kind}, which `privmarket plot` does not "
                             f"draw; `privmarket report {directory}` renders it")
    if (directory / "sweep.json").exists():
        return sweep_figures(directory, out)
    if (directory / "model.parquet").exists():
        return run_figures(directory, out)
    raise ValueError(f"dir: {directory} is neither a run (model.parquet) nor a sweep (sweep.json) directory")
