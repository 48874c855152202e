"""Tournaments: every decision rule in every market, replicated over seeds, ranked with significance.

``privmarket tournament`` runs each *cell* -- a decision rule in a population
scenario (one market: its population and mechanism) -- once per replicate
seed, each a full, normal run of :class:`market.simulation.model.DataMarket` on the same
Dask path as ``privmarket sweep`` (:mod:`analysis.distributed`).  Replicate
``r`` uses seed ``scenario.seed + r`` for every rule, so the rules of one
scenario meet the same owners, buyers and draws (common random numbers) and
differences between them are paired over seeds.

Outcomes of one run (one function each, below; each reads a measures column
of ``model.parquet`` when the run has it):

==================== =====================================================================
owner_welfare        owners' mean utility per round, averaged over the run
platform_utility     the platform's utility per round, averaged over the run
information_rent     payments minus privacy costs summed over owners, per round, averaged
share_contributing   share of owners above the lowest action in the final round
free_riding          final ``free_riding_share``; shared-good mechanisms only (NaN elsewhere)
exploitability       final ``exploitability``: mean gain of the owners' best unilateral
                     deviations (0 at a Nash equilibrium)
rounds_to_converge   the run's ``settling_round`` (exploitability below ``equilibrium_tol``
                     from then on); the last round when it never converges
==================== =====================================================================

Per cell: the mean and a 95% Student-t confidence interval over replicates;
rules are ranked within each scenario by ``rank_by`` (default owner welfare,
higher is better) and overall by their mean rank.  Every pair of rules within
a scenario is compared by a paired test over seeds (paired t, or Wilcoxon's
signed-rank test) and the p-values of the whole tournament are corrected for
multiple comparisons by Holm's step-down method (Holm 1979, *Scand. J.
Statist.* 6).

**Mixed mode** (``mixed=True``): one market per scenario and seed in which
every population type is split evenly among the rules (a type's ``rule``,
:mod:`market.rules.mixed`), and the rules are ranked by their own owners'
payoff -- the tournament sense of Axelrod.

Output directory::

    DIR/tournament.json      the manifest (scenarios, rules, replicates, rounds, owners, mode)
    DIR/parts/<key>.parquet  one outcome row per run (``pandas.read_parquet(DIR / "parts")``)
    DIR/rounds/<scenario>/rule=<rule>/replicate=<r>.parquet   the run's model table
    DIR/failed/<key>.txt     the one-line reason of a failed run (removed when a rerun succeeds)
    DIR/results.parquet/.csv one row per run
    DIR/ranking.parquet/.csv one row per cell: means, CIs, rank
    DIR/rules.parquet/.csv   one row per rule: mean rank over the scenarios
    DIR/tests.parquet/.csv   every paired test: difference, p, Holm-adjusted p, significant
    DIR/tournament.md        the ranked tables and the significance statements (Markdown; the HTML page
                             with the heatmaps is ``privmarket report DIR``, :mod:`analysis.report`)
    DIR/figures/heatmap_<outcome>.png/.svg   rule x scenario heatmap of each outcome
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import seaborn as sns  # noqa: E402
from scipy import stats  # noqa: E402

from market.registry import RULES  # noqa: E402
from analysis.distributed import Failure, dask_client, run_tasks  # noqa: E402
from analysis.emergence import settling_round  # noqa: E402
from analysis.regimes import EQUILIBRIUM_TOL  # noqa: E402
from market.simulation.recorder import Recorder  # noqa: E402
from analysis.plots import _save  # noqa: E402
from market.simulation.provenance import TOURNAMENT_OUTCOMES, scenario_hash, table_with_provenance  # noqa: E402
from market.core.mechanism import Mechanism  # noqa: E402
from market.simulation.model import DataMarket  # noqa: E402
from market.core.population import OwnerArrays  # noqa: E402
from scenarios.schema import DECISION_KEYS, load  # noqa: E402

#: One population scenario per mechanism: the default markets of a tournament.
DEFAULT_SCENARIOS = {
    "posted_price": "quickstart",
    "naive_fl": "rules_best_response",
    "value_shaping": "p001_value_shaping",
    "budget_balanced": "p003_heterogeneous",
    "peer_prediction": "p004_value_of_privacy",
    "fair_payment": "p000_fig5",
}
#: Outcomes of a run, in table order.
OUTCOMES = ("owner_welfare", "platform_utility", "information_rent", "share_contributing", "free_riding",
            "exploitability", "rounds_to_converge")
#: The outcome of mixed mode: each rule's own owners' payoff.
MIXED_OUTCOMES = ("owner_payoff",)
#: Outcomes where lower is better (the others rank higher first).
LOWER_IS_BETTER = frozenset({"free_riding", "exploitability", "rounds_to_converge"})
TESTS = ("t", "wilcoxon")


# ------------------------------------------------------------------ outcomes
def owner_welfare(frame: pd.DataFrame) -> float:
    """Owners' mean utility per round, averaged over the run."""
    return float(frame["mean_utility"].mean())


