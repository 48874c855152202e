"""Provenance metadata of every Parquet file, one-call reads of a sweep's parts, reproduce's check table."""

import json
import math
import sys
import types

import pandas as pd
import pyarrow.parquet as pq
from dask.distributed import Client, LocalCluster

from analysis.design import designed_sweep, parse_params
from analysis.reproduce import Check, Report, reproduce
from analysis.sensitivity import sensitivity
from analysis.sweep import sweep
from analysis.tournament import tournament
from market.simulation.provenance import UNDEFINED, column_metadata, read_provenance, scenario_hash
from market.runner import run
from scenarios.schema import load


def test_column_metadata_lookup():
    rent = column_metadata("information_rent_total")       # from the one table of standard columns
    assert rent[0].startswith("sum_i r_i with r_i = u_i(a_i, a_-i) - u_i(o_i, a_-i)") and rent[1] == "money per round"
    assert column_metadata("share_2") == ("share of owners at action 2 in the round", "share")
    assert column_metadata("owner_welfare_ci_low")[1] == "as owner_welfare"
    assert column_metadata("rent_decile_3")[0].startswith("mean information rent of sensitivity decile 3")


def test_run_files_carry_scenario_hash_seed_version_and_column_units(tiny, tmp_path):
    result = run(tiny, out=tmp_path / "r", seed=11)
    for table in ("model", "owners", "events"):
        schema = pq.read_schema(tmp_path / "r" / f"{table}.parquet")
        meta = read_provenance(schema)
        assert meta["seed"] == 11 and meta["version"]
        assert meta["scenario_hash"] == scenario_hash(result.scenario.to_dict())
        assert set(meta["columns"]) == set(schema.names)
    schema = pq.read_schema(tmp_path / "r" / "model.parquet")
    assert schema.field("platform_utility").metadata[b"unit"] == b"money per round"


def test_sweep_parts_read_with_one_call_and_carry_provenance(tiny, tmp_path):
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
    with Client(cluster) as client:
        result = sweep(tiny, {"mechanism.price": [[0.0, 0.5, 1.0], [0.0, 0.2, 2.0]]}, replicates=2,
                       out=tmp_path / "s", rounds=5, client=client)
    cluster.close()
    parts = pd.read_parquet(tmp_path / "s" / "parts")  # one call: `cell` is the partition, not a column clash
    assert len(parts) == 4 and sorted(parts["cell"].astype(int)) == [0, 0, 1, 1]
    assert list(result.summary.columns[:3]) == ["cell", "replicate", "seed"]
    assert {"settling_round", "converged", "regime_shifts", "transient_length"} <= set(result.summary.columns)
    part = tmp_path / "s" / "parts" / "cell=1" / "replicate=1.parquet"
    meta = read_provenance(pq.read_schema(part))
    assert meta["seed"] == 8 and len(meta["scenario_hash"]) == 64
    assert read_provenance(pq.read_schema(tmp_path / "s" / "summary.parquet"))["seed"] == [7, 8]  # every seed
    assert read_provenance(pq.read_schema(tmp_path / "s" / "rounds" / "cell=0" / "replicate=0.parquet"))["seed"] == 7
    hashes = {read_provenance(pq.read_schema(p))["scenario_hash"] for p in (tmp_path / "s" / "parts").rglob("*.parquet")}
    assert len(hashes) == 4  # the resolved scenario of each cell and replicate (its seed included)


def test_reproduce_check_table_as_json_and_csv(tmp_path):
    report = Report("000", [Check("c_th (Thm 3)", 1.5, 1.5001, 1e-3, "docs/models/fair_value.md#eq-4"),
                            Check("welfare", 2.0, math.nan, 0.1)])
    report.write_checks(tmp_path)
    data = json.loads((tmp_path / "checks.json").read_text())
    assert data["paper"] == "000" and data["passed"] == 1
    assert data["checks"][1] == {"quantity": "welfare", "paper": 2.0, "simulator": None, "tolerance": 0.1,
                                 "ok": False, "source": ""}
    table = pd.read_csv(tmp_path / "checks.csv")
    assert table["quantity"].tolist() == ["c_th (Thm 3)", "welfare"] and table["ok"].tolist() == [True, False]


