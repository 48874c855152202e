"""Fuzz: generated malformed scenarios, overrides and files all end in one clean line (exit 2).

Cases are generated from a fixed seed over every table of a scenario (top level, population,
mechanism, decision, buyers, churn, output, network, drift) and every file the project reads
(scenario TOML, network graph files, MURBA ``.npz`` weights, empirical CSVs, checkpoints).
Each case calls :func:`market.cli.main` in-process and asserts exit status 2, exactly one line
on standard error starting ``privmarket: error:``, and no traceback; a few run as subprocesses.
"""

import io
import json
import os
import random
import subprocess
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from market.cli import main
from market.runner import Interrupted, run
from market.simulation.run_directory import staging

ROOT = Path(__file__).resolve().parents[1]
BASE = ["--rounds", "3", "--set", "population.owners=30", "--set", "churn.join_rate=0"]

# bad values for each kind of key (every one of them invalid for that kind)
BAD = {
    "count": ["-1", "2.5", '"x"', "true", "nan", "inf", "[1]", "{a=1}"],
    "positive": ["0", "-3", "1.5", '"many"', "false", "-inf"],
    "rate": ["-0.1", "1.5", '"x"', "nan", "inf", "true", "[0.5]"],
    "nonneg": ["-1", '"x"', "nan", "inf", "true", "[1, 2]", "-1e308"],
    "enum": ['"nonsense"', "3", "[1]", "true", '""'],
    "dist": ['{dist="nope"}', '{dist="uniform", low=2.0, high=1.0}', '{dist="normal", mean=0.0}',
             '{dist="lognormal", mean=800.0, sigma=1.0}', '{dist="beta", a=-1.0, b=1.0}', '{dist="choice", values=[]}',
             '{dist="choice", values=[1.0, 2.0], p=[0.5]}', '"text"', "-2", "nan", '{dist="exponential", scale=0.0}',
             '{dist="pareto", shape=0.001, scale=1e300}', '{dist="uniform", low=0.0, high=nan}',
             '{dist="empirical", file="/nonexistent.csv", column="x"}', '{dist="constant", value=-1.0}',
             '{dist="uniform", low=0.0, high=1.0, extra=1.0}'],
    "levels": ["[0.0, nan, 1.0]", '"x"', '[0.0, "a", 1.0]', "[0.0, inf, 1.0]", "3", "[true, false]"],
    "action": ["-1", "0.5", "7", "nan", '"high"', '{dist="normal", mean=1.0, sd=1.0}', '{dist="uniform", low=0.0, high=5.0}',
               '{dist="choice", values=[0.0, 9.0]}'],
    "schedule": ['[[0, 2.0]]', '[[1, -1.0]]', '[[1, 1e300], [2, 1e300]]', '[1, 2]', '"soon"', "[[1.5, 2.0]]",
                 '[[1, nan]]', "[[1, 2.0, 3.0]]"],
    "table": ["3", '"x"', "[1, 2]", "true"],
}
KEYS = {  # key -> kind, over every table
    "rounds": "positive", "seed": "count", "name": "enum_name",
    "population.owners": "positive", "population.initial_action": "action",
    "population.types.0.share": "rate_share", "population.types.0.sensitivity": "dist",
    "population.types.0.data_size": "dist", "population.types.0.correlation": "rate_corr",
    "mechanism.name": "enum", "mechanism.price": "levels", "mechanism.privacy_cost": "levels",
    "mechanism.value": "levels", "mechanism.sale_price": "nonneg_mech",
    "decision.rule": "enum", "decision.revision": "enum", "decision.clock_rate": "nonneg",
    "decision.revisions_per_round": "positive", "decision.inertia": "rate",
    "buyers.initial": "count", "buyers.arrival_rate": "nonneg", "buyers.budget": "dist",
    "buyers.valuation": "dist", "buyers.stay": "dist",
    "churn.leave_rate": "rate", "churn.join_rate": "nonneg", "churn.newcomers": "table",
    "output.owner_every": "count", "output.owner_sample": "count", "output.checkpoint_every": "count",
    "network.kind": "enum", "network.p": "rate", "network.k": "positive", "network.rewire": "rate",
    "network.m": "positive", "network.attach": "count", "network.file": "enum_file",
    "drift.schedule": "schedule", "drift.random_walk_sd": "nonneg",
    "population": "table", "mechanism": "table", "decision": "table", "buyers": "table", "churn": "table",
    "output": "table", "network": "table", "drift": "table",
}
KIND_VALUES = {"enum_name": ['"../../x"', '"a/b"', '""', "3", '".hidden"'],
               "rate_share": ["-0.5", "1.5", "nan", '"half"'], "rate_corr": ["-1.5", "2.0", "nan", '"x"'],
               "nonneg_mech": ["-1", '"x"', "nan", "inf", "true"],
               "enum_file": ["3", "[1]", "true"]}