def platform_utility(frame: pd.DataFrame) -> float:
    """The platform's utility per round, averaged over the run."""
    return float(frame["platform_utility"].mean())


def information_rent(frame: pd.DataFrame) -> float:
    """Total information rent per round (``information_rent_total``, ``docs/measures.md``), averaged over the run."""
    return float(frame["information_rent_total"].mean())


def share_contributing(owners: OwnerArrays, mechanism: Mechanism) -> float:
    """Share of owners whose final action is above the lowest candidate (NaN without owners)."""
    if len(owners) == 0:
        return float("nan")
    return float(np.mean(owners.action > mechanism.action_space.values[0]))


def free_riding(frame: pd.DataFrame) -> float:
    """Final ``free_riding_share``; NaN where the mechanism has no shared good (the column is absent)."""
    return float(frame["free_riding_share"].iloc[-1]) if "free_riding_share" in frame else float("nan")


def exploitability(frame: pd.DataFrame) -> float:
    """Final ``exploitability``: the mean gain of the owners' best unilateral deviations (0 at a Nash equilibrium)."""
    measured = frame["exploitability"].dropna()
    return float(measured.iloc[-1]) if len(measured) else float("nan")


def rounds_to_converge(frame: pd.DataFrame) -> float:
    """The run's ``settling_round`` (exploitability below ``equilibrium_tol`` from then on); the run's
    length when it never converges, so a rule that does not settle ranks last."""
    settled = settling_round(frame["exploitability"].to_numpy(dtype=float), frame["round"].to_numpy(),
                             EQUILIBRIUM_TOL)
    return float(settled if settled is not None else frame["round"].iloc[-1])


def run_outcomes(frame: pd.DataFrame, model: DataMarket) -> dict[str, float]:
    """Every outcome of :data:`OUTCOMES` for a finished run, from the standard measures of ``docs/measures.md``."""
    return {"owner_welfare": owner_welfare(frame), "platform_utility": platform_utility(frame),
            "information_rent": information_rent(frame),
            "share_contributing": share_contributing(model.owners, model.mechanism),
            "free_riding": free_riding(frame),
            "exploitability": exploitability(frame),
            "rounds_to_converge": rounds_to_converge(frame)}


