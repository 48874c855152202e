"""One self-contained HTML page of a run or sweep (``privmarket report DIR``).

The page (``DIR/report.html`` by default) holds the resolved scenario, the
summary metrics (:func:`analysis.emergence.summarize` of a run and its
payments above privacy cost by sensitivity decile in the last recorded round
(:func:`analysis.emergence.rent_by_decile`); for a sweep the per-cell means
over replicates and each cell's most frequent final regime), a run's
transient, regimes and regime shifts (:func:`analysis.regimes.shift_summary`,
change points listed apart as a diagnostic; for a sweep the cells where the
regime changes along the first swept parameter), the definitions of the
standard columns (:data:`market.simulation.metrics.STANDARD_COLUMNS`) and every standard figure of :mod:`analysis.plots` embedded as a
base64 PNG, so the file can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from analysis.emergence import rent_by_decile, summarize
from analysis.plots import plot
from analysis.regimes import EQUILIBRIUM_TOL, shift_summary
from market.simulation.metrics import STANDARD_COLUMNS
from scenarios.schema import load

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
    regime = shift_summary(model, scenario.mechanism)
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


def report(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of a run or sweep directory; return its path.

    Raises
    ------
    ValueError
        If the directory is neither a run nor a sweep.
    """
    directory = Path(directory)
    figures = plot(directory)
    if (directory / "sweep.json").exists():
        title, sections = _sweep_sections(directory)
    else:
        title, sections = _run_sections(directory)
    scenario = (directory / "scenario.toml").read_text()
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Scenario</h2>", f"<pre>{html.escape(scenario)}</pre>"]
    for heading, content in sections:
        body += [f"<h2>{html.escape(heading)}</h2>", content]
    body += ["<h2>Figures</h2>", _figures(figures)]
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = Path(out) if out is not None else directory / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