FORMS = ["noequals", "=1", "population.types.9.share=0.5", "mechanism.name.x=1", "population.types.x.share=1",
         "rounds.x=1", "population.types.0.sensitivity.dist.y=1", "unknown_table.key=1", "mechanism.nope=1"]


def _values(kind):
    return KIND_VALUES.get(kind) or BAD[kind]


def override_cases(rng):
    """At least one bad value for every key, then random ones: 1 or 2 bad overrides per case."""
    def case(key, value):  # --rounds would override a bad top-level rounds
        return [*(BASE[2:] if key == "rounds" else BASE), "--set", f"{key}={value}"]

    cases = [case(key, _values(kind)[0]) for key, kind in KEYS.items()]
    keys = list(KEYS)
    while len(cases) < 95:
        key = rng.choice(keys)
        cases.append(case(key, rng.choice(_values(KEYS[key]))))
    cases += [[*BASE, "--set", form] for form in FORMS]
    return [["run", "quickstart", *c] for c in cases]


def toml_cases(tmp, rng):
    texts = [b"", b"\xff\xfe\x00garbage", os.urandom(300), b"name = \"x\"\n[population\n", b"rounds = = 3\n",
             b"[population]\nowners = 10\n",                                        # no mechanism
             b"population = 3\nmechanism = 4\n", b"[mechanism]\nname='posted_price'\n[population]\nowners=5\n",
             b"[[population]]\nx = 1\n[mechanism]\nname = 'posted_price'\n", b"rounds = 1e400\n"]
    base = (ROOT / "scenarios" / "builtin" / "quickstart.toml").read_bytes()
    for _ in range(6):                                   # a valid scenario, cut short or with a random line
        cut = rng.randrange(20, len(base) - 20)
        texts.append(base[:cut] + b"\n[[[\n")
    cases = []
    for i, text in enumerate(texts):
        path = tmp / f"s{i}.toml"
        path.write_bytes(text)
        cases.append(["run", str(path), "--rounds", "2", "--out", str(tmp / f"o{i}")])
    cases.append(["run", str(tmp / "missing.toml")])
    cases.append(["run", str(tmp)])                      # a directory as a scenario
    return cases


def network_cases(tmp, rng):
    files = {"garbage.edges": os.urandom(400), "empty.edges": b"", "one.edges": b"0 1\n",
             "words.edges": b"a b c d e\nx\n", "bad.graphml": b"<graphml><graph><node id='a'/>",
             "bad.gml": b"graph [ node [ id 1 ", "binary.gml": os.urandom(100), "small.graphml":
             b'<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault='
             b'"undirected"><node id="a"/><node id="b"/><edge source="a" target="b"/></graph></graphml>'}
    cases = []
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        cases.append(["run", "quickstart", *BASE, "--set", 'network.kind="file"', "--set",
                      f'network.file="{tmp / name}"'])
    cases.append(["run", "quickstart", *BASE, "--set", 'network.kind="watts_strogatz"', "--set", "network.k=30"])
    cases.append(["run", "quickstart", *BASE, "--set", 'network.kind="barabasi_albert"', "--set", "network.m=31"])
    return cases


