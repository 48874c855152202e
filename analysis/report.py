"""One self-contained HTML page of an output folder (``privmarket report DIR``): run, sweep, design, tournament.

The kind of folder is read from its metadata file (:func:`folder_kind`):
``tournament.json`` a tournament (:mod:`analysis.tournament`), ``design.json``
a designed sweep (:mod:`analysis.design`), ``sweep.json`` a grid sweep
(:mod:`analysis.sweep`), else a run.  An experiment folder whose runs are not
all finished (interrupted, or with failed runs) is refused with one line
(:func:`require_complete`); an unfinished run folder is refused by
:func:`market.simulation.run_directory.require_complete`.

The page (``DIR/report.html`` by default) holds

* for a **run**: the resolved scenario, the summary metrics
  (:func:`analysis.emergence.summarize` and the payments above privacy cost by
  sensitivity decile in the last recorded round,
  :func:`analysis.emergence.rent_by_decile`), the transient, regimes and regime
  shifts (:func:`analysis.regimes.shift_summary`, change points listed apart
  as a diagnostic), the definitions of the standard columns
  (:data:`market.simulation.metrics.STANDARD_COLUMNS`) and the standard figures
  of :mod:`analysis.plots`;
* for a **grid sweep**: the per-cell means over replicates and each cell's
  most frequent final regime, the cells where the regime changes along the
  first swept parameter, and the sweep figures;
* for a **designed sweep**: the design (kind, seed, sample size, parameter
  ranges), a summary of the sample table (each measure's mean, spread and
  range over the runs) and, for every metric ``privmarket sensitivity`` has
  analysed (``DIR/sensitivity/indices_<metric>.parquet``), the indices with
  their 95% bootstrap intervals and the tornado plot;
* for a **tournament**: what ran, the significance statements, the ranking of
  the rules (in mixed mode: by their own owners' payoff), the cells ranked
  within each scenario with 95% intervals, and the rule x mechanism heatmap of
  each outcome.

Every figure is embedded as a base64 PNG, so the file can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

import pyarrow.parquet as pq

from analysis.design import read_design
from analysis.emergence import rent_by_decile, summarize
from analysis.plots import plot
from analysis.regimes import EQUILIBRIUM_TOL, shift_summary
from analysis.sweep import grid_cells
from analysis.tournament import MIXED_OUTCOMES, OUTCOMES, header, ranked_view, statements
from market.simulation.metrics import STANDARD_COLUMNS
from market.simulation.model import build_mechanism
from market.simulation.provenance import read_provenance
from scenarios.schema import load

#: The metadata file that marks each kind of folder, checked in this order (a run is what is left).
KINDS = {"tournament": "tournament.json", "design": "design.json", "sweep": "sweep.json"}

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:0.85em}
img{max-width:100%;margin:1em 0}"""


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="undefined", border=0)


def _figures(paths: list[Path]) -> str:
    parts = []
    for path in paths:
        if path.suffix == ".png":
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(path.stem.replace('_', ' '))}</figcaption></figure>")
    return "\n".join(parts)


def _run_sections(directory: Path) -> tuple[str, list[tuple[str, str]]]:
    model = pd.read_parquet(directory / "model.parquet")
    owners_path = directory / "owners.parquet"
    owners = pd.read_parquet(owners_path) if owners_path.exists() else None
    scenario = load(directory / "scenario.toml")
    summary = summarize(model, owners, equilibrium_tol=EQUILIBRIUM_TOL)
    metrics = pd.DataFrame({"metric": list(summary), "value": [str(v) for v in summary.values()]})
    regime = shift_summary(model, build_mechanism(scenario))
    instrument = regime["regime_instrument"]
    kind = ("the mechanism's theory classes" if instrument["kind"] == "class"
            else f"stationary levels of {instrument['series']}")
    transient = regime["transient"]
    parts = [f"<p>Regimes are {html.escape(kind)} lasting at least {instrument['min_duration']} rounds; "
             f"a level shift must exceed {instrument['noise_factor']:g} x the estimated noise "
             f"({instrument['noise'] or 0:.3g}). Transient: <b>{transient['length']} rounds</b>"
             + (f" (to round {transient['end_round']})" if transient["end_round"] is not None else "") + ".</p>"]
    if regime["regimes"]:
        parts.append(_table(pd.DataFrame(regime["regimes"])))
    parts.append(_table(pd.DataFrame(regime["regime_shifts"])) if regime["regime_shifts"]
                 else "<p>No regime shift.</p>")
    cps = regime["change_points"]["rounds"]
    parts.append(f"<p>Change points of {html.escape(regime['change_points']['series'])} (a diagnostic, not "
                 f"shifts): {', '.join(map(str, cps)) if cps else 'none'}.</p>")
    title = f"Run of {scenario.name} ({scenario.mechanism.name}, seed {scenario.seed}, {scenario.rounds} rounds)"
    sections = [("Summary metrics", _table(metrics)), ("Transient and regime shifts", "\n".join(parts))]
    summary_path = directory / "summary.json"
    learning = json.loads(summary_path.read_text()).get("platform") if summary_path.exists() else None
    if learning:
        flat = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in learning.items()}
        sections.append(("Learning platform (regret, first-best, price of not knowing)",
                         _table(pd.DataFrame({"quantity": list(flat), "value": [str(v) for v in flat.values()]}))))
    if owners is not None and not owners.empty:
        last = owners[owners["round"] == owners["round"].max()]
        deciles = rent_by_decile(last["payment"], last["cost"], last["sensitivity"])
        sections.append((f"Payments above privacy cost by sensitivity decile (round {int(last['round'].iloc[0])})",
                         _table(deciles)))
    columns = pd.DataFrame([c._asdict() for c in STANDARD_COLUMNS])
    sections.append(("Standard columns of model.parquet", _table(columns)))
    return title, sections