# ------------------------------------------------------------------ scenarios
def tournament_scenario(scenario: str | Path | Mapping[str, Any], rule: str | None, *, rounds: int | None = None,
                        owners: int | None = None, overrides: Sequence[str] = (),
                        mixed_rules: Sequence[str] = ()) -> dict[str, Any]:
    """The resolved scenario dict of one cell.

    ``rule`` replaces ``[decision] rule`` (the scenario's own rule parameters
    are dropped; the rule's defaults apply, ``overrides`` may set them).  With
    ``mixed_rules`` every population type is split into one type per rule
    (share divided evenly), so each rule gets a like share of every type.
    ``owners`` resizes a population drawn from types.
    """
    raw = load(scenario).to_dict()
    decision = {k: v for k, v in raw["decision"].items() if k in DECISION_KEYS}
    pop = raw["population"]
    if rule is not None:
        decision["rule"] = rule
    if mixed_rules:
        if "types" not in pop:
            raise ValueError(f"{raw['name']}: mixed mode needs a population of [[population.types]]")
        decision["rule"] = mixed_rules[0]
        pop["types"] = [{**t, "share": t["share"] / len(mixed_rules), "rule": r}
                        for t in pop["types"] for r in mixed_rules]
    raw["decision"] = decision
    if owners is not None and "owners" in pop:
        pop["owners"] = int(owners)
    return load(raw, list(overrides), rounds=rounds).to_dict()


@dataclass
class _Run:
    scenario: dict[str, Any]
    label: str
    rule: str
    replicate: int
    out: str | None

    @property
    def key(self) -> str:
        return f"{self.label}__{self.rule}__r{self.replicate}"


def _run_cell(task: _Run) -> dict[str, Any]:
    """One full run of a cell and replicate; write its model table and outcome row; return the row(s)."""
    seed = int(task.scenario["seed"]) + task.replicate
    scenario = load(task.scenario, seed=seed)
    model = DataMarket(scenario, recorder=Recorder(None, owner_every=0), collect=False)
    mixed = task.rule == "mixed"
    payoff = []
    if mixed:
        groups = len(model.rule.names)

        def accumulate(_round: int) -> None:
            g = model.owners.extra["rule_group"].astype(np.int64)
            total = np.bincount(g, weights=model.owners.utility, minlength=groups)
            count = np.bincount(g, minlength=groups)
            payoff.append(np.divide(total, count, out=np.full(groups, np.nan), where=count > 0))

        model.run(progress=accumulate)
    else:
        model.run()
    model.recorder.close()
    frame = model.recorder.frames()["model"]
    keys = {"scenario": task.label, "mechanism": scenario.mechanism.name, "replicate": task.replicate,
            "seed": seed}
    if mixed:
        mean_payoff = np.nanmean(np.vstack(payoff), axis=0)
        g = model.owners.extra["rule_group"].astype(np.int64)
        rows = [{**keys, "rule": name, "owner_payoff": float(mean_payoff[k]),
                 "owners": int(np.count_nonzero(g == k))} for k, name in enumerate(model.rule.names)]
    else:
        rows = [{**keys, "rule": task.rule, **run_outcomes(frame, model)}]
    if task.out is not None:
        out = Path(task.out)
        resolved = scenario.to_dict()
        _write(pd.DataFrame(rows), out / "parts" / f"{task.key}.parquet", resolved, seed, columns=TOURNAMENT_OUTCOMES)
        _write(frame, out / "rounds" / task.label / f"rule={task.rule}" / f"replicate={task.replicate}.parquet",
               resolved, seed)
    return {"key": task.key, "rows": rows}


