"""Sweeps on a two-worker LocalCluster: expected rows, resumption, Mesa batch_run conventions."""

import shutil

import numpy as np
import pandas as pd
import pytest
from dask.distributed import Client, LocalCluster

from analysis.sweep import batch_run, grid_cells, parse_grid, sweep

SMALL = ["population.owners=40", "buyers.initial=1", "buyers.arrival_rate=0.2", "churn.join_rate=0",
         "churn.leave_rate=0"]
GRID = {"population.types.1.sensitivity": [1.0, 3.0], "mechanism.sale_price": [1.0, 2.0, 3.0]}
ROUNDS = 8


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


def test_parse_grid_values_ranges_and_lists():
    grid = parse_grid(["mechanism.sale_price=1,2.5", "population.types.0.share=0:1:5",
                       "mechanism.price=[0, 0.5, 1],[0, 1, 2]", "decision.revision=synchronous"])
    assert grid["mechanism.sale_price"] == [1, 2.5]
    assert grid["population.types.0.share"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert grid["mechanism.price"] == [[0, 0.5, 1], [0, 1, 2]]
    assert grid["decision.revision"] == ["synchronous"]
    assert len(grid_cells(grid)) == 2 * 5 * 2 * 1
    for bad in (["novalue"], ["a=1", "a=2"], ["a=1,,2"], ["a=0:1:x"]):
        with pytest.raises(ValueError, match="grid:"):
            parse_grid(bad)


def test_sweep_rows_and_resume_recomputes_only_the_deleted_cell(tmp_path, client):
    out = tmp_path / "sweep"
    first = sweep("quickstart", GRID, 2, out=out, rounds=ROUNDS, overrides=SMALL, client=client)
    assert first.computed == [(c, r) for c in range(6) for r in range(2)]
    rounds = first.rounds()
    assert len(rounds) == 2 * 3 * 2 * ROUNDS                   # one row per cell, replicate and round
    counts = rounds.groupby(["cell", "replicate"]).size()
    assert counts.tolist() == [ROUNDS] * 12
    assert sorted(rounds["seed"].unique()) == [1, 2]            # replicate r has seed scenario.seed + r
    cell3 = rounds[rounds["cell"] == 3]                         # cells in row-major order: (3.0, 1.0) is cell 3
    assert set(cell3["population.types.1.sensitivity"]) == {3.0} and set(cell3["mechanism.sale_price"]) == {1.0}
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == 12 and {"regime", "payout_share", "final_gini", "settling_round"} <= set(summary)
    assert "final_free_riding_share" not in summary   # posted prices: no shared good, no free-riding column
    deciles = summary[[f"rent_decile_{d}" for d in range(10)]].to_numpy()
    np.testing.assert_allclose(deciles.mean(axis=1) * 40, summary["final_surplus_over_cost"])  # 4 owners each
    assert (out / "summary.csv").exists() and (out / "sweep.json").exists()

    shutil.rmtree(out / "rounds" / "cell=3")
    again = sweep("quickstart", GRID, 2, out=out, rounds=ROUNDS, overrides=SMALL, client=client)
    assert again.computed == [(3, 0), (3, 1)]
    pd.testing.assert_frame_equal(again.rounds(), rounds)        # same seeds: the same numbers
    pd.testing.assert_frame_equal(again.summary, first.summary)
    assert sweep("quickstart", GRID, 2, out=out, rounds=ROUNDS, overrides=SMALL, client=client).computed == []
    with pytest.raises(ValueError, match="out:.*different base scenario.*choose another --out"):
        sweep("quickstart", GRID, 2, out=out, rounds=ROUNDS + 1, overrides=SMALL, client=client)


def test_sweep_in_memory_matches_the_grid(client):
    result = sweep("quickstart", {"mechanism.sale_price": [1.0, 2.0]}, 1, rounds=3, overrides=SMALL, client=client)
    assert result.out_dir is None and len(result.summary) == 2 and len(result.rounds()) == 6
    buyer_spend = result.rounds().groupby("cell")["buyer_spend"].sum()
    assert buyer_spend[1] >= buyer_spend[0]                     # buyers pay the sale price per round
    with pytest.raises(ValueError, match="replicates:"):
        sweep("quickstart", {"mechanism.sale_price": [1.0]}, 0, client=client)


def test_batch_run_returns_mesa_style_records():
    records = batch_run("quickstart", {"mechanism.sale_price": [1.0, 2.0], "population.owners": 30},
                        iterations=2, max_steps=4, number_processes=1, display_progress=False)
    assert len(records) == 4                                    # data_collection_period=-1: last step only
    assert {(r["RunId"], r["iteration"], r["Step"]) for r in records} == {(0, 0, 4), (1, 1, 4), (2, 0, 4), (3, 1, 4)}
    assert all(r["population.owners"] == 30 and "mean_action" in r for r in records)
    assert sorted({r["mechanism.sale_price"] for r in records}) == [1.0, 2.0]
    every = batch_run("quickstart", {"population.owners": 30}, max_steps=4, number_processes=1,
                      data_collection_period=2, display_progress=False)
    assert [r["Step"] for r in every] == [2, 4]
    assert np.isfinite([r["total_payments"] for r in every]).all()


def test_cli_sweep_on_an_existing_scheduler(tmp_path, client, capsys):
    """--scheduler ADDRESS: the tasks run on that cluster, which is left running."""
    from market.cli import main

    address = client.scheduler.address

    def run_task_count(dask_scheduler):  # sweep tasks this scheduler has finished (and forgotten)
        prefix = dask_scheduler.task_prefixes.get("run_task")
        return 0 if prefix is None else prefix.state_counts["forgotten"]

    before = client.run_on_scheduler(run_task_count)
    args = ["sweep", "quickstart", "--grid", "mechanism.sale_price=1,2", "--replicates", "2", "--rounds", "3",
            "--out", str(tmp_path / "s"), "--scheduler", address] + [a for o in SMALL for a in ("--set", o)]
    assert main(args) == 0
    assert "2 cells x 2 replicates: 4 run now, 0 already done" in capsys.readouterr().out
    assert client.run_on_scheduler(run_task_count) == before + 4
    summary = pd.read_parquet(tmp_path / "s" / "summary.parquet")
    assert summary[["cell", "replicate"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert len(pd.read_parquet(tmp_path / "s" / "rounds")) == 4 * 3
    assert client.submit(sum, [1, 2]).result() == 3  # the cluster is still up
    result = sweep("quickstart", {"mechanism.sale_price": [1.0, 2.0]}, 2, out=tmp_path / "s", rounds=3,
                   overrides=SMALL, scheduler=address)
    assert result.computed == []  # resumed through the scheduler: nothing left to do