def murba_cases(tmp, rng):
    src = ROOT / "scenarios" / "builtin" / "p002_murba_low.npz"
    data = src.read_bytes()
    arrays = dict(np.load(src, allow_pickle=False))
    files = {}
    for i in range(4):
        files[f"trunc{i}.npz"] = data[:rng.randrange(10, len(data) - 10)]
    for i in range(4):
        flipped = bytearray(data)
        flipped[rng.randrange(len(data) // 4, 3 * len(data) // 4)] ^= 1 << rng.randrange(8)
        files[f"flip{i}.npz"] = bytes(flipped)
    files["garbage.npz"] = os.urandom(500)
    cases = []
    for name, content in files.items():
        (tmp / name).write_bytes(content)
    weight = next(k for k in arrays if k.endswith("weight"))
    for name, value in (("nan.npz", np.nan), ("inf.npz", np.inf)):
        changed = {k: v.copy() for k, v in arrays.items()}
        changed[weight].flat[0] = value
        np.savez(tmp / name, **changed)
        files[name] = None
    np.savez(tmp / "pickled.npz", a=np.array([{"x": 1}], dtype=object))
    files["pickled.npz"] = None
    shapes = {k: v.copy() for k, v in arrays.items()}
    shapes[weight] = shapes[weight][:, :-1]
    np.savez(tmp / "shapes.npz", **shapes)
    files["shapes.npz"] = None
    for name in files:
        cases.append(["run", "p002_murba_low", "--rounds", "2", "--set", f'mechanism.weights="{tmp / name}"'])
    return cases


def csv_cases(tmp, rng):
    files = {"inf.csv": "s\n1\ninf\n", "text.csv": "s\nlow\nhigh\n", "empty.csv": "", "header.csv": "s\n",
             "negative.csv": "s\n1\n-2\n", "binary.csv": os.urandom(200), "nan.csv": "s\n1\n\n3\nnan\n",
             "other.csv": "t\n1\n0.5\n"}
    cases = []
    for name, content in files.items():
        (tmp / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        spec = f'{{dist="empirical", file="{tmp / name}", column="s"}}'
        cases.append(["run", "quickstart", *BASE, "--set", f"population.types.0.sensitivity={spec}"])
    cases.append(["run", "quickstart", *BASE, "--set",
                  f'population.initial_action={{dist="empirical", file="{tmp / "other.csv"}", column="t"}}'])
    return cases


def checkpoint_cases(tmp, rng):
    """An interrupted run per case, its checkpoint or chunks damaged at a random place."""
    cases = []
    damages = ["truncate arrays", "flip arrays", "garbage state", "empty state", "drop digests", "edit state",
               "truncate chunk", "drop chunk", "edit scenario", "delete scenario"]
    for i, damage in enumerate(damages):
        out = tmp / f"ck{i}"
        calls = {"n": 0}

        def stop():
            calls["n"] += 1
            return calls["n"] == 25

        with pytest.raises(Interrupted):
            run("quickstart", rounds=60, overrides=["population.owners=30"], out=out, checkpoint_every=10, stop=stop)
        stage = staging(out)
        folder = stage / "checkpoint"
        arrays, state = folder / "arrays.npz", folder / "state.json"
        if damage == "truncate arrays":
            arrays.write_bytes(arrays.read_bytes()[:rng.randrange(1, arrays.stat().st_size)])
        elif damage == "flip arrays":
            data = bytearray(arrays.read_bytes())
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            arrays.write_bytes(bytes(data))
        elif damage == "garbage state":
            state.write_bytes(os.urandom(50))
        elif damage == "empty state":
            state.write_text("")
        elif damage == "drop digests":
            (folder / "sha256.json").unlink()
        elif damage == "edit state":
            edited = json.loads(state.read_text())
            edited["round"] += 1
            state.write_text(json.dumps(edited))
        elif damage == "truncate chunk":
            chunk = rng.choice(sorted((stage / "chunks").glob("*.parquet")))
            chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
        elif damage == "drop chunk":
            rng.choice(sorted((stage / "chunks").glob("model-*.parquet"))).unlink()
        elif damage == "edit scenario":
            (stage / "scenario.toml").write_text((stage / "scenario.toml").read_text().replace("seed = 1", "seed = 2"))
        else:
            (stage / "scenario.toml").unlink()
        cases.append(["resume", str(out)])
    cases.append(["resume", str(tmp / "never")])
    return cases


def _call(argv):
    err, out = io.StringIO(), io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(out):
            code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    except Exception as exc:  # noqa: BLE001 - reported as a dirty case with its traceback
        code = "exception"
        err.write("Traceback\n" + "".join(traceback.format_exception(exc))[-400:])
    return code, err.getvalue()


def _clean(code, err):
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and lines[0].startswith("privmarket: error: ") and "Traceback" not in err


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    rng = random.Random(2016)
    tmp = tmp_path_factory.mktemp("fuzz")
    previous = os.getcwd()
    os.chdir(tmp)                        # default output directories land in the temporary folder
    groups = {"overrides": override_cases(rng), "toml": toml_cases(tmp, rng), "network": network_cases(tmp, rng),
              "murba": murba_cases(tmp, rng), "csv": csv_cases(tmp, rng), "checkpoint": checkpoint_cases(tmp, rng)}
    yield groups
    os.chdir(previous)


def test_every_fuzz_case_is_one_clean_line(cases, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    dirty = []
    total = 0
    for group, argvs in cases.items():
        for argv in argvs:
            total += 1
            code, err = _call(argv)
            if not _clean(code, err):
                dirty.append((group, argv[-1], code, err.strip()[-300:]))
    assert total >= 150, total
    assert not dirty, f"{len(dirty)} of {total} cases not clean:\n" + "\n".join(map(str, dirty))
    print(f"\nfuzz: {total} cases, {total - len(dirty)} clean ({', '.join(f'{g} {len(a)}' for g, a in cases.items())})")


@pytest.mark.slow
def test_a_few_fuzz_cases_as_subprocesses(cases):
    """The same guarantee from the real command line (the console script's process)."""
    picked = [cases["toml"][1], cases["checkpoint"][0]]
    for argv in picked:
        done = subprocess.run([sys.executable, "-m", "market.cli", *argv], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
        assert _clean(done.returncode, done.stderr), (argv, done.returncode, done.stderr)
