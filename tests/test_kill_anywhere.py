"""Kill a run anywhere (SIGKILL), resume it, and get the uninterrupted run's bytes, or a one-line refusal.

Each kill runs the scenario in a forked child that dies by ``SIGKILL``, either at a named point
of the output pipeline (``PRIVMARKET_KILL_AT``, see :mod:`market.simulation.run_directory`: after a round,
a chunk written but not renamed, inside a checkpoint write, after each merged table, after the
summary, after the clean-up, between the two renames that publish the directory) or after a
random delay.  Then ``resume`` either finishes the run, whose Parquet files and
``scenario.toml`` must equal the reference run's byte for byte (``summary.json`` too, its wall
time aside), or refuses with a one-line error (killed before the first checkpoint).  A resume
never returns with truncated output.
"""

import json
import os
import random
import signal
import time

import pytest

from market.simulation import run_directory
from market.simulation.run_directory import KILL_ENV, RunDirectoryError, staging
from market.runner import resume, run

FILES = ("model.parquet", "owners.parquet", "events.parquet", "scenario.toml")
OVERRIDES = ["population.owners=300", "churn.leave_rate=0.01", "churn.join_rate=3", "buyers.arrival_rate=0.5"]
ROUNDS, EVERY = 120, 10


def _run(out):
    return run("quickstart", seed=4, rounds=ROUNDS, overrides=OVERRIDES, out=out, owner_every=7,
               checkpoint_every=EVERY)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    _run(out)
    return out


def _in_child(action, point=None, delay=None) -> int:
    """Run ``action`` in a forked child that is killed at ``point`` or after ``delay`` s; its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: run, and die where told
        code = 1
        try:
            run_directory._reached.clear()
            if point:
                os.environ[KILL_ENV] = point
            action()
            code = 0
        finally:
            os._exit(code)
    if delay is not None:
        time.sleep(delay)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    return status


def _same_as_reference(out, reference):
    for name in FILES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    mine, theirs = (json.loads((d / "summary.json").read_text()) for d in (out, reference))
    mine.pop("wall_time_s"), theirs.pop("wall_time_s")
    assert mine == theirs
    assert sorted(p.name for p in out.iterdir()) == sorted((*FILES, "summary.json"))
    assert not staging(out).exists() and not list(out.parent.glob(f".{out.name}.old-*"))


def _kill_and_resume(tmp_path, reference, point=None, delay=None, resume_point=None) -> str:
    """Kill a run, resume it (killing the first resume too with ``resume_point``); the outcome."""
    out = tmp_path / "run"
    status = _in_child(lambda: _run(out), point=point, delay=delay)
    killed = os.WIFSIGNALED(status)
    if resume_point is not None and staging(out).exists():
        _in_child(lambda: resume(out), point=resume_point)
    try:
        resume(out)
    except RunDirectoryError as exc:
        message = str(exc)
        assert "\n" not in message
        if out.exists():                       # the run had finished (or been published) before the kill
            _same_as_reference(out, reference)
            assert "nothing to resume" in message
            return "complete"
        assert "no checkpoint to resume from" in message   # killed before the first checkpoint
        return "refused"
    _same_as_reference(out, reference)
    return "identical" if killed else "complete"


# chunks: 12 (one per checkpoint) x 3 tables; checkpoints: 11 (rounds 10..110); merge: 3 tables
NAMED = ["round:1", "round:9", "round:10", "round:11", "round:57", "round:119", "round:120",
         "chunk:1", "chunk:2", "chunk:4", "chunk:17", "chunk:36",
         "checkpoint.arrays:1", "checkpoint.arrays:6", "checkpoint.state:2", "checkpoint.state:11",
         "checkpoint.swap:1", "checkpoint.swap:3", "checkpoint.swap:11",
         "merge:1", "merge:2", "merge:3", "summary:1", "cleanup:1", "publish:1"]
#: Points reached before the first checkpoint is complete (round 10): resume must refuse.
EARLY = {"round:1", "round:9", "chunk:1", "chunk:2", "checkpoint.arrays:1", "checkpoint.swap:1"}
DEFAULT = ["checkpoint.swap:3", "merge:2", "publish:1"]


@pytest.mark.parametrize("point", DEFAULT)
def test_kill_at_a_named_point_then_resume(tmp_path, reference, point):
    assert _kill_and_resume(tmp_path, reference, point=point) == "identical"


def test_kill_at_a_random_moment_then_resume(tmp_path, reference):
    outcome = _kill_and_resume(tmp_path, reference, delay=random.Random(1).uniform(0.05, 0.6))
    assert outcome in ("identical", "refused", "complete")


@pytest.mark.slow
def test_kill_anywhere(tmp_path_factory, reference):
    """Every named point, kills during a resume, and random moments: >= 30 kill points."""
    rng = random.Random(16)
    plan = [{"point": p} for p in NAMED]
    plan += [{"point": "round:35", "resume_point": p} for p in ("round:12", "checkpoint.swap:2", "merge:3",
                                                              "publish:1")]
    plan += [{"delay": rng.uniform(0.02, 1.0)} for _ in range(8)]
    outcomes = {}
    for i, kwargs in enumerate(plan):
        outcome = _kill_and_resume(tmp_path_factory.mktemp(f"k{i}"), reference, **kwargs)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if "point" in kwargs:
            assert outcome == ("refused" if kwargs["point"] in EARLY else "identical"), kwargs
    assert len(plan) >= 30 and outcomes.get("identical", 0) >= len(NAMED) - len(EARLY) + 4, outcomes
    print(f"\nkill points {len(plan)}: {outcomes}")
