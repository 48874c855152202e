"""The command line: list, run (five outputs with their columns), version."""

import json
import subprocess
import sys
import tomllib

import pyarrow.parquet as pq

from market.cli import main

MODEL_COLUMNS = {"round", "time", "share_0", "share_1", "share_2", "mean_action", "total_payments",
                 "platform_utility", "buyer_spend", "n_owners", "n_buyers"}


def test_run_quickstart_writes_five_outputs(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["run", "quickstart", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "quickstart: 200 rounds" in printed and "outputs in" in printed
    model = pq.read_table(out / "model.parquet").to_pandas()
    assert MODEL_COLUMNS <= set(model.columns)
    assert model["round"].tolist() == list(range(1, 201))
    owners = pq.read_table(out / "owners.parquet").to_pandas()
    assert list(owners.columns) == ["owner_id", "round", "sensitivity", "data_size", "action", "payment",
                                    "cost", "utility"]
    assert sorted(owners["round"].unique()) == list(range(10, 201, 10))  # owner_every = 10
    events = pq.read_table(out / "events.parquet").to_pandas()
    assert list(events.columns) == ["time", "kind", "agent_id"]
    assert {"buyer_arrival", "owner_join", "owner_leave"} <= set(events["kind"])
    resolved = tomllib.loads((out / "scenario.toml").read_text())
    assert resolved["mechanism"]["price"] == [0.0, 0.5, 1.0] and resolved["seed"] == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 1 and summary["versions"]["mesa"].startswith("3.")
    assert summary["final"]["round"] == 200


def test_owner_every_zero_writes_an_empty_owner_table(tmp_path):
    assert main(["run", "quickstart", "--rounds", "3", "--owner-every", "0", "--out", str(tmp_path)]) == 0
    assert pq.read_table(tmp_path / "owners.parquet").num_rows == 0


def test_list_and_version():
    listed = subprocess.run([sys.executable, "-m", "market.cli", "list"], capture_output=True, text=True)
    assert listed.returncode == 0
    assert "quickstart" in listed.stdout
    version = subprocess.run([sys.executable, "-m", "market.cli", "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "privmarket 0.1.0"


def test_unknown_paper_is_a_user_error(capsys):
    assert main(["reproduce", "999"]) == 2
    assert "unknown paper id '999'" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly():
    """`privmarket list | head -1`: no traceback when the reader goes away."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "market.cli", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
