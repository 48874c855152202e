"""A hand-written list of 100+ mistakes a new user makes, each expected to be one clean line (exit 2).

Written separately from ``tests/test_fuzz_inputs.py`` (no shared code or values): whole scenario
files a user might type, command-line misuse of every command, and broken data files.  Every
entry must give exit status 2, one line ``privmarket: error: ...`` and no traceback.
"""

import io
import os
import traceback
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from importlib import resources

import pytest

from market.cli import main

GOOD_HEAD = """
name = "mine"
rounds = 3
seed = 2
[population]
owners = 20
[[population.types]]
sensitivity = 1.0
"""
MECH = """
[mechanism]
name = "posted_price"
price = [0.0, 0.5, 1.0]
privacy_cost = [0.0, 0.4, 1.0]
"""

# (label, file text) scenario files as a user might write them
SCENARIO_FILES = [
    ("typo in owners", GOOD_HEAD.replace("owners = 20", "ownerz = 20") + MECH),
    ("owners as text", GOOD_HEAD.replace("owners = 20", 'owners = "twenty"') + MECH),
    ("owners zero", GOOD_HEAD.replace("owners = 20", "owners = 0") + MECH),
    ("owners fractional", GOOD_HEAD.replace("owners = 20", "owners = 20.5") + MECH),
    ("rounds negative", GOOD_HEAD.replace("rounds = 3", "rounds = -3") + MECH),
    ("rounds huge float", GOOD_HEAD.replace("rounds = 3", "rounds = 1e20") + MECH),
    ("seed text", GOOD_HEAD.replace("seed = 2", 'seed = "abc"') + MECH),
    ("seed negative", GOOD_HEAD.replace("seed = 2", "seed = -2") + MECH),
    ("name with slash", GOOD_HEAD.replace('name = "mine"', 'name = "runs/../../etc"') + MECH),
    ("name is a number", GOOD_HEAD.replace('name = "mine"', "name = 5") + MECH),
    ("no mechanism", GOOD_HEAD),
    ("no population", 'name = "x"\n' + MECH),
    ("mechanism typo", GOOD_HEAD + MECH.replace("posted_price", "posted-price")),
    ("price not a list", GOOD_HEAD + MECH.replace("price = [0.0, 0.5, 1.0]", "price = 0.5")),
    ("price with a word", GOOD_HEAD + MECH.replace("price = [0.0, 0.5, 1.0]", 'price = [0.0, "half", 1.0]')),
    ("price nan", GOOD_HEAD + MECH.replace("price = [0.0, 0.5, 1.0]", "price = [0.0, nan, 1.0]")),
    ("unknown mechanism key", GOOD_HEAD + MECH + "discount = 0.1\n"),
    ("sensitivity negative", GOOD_HEAD.replace("sensitivity = 1.0", "sensitivity = -1.0") + MECH),
    ("sensitivity inf", GOOD_HEAD.replace("sensitivity = 1.0", "sensitivity = inf") + MECH),
    ("sensitivity string", GOOD_HEAD.replace("sensitivity = 1.0", 'sensitivity = "high"') + MECH),
    ("gamma distribution", GOOD_HEAD.replace("sensitivity = 1.0", 'sensitivity = { dist = "gamma", k = 2 }') + MECH),
    ("uniform reversed", GOOD_HEAD.replace("sensitivity = 1.0", 'sensitivity = { dist = "uniform", low = 5, high = 1 }')
     + MECH),
    ("normal sensitivity", GOOD_HEAD.replace("sensitivity = 1.0", 'sensitivity = { dist = "normal", mean = 3, sd = 1 }')
     + MECH),
    ("lognormal no sigma", GOOD_HEAD.replace("sensitivity = 1.0", 'sensitivity = { dist = "lognormal", mean = 0 }')
     + MECH),
    ("lognormal astronomically large", GOOD_HEAD.replace(
        "sensitivity = 1.0", 'sensitivity = { dist = "lognormal", mean = 710, sigma = 2 }') + MECH),
    ("pareto zero shape", GOOD_HEAD.replace("sensitivity = 1.0", 'sensitivity = { dist = "pareto", shape = 0, scale = 1 }')
     + MECH),
    ("beta negative", GOOD_HEAD.replace("sensitivity = 1.0", 'sensitivity = { dist = "beta", a = 1, b = -2 }') + MECH),
    ("choice bad probabilities", GOOD_HEAD.replace(
        "sensitivity = 1.0", 'sensitivity = { dist = "choice", values = [1, 2], p = [0.7, 0.7] }') + MECH),
    ("shares not summing", GOOD_HEAD.replace("sensitivity = 1.0", "share = 0.6\nsensitivity = 1.0\n"
                                             "[[population.types]]\nshare = 0.6\nsensitivity = 2.0") + MECH),
    ("correlation above 1", GOOD_HEAD.replace("sensitivity = 1.0", "sensitivity = 1.0\ncorrelation = 1.2") + MECH),
    ("initial action 3 of 3 levels", GOOD_HEAD.replace("owners = 20", "owners = 20\ninitial_action = 3") + MECH),
    ("initial action -2", GOOD_HEAD.replace("owners = 20", "owners = 20\ninitial_action = -2") + MECH),
    ("initial action 1.5", GOOD_HEAD.replace("owners = 20", "owners = 20\ninitial_action = 1.5") + MECH),
    ("initial action exponential", GOOD_HEAD.replace(
        "owners = 20", 'owners = 20\ninitial_action = { dist = "exponential", scale = 1 }') + MECH),
    ("decision rule typo", GOOD_HEAD + MECH + '[decision]\nrule = "best-response"\n'),
    ("revision typo", GOOD_HEAD + MECH + '[decision]\nrevision = "async"\n'),
    ("inertia 2", GOOD_HEAD + MECH + "[decision]\ninertia = 2\n"),
    ("clock rate negative", GOOD_HEAD + MECH + "[decision]\nclock_rate = -0.5\n"),
    ("logit temperature on best response", GOOD_HEAD + MECH + "[decision]\ntemperature = 0.1\n"),
    ("leave rate percent", GOOD_HEAD + MECH + "[churn]\nleave_rate = 5\n"),
    ("join rate negative", GOOD_HEAD + MECH + "[churn]\njoin_rate = -1\n"),
    ("buyers budget negative", GOOD_HEAD + MECH + "[buyers]\nbudget = -10\n"),
    ("buyers initial fractional", GOOD_HEAD + MECH + "[buyers]\ninitial = 1.5\n"),
    ("buyers stay normal", GOOD_HEAD + MECH + '[buyers]\nstay = { dist = "normal", mean = 5, sd = 1 }\n'),
    ("output every negative", GOOD_HEAD + MECH + "[output]\nowner_every = -1\n"),
    ("output unknown", GOOD_HEAD + MECH + '[output]\nformat = "csv"\n'),
    ("network ring", GOOD_HEAD + MECH + '[network]\nkind = "ring"\n'),
    ("network p above 1", GOOD_HEAD + MECH + '[network]\nkind = "erdos_renyi"\np = 3\n'),
    ("network k too large", GOOD_HEAD + MECH + '[network]\nkind = "watts_strogatz"\nk = 50\n'),
    ("network missing file", GOOD_HEAD + MECH + '[network]\nkind = "file"\nfile = "nowhere.edges"\n'),
    ("drift factor negative", GOOD_HEAD + MECH + "[drift]\nschedule = [[2, -1.0]]\n"),
    ("drift round zero", GOOD_HEAD + MECH + "[drift]\nschedule = [[0, 2.0]]\n"),
    ("drift blow-up", GOOD_HEAD + MECH + "[drift]\nschedule = [[1, 1e200], [2, 1e200]]\n"),
    ("drift sd negative", GOOD_HEAD + MECH + "[drift]\nrandom_walk_sd = -0.1\n"),
    ("extra top-level table", GOOD_HEAD + MECH + "[plots]\nstyle = 1\n"),
    ("duplicate key", GOOD_HEAD + MECH + "[churn]\nleave_rate = 0.1\nleave_rate = 0.2\n"),
    ("unterminated string", GOOD_HEAD.replace('name = "mine"', 'name = "mine') + MECH),
    ("tab-separated value", GOOD_HEAD.replace("rounds = 3", "rounds\t3") + MECH),
    ("prices overflow in the run", GOOD_HEAD.replace("owners = 20", "owners = 20\ninitial_action = 2")
     + MECH.replace("price = [0.0, 0.5, 1.0]", "price = [0.0, 1e308, 1.7e308]")),
    ("one owner, budget balanced", 'name = "bb"\nrounds = 2\n[population]\nowners = 1\n[[population.types]]\n'
     'sensitivity = 1.0\n[mechanism]\nname = "budget_balanced"\n'),
    ("explicit owner with a distribution", 'name = "x"\n[population]\n[[population.owner]]\n'
     'sensitivity = { dist = "uniform", low = 0, high = 1 }\n' + MECH),
    ("explicit owners and types", GOOD_HEAD + "[[population.owner]]\nsensitivity = 1.0\n" + MECH),
]

