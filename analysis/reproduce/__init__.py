"""``privmarket reproduce <paper-id>``: the simulator's proof of faithfulness.

Each paper has a module ``analysis.reproduce.pNNN`` with these functions:

``checks() -> list[Check]``
    every checked quantity: the paper's (or its model page's) value beside the
    simulator's, computed through the public API;
``figures(out_dir: pathlib.Path) -> list[pathlib.Path]``
    the figure analogues, written as PNG files into ``out_dir``;
``tables() -> list[str]`` (optional)
    table analogues as plain text, printed after the checks.

:func:`reproduce` runs them and returns a :class:`Report`; it also writes the
check table as ``checks.json`` and ``checks.csv`` into the output directory
(:meth:`Report.write_checks`).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from market.simulation.progress import progress_bar

log = logging.getLogger(__name__)

#: Paper ids and their short titles (their models: ``docs/models/``).
PAPERS = {
    "000": "Fair value of data under heterogeneous privacy constraints (Kang et al.)",
    "001": "Mechanisms that incentivize data sharing in FL (accuracy / value shaping)",
    "002": "FL-Market: incentive mechanism for privacy-preserving FL",
    "003": "Incentives in FL: equilibria, dynamics and welfare-maximizing mechanisms",
    "004": "The value of data privacy with an untrusted collector",
}


@dataclass(frozen=True)
class Check:
    """One checked quantity.

    Attributes
    ----------
    name : str
        What is checked, in the paper's words (e.g. ``"c_th (Thm 3)"``).
    paper : float
        The paper's value, or the model page's golden number.
    simulated : float
        The simulator's value.
    tolerance : float
        Absolute tolerance of the comparison.
    source : str
        Where the value is stated (``"paper eq. 9"``, ``"docs/models/fl_market.md#g3"``).
    """

    name: str
    paper: float
    simulated: float
    tolerance: float
    source: str = ""

    @property
    def ok(self) -> bool:
        """Whether the simulator matches within the tolerance (NaN never does)."""
        return math.isfinite(self.simulated) and abs(self.simulated - self.paper) <= self.tolerance


@dataclass
class Report:
    """The outcome of reproducing one paper."""

    paper_id: str
    checks: list[Check]
    figures: list[Path] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(c.ok for c in self.checks)

    def table(self) -> str:
        """The checks as an aligned plain-text table."""
        width = max([len(c.name) for c in self.checks] + [8])
        lines = [f"{'quantity':<{width}}  {'paper':>14}  {'simulator':>14}  {'tol':>9}  ok   source"]
        for c in self.checks:
            lines.append(
                f"{c.name:<{width}}  {c.paper:>14.6g}  {c.simulated:>14.6g}  {c.tolerance:>9.2g}  "
                f"{'yes' if c.ok else 'NO ':<4} {c.source}"
            )
        return "\n".join(lines)

    def check_rows(self) -> list[dict[str, object]]:
        """The checks as records: ``quantity, paper, simulator, tolerance, ok, source`` (NaN as ``None``)."""
        return [{"quantity": c.name, "paper": c.paper,
                 "simulator": c.simulated if math.isfinite(c.simulated) else None,
                 "tolerance": c.tolerance, "ok": c.ok, "source": c.source} for c in self.checks]

    def write_checks(self, out_dir: Path | str) -> list[Path]:
        """Write the check table as ``checks.json`` (with the paper id) and ``checks.csv``; return both paths."""
        out = Path(out_dir)
        rows = self.check_rows()
        json_path, csv_path = out / "checks.json", out / "checks.csv"
        json_path.write_text(json.dumps({"paper": self.paper_id, "title": PAPERS[self.paper_id],
                                         "passed": sum(r["ok"] for r in rows), "checks": rows}, indent=2) + "\n")
        pd.DataFrame(rows, columns=["quantity", "paper", "simulator", "tolerance", "ok", "source"]).to_csv(
            csv_path, index=False)
        return [json_path, csv_path]


def reproduce(paper_id: str, out_dir: Path | str, progress: bool = False) -> Report:
    """Run every check of one paper and write its figure analogues.

    Parameters
    ----------
    paper_id : str
        ``"000"`` ... ``"004"``.
    out_dir : path
        Directory for the PNG figures (created if missing).
    progress : bool
        Show a progress bar over the stages (checks, figures, tables) on a
        terminal; each stage is also logged with its duration.

    Raises
    ------
    KeyError
        If ``paper_id`` is not one of :data:`PAPERS`.
    LookupError
        If the paper's reproduction module does not exist yet.
    """
    if paper_id not in PAPERS:
        raise KeyError(paper_id)
    try:
        module = importlib.import_module(f"analysis.reproduce.p{paper_id}")
    except ModuleNotFoundError as exc:
        if exc.name == f"analysis.reproduce.p{paper_id}":
            raise LookupError(f"reproduction of paper {paper_id} is not implemented yet") from None
        raise
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = {"checks": module.checks, "figures": lambda: module.figures(out),
              "tables": getattr(module, "tables", list)}
    done = {}
    with progress_bar(len(stages), "stage", desc=f"paper {paper_id}", enabled=progress) as bar:
        for name, stage in stages.items():
            bar.set_description(f"paper {paper_id}: {name}")
            start = time.perf_counter()
            done[name] = stage()
            log.info("paper %s: %s done in %.1f s", paper_id, name, time.perf_counter() - start)
            bar.update(1)
    report = Report(paper_id, done["checks"], done["figures"], done["tables"])
    report.write_checks(out)
    return report
