"""A run directory is a unit: never old and new files together, resume refuses what it cannot finish."""

import json
import os
import signal

import numpy as np
import pyarrow.parquet as pq
import pytest

from market.cli import main
from market.simulation.run_directory import KILL_ENV, is_complete, staging
from market.runner import Interrupted, run

SMALL = ["population.owners=60", "churn.leave_rate=0.01", "churn.join_rate=1"]


def _interrupted(out, rounds=200, at=45):
    """A run stopped after round ``at`` with checkpoints every 10 rounds (as after Ctrl-C)."""
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] == at

    with pytest.raises(Interrupted):
        run("quickstart", rounds=rounds, overrides=SMALL, out=out, owner_every=1, checkpoint_every=10, stop=stop)


def _cli(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    return code, err


def test_a_new_run_over_an_interrupted_one_holds_only_its_own_rows(tmp_path, capsys):
    out = tmp_path / "S"
    _interrupted(out)
    assert not out.exists() and (staging(out) / "chunks").is_dir()   # the interrupted run is staged
    code, _ = _cli(["run", "quickstart", "--rounds", "30", "--seed", "9", "--out", out,
                    *(a for o in SMALL for a in ("--set", o))], capsys)
    assert code == 0
    model = pq.read_table(out / "model.parquet").to_pandas()
    assert model["round"].tolist() == list(range(1, 31))
    assert pq.read_table(out / "owners.parquet").to_pandas()["round"].max() == 30
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["seed"], summary["rounds"]) == (9, 30)
    assert not staging(out).exists()


def test_a_failed_run_leaves_the_previous_run_untouched(tmp_path, capsys):
    out = tmp_path / "S"
    assert _cli(["run", "quickstart", "--rounds", "5", "--out", out], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, err = _cli(["run", "quickstart", "--rounds", "5", "--out", out, "--set", "mechanism.price=[0,1e308,1e308]",
                      "--set", "population.initial_action=2"], capsys)
    assert code == 2 and "\n" not in err and "round 1: total_payments is inf" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not staging(out).exists()                      # no partial output that could pass for a run
    assert is_complete(out)


def test_a_rerun_replaces_a_finished_run_and_a_foreign_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "S"
    assert _cli(["run", "quickstart", "--rounds", "5", "--out", out], capsys)[0] == 0
    (out / "figures").mkdir()
    assert _cli(["run", "quickstart", "--rounds", "7", "--out", out], capsys)[0] == 0
    assert pq.read_table(out / "model.parquet").num_rows == 7 and not (out / "figures").exists()
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    code, err = _cli(["run", "quickstart", "--rounds", "5", "--out", home], capsys)
    assert code == 2 and "not a run directory (holds thesis.tex)" in err
    assert (home / "thesis.tex").read_text() == "precious"


def test_report_and_plot_refuse_an_incomplete_directory(tmp_path, capsys):
    out = tmp_path / "S"
    assert _cli(["run", "quickstart", "--rounds", "5", "--out", out], capsys)[0] == 0
    (out / "summary.json").unlink()
    for command in ("report", "plot"):
        code, err = _cli([command, out], capsys)
        assert code == 2 and err == f"privmarket: error: {out}: summary.json: missing; not a complete run directory"


def test_resume_refuses_missing_chunks_and_an_edited_scenario(tmp_path, capsys):
    out = tmp_path / "S"
    _interrupted(out)
    stage = staging(out)
    chunk = sorted((stage / "chunks").glob("model-*.parquet"))[1]
    saved = chunk.read_bytes()
    chunk.unlink()
    code, err = _cli(["resume", out], capsys)
    assert code == 2 and "round 11: missing from the chunks, but the checkpoint is at round 45" in err
    chunk.write_bytes(saved)
    scenario = stage / "scenario.toml"
    scenario.write_text(scenario.read_text().replace("rounds = 200", "rounds = 300"))
    code, err = _cli(["resume", out], capsys)
    assert code == 2 and "scenario.toml: sha256: differs from the scenario the checkpoint was taken with" in err
    assert not out.exists()                                # nothing was published


@pytest.mark.parametrize("damage", ["truncated arrays", "garbage state", "pickled npz", "flipped bit",
                                    "truncated chunk"])
def test_resume_refuses_a_damaged_checkpoint(tmp_path, capsys, damage):
    out = tmp_path / "S"
    _interrupted(out)
    folder = staging(out) / "checkpoint"
    arrays = folder / "arrays.npz"
    if damage == "truncated arrays":
        arrays.write_bytes(arrays.read_bytes()[:500])
    elif damage == "garbage state":
        (folder / "state.json").write_bytes(os.urandom(64))
    elif damage == "pickled npz":
        np.savez(arrays, x=np.array([{"a": 1}], dtype=object))
    elif damage == "flipped bit":
        data = bytearray(arrays.read_bytes())
        data[len(data) // 2] ^= 1
        arrays.write_bytes(bytes(data))
    else:
        chunk = sorted((staging(out) / "chunks").glob("owners-*.parquet"))[0]
        chunk.write_bytes(chunk.read_bytes()[:100])
    code, err = _cli(["resume", out], capsys)
    assert code == 2 and err.startswith("privmarket: error: ") and "\n" not in err, err
    assert "Traceback" not in err and not out.exists()


def test_a_kill_after_the_summary_is_finished_by_resume(tmp_path, capsys):
    """Killed between the summary and the publication: resume only publishes (exit 0, all rounds)."""
    out = tmp_path / "S"
    pid = os.fork()
    if pid == 0:
        try:
            os.environ[KILL_ENV] = "cleanup:1"
            run("quickstart", rounds=60, overrides=SMALL, out=out, checkpoint_every=10)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WTERMSIG(status) == signal.SIGKILL and not out.exists()
    code, _ = _cli(["resume", out], capsys)
    assert code == 0 and pq.read_table(out / "model.parquet").num_rows == 60
    assert json.loads((out / "summary.json").read_text())["rounds"] == 60
    code, err = _cli(["resume", out], capsys)
    assert code == 2 and err.endswith("summary.json: the run is complete; nothing to resume")