# (label, argv with {tmp} for the temporary directory, files to create: name -> bytes)
COMMANDS = [
    ("run nothing", ["run"], {}),
    ("run unknown builtin", ["run", "quikstart"], {}),
    ("run missing toml", ["run", "{tmp}/nope.toml"], {}),
    ("run a directory", ["run", "{tmp}"], {}),
    ("run an image", ["run", "{tmp}/pic.toml"], {"pic.toml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64)}),
    ("run latin-1 file", ["run", "{tmp}/l1.toml"], {"l1.toml": 'name = "caf\xe9"\n'.encode("latin-1")}),
    ("run empty file", ["run", "{tmp}/empty.toml"], {"empty.toml": b""}),
    ("rounds word", ["run", "quickstart", "--rounds", "ten"], {}),
    ("rounds zero", ["run", "quickstart", "--rounds", "0"], {}),
    ("seed negative", ["run", "quickstart", "--seed", "-4"], {}),
    ("owner every negative", ["run", "quickstart", "--owner-every", "-2"], {}),
    ("owner sample negative", ["run", "quickstart", "--owner-sample", "-10"], {}),
    ("checkpoint every negative", ["run", "quickstart", "--checkpoint-every", "-1"], {}),
    ("set without equals", ["run", "quickstart", "--set", "churn.leave_rate"], {}),
    ("set unknown table", ["run", "quickstart", "--set", "market.size=3"], {}),
    ("set index out of range", ["run", "quickstart", "--set", "population.types.5.share=1"], {}),
    ("set into a number", ["run", "quickstart", "--set", "rounds.max=3"], {}),
    ("set into a string", ["run", "quickstart", "--set", "decision.rule.kind=1"], {}),
    ("set negative index", ["run", "quickstart", "--set", "population.types.-1.share=1"], {}),
    ("set empty key", ["run", "quickstart", "--set", "=3"], {}),
    ("set leave rate text", ["run", "quickstart", "--set", "churn.leave_rate=lots"], {}),
    ("set owners huge", ["run", "quickstart", "--set", "population.owners=99999999999"], {}),
    ("out is a file", ["run", "quickstart", "--rounds", "2", "--out", "{tmp}/afile"], {"afile": b"x"}),
    ("out under a file", ["run", "quickstart", "--rounds", "2", "--out", "{tmp}/afile2/run"], {"afile2": b"x"}),
    ("out into /proc", ["run", "quickstart", "--rounds", "2", "--out", "/proc/privmarket-run"], {}),
    ("out is a home-like dir", ["run", "quickstart", "--rounds", "2", "--out", "{tmp}/home"],
     {"home/notes.txt": b"mine"}),
    ("out is dot", ["run", "quickstart", "--rounds", "2", "--out", "."], {}),
    ("unknown command", ["simulate", "quickstart"], {}),
    ("unknown flag", ["run", "quickstart", "--fast"], {}),
    ("resume a file", ["resume", "{tmp}/afile3"], {"afile3": b"x"}),
    ("resume nothing there", ["resume", "{tmp}/nothing"], {}),
    ("resume a scenario-only dir", ["resume", "{tmp}/half"], {"half/scenario.toml": b'name = "x"\n'}),
    ("report missing dir", ["report", "{tmp}/nowhere"], {}),
    ("report a half run", ["report", "{tmp}/half2"], {"half2/scenario.toml": b"x", "half2/model.parquet": b"x"}),
    ("plot a half run", ["plot", "{tmp}/half3"], {"half3/model.parquet": b"PAR1"}),
    ("report a file", ["report", "{tmp}/afile4"], {"afile4": b"x"}),
    ("reproduce unknown", ["reproduce", "005"], {}),
    ("reproduce word", ["reproduce", "fair"], {}),
    ("train wrong mechanism", ["train-auction", "quickstart", "--out", "{tmp}/w.npz"], {}),
    ("train zero steps", ["train-auction", "p002_murba_low", "--out", "{tmp}/w.npz", "--steps", "0"], {}),
    ("sweep no grid", ["sweep", "quickstart", "--out", "{tmp}/s"], {}),
    ("sweep grid without values", ["sweep", "quickstart", "--grid", "mechanism.sale_price=", "--out", "{tmp}/s1"], {}),
    ("sweep grid bad range", ["sweep", "quickstart", "--grid", "mechanism.sale_price=1:2:x", "--out", "{tmp}/s2"], {}),
    ("sweep grid twice", ["sweep", "quickstart", "--grid", "seed=1,2", "--grid", "seed=3", "--out", "{tmp}/s3"], {}),
    ("sweep replicates zero", ["sweep", "quickstart", "--grid", "seed=1", "--replicates", "0", "--out", "{tmp}/s4"], {}),
    ("sweep workers zero", ["sweep", "quickstart", "--grid", "seed=1", "--workers", "0", "--out", "{tmp}/s5"], {}),
    ("sweep rounds zero", ["sweep", "quickstart", "--grid", "seed=1", "--rounds", "0", "--out", "{tmp}/s6"], {}),
    ("sweep every cell invalid", ["sweep", "quickstart", "--grid", "churn.leave_rate=2,3", "--rounds", "2",
                                  "--out", "{tmp}/s7"], {}),
    ("sweep bad base", ["sweep", "quickstart", "--grid", "seed=1", "--set", "rounds=-1", "--out", "{tmp}/s8"], {}),
    ("app port zero", ["app", "quickstart", "--port", "0"], {}),
    ("app port huge", ["app", "quickstart", "--port", "70000"], {}),
    ("app unknown scenario", ["app", "nonexistent_scenario"], {}),
]

EDGES_HEAD = 'name = "net"\nrounds = 2\n[population]\nowners = 5\n[[population.types]]\nsensitivity = 1.0\n' + MECH
# data files: (label, file name, bytes, scenario tail that uses "{path}")
DATA_FILES = [
    ("edge list of words", "g1.txt", b"alice bob carol\n", '[network]\nkind = "file"\nfile = "{path}"\n'),
    ("edge list too few nodes", "g2.txt", b"0 1\n1 2\n", '[network]\nkind = "file"\nfile = "{path}"\n'),
    ("edge list empty", "g3.txt", b"", '[network]\nkind = "file"\nfile = "{path}"\n'),
    ("edge list binary", "g4.txt", bytes(range(256)), '[network]\nkind = "file"\nfile = "{path}"\n'),
    ("graphml cut", "g5.graphml", b"<?xml version='1.0'?><graphml><graph>", '[network]\nkind = "file"\nfile = "{path}"\n'),
    ("graphml is json", "g6.graphml", b'{"nodes": [1, 2]}', '[network]\nkind = "file"\nfile = "{path}"\n'),
    ("gml unbalanced", "g7.gml", b"graph [\n node [ id 0 ]\n", '[network]\nkind = "file"\nfile = "{path}"\n'),
    ("gml big graph for 5", "g8.gml", b"graph [\n" + b"".join(b"node [ id %d ]\n" % i for i in range(9)) + b"]\n",
     '[network]\nkind = "file"\nfile = "{path}"\n'),
    ("graph file is a directory", "gdir", None, '[network]\nkind = "file"\nfile = "{path}"\n'),
    ("csv semicolons", "c1.csv", b"s;t\n1;2\n", '', ),
    ("csv words", "c2.csv", b"s\nhigh\nlow\n", ''),
    ("csv infinite", "c3.csv", b"s\n1.0\n-inf\n", ''),
    ("csv negative sensitivities", "c4.csv", b"s\n0.5\n-0.5\n", ''),
    ("csv only header", "c5.csv", b"s\n", ''),
    ("csv utf16", "c6.csv", "s\n1\n2\n".encode("utf-16"), ''),
    ("csv missing", "c7-not-created.csv", None, ''),
    ("csv huge value", "c8.csv", b"s\n1e309\n", ''),
    ("weights are a csv", "w1.npz", b"a,b\n1,2\n", "murba"),
    ("weights half a file", "w2.npz", "half", "murba"),
    ("weights empty", "w3.npz", b"", "murba"),
    ("weights zip of text", "w4.npz", "ziptext", "murba"),
    ("weights a directory", "wdir.npz", None, "murba"),
]


def _call(argv):
    err, out = io.StringIO(), io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(out):
            code = main(argv)
    except SystemExit as exc:
        code = exc.code
    except Exception as exc:  # noqa: BLE001 - counted as not clean
        code = None
        err.write("Traceback\n" + "".join(traceback.format_exception(exc))[-300:])
    return code, err.getvalue()


def _is_clean(code, err):
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and lines[0].startswith("privmarket: error: ") and "Traceback" not in err


def _data_case(tmp, name, content, tail):
    path = tmp / name
    if content is None and not name.startswith("c7"):
        path.mkdir()
    elif content == "half":  # the shipped weights file, cut in half
        data = resources.files("scenarios.builtin").joinpath("p002_murba_low.npz").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "ziptext":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "not arrays")
    elif content is not None:
        path.write_bytes(content)
    if tail == "murba":
        return ["run", "p002_murba_low", "--rounds", "2", "--set", f'mechanism.weights="{path}"']
    scenario = tmp / f"{name}.scenario.toml"
    if tail:
        scenario.write_text(EDGES_HEAD + tail.format(path=path))
    else:
        scenario.write_text(GOOD_HEAD.replace("sensitivity = 1.0",
                                              f'sensitivity = {{ dist = "empirical", file = "{path}", column = "s" }}')
                            + MECH)
    return ["run", str(scenario), "--out", str(tmp / f"{name}.out")]


def test_hand_written_bad_inputs_are_all_clean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = []
    for label, text in SCENARIO_FILES:
        path = tmp_path / f"{label.replace(' ', '_').replace(',', '')}.toml"
        path.write_text(text)
        results.append((label, *_call(["run", str(path), "--out", str(tmp_path / "out" / path.stem)])))
    for label, argv, files in COMMANDS:
        for name, data in files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(data)
        results.append((label, *_call([a.replace("{tmp}", str(tmp_path)) for a in argv])))
    for label, name, content, tail in DATA_FILES:
        results.append((label, *_call(_data_case(tmp_path, name, content, tail))))
    dirty = [(label, code, err.strip()[-250:]) for label, code, err in results if not _is_clean(code, err)]
    print(f"\nhand-written bad inputs: {len(results) - len(dirty)} of {len(results)} clean")
    assert len(results) >= 100
    assert not dirty, "\n".join(map(str, dirty))
