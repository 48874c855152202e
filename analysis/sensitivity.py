"""Global sensitivity indices of a designed sweep, computed by SALib.

``privmarket sensitivity DIR --metric NAME`` reads the design
(``DIR/design.json``, :mod:`analysis.design`) and the sweep's summary table,
averages the metric over the replicates of each design point, and computes

* for a **Sobol** design: first-order :math:`S_i`, total-order :math:`S_{Ti}`
  and second-order :math:`S_{ij}` indices with 95% bootstrap confidence
  intervals (``SALib.analyze.sobol``; Saltelli et al. 2010, *Comput. Phys.
  Commun.* 181, Table 2 estimators);
* for a **Morris** design: :math:`\\mu^*` (mean absolute elementary effect,
  with its bootstrap interval) and :math:`\\sigma` (their spread: interactions
  or non-linearity) (``SALib.analyze.morris``; Campolongo et al. 2007);
* for a **Latin hypercube**: the moment-independent :math:`\\delta` and
  first-order :math:`S_1` with bootstrap intervals (``SALib.analyze.delta``;
  Plischke et al. 2013), which need no special sample structure.

Each ``*_conf`` column is the half-width of the 95% interval.  Output
(default ``DIR/sensitivity/``): ``indices_<metric>.parquet/.csv``, for Sobol
``second_order_<metric>.parquet/.csv``, and a tornado plot of the indices
sorted by size, ``indices_<metric>.png/.svg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from SALib.analyze import delta, morris, sobol  # noqa: E402

from analysis.design import MORRIS_LEVELS, Design, problem, read_design  # noqa: E402
from analysis.plots import _save  # noqa: E402
from market.simulation.provenance import read_provenance, table_with_provenance  # noqa: E402

#: Bootstrap resamples of every confidence interval.
RESAMPLES = 1000
#: What each design's indices are called.
METHODS = {"sobol": "Sobol", "morris": "Morris", "lhs": "delta (moment-independent)"}


@dataclass
class SensitivityResult:
    """Indices of one metric: ``table`` (one row per parameter), ``second_order`` (Sobol pairs, else None)."""

    method: str
    metric: str
    table: pd.DataFrame
    second_order: pd.DataFrame | None
    runs: int
    design_seed: int
    paths: list[Path]


def metric_values(summary: pd.DataFrame, metric: str, points: int) -> np.ndarray:
    """The metric of each design point, averaged over its replicates (cell ``k`` is point ``k``).

    Raises
    ------
    ValueError
        If the column is missing or not numeric, or a point has no finite value.
    """
    numeric = [c for c in summary.columns if pd.api.types.is_numeric_dtype(summary[c])
               and c not in ("cell", "replicate", "seed")]
    if metric not in numeric:
        raise ValueError(f"metric: no numeric column {metric!r} in the summary (have: {', '.join(numeric)})")
    y = summary.groupby("cell")[metric].mean().reindex(range(points)).to_numpy(dtype=float)
    missing = np.flatnonzero(~np.isfinite(y))
    if missing.size:
        raise ValueError(f"metric: {metric!r} is missing or not finite at {missing.size} design points "
                         f"(first: cell {missing[0]}; failed or unfinished runs? rerun the sweep)")
    return y


def indices(design: Design, y: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The sensitivity table of a design and its outputs (one per point); see the module docstring."""
    prob = problem(design.params)
    names = prob["names"]
    if design.kind == "sobol":
        res = sobol.analyze(prob, y, calc_second_order=True, num_resamples=RESAMPLES, conf_level=0.95,
                            seed=design.seed)
        table = pd.DataFrame({"parameter": names, "S1": res["S1"], "S1_conf": res["S1_conf"],
                              "ST": res["ST"], "ST_conf": res["ST_conf"]})
        pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
        second = pd.DataFrame({"parameter": [names[i] for i, _ in pairs], "with": [names[j] for _, j in pairs],
                               "S2": [res["S2"][i, j] for i, j in pairs],
                               "S2_conf": [res["S2_conf"][i, j] for i, j in pairs]})
        return table, second
    if design.kind == "morris":
        res = morris.analyze(prob, design.x, y, num_resamples=RESAMPLES, conf_level=0.95,
                             num_levels=MORRIS_LEVELS, seed=design.seed)
        return pd.DataFrame({"parameter": names, "mu": res["mu"], "mu_star": res["mu_star"],
                             "mu_star_conf": res["mu_star_conf"], "sigma": res["sigma"]}), None
    res = delta.analyze(prob, design.x, y, num_resamples=RESAMPLES, conf_level=0.95, seed=design.seed)
    return pd.DataFrame({"parameter": names, "delta": res["delta"], "delta_conf": res["delta_conf"],
                         "S1": res["S1"], "S1_conf": res["S1_conf"]}), None


def tornado(table: pd.DataFrame, kind: str, metric: str, out: Path) -> list[Path]:
    """Horizontal bars of the main indices with their 95% intervals, largest on top (PNG and SVG)."""
    bars = {"sobol": ("ST", "S1"), "morris": ("mu_star",), "lhs": ("delta", "S1")}[kind]
    order = table.sort_values(bars[0])
    y = np.arange(len(order))
    height = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(order) + 1.5))
    for k, name in enumerate(bars):
        ax.barh(y + (k - (len(bars) - 1) / 2) * height, order[name], height, xerr=order[f"{name}_conf"],
                capsize=3, label=name)
    ax.set_yticks(y, order["parameter"])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("index (bars: 95% bootstrap interval)")
    ax.set_title(f"{METHODS[kind]} sensitivity of {metric}")
    ax.legend(loc="lower right")
    out.mkdir(parents=True, exist_ok=True)
    return _save(fig, out, f"indices_{metric}")


def sensitivity(sweep_dir: str | Path, metric: str, out: str | Path | None = None) -> SensitivityResult:
    """Compute, write and plot the indices of ``metric`` for a designed sweep; see the module docstring.

    Raises
    ------
    ValueError
        If the directory holds no designed sweep, the metric is unknown or incomplete.
    """
    sweep_dir = Path(sweep_dir)
    design, _ = read_design(sweep_dir)
    path = sweep_dir / "summary.parquet"
    if not path.is_file():
        raise ValueError(f"{sweep_dir}: no summary.parquet (the sweep has not finished)")
    summary = pd.read_parquet(path)
    source = read_provenance(pq.read_schema(path))
    y = metric_values(summary, metric, len(design.x))
    table, second = indices(design, y)
    out_dir = Path(out) if out is not None else sweep_dir / "sensitivity"
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {"design": design.kind, "design_seed": design.seed, "samples": design.samples, "metric": metric}
    paths = []
    for name, frame in ((f"indices_{metric}", table), (f"second_order_{metric}", second)):
        if frame is None:
            continue
        pq.write_table(table_with_provenance(pa.Table.from_pandas(frame, preserve_index=False),
                                             source.get("scenario_hash", ""), source.get("seed"), **info),
                       out_dir / f"{name}.parquet")
        frame.to_csv(out_dir / f"{name}.csv", index=False)
        paths += [out_dir / f"{name}.parquet", out_dir / f"{name}.csv"]
    paths += tornado(table, design.kind, metric, out_dir)
    return SensitivityResult(METHODS[design.kind], metric, table, second, len(summary), design.seed, paths)