def _sweep_sections(directory: Path) -> tuple[str, list[tuple[str, str]]]:
    manifest = json.loads((directory / "sweep.json").read_text())
    summary = pd.read_parquet(directory / "summary.parquet")
    keys = list(manifest["grid"])
    numbers = [c for c in summary.select_dtypes("number").columns
               if c not in ("cell", "replicate", "seed", *keys)]
    cells = summary.groupby(["cell", *keys], sort=True)[numbers].mean().reset_index()
    cells["regime"] = summary.groupby("cell")["regime"].agg(lambda r: r.value_counts().sort_index().idxmax()).values
    by = keys[1:]
    changes = []
    for _, group in (cells.groupby(by, sort=True) if by else [((), cells)]):
        group = group.sort_values(keys[0])
        prev = group.iloc[:-1]
        nxt = group.iloc[1:]
        for (_, a), (_, b) in zip(prev.iterrows(), nxt.iterrows()):
            if a["regime"] != b["regime"]:
                changes.append({**{k: a[k] for k in by}, f"{keys[0]} from": a[keys[0]],
                                f"{keys[0]} to": b[keys[0]], "regime before": a["regime"], "regime after": b["regime"]})
    shift_html = (_table(pd.DataFrame(changes)) if changes
                  else f"The regime does not change along {html.escape(keys[0])}.")
    grid = ", ".join(f"{k} ({len(v)} values)" for k, v in manifest["grid"].items())
    title = (f"Sweep of {manifest['scenario']}: {grid}; {manifest['replicates']} replicates, "
             f"{manifest['rounds']} rounds")
    shown = [*keys, "regime", *[c for c in ("mean_action", "payout_share", "cum_information_rent_total", "final_gini",
                                           "settling_round") if c in cells]]
    return title, [("Cells (means over replicates; most frequent final regime)", _table(cells[shown])),
                   ("Regime shifts across the grid", shift_html)]


def _design_sections(directory: Path) -> tuple[str, list[tuple[str, str]], list[Path]]:
    design, data = read_design(directory)
    summary = pd.read_parquet(directory / "summary.parquet")
    title = (f"{design.kind.upper() if design.kind == 'lhs' else design.kind.capitalize()} design on "
             f"{data['scenario']}: {len(design.params)} parameters, design seed {design.seed}, sample size "
             f"{design.samples} ({len(design.x)} points x {data['replicates']} replicates, {data['rounds']} rounds)")
    params = pd.DataFrame([{"parameter": p.key, "low": p.low, "high": p.high, "integer": p.integer,
                            "values": ", ".join(map(str, p.values))} for p in design.params])
    measures = [c for c in summary.select_dtypes("number").columns
                if c not in ("cell", "replicate", "seed", *params["parameter"])]
    spread = summary[measures].agg(["mean", "std", "min", "max"]).T.reset_index(names="measure")
    sections = [("Design", f"<p>{html.escape(design.kind)} design drawn by SALib with seed {design.seed} and "
                           f"sample size {design.samples}: {len(design.x)} points, each run "
                           f"{data['replicates']} times.</p>" + _table(params)),
                (f"Sample table: {len(summary)} runs (each measure over the runs)", _table(spread))]
    figures = []
    indices = sorted((directory / "sensitivity").glob("indices_*.parquet"))
    for path in indices:
        info = read_provenance(pq.read_schema(path))
        metric = info.get("metric", path.stem.removeprefix("indices_"))
        parts = [_table(pd.read_parquet(path))]
        second = path.with_name(f"second_order_{metric}.parquet")
        if second.is_file():
            parts += ["<p>Second-order indices:</p>", _table(pd.read_parquet(second))]
        png = path.with_suffix(".png")
        if png.is_file():
            parts.append(_figures([png]))
        sections.append((f"Sensitivity of {metric} (*_conf: half-width of the 95% bootstrap interval)",
                         "\n".join(parts)))
    if not indices:
        sections.append(("Sensitivity", f"<p>No indices yet: <code>privmarket sensitivity {html.escape(str(directory))}"
                                        " --metric NAME</code> computes them.</p>"))
    return title, sections, figures