def _check_every_parquet_file(folder):
    """Every Parquet file under ``folder`` names its scenario hash, seed(s) and version, and defines every
    column with a unit (none left to the lookup's fallback); return how many files were checked."""
    files = sorted(folder.rglob("*.parquet"))
    for path in files:
        schema = pq.read_schema(path)
        meta = read_provenance(schema)
        where = path.relative_to(folder)
        assert len(meta.get("scenario_hash", "")) == 64, where
        assert meta.get("seed") not in (None, [], ""), where
        assert meta.get("version"), where
        assert set(meta["columns"]) == set(schema.names), where
        for name in schema.names:
            column = meta["columns"][name]
            assert column["definition"] and column["unit"], (where, name)
            assert column["definition"] != UNDEFINED, (where, name)
            field = schema.field(name).metadata
            assert field[b"definition"].decode() == column["definition"] and field[b"unit"], (where, name)
    return len(files)


def test_every_parquet_file_of_every_kind_of_folder_carries_provenance(tiny, tmp_path):
    """A run, a grid sweep, a designed sweep with its sensitivity table, a tournament and a mixed tournament,
    each at tiny scale: every Parquet file they hold passes :func:`_check_every_parquet_file`."""
    tiny["rounds"] = 4
    run(tiny, out=tmp_path / "run", owner_every=2)
    assert _check_every_parquet_file(tmp_path / "run") == 3
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
    with Client(cluster) as client:
        sweep(tiny, {"mechanism.sale_price": [1.0, 2.0]}, replicates=2, out=tmp_path / "sweep", owner_every=2,
              client=client)
        designed_sweep(tiny, "sobol", parse_params(["mechanism.sale_price=1:3", "mechanism.price.2=0.6:1.6"]), 2,
                       out=tmp_path / "design", client=client)
        tournament(tmp_path / "tournament", rules=["best_response", "random"], scenarios=[tiny], replicates=2,
                   client=client)
        tournament(tmp_path / "mixed", rules=["best_response", "random"], scenarios=[tiny], replicates=2,
                   mixed=True, client=client)
    cluster.close()
    sensitivity(tmp_path / "design", "share_2")
    assert _check_every_parquet_file(tmp_path / "sweep") == 2 * 2 * 3 + 1
    assert _check_every_parquet_file(tmp_path / "design") == 12 * 2 + 1 + 2
    assert _check_every_parquet_file(tmp_path / "tournament") == 2 * 2 * 2 + 4
    assert _check_every_parquet_file(tmp_path / "mixed") == 2 * 2 + 4
    assert pd.read_parquet(tmp_path / "design" / "parts")["cell"].nunique() == 12  # one call reads every part


def test_reproduce_writes_its_check_table_as_json_and_csv(tmp_path, monkeypatch):
    """`reproduce` itself (not only Report.write_checks) leaves checks.json and checks.csv beside the figures."""
    paper = types.ModuleType("analysis.reproduce.p000")
    paper.checks = lambda: [Check("c_th (Thm 3)", 1.5, 1.5001, 1e-3, "docs/models/fair_value.md#eq-4"),
                            Check("welfare", 2.0, 2.5, 0.1)]
    paper.figures = lambda out: []
    monkeypatch.setitem(sys.modules, "analysis.reproduce.p000", paper)
    report = reproduce("000", tmp_path / "p000")
    assert [c.ok for c in report.checks] == [True, False]
    data = json.loads((tmp_path / "p000" / "checks.json").read_text())
    assert data["paper"] == "000" and data["passed"] == 1 and len(data["checks"]) == 2
    table = pd.read_csv(tmp_path / "p000" / "checks.csv")
    assert table["simulator"].tolist() == [1.5001, 2.5] and table["ok"].tolist() == [True, False]