def _write(frame: pd.DataFrame, path: Path, scenario: Mapping[str, Any] | None = None,
           seed: int | Sequence[int] | None = None, **extra: Any) -> None:
    """Write a table with provenance (:func:`market.simulation.provenance.with_provenance`), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table = table_with_provenance(pa.Table.from_pandas(frame, preserve_index=False), scenario, seed, **extra)
    pq.write_table(table, tmp)
    tmp.replace(path)


# ------------------------------------------------------------------ statistics
def confidence_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval over replicates (NaNs dropped; NaN bounds below 2 values)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: :math:`\\tilde p_{(i)} = \\max_{j \\le i} \\min(1, (m - j + 1) p_{(j)})`."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def paired_p(x: np.ndarray, y: np.ndarray, test: str) -> float:
    """Two-sided p-value of a paired test of ``x`` against ``y`` (same seeds).

    Identical samples give 1; a constant non-zero difference gives 0 for the t
    test (no variance: the difference is certain).
    """
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    if d.size < 2 or np.all(d == 0):
        return 1.0
    if test == "wilcoxon":
        return float(stats.wilcoxon(d).pvalue)
    if np.all(d == d[0]):
        return 0.0
    return float(stats.ttest_rel(x, y).pvalue)


def cell_table(results: pd.DataFrame, outcomes: Sequence[str], rank_by: str) -> pd.DataFrame:
    """One row per scenario and rule: ``n``, each outcome's mean and CI, and the ``rank`` within the scenario."""
    rows = []
    for (scenario, mechanism, rule), g in results.groupby(["scenario", "mechanism", "rule"], sort=True):
        row = {"scenario": scenario, "mechanism": mechanism, "rule": rule, "n": len(g)}
        for name in outcomes:
            row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = confidence_interval(g[name].to_numpy())
        rows.append(row)
    table = pd.DataFrame(rows)
    ascending = rank_by in LOWER_IS_BETTER
    table["rank"] = table.groupby("scenario")[rank_by].rank(ascending=ascending, method="min").astype(int)
    return table.sort_values(["scenario", "rank", "rule"]).reset_index(drop=True)


def rule_table(cells: pd.DataFrame, rank_by: str) -> pd.DataFrame:
    """One row per rule: ``mean_rank`` over the scenarios and the mean of ``rank_by``, best first."""
    table = cells.groupby("rule").agg(mean_rank=("rank", "mean"), **{rank_by: (rank_by, "mean")},
                                      scenarios=("scenario", "nunique")).reset_index()
    return table.sort_values(["mean_rank", "rule"]).reset_index(drop=True)


def pairwise_tests(results: pd.DataFrame, outcome: str, test: str = "t", alpha: float = 0.05) -> pd.DataFrame:
    """Every pair of rules within each scenario, paired over seeds, Holm-corrected over the whole tournament.

    Returns
    -------
    pandas.DataFrame
        ``scenario, rule_a, rule_b, n, difference`` (mean of a minus b),
        ``p``, ``p_holm``, ``significant`` (``p_holm < alpha``).
    """
    if test not in TESTS:
        raise ValueError(f"test: must be one of {', '.join(TESTS)}, got {test!r}")
    rows = []
    for scenario, g in results.groupby("scenario", sort=True):
        wide = g.pivot_table(index="replicate", columns="rule", values=outcome)
        for a, b in itertools.combinations(sorted(wide.columns), 2):
            pair = wide[[a, b]].dropna()
            x, y = pair[a].to_numpy(), pair[b].to_numpy()
            rows.append({"scenario": scenario, "rule_a": a, "rule_b": b, "n": len(pair),
                         "difference": float(np.mean(x - y)) if len(pair) else float("nan"),
                         "p": paired_p(x, y, test) if len(pair) else float("nan")})
    table = pd.DataFrame(rows, columns=["scenario", "rule_a", "rule_b", "n", "difference", "p"])
    finite = table["p"].notna().to_numpy()
    table["p_holm"] = np.nan
    table.loc[finite, "p_holm"] = holm(table.loc[finite, "p"].to_numpy())
    table["significant"] = table["p_holm"] < alpha
    return table


def statements(cells: pd.DataFrame, tests: pd.DataFrame, outcome: str, test: str, alpha: float) -> list[str]:
    """Plain sentences: per scenario, the leader, whether it beats the runner-up significantly, and counts."""
    lines = []
    name = {"t": "paired t test", "wilcoxon": "Wilcoxon signed-rank test"}[test]
    for scenario, g in cells.groupby("scenario", sort=True):
        g = g.sort_values(["rank", "rule"])
        t = tests[tests["scenario"] == scenario]
        n_sig = int(t["significant"].sum())
        line = f"{scenario}: {g['rule'].iloc[0]} ranks first by {outcome} ({g[outcome].iloc[0]:.4g})"
        if len(g) > 1:
            first, second = g["rule"].iloc[0], g["rule"].iloc[1]
            pair = t[((t["rule_a"] == first) & (t["rule_b"] == second))
                     | ((t["rule_a"] == second) & (t["rule_b"] == first))]
            if len(pair):
                p = pair["p_holm"].iloc[0]
                verdict = "significantly" if bool(pair["significant"].iloc[0]) else "not significantly"
                line += f"; {verdict} ahead of {second} (Holm-adjusted p = {p:.3g})"
        lines.append(f"{line}; {n_sig} of {len(t)} pairs differ significantly.")
    lines.append(f"Tests: {name} over paired seeds, Holm-corrected over all {len(tests)} pairs, alpha = {alpha:g}.")
    return lines