def _tournament_sections(directory: Path) -> tuple[str, list[tuple[str, str]], list[Path]]:
    manifest = json.loads((directory / "tournament.json").read_text())
    info = read_provenance(pq.read_schema(directory / "ranking.parquet"))
    rank_by, test, alpha = info["rank_by"], info["test"], float(info["alpha"])
    cells = pd.read_parquet(directory / "ranking.parquet")
    rules = pd.read_parquet(directory / "rules.parquet")
    tests = pd.read_parquet(directory / "tests.parquet")
    outcomes = MIXED_OUTCOMES if manifest["mixed"] else OUTCOMES
    title = "Mixed-population tournament" if manifest["mixed"] else "Tournament of decision rules and mechanisms"
    lines = statements(cells, tests, rank_by, test, alpha)
    ranking = ("Mixed-population ranking: rules by their own owners' payoff (mean rank over the scenarios)"
               if manifest["mixed"] else f"Rules by mean rank over the scenarios (ranked by {rank_by})")
    sections = [("What ran", f"<p>{html.escape(header(manifest, rank_by))}</p>"),
                ("Significance", "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in lines) + "</ul>"),
                (ranking, _table(rules)),
                ("Cells ranked within each scenario (mean [95% CI] over seeds)",
                 _table(ranked_view(cells, outcomes))),
                ("Paired tests (Holm-adjusted p)", _table(tests))]
    return title, sections, sorted((directory / "figures").glob("heatmap_*.png"))


def folder_kind(directory: str | Path) -> str:
    """``"tournament"``, ``"design"``, ``"sweep"`` or ``"run"``: what an output folder holds, by its metadata file."""
    directory = Path(directory)
    return next((kind for kind, name in KINDS.items() if (directory / name).is_file()), "run")


def _missing(directory: Path, kind: str) -> tuple[int, int, Path]:
    """``(unfinished, total, failures)`` runs of an experiment folder and where its failure records are."""
    manifest = json.loads((directory / KINDS[kind]).read_text())
    if kind == "tournament":
        keys = [f"{cell.replace('/', '__', 1)}__r{r}" for cell in manifest["hashes"]
                for r in range(manifest["replicates"])]
        done = sum((directory / "parts" / f"{k}.parquet").is_file() for k in keys)
        return len(keys) - done, len(keys), directory / "failed"
    points = len(manifest["x"]) if kind == "design" else len(manifest.get("cells") or grid_cells(manifest["grid"]))
    total = points * manifest["replicates"]
    done = sum((directory / "rounds" / f"cell={c}" / f"replicate={r}.parquet").is_file()
               for c in range(points) for r in range(manifest["replicates"]))
    return total - done, total, directory / "failures"


def require_complete(directory: str | Path) -> str:
    """The kind of an experiment folder (``"run"`` is checked elsewhere) once every run of it has finished.

    Raises
    ------
    ValueError
        ``"DIR/<metadata>: runs: K of N not finished ..."`` (one line) for an interrupted experiment or one
        with failed runs, or when its result tables are missing.
    """
    directory = Path(directory)
    kind = folder_kind(directory)
    if kind == "run":
        return kind
    marker = directory / KINDS[kind]
    try:
        unfinished, total, failed = _missing(directory, kind)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{marker}: unreadable ({type(exc).__name__}: {exc})") from None
    if unfinished:
        why = f"; failure records in {failed}/" if failed.is_dir() and any(failed.iterdir()) else ""
        raise ValueError(f"{marker}: runs: {unfinished} of {total} not finished{why}; rerun the same command "
                         "to finish them")
    tables = ("ranking.parquet", "rules.parquet", "tests.parquet") if kind == "tournament" else ("summary.parquet",)
    for name in tables:
        if not (directory / name).is_file():
            raise ValueError(f"{directory / name}: missing; rerun the same command to write it")
    return kind


def report(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of a run, sweep, designed sweep or tournament folder; return its path.

    Raises
    ------
    ValueError
        If the directory is none of these, or an unfinished experiment (:func:`require_complete`).
    """
    directory = Path(directory)
    kind = require_complete(directory)
    if kind == "tournament":
        title, sections, figures = _tournament_sections(directory)
        manifest = {k: v for k, v in json.loads((directory / "tournament.json").read_text()).items() if k != "hashes"}
        setting = ("Tournament manifest (tournament.json, without the scenario hashes)",
                   json.dumps(manifest, indent=2))
    else:
        if kind == "design":
            title, sections, figures = _design_sections(directory)
        else:
            figures = plot(directory)
            title, sections = _sweep_sections(directory) if kind == "sweep" else _run_sections(directory)
        setting = ("Scenario", (directory / "scenario.toml").read_text())
    body = [f"<h1>{html.escape(title)}</h1>"]
    setting_html = [f"<h2>{html.escape(setting[0])}</h2>", f"<pre>{html.escape(setting[1])}</pre>"]
    first = kind in ("run", "sweep")  # a design's or tournament's results come first, their setting last
    if first:
        body += setting_html
    for heading, content in sections:
        body += [f"<h2>{html.escape(heading)}</h2>", content]
    if figures:
        body += ["<h2>Heatmaps: rule x scenario (mechanism)</h2>" if kind == "tournament" else "<h2>Figures</h2>",
                 _figures(figures)]
    if not first:
        body += setting_html
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = Path(out) if out is not None else directory / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
