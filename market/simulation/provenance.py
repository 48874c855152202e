"""Provenance of every Parquet file: scenario hash, seed, version, and each column's definition and unit.

Every table the project writes carries, in its Arrow schema metadata under the
key ``privmarket``, a JSON object

.. code-block:: json

    {"scenario_hash": "sha256 of the resolved scenario", "seed": 3, "version": "0.1.0",
     "columns": {"information_rent": {"definition": "...", "unit": "utility"}, "...": {}}}

and each field carries its own ``definition`` and ``unit`` as field metadata,
so a file read years later still says what it holds and where it came from
(``pyarrow.parquet.read_schema(path).metadata[b"privmarket"]``; :func:`read_provenance`).

:func:`column_metadata` is the one lookup of column definitions and units.
The standard columns of ``model.parquet`` come from their one table,
:data:`market.simulation.metrics.STANDARD_COLUMNS` (``docs/measures.md``);
the owner, event, sweep, tournament and sensitivity columns from
:data:`COLUMNS`, :data:`TOURNAMENT_OUTCOMES` (a tournament run's outcomes) and
:data:`PATTERNS` here (grid and design parameters are scenario keys,
``mechanism.sale_price``).  A table over several runs names their sorted
seeds; one over several scenarios (a tournament's) the hash of the mapping of
their hashes; a table computed from another file (sensitivity indices) that
file's hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import pyarrow as pa

from market.simulation.metrics import STANDARD_COLUMNS

#: Schema-metadata key of the provenance object.
KEY = b"privmarket"

#: The standard model columns, name -> (definition, unit), from their one table.
STANDARD: dict[str, tuple[str, str]] = {c.name: (c.definition, c.unit) for c in STANDARD_COLUMNS}
#: Other columns, name -> (definition, unit).
COLUMNS: dict[str, tuple[str, str]] = {
    # owners.parquet / events.parquet (market/simulation/recorder.py)
    "owner_id": ("the owner's unique id", "id"),
    "sensitivity": ("the owner's privacy sensitivity (weight of its privacy cost)", "utility per cost unit"),
    "data_size": ("the owner's amount of data", "data units"),
    "action": ("the owner's action (privacy level or data amount)", "action"),
    "payment": ("payment to the owner in the round", "utility"),
    "cost": ("the owner's privacy cost in the round", "utility"),
    "utility": ("the owner's utility in the round", "utility"),
    "kind": ("event kind", "category"),
    "agent_id": ("id of the agent the event concerns", "id"),
    # sweeps (analysis/sweep.py, analysis/emergence.py)
    "cell": ("index of the parameter combination", "index"),
    "replicate": ("replicate number; the seed is the base seed plus it", "index"),
    "seed": ("random seed of the run", "seed"),
    "rounds": ("rounds run", "rounds"),
    "payout_share": ("share of the platform's gross surplus paid to owners, over the run", "share"),
    "settling_round": ("first round after which the series stays within tolerance of its final value", "round"),
    "converged": ("whether the run settled before its last round", "boolean"),
    "amplitude": ("half the range of the series over the tail window", "action"),
    "cycle_period": ("smallest period of the tail of the series (0: none found)", "rounds"),
    "final_free_riding_standalone": ("share of owners below their stand-alone optimum, final round", "share"),
    "regime": ("the final round's regime class", "category"),
    "regime_switches": ("number of regime changes over the run", "count"),
    "regime_shifts": ("number of regime shifts over the run (analysis.regimes.analyse_regimes)", "count"),
    "transient_length": ("rounds before the first lasting regime (the whole run when none lasts)", "rounds"),
    "cum_total_payments": ("total_payments summed over every round of the run", "money"),
    "cum_information_rent_total": ("information_rent_total summed over every round of the run", "money"),
    "cum_platform_utility": ("platform_utility summed over every round of the run", "money"),
    "cum_buyer_spend": ("buyer_spend summed over every round of the run", "money"),
    "equilibrium_tol": ("tolerance of exploitability below which the run counts as settled",
                        "money per owner per round"),
    "null_values": ("why each empty number of the row is empty: a JSON object, column -> reason "
                    "(analysis.null_values)", "text"),
    # tournaments (analysis/tournament.py)
    "scenario": ("the scenario (population and market) of the cell", "name"),
    "mechanism": ("the platform's mechanism", "name"),
    "rule": ("the owners' decision rule", "name"),
    "owners": ("owners following the rule at the end of the run (mixed populations)", "owners"),
    "rank": ("rank of the rule within the scenario by the ranking outcome (1: best)", "rank"),
    "mean_rank": ("mean of the rule's ranks over the scenarios", "rank"),
    "scenarios": ("number of scenarios the rule was ranked in", "count"),
    "n": ("replicates behind the mean", "count"),
    "rule_a": ("first rule of the compared pair", "name"),
    "rule_b": ("second rule of the compared pair", "name"),
    "difference": ("mean over paired seeds of rule_a's ranking outcome minus rule_b's", "as the ranking outcome"),
    "p": ("two-sided p-value of the paired test over seeds", "probability"),
    "p_holm": ("p adjusted by Holm's step-down method over every pair of the tournament", "probability"),
    "significant": ("p_holm below the significance level alpha", "boolean"),
    # sensitivity indices (analysis/sensitivity.py)
    "parameter": ("the varied scenario key", "name"),
    "S1": ("first-order Sobol index", "share of variance"),
    "S1_conf": ("half-width of the 95% bootstrap interval of S1", "share of variance"),
    "ST": ("total-order Sobol index", "share of variance"),
    "ST_conf": ("half-width of the 95% bootstrap interval of ST", "share of variance"),
    "mu_star": ("Morris mean absolute elementary effect", "metric per range"),
    "mu_star_conf": ("half-width of the 95% bootstrap interval of mu_star", "metric per range"),
    "sigma": ("standard deviation of the Morris elementary effects", "metric per range"),
    "mu": ("Morris mean elementary effect (signed)", "metric per range"),
    "delta": ("Borgonovo's moment-independent delta index", "share of the output distribution"),
    "delta_conf": ("half-width of the 95% bootstrap interval of delta", "share of the output distribution"),
    "with": ("the other parameter of a second-order pair", "name"),
    "S2": ("second-order Sobol index of the pair (parameter, with)", "share of variance"),
    "S2_conf": ("half-width of the 95% bootstrap interval of S2", "share of variance"),
    "metric": ("the summary column analysed", "name"),
}

#: The outcomes of one tournament run (:mod:`analysis.tournament`), name -> (definition, unit).  Where a
#: name is also a per-round standard column (``platform_utility``, ``exploitability``), a tournament table
#: is described by this table instead (``with_provenance(..., columns=TOURNAMENT_OUTCOMES)``).
TOURNAMENT_OUTCOMES: dict[str, tuple[str, str]] = {
    "owner_welfare": ("owners' mean utility per round (mean_utility), averaged over the run",
                      "money per owner per round"),
    "platform_utility": ("the platform's utility per round, averaged over the run", "money per round"),
    "information_rent": ("information_rent_total per round, averaged over the run", "money per round"),
    "share_contributing": ("share of owners above the lowest action in the final round", "fraction"),
    "free_riding": ("free_riding_share in the final round (shared-good mechanisms only; NaN elsewhere)",
                    "fraction"),
    "exploitability": ("exploitability in the final round: the owners' mean gain from their best unilateral "
                       "deviation", "money per owner per round"),
    "rounds_to_converge": ("the run's settling round: exploitability below equilibrium_tol from then on (the "
                           "last round when it never settles)", "round"),
    "owner_payoff": ("mean utility per round of the owners following the rule, averaged over the run",
                     "money per owner per round"),
}

#: The definition of a column no table here knows (a mechanism's own metric not yet listed).
UNDEFINED = "not defined in market.simulation.provenance (a mechanism's own metric: see its documentation)"

#: (regular expression, definition template, unit) for families of columns; ``{0}`` is the captured part.
PATTERNS: tuple[tuple[str, str, str], ...] = (
    (r"share_(.+)", "share of owners at action {0} in the round", "share"),
    (r"rent_decile_(\d+)", "mean information rent of sensitivity decile {0} in the final round", "utility"),
    (r"(.+)_ci_low", "lower end of the 95% confidence interval of {0} over replicates", "as {0}"),
    (r"(.+)_ci_high", "upper end of the 95% confidence interval of {0} over replicates", "as {0}"),
    (r"(.+)_sd", "standard deviation of {0} over replicates", "as {0}"),
    (r"final_(.+)", "{0} of the owners in the final recorded round", "as {0}"),
    (r"S2_(.+)", "second-order Sobol index with {0}", "share of variance"),
    (r"([a-z_]+(?:\.[\w]+)+)", "the scenario value {0} of the cell or design point (a --grid or --param key)",
     "as the scenario key {0} (docs/scenarios.md)"),
)


def column_metadata(name: str, own: Mapping[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    """``(definition, unit)`` of a column: from ``own`` (a table's own columns, e.g. :data:`TOURNAMENT_OUTCOMES`), the
    standard columns, :data:`COLUMNS`, :data:`PATTERNS`; else :data:`UNDEFINED`.

    Examples
    --------
    >>> column_metadata("cell")[1]
    'index'
    >>> column_metadata("share_2")[0]
    'share of owners at action 2 in the round'
    """
    if own is not None and name in own:
        return own[name]
    if name in STANDARD:
        return STANDARD[name]
    if name in COLUMNS:
        return COLUMNS[name]
    for pattern, definition, unit in PATTERNS:
        match = re.fullmatch(pattern, name)
        if match:
            return definition.format(*match.groups()), unit.format(*match.groups())
    return UNDEFINED, "unknown"


def scenario_hash(scenario: Mapping[str, Any] | None) -> str:
    """SHA-256 of a resolved scenario dict (keys sorted, JSON), or ``""`` when there is none."""
    if scenario is None:
        return ""
    text = json.dumps(scenario, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def project_version() -> str:
    """The installed privmarket version (``"unknown"`` when not installed)."""
    try:
        return metadata.version("privmarket")
    except metadata.PackageNotFoundError:
        return "unknown"


def with_provenance(schema: pa.Schema, scenario: Mapping[str, Any] | str | None = None,
                    seed: int | Sequence[int] | None = None, *,
                    columns: Mapping[str, tuple[str, str]] | None = None, **extra: Any) -> pa.Schema:
    """``schema`` with the provenance object and per-field definitions and units (see the module docstring).

    Parameters
    ----------
    schema : pyarrow.Schema
        The table's schema (existing metadata is kept, pandas' included).
    scenario : mapping or str, optional
        The resolved scenario (hashed; for a table over several scenarios, the mapping of their
        hashes), or the hash itself (a table derived from another file carries that file's hash).
    seed : int or sequence of int, optional
        The run's seed, or the sorted seeds of a table over several runs.
    columns : mapping, optional
        The table's own column definitions, before the shared ones (:func:`column_metadata`).
    **extra
        Further JSON data to record (e.g. a design's name and seed).
    """
    described = {}
    fields = []
    for f in schema:
        definition, unit = column_metadata(f.name, columns)
        described[f.name] = {"definition": definition, "unit": unit}
        fields.append(f.with_metadata({**(f.metadata or {}), b"definition": definition.encode(),
                                       b"unit": unit.encode()}))
    seeds = seed if seed is None or isinstance(seed, int) else sorted(int(s) for s in seed)
    digest = scenario if isinstance(scenario, str) else scenario_hash(scenario)
    info = {"scenario_hash": digest, "seed": seeds, "version": project_version(), **extra, "columns": described}
    meta = dict(schema.metadata or {})
    meta[KEY] = json.dumps(info, sort_keys=True, default=str).encode()
    return pa.schema(fields, metadata=meta)


def table_with_provenance(table: pa.Table, scenario: Mapping[str, Any] | str | None = None,
                          seed: int | Sequence[int] | None = None, *,
                          columns: Mapping[str, tuple[str, str]] | None = None, **extra: Any) -> pa.Table:
    """``table`` with :func:`with_provenance` applied to its schema."""
    return table.cast(with_provenance(table.schema, scenario, seed, columns=columns, **extra))


def read_provenance(schema: pa.Schema) -> dict[str, Any]:
    """The provenance object of a schema (e.g. ``pyarrow.parquet.read_schema(path)``); empty if absent."""
    raw = (schema.metadata or {}).get(KEY)
    return json.loads(raw) if raw else {}
