"""One command line: shared flags and defaults, logging, progress, suggestions and error labels."""

from __future__ import annotations

import json
import logging
import types

import pandas as pd
import pytest

from market.simulation import progress
from market.cli import build_parser, default_out, main, summary_line

TINY = ["--rounds", "3", "--set", "population.owners=30", "--set", "churn.join_rate=0"]
SWEEP = ["--workers", "1", "--threads"]


def _options(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return {flag for action in sub._actions for flag in action.option_strings}


def test_run_sweep_and_reproduce_share_flag_names():
    shared = {"--out", "--seed", "--owner-every", "-v", "-q"}
    assert shared <= _options("run") and shared <= _options("sweep")
    assert {"--out", "-v", "-q"} <= _options("reproduce")
    assert default_out("run", "quickstart", 3).as_posix() == "runs/quickstart-run-seed3"
    assert default_out("reproduce", "000").as_posix() == "runs/000-reproduce"


def test_default_out_directories_follow_one_pattern(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "quickstart", *TINY, "--seed", "4", "--owner-every", "1"]) == 0
    run_dir = tmp_path / "runs" / "quickstart-run-seed4"
    assert pd.read_parquet(run_dir / "owners.parquet")["round"].unique().tolist() == [1, 2, 3]
    assert main(["sweep", "quickstart", "--grid", "mechanism.sale_price=1,2", *TINY, "--seed", "4",
                 "--owner-every", "1", *SWEEP]) == 0
    sweep_dir = tmp_path / "runs" / "quickstart-sweep-seed4"
    assert pd.read_parquet(sweep_dir / "summary.parquet")["seed"].tolist() == [4, 4]
    owners = pd.read_parquet(sweep_dir / "owners")
    assert sorted(owners["round"].unique()) == [1, 2, 3] and set(owners["seed"]) == {4}
    assert "runs/quickstart-sweep-seed4/rounds/" in capsys.readouterr().out


def test_unknown_scenario_suggests_the_closest_names(capsys):
    assert main(["run", "quickstrat"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("privmarket: error: quickstrat: unknown scenario (did you mean quickstart?")
    assert "p000_fig5" not in err and err.count("\n") == 1


def test_grid_syntax_errors_quote_the_syntax(capsys):
    for bad in ("mechanism.sale_price=1:2", "mechanism.sale_price", "mechanism.sale_price=1,,2",
                "mechanism.sale_price=a:b:3"):
        assert main(["sweep", "quickstart", "--grid", bad]) == 2
        err = capsys.readouterr().err
        assert "KEY=V1,V2,..." in err and "KEY=START:STOP:NUM" in err, err


def test_errors_name_the_scenario_file_never_a_dict(tmp_path, capsys):
    from tomli_w import dumps

    from market.runner import run
    from scenarios.schema import ScenarioError, load

    path = tmp_path / "mine.toml"
    path.write_text(dumps(load("quickstart").to_dict()))
    with pytest.raises(ScenarioError, match=rf"^{path}: output.checkpoint_every"):
        run(load(path), checkpoint_every=5)  # a resolved Scenario keeps its file as the label
    with pytest.raises(ScenarioError, match=r"^quickstart.toml: population.owners"):
        load(load("quickstart").to_dict(), ["population.owners=-3"])
    assert main(["sweep", str(path), "--grid", "population.owners=10,-1", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: population" in err and "<dict>" not in err   # a failed cell, recorded and named


def test_end_of_run_line_lists_shares_in_level_order_without_negative_zero():
    final = {"round": 9, "share_0": 0.25, "share_1": 0.0, "share_2": 0.75, "mean_action": -1e-12,
             "total_payments": -0.0004, "information_rent_total": 12.3456, "platform_utility": -3.0,
             "buyer_spend": 7.0}
    assert summary_line(final) == ("final round: share_0 0.250, share_1 0.000, share_2 0.750, mean_action 0.000, "
                                   "total_payments 0.00, information_rent_total 12.35, platform_utility -3.00, "
                                   "buyer_spend 7.00")
    assert "-0" not in summary_line({**final, "platform_utility": -0.001})


def test_quiet_and_verbose_control_the_log_lines(tmp_path, capsys):
    args = ["sweep", "quickstart", "--grid", "mechanism.sale_price=1", *TINY, *SWEEP]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "privmarket: Dask dashboard: http" in err and "\r" not in err  # no bar off a terminal
    assert "Scheduler at" not in err  # dask.distributed's own INFO lines stay out
    assert main(["-q", *args, "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""
    assert main([*args, "-v", "--out", str(tmp_path / "c")]) == 0
    assert logging.getLogger("analysis").level == logging.DEBUG
    capsys.readouterr()


def test_progress_bars_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    assert progress.progress_bar(10, "round").disable
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    assert not progress.progress_bar(10, "round").disable
    assert progress.progress_bar(10, "round", enabled=False).disable


def test_reproduce_reports_each_stage(tmp_path, monkeypatch, capsys):
    from analysis import reproduce as rep

    fake = types.SimpleNamespace(checks=lambda: [rep.Check("x", 1.0, 1.0, 0.1)],
                                 figures=lambda out: [out / "f.png"], tables=lambda: ["table"])
    monkeypatch.setattr(rep.importlib, "import_module", lambda name: fake)
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    assert main(["reproduce", "000", "--out", str(tmp_path / "r")]) == 0
    captured = capsys.readouterr()
    for stage in ("checks", "figures", "tables"):
        assert f"privmarket: paper 000: {stage} done in" in captured.err
    assert "paper 000: tables" in captured.err and "stage" in captured.err  # the bar, on a "terminal"
    assert "1 of 1 checks match" in captured.out


def test_run_summary_json_is_unchanged_by_logging(tmp_path, capsys):
    assert main(["-q", "run", "quickstart", *TINY, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.err == "" and "final round: share_0" in out.out
    assert json.loads((tmp_path / "summary.json").read_text())["rounds"] == 3
