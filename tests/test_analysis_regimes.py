"""Regime classes, the regime instrument (transient, shifts over noise), change points and hysteresis."""

import json
import time

import time

import numpy as np
import pandas as pd
import pytest
import ruptures

from analysis.regimes import (CumulativeL2, change_points, class_regimes, classify_rounds, hysteresis,
                              level_regimes, noise_scale, regime_spans)
from market.registry import MECHANISMS
from market.runner import run


def _model(share_1):
    share_1 = np.asarray(share_1, dtype=float)
    return pd.DataFrame({"round": np.arange(1, share_1.size + 1), "share_0": 1 - share_1,
                         "share_1": share_1, "mean_action": share_1})


def _mechanism(name, **params):
    cls = MECHANISMS[name]
    return cls(cls.Params(**params))


def test_fair_payment_rounds_fall_in_the_three_theorem_3_classes():
    model = _model([0.0, 0.005, 0.5, 0.995, 1.0])
    fair = _mechanism("fair_payment", utility="dp_mean", privacy_cost=(0.0, 1.0))
    assert classify_rounds(model, fair).tolist() == ["no incentives", "mixed", "mixed", "mixed", "all low-privacy"]


def test_other_mechanisms_use_share_classes():
    model = _model([0.0, 0.5, 1.0])
    posted = _mechanism("posted_price", price=(0.0, 1.0), privacy_cost=(0.0, 1.0), value=(0.0, 1.0))
    assert classify_rounds(model, posted).tolist() == ["all 0", "mixed", "all 1"]
    frame = pd.DataFrame({"round": [1, 2], "share_zero": [1.0, 0.3], "mean_action": [0.0, 1.0],
                          "cycle_period": [0.0, 1.0]})
    game = _mechanism("contribution_game")
    assert classify_rounds(frame, game).tolist() == ["none", "equilibrium"]
    with pytest.raises(ValueError, match="model: missing share columns"):
        classify_rounds(frame, posted)


def test_regime_spans_name_the_rounds():
    spans = regime_spans(np.arange(1, 61), np.repeat(["a", "b", "a"], 20))
    assert spans.to_dict("list") == {"start": [1, 21, 41], "end": [20, 40, 60], "regime": ["a", "b", "a"]}


def test_class_regimes_need_min_duration_and_ignore_flicker():
    classes = ["informative"] * 3 + ["pooling"] * 30 + ["informative"] * 2 + ["pooling"] * 25
    regimes = class_regimes(classes, min_duration=20)
    assert [(r.start, r.end, r.label) for r in regimes] == [(3, 59, "pooling")]   # 3 rounds of transient
    two = class_regimes(["equilibrium"] * 25 + [""] * 4 + ["cycle"] * 30, min_duration=20)
    assert [(r.start, r.label) for r in two] == [(0, "equilibrium"), (29, "cycle")]


@pytest.mark.parametrize("seed", range(3))
def test_level_regimes_on_synthetic_series(seed):
    rng = np.random.default_rng(seed)
    flat = 0.7 + rng.normal(0, 0.005, 300)
    assert len(level_regimes(flat)) == 1                                  # calm: one regime, no shift
    approach = 0.7 * (1 - np.exp(-np.arange(300) / 15)) + rng.normal(0, 0.005, 300)
    regimes = level_regimes(approach)
    assert len(regimes) == 1 and 40 <= regimes[0].start <= 110           # the approach is a transient
    step = np.r_[np.full(150, 0.7), np.full(150, 0.3)] + rng.normal(0, 0.005, 300)
    regimes = level_regimes(step)
    assert [r.start for r in regimes][1:] == [150] and regimes[0].end == 149
    assert noise_scale(step) == pytest.approx(0.005, rel=0.3)


@pytest.mark.parametrize("seed", range(5))
def test_change_points_found_within_a_few_rounds_on_noisy_series(seed):
    rng = np.random.default_rng(seed)
    x = np.r_[np.full(80, 0.2), np.full(70, 0.8), np.full(90, 0.4)] + rng.normal(0, 0.08, 240)
    found = change_points(x)
    assert len(found) == 2
    assert abs(found[0] - 80) <= 3 and abs(found[1] - 150) <= 3


def test_cumulative_l2_cost_equals_ruptures_l2():
    y = np.random.default_rng(3).normal(size=(300, 1))
    fast, slow = CumulativeL2().fit(y), ruptures.costs.CostL2().fit(y)
    for start, end in [(0, 300), (10, 11), (17, 250), (299, 300), (5, 6 + 100)]:
        assert fast.error(start, end) == pytest.approx(slow.error(start, end), rel=1e-9, abs=1e-12)