# ------------------------------------------------------------------ figures and pages
def heatmaps(cells: pd.DataFrame, outcomes: Sequence[str], out: Path) -> list[Path]:
    """A rule x scenario heatmap of each outcome's mean (PNG and SVG); outcomes that are all NaN are skipped."""
    paths = []
    out.mkdir(parents=True, exist_ok=True)
    for name in outcomes:
        labelled = cells.assign(market=cells["scenario"] + "\n(" + cells["mechanism"] + ")")
        grid = labelled.pivot_table(index="rule", columns="market", values=name, dropna=False)
        if grid.isna().all().all():
            continue
        column = max(1.4, 0.12 * max(len(label) for label in labelled["scenario"]))  # labels never overlap
        fig, ax = plt.subplots(figsize=(column * grid.shape[1] + 3, 0.45 * grid.shape[0] + 1.8))
        sns.heatmap(grid, annot=True, fmt=".3g", cmap="viridis", ax=ax, cbar_kws={"label": name})
        ax.set_title(f"{name}: mean over seeds")
        ax.set_xlabel("scenario (mechanism)")
        ax.tick_params(axis="x", labelrotation=0)
        ax.set_ylabel("decision rule")
        paths += _save(fig, out, f"heatmap_{name}")
    return paths


def _markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def ranked_view(cells: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    """The cells ranked within each scenario, each outcome as ``mean [95% CI]`` text."""
    view = cells[["scenario", "mechanism", "rank", "rule", "n"]].copy()
    for name in outcomes:
        view[name] = [f"{m:.4g} [{lo:.4g}, {hi:.4g}]" if np.isfinite(lo) else f"{m:.4g}"
                      for m, lo, hi in zip(cells[name], cells[f"{name}_ci_low"], cells[f"{name}_ci_high"])]
    return view


def header(manifest: Mapping[str, Any], rank_by: str) -> str:
    """One sentence saying what a tournament (its ``tournament.json``) ran and how it is ranked."""
    mode = "mixed populations (all rules in one market; ranked by their owners' own payoff)" \
        if manifest["mixed"] else "one rule per market"
    return (f"{len(manifest['rules'])} rules x {len(manifest['scenarios'])} scenarios x {manifest['replicates']} "
            f"seeds, {mode}; ranked by {rank_by} ({'lower' if rank_by in LOWER_IS_BETTER else 'higher'} is "
            f"better); rounds {manifest['rounds'] or 'as in each scenario'}, owners "
            f"{manifest['owners'] or 'as in each scenario'}.")


def write_markdown(out: Path, cells: pd.DataFrame, rules: pd.DataFrame, lines: list[str],
                   outcomes: Sequence[str], figures: list[Path], heading: str) -> Path:
    """``tournament.md``: header, statements, rule ranking, ranked cells, heatmaps (the HTML page of the same
    is ``privmarket report DIR``, :mod:`analysis.report`)."""
    md = [f"# Tournament\n\n{heading}\n", "## Significance\n", *[f"- {s}" for s in lines], "",
          "## Rules by mean rank\n", _markdown(rules), "",
          "## Cells, ranked within each scenario (mean [95% CI] over seeds)\n",
          _markdown(ranked_view(cells, outcomes)), ""]
    md += [f"![{p.stem}](figures/{p.name})" for p in figures if p.suffix == ".png"]
    path = out / "tournament.md"
    path.write_text("\n".join(md) + "\n")
    return path


# ------------------------------------------------------------------ the tournament
@dataclass
class TournamentResult:
    """What a tournament produced.

    Attributes
    ----------
    results : pandas.DataFrame
        One row per run (scenario, mechanism, rule, replicate, seed, outcomes).
    cells : pandas.DataFrame
        The ranked cell table (means, CIs, rank).
    rules : pandas.DataFrame
        Rules by mean rank.
    tests : pandas.DataFrame
        The paired tests.
    statements : list of str
        The significance statements.
    failures : list of Failure
        Runs that raised (their one-line reasons).
    computed : int
        Runs done by this call (the others were already on disk).
    out_dir : pathlib.Path
        The output directory.
    """

    results: pd.DataFrame
    cells: pd.DataFrame
    rules: pd.DataFrame
    tests: pd.DataFrame
    statements: list[str]
    failures: list[Failure]
    computed: int
    out_dir: Path


def select_scenarios(scenarios: Sequence[str] | None, mechanisms: Sequence[str] | None) -> list[str]:
    """The population scenarios of a tournament: the given ones (filtered by mechanism), else the defaults.

    Raises
    ------
    ValueError
        For a mechanism without a default scenario, or a filter that leaves nothing.
    """
    if scenarios:
        chosen = list(scenarios)
        if mechanisms:
            chosen = [s for s in chosen if load(s).mechanism.name in mechanisms]
    else:
        for m in mechanisms or ():
            if m not in DEFAULT_SCENARIOS:
                raise ValueError(f"mechanisms: no default scenario for {m!r} (defaults: "
                                 f"{', '.join(DEFAULT_SCENARIOS)}; or give --scenarios)")
        chosen = [DEFAULT_SCENARIOS[m] for m in (mechanisms or DEFAULT_SCENARIOS)]
    if not chosen:
        raise ValueError("scenarios: none left after the mechanism filter")
    return chosen


def tournament(out: str | Path, *, rules: Sequence[str] | None = None, scenarios: Sequence[str] | None = None,
               mechanisms: Sequence[str] | None = None, replicates: int = 5, rounds: int | None = None,
               owners: int | None = None, overrides: Sequence[str] = (), mixed: bool = False,
               rank_by: str | None = None, test: str = "t", alpha: float = 0.05, client: Any = None,
               scheduler: str | None = None, n_workers: int | None = None, processes: bool = True,
               progress: bool = False) -> TournamentResult:
    """Run (or resume) a tournament and write its tables, pages and heatmaps; see the module docstring.

    Parameters
    ----------
    out : path
        Output directory (rerun with the same arguments to resume).
    rules : sequence of str, optional
        Decision rules (default: every registered rule).
    scenarios, mechanisms : sequence of str, optional
        Population scenarios, and/or a mechanism filter (:func:`select_scenarios`).
    replicates : int
        Seeds per cell.
    rounds, owners : int, optional
        Override every scenario's rounds / population size (populations drawn from types).
    overrides : sequence of str
        ``--set`` overrides applied to every scenario after the rule is set.
    mixed : bool
        Mixed mode: all rules in one market, ranked by their owners' payoff.
    rank_by : str, optional
        The ranking outcome (default ``owner_welfare``, in mixed mode ``owner_payoff``).
    test : {"t", "wilcoxon"}
        The paired test.
    alpha : float
        Significance level after Holm's correction.
    client, scheduler, n_workers, processes
        Where to run (:func:`analysis.distributed.dask_client`).
    progress : bool
        Progress bar on standard error.

    Raises
    ------
    ValueError
        For an unknown rule, outcome or test, replicates below 1, an invalid scenario
        (:class:`scenarios.schema.ScenarioError`), or an output directory holding another tournament.
    """
    rules = list(rules or sorted(RULES))
    for r in rules:
        if r not in RULES:
            raise ValueError(f"rules: unknown decision rule {r!r} (known: {', '.join(sorted(RULES))})")
    if replicates < 1:
        raise ValueError("replicates: must be at least 1")
    if test not in TESTS:
        raise ValueError(f"test: must be one of {', '.join(TESTS)}, got {test!r}")
    outcomes = MIXED_OUTCOMES if mixed else OUTCOMES
    rank_by = rank_by or outcomes[0]
    if rank_by not in outcomes:
        raise ValueError(f"rank_by: must be one of {', '.join(outcomes)}, got {rank_by!r}")
    chosen = select_scenarios(scenarios, mechanisms)
    if mixed and not scenarios:
        chosen = [s for s in chosen if load(s).population.types]
    resolved = {}
    for s in chosen:  # fail fast on a bad scenario or override, before any worker starts
        label = load(s).name
        if mixed:
            resolved[label] = {"mixed": tournament_scenario(s, None, rounds=rounds, owners=owners,
                                                            overrides=overrides, mixed_rules=rules)}
        else:
            resolved[label] = {r: tournament_scenario(s, r, rounds=rounds, owners=owners, overrides=overrides)
                               for r in rules}
    out_dir = Path(out)
    _manifest(out_dir, {"scenarios": chosen, "rules": rules, "replicates": replicates, "rounds": rounds,
                        "owners": owners, "overrides": list(overrides), "mixed": mixed,
                        "hashes": {f"{label}/{r}": scenario_hash(d) for label, cells in resolved.items()
                                   for r, d in cells.items()}})
    tasks = [_Run(d, label, r, k, str(out_dir)) for label, cells in resolved.items() for r, d in cells.items()
             for k in range(replicates)]
    todo = [t for t in tasks if not (out_dir / "parts" / f"{t.key}.parquet").exists()]
    failures: list[Failure] = []
    if todo:
        with dask_client(scheduler, n_workers, processes, client) as running:
            _, failures = run_tasks(running, _run_cell, todo, [t.key for t in todo], out_dir / "failed", progress)
    done = {t.key for t in tasks} - {f.key for f in failures}
    parts = [out_dir / "parts" / f"{k}.parquet" for k in sorted(done)]
    results = pd.read_parquet(parts) if parts else pd.DataFrame()
    if results.empty:
        return TournamentResult(results, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), [], failures,
                                len(todo), out_dir)
    results = results.sort_values(["scenario", "rule", "replicate"]).reset_index(drop=True)
    cells = cell_table(results, outcomes, rank_by)
    rule_rank = rule_table(cells, rank_by)
    tests = pairwise_tests(results, rank_by, test, alpha)
    lines = statements(cells, tests, rank_by, test, alpha)
    info = {"replicates": replicates, "rank_by": rank_by, "test": test, "alpha": alpha, "mixed": mixed}
    manifest = json.loads((out_dir / "tournament.json").read_text())
    seeds = results["seed"].unique().tolist()
    for name, frame in (("results", results), ("ranking", cells), ("rules", rule_rank), ("tests", tests)):
        _write(frame, out_dir / f"{name}.parquet", manifest["hashes"], seeds, columns=TOURNAMENT_OUTCOMES, **info)
        frame.to_csv(out_dir / f"{name}.csv", index=False)
    figures = heatmaps(cells, outcomes, out_dir / "figures")
    write_markdown(out_dir, cells, rule_rank, lines, outcomes, figures,
                   header(manifest, rank_by))
    return TournamentResult(results, cells, rule_rank, tests, lines, failures, len(todo), out_dir)


def _manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Write ``tournament.json``, or check that the directory holds this very tournament."""
    path = out_dir / "tournament.json"
    if path.exists():
        if json.loads(path.read_text()) != json.loads(json.dumps(manifest)):
            raise ValueError(f"out: {out_dir} holds a different tournament (remove it or choose another directory)")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
