"""Sweeps survive failing cells, record them, retry only them, and merge a changed grid over the same base."""

import json
import re

import pandas as pd
import pytest
from dask.distributed import Client, LocalCluster

from analysis.sweep import sweep
from market.cli import main

SMALL = ["population.owners=30", "buyers.initial=1", "buyers.arrival_rate=0.2", "churn.join_rate=0",
         "churn.leave_rate=0"]


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


def test_failing_cells_are_recorded_and_only_they_are_retried(tmp_path, client):
    data = tmp_path / "sens.csv"
    empirical = {"dist": "empirical", "file": str(data), "column": "s"}
    grid = {"population.types.0.sensitivity": [{"dist": "constant", "value": 1.0}, empirical, {"dist": "lognormal", "mean": 0.0, "sigma": 1.0}],
            "mechanism.price": [[0.0, 0.5, 1.0], [0.0, 1e308, 1e308]]}
    out = tmp_path / "s"
    first = sweep("quickstart", grid, 1, out=out, rounds=4, overrides=SMALL, client=client)
    # cells: 0 (1.0, ok), 1 (1.0, overflow), 2 (csv missing), 3 (csv missing), 4 (lognormal, ok), 5 (overflow)
    assert first.computed == [(c, 0) for c in range(6)]
    assert sorted(first.summary["cell"]) == [0, 4]
    failed = first.failures
    assert failed["cell"].tolist() == [1, 2, 3, 5]
    assert re.match(r"quickstart.toml: round \d+: total_payments is inf", failed.set_index("cell").loc[1, "reason"])
    assert "no such file" in failed.set_index("cell").loc[2, "reason"] or "cannot read" in \
        failed.set_index("cell").loc[2, "reason"]
    assert "\n" not in "".join(failed["reason"])
    on_disk = pd.read_csv(out / "failures.csv")
    assert on_disk["cell"].tolist() == [1, 2, 3, 5] and "mechanism.price" in on_disk.columns

    data.write_text("s\n0.5\n1.5\n2.5\n")                    # the missing file appears: cells 2 and 3 can run
    again = sweep("quickstart", grid, 1, out=out, rounds=4, overrides=SMALL, client=client)
    assert again.computed == [(1, 0), (2, 0), (3, 0), (5, 0)]   # only the failed tasks are retried
    assert again.failures["cell"].tolist() == [1, 3, 5]
    assert sorted(again.summary["cell"]) == [0, 2, 4]


def test_a_changed_grid_over_the_same_base_is_merged(tmp_path, client):
    out = tmp_path / "s"
    sweep("quickstart", {"mechanism.sale_price": [1.0, 2.0]}, 1, out=out, rounds=3, overrides=SMALL, client=client)
    before = pd.read_parquet(out / "rounds" / "cell=1" / "replicate=0.parquet")
    merged = sweep("quickstart", {"mechanism.sale_price": [2.0, 3.0]}, 2, out=out, rounds=3, overrides=SMALL,
                   client=client)
    # 2.0 keeps its id (1) and its finished replicate; 3.0 is the new cell 2; replicate 1 is new everywhere
    assert merged.computed == [(1, 1), (2, 0), (2, 1)]
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["grid"] == {"mechanism.sale_price": [1.0, 2.0, 3.0]} and manifest["replicates"] == 2
    assert [c["mechanism.sale_price"] for c in manifest["cells"]] == [1.0, 2.0, 3.0]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "rounds" / "cell=1" / "replicate=0.parquet"), before)
    assert sorted(map(tuple, merged.summary[["cell", "replicate"]].values.tolist())) == \
        [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1)]
    with pytest.raises(ValueError, match="different base scenario.*choose another --out"):
        sweep("quickstart", {"mechanism.sale_price": [1.0]}, 1, out=out, rounds=4, overrides=SMALL, client=client)


def test_cli_sweep_names_the_failed_cells_and_exits_2(tmp_path, capsys, client):
    args = ["sweep", "quickstart", "--grid", "population.initial_action=0,7", "--rounds", "3", "--out",
            str(tmp_path / "s"), "--scheduler", client.scheduler.address] + [a for o in SMALL for a in ("--set", o)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "2 cells x 1 replicates: 1 run now, 0 already done, 1 failed" in captured.out
    err = captured.err.strip().splitlines()[-1]  # after the progress bar
    assert err.startswith("privmarket: error: ") and "failures.csv: 1 failed: cell 1 replicate 0 " \
        "(population.initial_action=7.0): quickstart.toml: population.initial_action: action 7 is not an action" in err


def test_a_summary_of_huge_prices_holds_no_unexplained_nan(client):
    """Prices up to 1e307: the totals overflow (named as such), the Gini is still measured, every null says why."""
    result = sweep("quickstart", {"mechanism.price": [[0.0, 0.5, 1e307]]}, 1, rounds=5, overrides=SMALL,
                   client=client)
    row = result.summary.iloc[0]
    reasons = json.loads(row["null_values"])
    assert 0.0 < row["final_gini"] < 1.0                      # was NaN: k * u_(k) overflowed
    assert reasons["cum_total_payments"].startswith("+infinity: the total of finite values lies beyond the float")
    assert pd.isna(row["cum_total_payments"])
    assert sorted(result.summary.columns[result.summary.isna().any()]) == sorted(reasons)