def test_change_points_on_long_series_are_fast_and_exact():
    """20,000 rounds (a long churn run): a coarse grid then local refinement, same answer as the full search."""
    rng = np.random.default_rng(7)
    steps = [0, 2_345, 9_001, 14_777, 20_000]
    x = np.concatenate([np.full(b - a, level) for a, b, level in zip(steps, steps[1:], [0.2, 0.9, 0.5, 0.1])])
    x = x + rng.normal(0, 0.08, x.size)
    start = time.perf_counter()
    found = change_points(x)
    assert time.perf_counter() - start < 10.0  # the exhaustive PELT search takes minutes here
    assert len(found) == 3 and all(abs(f - s) <= 3 for f, s in zip(found, steps[1:-1]))
    short = x[2_000:2_600]  # one shift at 345: the coarse-and-refine search equals the exhaustive one
    assert change_points(short, max_candidates=60) == change_points(short, max_candidates=600) == [345]


def test_change_points_on_flat_and_step_series():
    assert change_points(np.full(100, 3.0)) == []
    assert change_points(np.r_[np.zeros(30), np.ones(30)]) == [30]
    assert change_points(np.random.default_rng(1).normal(0, 1, 200)) == []
    with pytest.raises(ValueError, match="x:"):
        change_points([0.0, np.nan, 1.0])


SMALL = ["population.owners=60", "churn.leave_rate=0", "churn.join_rate=0", "buyers.initial=0",
         "buyers.arrival_rate=0"]


def test_hysteresis_none_when_best_response_forgets_history():
    table = hysteresis("quickstart", "population.types.1.sensitivity", [0.5, 1.5, 3.0], rounds=2,
                       overrides=SMALL + ["decision.revision=\"synchronous\""])
    assert not table["differs"].any()
    np.testing.assert_allclose(table["up"], table["down"])
    assert table["up"].iloc[0] > table["up"].iloc[-1]          # more sensitive owners share less


#: Paper 001's value-shaping game with a tipping point: from a small start the market collapses to 0 and stays.
TIPPING = {"name": "tipping", "rounds": 30, "seed": 1,
           "population": {"owners": 3, "initial_action": 0.05,
                          "types": [{"share": 1.0, "sensitivity": 0.2, "data_size": 1.0}]},
           "mechanism": {"name": "value_shaping", "value": "sqrt", "a": 0.95, "k": 1.0, "m_max": 20.0,
                         "seed_data": 0.0, "seed_rounds": 5},
           "decision": {"rule": "best_response", "revision": "synchronous"}, "output": {"owner_every": 0}}


def test_hysteresis_found_where_the_market_remembers_a_collapse():
    table = hysteresis(TIPPING, "population.types.0.sensitivity", [0.05, 0.2])
    # up: cheap data grows the market and it stays up at c = 0.2; down: started at c = 0.2 it
    # collapses to 0; at c = 0.05 both paths reach the same state.
    assert table["differs"].tolist() == [False, True]
    assert table.loc[1, "up"] > 1.0 and table.loc[1, "down"] == 0.0
    with pytest.raises(ValueError, match="values:"):
        hysteresis(TIPPING, "population.types.0.sensitivity", [0.2, 0.05])
    with pytest.raises(ValueError, match="scenario:"):
        hysteresis(TIPPING, "population.types.0.sensitivity", [0.05, 0.2], overrides=["churn.leave_rate=0.1"])


def test_run_summary_lists_the_shifts_with_their_rounds(tmp_path):
    """A sensitivity jump at round 40 (drift schedule) moves every owner from level 2 to level 0."""
    scenario = {"name": "jump", "rounds": 80, "seed": 1,
                "population": {"owners": 20, "types": [{"sensitivity": 0.2, "data_size": 1.0}]},
                "mechanism": {"name": "posted_price"}, "decision": {"rule": "best_response"},
                "drift": {"schedule": [[40, 20.0]]}, "output": {"owner_every": 5}}
    run(scenario, out=tmp_path)

    def no_nan(name):
        raise AssertionError(f"summary.json holds {name}: not strict JSON")

    summary = json.loads((tmp_path / "summary.json").read_text(), parse_constant=no_nan)
    assert summary["initial_regime"] == "2" and summary["final_regime"] == "0"
    assert summary["regime_shifts"] == [{"round": 40, "from": "2", "to": "0", "series": "mean_action",
                                         "magnitude": -2.0}]
    assert summary["transient"] == {"length": 0, "end_round": None}
    assert summary["change_points"]["rounds"] == [40]
    assert summary["converged"] is True and summary["settling_round"] == 1 and summary["equilibrium_tol"] == 1e-6
    metrics = summary["metrics"]
    assert metrics["cum_total_payments"] == pytest.approx(39 * 20 * 1.0)  # rounds 1..39 at price 1 per unit
    assert summary["final"]["total_payments"] == 0.0
    assert "free_riding_share" not in summary["final"] and "network" not in summary
    assert isinstance(summary["final"]["n_owners"], int) and isinstance(summary["metrics"]["rounds"], int)
    assert metrics["final_gini"] is None and "metrics.final_gini" in summary["null_values"]
