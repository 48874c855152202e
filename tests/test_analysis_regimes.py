"""Regime classification, change points on synthetic series with known shifts, and hysteresis."""

import time

import numpy as np
import pandas as pd
import pytest
import ruptures

from analysis.regimes import (
    CumulativeL2,
    change_points,
    classify_rounds,
    hysteresis,
    regime_shifts,
    regime_spans,
)
from market.core.mechanism import ActionSpace

SPACE = ActionSpace(np.array([0.0, 1.0]))


def _model(share_1):
    share_1 = np.asarray(share_1, dtype=float)
    return pd.DataFrame({"round": np.arange(1, share_1.size + 1), "share_0": 1 - share_1,
                         "share_1": share_1, "mean_action": share_1})


def test_fair_payment_rounds_fall_in_the_three_theorem_3_regimes():
    model = _model([0.0, 0.005, 0.5, 0.995, 1.0])
    regimes = classify_rounds(model, "fair_payment", SPACE, tol=0.01)
    assert regimes.tolist() == ["no incentives", "no incentives", "mixed", "all low-privacy", "all low-privacy"]
    strict = classify_rounds(model, "fair_payment", SPACE, tol=0.0)
    assert strict.tolist() == ["no incentives", "mixed", "mixed", "mixed", "all low-privacy"]


def test_other_mechanisms_use_level_regimes():
    model = _model([0.0, 0.5, 1.0])
    assert classify_rounds(model, "posted_price", SPACE).tolist() == ["all 0", "mixed", "all 1"]
    continuous = ActionSpace(np.linspace(0, 1, 5), kind="continuous")
    frame = pd.DataFrame({"round": [1, 2], "share_zero": [1.0, 0.3]})
    assert classify_rounds(frame, "contribution", continuous).tolist() == ["no contribution", "contributing"]
    with pytest.raises(ValueError, match="model: missing share columns"):
        classify_rounds(frame, "posted_price", SPACE)


def test_regime_spans_and_shift_list_name_the_rounds():
    model = _model(np.r_[np.zeros(20), np.full(20, 0.5), np.ones(20)])
    regimes = classify_rounds(model, "fair_payment", SPACE)
    spans = regime_spans(model["round"], regimes)
    assert spans.to_dict("list") == {"start": [1, 21, 41], "end": [20, 40, 60],
                                     "regime": ["no incentives", "mixed", "all low-privacy"]}
    shifts = regime_shifts(model, regimes, columns=["mean_action"])
    regime_rows = shifts[shifts["kind"] == "regime"]
    assert regime_rows["round"].tolist() == [21, 41]
    assert regime_rows["after"].tolist() == ["mixed", "all low-privacy"]
    assert shifts[shifts["kind"] == "change point"]["round"].tolist() == [21, 41]


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
    """A sensitivity jump at round 12 (drift schedule) moves every owner from level 2 to level 0."""
    import json

    from market.runner import run

    scenario = {"name": "jump", "rounds": 30, "seed": 1,
                "population": {"owners": 20, "types": [{"sensitivity": 0.2, "data_size": 1.0}]},
                "mechanism": {"name": "posted_price"}, "decision": {"rule": "best_response"},
                "drift": {"schedule": [[12, 20.0]]}, "output": {"owner_every": 5}}
    run(scenario, out=tmp_path)

    def no_nan(name):
        raise AssertionError(f"summary.json holds {name}: not strict JSON")

    summary = json.loads((tmp_path / "summary.json").read_text(), parse_constant=no_nan)
    assert summary["initial_regime"] == "all 2" and summary["final_regime"] == "all 0"
    regime = [s for s in summary["regime_shifts"] if s["kind"] == "regime"]
    assert [(s["round"], s["before"], s["after"]) for s in regime] == [(12, "all 2", "all 0")]
    points = [s for s in summary["regime_shifts"] if s["kind"] == "change point"]
    assert [(s["round"], s["before"], s["after"]) for s in points] == [(12, "2", "0")]
    metrics = summary["metrics"]
    assert metrics["settling_round"] == 12 and metrics["final_free_riding"] == 1.0
    assert metrics["final_free_riding_standalone"] == 1.0  # everyone supplies nothing (also their optimum now)
    assert metrics["total_payments"] == pytest.approx(11 * 20 * 1.0)  # rounds 1..11 at price 1 per unit
    assert metrics["final_gini"] is None  # every owner has utility 0: the Gini is undefined
