"""Long runs: chunked output, checkpoints, and resume after SIGTERM / SIGKILL gives identical files."""

import signal
import subprocess
import sys
import time
import tracemalloc

import pandas as pd
import pytest

from market.runner import Interrupted, resume, run
from market.simulation.run_directory import staging
from market.simulation.model import DataMarket
from market.simulation.recorder import Recorder
from scenarios.schema import load

TABLES = ("model.parquet", "owners.parquet", "events.parquet", "scenario.toml")
# A run long enough to be killed in the middle: churn, buyers and asynchronous revision all draw randomness.
ARGS = ["quickstart", "--rounds", "300", "--seed", "5", "--owner-every", "7", "--checkpoint-every", "25",
        "--set", "population.owners=5000", "--set", "churn.leave_rate=0.01", "--set", "churn.join_rate=50"]


def _cli(*args):
    return [sys.executable, "-m", "market.cli", *args]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    done = subprocess.run(_cli("run", *ARGS, "--out", str(out)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def _kill_midway(out, sig):
    proc = subprocess.Popen(_cli("run", *ARGS, "--out", str(out)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (staging(out) / "checkpoint" / "sha256.json").exists():  # wait for a first checkpoint
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_resume_after_kill_gives_identical_files(reference, tmp_path, sig):
    out = tmp_path / "run"
    code, err = _kill_midway(out, sig)
    assert not (out / "model.parquet").exists()  # really interrupted
    if sig == signal.SIGTERM:
        assert code == 130 and f"resume with: privmarket resume {out}" in err
    else:
        assert code == -signal.SIGKILL
    done = subprocess.run(_cli("resume", str(out)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in TABLES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert not (out / "checkpoint").exists() and not (out / "chunks").exists() and not staging(out).exists()


def test_stop_and_resume_in_process(tmp_path, tiny):
    tiny.update(rounds=60)
    tiny["buyers"] = {"initial": 2, "arrival_rate": 0.7}
    tiny["churn"] = {"leave_rate": 0.03, "join_rate": 2.0}
    ref = run(tiny, out=tmp_path / "ref")
    calls = {"n": 0}

    def stop_at_23():
        calls["n"] += 1
        return calls["n"] == 23

    with pytest.raises(Interrupted) as info:
        run(tiny, out=tmp_path / "cut", stop=stop_at_23)
    assert info.value.round == 23
    resumed = resume(tmp_path / "cut")
    for name in ("model", "owners", "events"):
        assert (tmp_path / "cut" / f"{name}.parquet").read_bytes() == \
            (tmp_path / "ref" / f"{name}.parquet").read_bytes(), name
    assert resumed.model["round"].tolist() == ref.model["round"].tolist()


@pytest.mark.parametrize("platform", [
    {"learn": "mechanism.price.2", "grid": [0.4, 0.8, 1.2], "algorithm": "exp3", "update_every": 3},
    {"learn": ["mechanism.price.1", "mechanism.price.2"], "low": [0.1, 0.5], "high": [0.6, 1.5],
     "algorithm": "zeroth_order", "update_every": 2, "regret_points": 3},
])
def test_resume_with_a_learning_platform_is_byte_identical(tmp_path, tiny, platform):
    """The learner's weights, the block in progress, the posted price and the regret benchmark are checkpointed."""
    tiny.update(rounds=40, platform=platform)
    tiny["buyers"] = {"initial": 2, "arrival_rate": 0.7}
    tiny["churn"] = {"leave_rate": 0.03, "join_rate": 2.0}
    tiny["decision"] = {"rule": "exp3"}
    ref = run(tiny, out=tmp_path / "ref")
    calls = {"n": 0}

    def stop_at_17():
        calls["n"] += 1
        return calls["n"] == 17

    with pytest.raises(Interrupted):
        run(tiny, out=tmp_path / "cut", stop=stop_at_17)
    resume(tmp_path / "cut")
    for name in ("model", "owners", "events"):
        assert (tmp_path / "cut" / f"{name}.parquet").read_bytes() == \
            (tmp_path / "ref" / f"{name}.parquet").read_bytes(), name
    assert ref.model.filter(like="platform_param_").nunique().max() > 1  # the price really moved
    assert "platform_regret" in ref.model


def test_resume_without_checkpoint_is_a_user_error(tmp_path, capsys):
    from market.cli import main

    assert main(["resume", str(tmp_path)]) == 2
    assert "no interrupted run to resume" in capsys.readouterr().err


def _peak_memory(tmp_path, rounds):
    """Peak memory allocated while the rounds run (after a 100-round warm-up), output going to disk."""
    scenario = load("quickstart", ["population.owners=50", "churn.leave_rate=0.0", "churn.join_rate=0.0"],
                    rounds=rounds)
    recorder = Recorder(tmp_path / f"r{rounds}", owner_every=50, n_owners=50)
    model = DataMarket(scenario, recorder=recorder, collect=False)
    model.simulator.run_until(100.0)          # first chunk written, caches warm
    tracemalloc.start()
    model.run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    recorder.close()
    assert len(pd.read_parquet(tmp_path / f"r{rounds}" / "model.parquet")) == rounds
    return peak


def test_memory_is_flat_in_the_horizon(tmp_path):
    """A 20,000-round run peaks no higher than a 5,000-round one: the time series go to disk in chunks.

    Measured here: 0.40 MB and 0.44 MB (the margin is the number of buyers present at once, whose
    extreme grows a little with the horizon); kept in memory instead, the tables take 1.4 MB and 4.6 MB.
    (The end-of-run summary then reads the model table back: one row per round, which
    :func:`market.runner.run` returns as a DataFrame.)
    """
    short, long = _peak_memory(tmp_path, 5000), _peak_memory(tmp_path, 20000)
    assert long < 1.25 * short, (short, long)
