"""Standard figures of a run or a sweep (``privmarket plot DIR``), as PNG and SVG.

Of a run directory (``privmarket run --out DIR``):

``action_shares``   share of owners at each action level over the rounds
``payments``        payments, privacy cost, information rent and platform utility per round
``welfare``         utilitarian welfare and Gini of owner utility per recorded round
                    (from ``owners.parquet``; mean utility when owner state was not recorded)
``regimes``         the action shares over coloured bands of the regime of each round,
                    with the change points of the mean action as dashed lines

Of a sweep directory (``privmarket sweep --out DIR``):

``phase_band``      one swept parameter: the final action shares against it (mean over
                    replicates, with 95% intervals) above a band coloured by each cell's
                    regime (the most frequent final regime over replicates)
``phase_diagram``   two or more swept parameters: each cell of the first two as a square
                    coloured by its regime (most frequent over replicates and other keys)
``sweep_metrics``   payout share, mean action and final Gini against the first parameter

Every figure has a title, labelled axes and a legend, so it reads without the code.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.regimes import change_points, classify_rounds, regime_order, regime_spans  # noqa: E402
from analysis.welfare_measures import welfare_table  # noqa: E402
from scenarios.schema import load


def _save(fig: plt.Figure, out: Path, name: str) -> list[Path]:
    """Write ``name.png`` and ``name.svg``, grown to hold every legend placed outside the axes.

    SVG text stays text (``svg.fonttype = "none"``), so it can be searched and read by screen readers.
    """
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.tight_layout()
    with plt.rc_context({"svg.fonttype": "none"}):
        for path in paths:
            fig.savefig(path, dpi=120, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return paths


#: ``model.parquet`` money columns of the payments figure and their legend labels.
MONEY = {"total_payments": "payments to owners", "total_cost": "owners' privacy cost",
         "information_rent": "information rent (payments - cost)", "platform_utility": "platform utility"}


def _palette(order: list[str]) -> dict[str, tuple]:
    return dict(zip(order, sns.color_palette("Set2", len(order))))


def _action_title(space) -> str:
    """Legend title of the action-share lines."""
    return "action level" if space.kind == "levels" else "action"


def _share_columns(model: pd.DataFrame, space) -> list[str]:
    if space.kind == "continuous":
        return ["share_zero"]
    return [f"share_{label}" for label in space.labels]


def run_figures(run_dir: Path, out: Path | None = None) -> list[Path]:
    """Write the figures of a run directory; return their paths (PNG and SVG).

    Raises
    ------
    ValueError
        If ``run_dir`` lacks ``model.parquet`` or ``scenario.toml``.
    """
    run_dir = Path(run_dir)
    for name in ("model.parquet", "scenario.toml"):
        if not (run_dir / name).exists():
            raise ValueError(f"dir: {run_dir} has no {name} (not a run directory)")
    out = Path(out) if out is not None else run_dir / "figures"
    out.mkdir(parents=True, exist_ok=True)
    model = pd.read_parquet(run_dir / "model.parquet")
    owners_path = run_dir / "owners.parquet"
    owners = pd.read_parquet(owners_path) if owners_path.exists() else pd.DataFrame()
    scenario = load(run_dir / "scenario.toml")
    space, mech = scenario.mechanism.action_space, scenario.mechanism.name
    shares = _share_columns(model, space)
    title = f"{scenario.name} ({mech}, seed {scenario.seed})"
    paths: list[Path] = []
    sns.set_theme(style="whitegrid")

    fig, ax = plt.subplots(figsize=(8, 4))
    long = model.melt(id_vars="round", value_vars=shares, var_name="action", value_name="share")
    long["action"] = long["action"].str.removeprefix("share_")
    sns.lineplot(data=long, x="round", y="share", hue="action", ax=ax)
    ax.legend(title=_action_title(space), loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set(title=f"Share of owners at each action: {title}", xlabel="round", ylabel="share of owners",
           ylim=(-0.02, 1.02))
    paths += _save(fig, out, "action_shares")

    fig, ax = plt.subplots(figsize=(10, 4))
    long = model.melt(id_vars="round", value_vars=list(MONEY), var_name="quantity", value_name="value")
    long["quantity"] = long["quantity"].map(MONEY)
    sns.lineplot(data=long, x="round", y="value", hue="quantity", ax=ax)
    ax.axhline(0, color="grey", lw=0.8)
    ax.legend(title="per round", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set(title=f"Payments, privacy cost, information rent, platform utility: {scenario.name}",
           xlabel="round", ylabel="amount per round")
    paths += _save(fig, out, "payments")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    if not owners.empty:
        welfare = welfare_table(owners)
        sns.lineplot(data=welfare, x="round", y="utilitarian", ax=axes[0], marker="o")
        axes[0].set(title="Utilitarian welfare (sum of owner utility)", ylabel="welfare")
        if welfare["gini"].notna().any():
            sns.lineplot(data=welfare, x="round", y="gini", ax=axes[1], marker="o")
            axes[1].set(title="Gini of owner utility (gaps: undefined)", ylabel="Gini", ylim=(0, 1))
        else:
            axes[1].set_axis_off()
            axes[1].text(0.5, 0.5, "Gini of owner utility undefined in every recorded round\n"
                         "(some owner has a negative utility, or all have 0)", ha="center", va="center")
    else:
        sns.lineplot(data=model, x="round", y="mean_utility", ax=axes[0])
        axes[0].set(title="Mean owner utility", ylabel="mean utility")
        axes[1].set_axis_off()
        axes[1].text(0.5, 0.5, "no owner state recorded\n(--owner-every 0)", ha="center", va="center")
    fig.suptitle(f"Owner welfare: {title}")
    paths += _save(fig, out, "welfare")

    regimes = classify_rounds(model, mech, space)
    order = regime_order(mech, space)
    colours = _palette(order)
    fig, ax = plt.subplots(figsize=(8, 4))
    for span in regime_spans(model["round"], regimes).itertuples():
        ax.axvspan(span.start - 0.5, span.end + 0.5, color=colours[span.regime], alpha=0.35, lw=0)
    for col in shares:
        ax.plot(model["round"], model[col], label=col.removeprefix("share_"))
    for cp in change_points(model["mean_action"].to_numpy()):
        ax.axvline(model["round"].iloc[cp], color="k", ls="--", lw=1)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[r], alpha=0.35) for r in order]
    legend = ax.legend(handles, order, title="regime", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.add_artist(legend)
    ax.legend(title=f"share at {_action_title(space)}", loc="lower left", bbox_to_anchor=(1.01, 0))
    ax.set(title=f"Regimes over time (dashed: change points of the mean action): {scenario.name}",
           xlabel="round", ylabel="share of owners", ylim=(-0.02, 1.02))
    paths += _save(fig, out, "regimes")
    return paths


def _mode(values: pd.Series) -> str:
    return values.value_counts().sort_index().idxmax()


def sweep_figures(sweep_dir: Path, out: Path | None = None) -> list[Path]:
    """Write the figures of a sweep directory; return their paths (PNG and SVG).

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
    order = regime_order(scenario.mechanism.name, scenario.mechanism.action_space)
    colours = _palette(order)
    shares = [c for c in summary.columns if c.startswith("share_")]
    out = Path(out) if out is not None else sweep_dir / "figures"
    out.mkdir(parents=True, exist_ok=True)
    sns.set_theme(style="whitegrid")
    paths: list[Path] = []
    x = keys[0]
    numeric = pd.api.types.is_numeric_dtype(summary[x])

    if len(keys) == 1:
        cells = summary.groupby(x)["regime"].agg(_mode).reset_index()
        fig, (top, band) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=numeric,
                                        gridspec_kw={"height_ratios": [4, 1]})
        long = summary.melt(id_vars=[x], value_vars=shares, var_name="action", value_name="share")
        long["action"] = long["action"].str.removeprefix("share_")
        sns.lineplot(data=long, x=x, y="share", hue="action", ax=top, errorbar=("ci", 95), marker=".")
        top.legend(title="action", loc="center left", bbox_to_anchor=(1.01, 0.5))
        top.set(title=f"Final action shares and regime across {x}\n{scenario.name}: "
                      f"{manifest['replicates']} replicate(s) per value, {manifest['rounds']} rounds",
                ylabel="share of owners", ylim=(-0.02, 1.02))
        values = cells[x].to_numpy(dtype=float) if numeric else np.arange(len(cells))
        edges = _edges(values)
        for k, regime in enumerate(cells["regime"]):
            band.axvspan(edges[k], edges[k + 1], color=colours.get(regime, "grey"), lw=0)
        band.set(yticks=[], xlabel=x, xlim=(edges[0], edges[-1]))
        if not numeric:
            band.set_xticks(values, cells[x].astype(str))
        handles = [plt.Rectangle((0, 0), 1, 1, color=colours[r]) for r in order]
        band.legend(handles, order, title="regime", loc="center left", bbox_to_anchor=(1.01, 0.5))
        paths += _save(fig, out, "phase_band")
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
        handles = [plt.Rectangle((0, 0), 1, 1, color=colours[r]) for r in order]
        ax.legend(handles, order, title="regime", loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.set(title=f"Phase diagram of the final regime: {scenario.name}", xlabel=x, ylabel=y)
        paths += _save(fig, out, "phase_diagram")

    metrics = [m for m in SWEEP_METRICS if m in summary]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 4), squeeze=False)
    data = summary.copy()
    hue = keys[1] if len(keys) > 1 else None
    if hue is not None:  # one colour per value of the second key (a category, not a colour scale)
        data[hue] = data[hue].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    for k, (ax, metric) in enumerate(zip(axes[0], metrics)):
        sns.lineplot(data=data, x=x, y=metric, hue=hue, ax=ax, marker=".", errorbar=("ci", 95),
                     palette="tab10" if hue is not None else None, legend=k == len(metrics) - 1)
        ax.set(title=SWEEP_METRICS[metric][0], xlabel=x, ylabel=SWEEP_METRICS[metric][1])
    if hue is not None:
        axes[0][-1].legend(title=hue, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle(f"Sweep summary: {scenario.name} (mean over replicates, 95% interval)")
    paths += _save(fig, out, "sweep_metrics")
    return paths


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
        If the directory is neither a run nor a sweep.
    """
    directory = Path(directory)
    if (directory / "sweep.json").exists():
        return sweep_figures(directory, out)
    if (directory / "model.parquet").exists():
        return run_figures(directory, out)
    raise ValueError(f"dir: {directory} is neither a run (model.parquet) nor a sweep (sweep.json) directory")
