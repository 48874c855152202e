"""Empirical value curves (market.theory.learning.value_curves) and the FedBR / FedBR-BG scenarios on measured payoffs."""

from __future__ import annotations

import numpy as np
import pytest

from market.core.families import make_value
from market.runner import run
from market.theory.learning.value_curves import (
    EmpiricalValue,
    ValueCurve,
    _MEMO,
    estimate_value_curve,
    least_concave_majorant,
)


def test_least_concave_majorant_by_hand():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    # (1, 1) lies below the chord from (0, 0) to (2, 3): lifted to 1.5
    np.testing.assert_allclose(least_concave_majorant(x, np.array([0.0, 1.0, 3.0, 3.5])), [0, 1.5, 3, 3.5])
    # already concave: unchanged
    np.testing.assert_allclose(least_concave_majorant(x, np.array([0.0, 2.0, 2.5, 2.6])), [0, 2, 2.5, 2.6])
    with pytest.raises(ValueError, match="increasing"):
        least_concave_majorant(np.array([0.0, 2.0, 1.0]), np.zeros(3))


def test_correction_makes_a_noisy_curve_monotone_and_concave_and_reports_its_size():
    # mean curve at knots 0, 10, 20, 40: 0.1 (chance), 0.5, 0.45 (a dip), 0.9 (a convex kink)
    accuracy = np.array([[0.5, 0.45, 0.9], [0.5, 0.45, 0.9]])
    curve = ValueCurve("synthetic", np.array([10.0, 20.0, 40.0]), accuracy, 0.1)
    np.testing.assert_allclose(curve.monotone, [0.1, 0.475, 0.475, 0.9])      # isotonic: the dip pooled
    # majorant of (0, .1), (10, .475), (20, .475), (40, .9): (20, .475) lies below the chord from 10 to 40
    lifted = 0.475 + (0.9 - 0.475) / 3
    np.testing.assert_allclose(curve.corrected, [0.1, 0.475, lifted, 0.9])
    assert np.all(np.diff(curve.slopes) <= 1e-12) and np.all(curve.slopes >= 0)
    c = curve.correction()
    assert c["monotone_max"] == pytest.approx(0.025)
    assert c["concave_max"] == pytest.approx(lifted - 0.475)                   # at m = 20
    assert c["total_max"] == pytest.approx(lifted - 0.45)                      # raw mean 0.45 at m = 20
    assert c["total_rms"] == pytest.approx(np.sqrt((0.025**2 + (lifted - 0.45) ** 2) / 4))
    assert c["noise_sd"] == 0.0
    assert curve(np.array([5.0, 100.0])) == pytest.approx([0.2875, 0.9])     # linear inside, flat beyond


def test_estimated_curve_rises_is_cached_and_reloads_identically(tmp_path):
    kwargs = dict(sizes=[4, 16, 64, 256], repeats=2, seed=1, max_iter=50, cache_dir=tmp_path)
    first = estimate_value_curve("breast_cancer", **kwargs)
    files = list((tmp_path / "value_curves").glob("breast_cancer-*.npz"))
    assert len(files) == 1
    _MEMO.clear()                                                              # force a read from disk
    second = estimate_value_curve("breast_cancer", **kwargs)
    np.testing.assert_array_equal(first.accuracy, second.accuracy)
    assert first.accuracy.shape == (2, 4)
    assert first.chance == pytest.approx(0.63, abs=0.01)                       # 357 benign of 569
    assert first.corrected[-1] > 0.9 > first.chance + 0.2
    assert np.all(np.diff(first.corrected) >= 0) and np.all(np.diff(first.slopes) <= 1e-12)
    with pytest.raises(ValueError, match="sizes"):
        estimate_value_curve("breast_cancer", sizes=[16, 4], cache=False)


def test_empirical_value_is_a_value_function_of_paper_001():
    curve = ValueCurve("synthetic", np.array([10.0, 20.0, 40.0]), np.array([[0.5, 0.7, 0.8]]), 0.1)
    v = EmpiricalValue(curve, a=2.0, k=10.0)                                   # m in units of 10 examples
    m = np.linspace(0.0, 6.0, 6001)
    assert v.b(np.array([0.0]))[0] == 0.0
    np.testing.assert_allclose(v.b(np.array([1.0, 2.0, 4.0])), 2.0 * np.array([0.4, 0.6, 0.7]))
    for y in (0.05, 0.3, 1.0, 5.0):
        best = m[np.argmax(v.b(m) - y * m)]                                    # argmax of b(m) - y m on a grid
        assert v._db_inv(np.array([y]))[0] == pytest.approx(best, abs=1e-9)
    assert make_value("empirical_digits", a=1.0, k=1.0).v_max > 0.8           # registered by name (cached)


@pytest.fixture(scope="module")
def fedbr_runs():
    return {name: run(name, rounds=60).model for name in ("task_fedbr_digits", "task_fedbr_bg_digits")}


def test_fedbr_bg_on_measured_payoffs_raises_contribution_and_welfare(fedbr_runs):
    plain, bg = fedbr_runs["task_fedbr_digits"], fedbr_runs["task_fedbr_bg_digits"]
    assert plain.beta.eq(0).all() and bg.beta.iloc[-1] == pytest.approx(0.9)   # beta* = 1 - 1/n, equal costs
    assert np.abs(bg.payments_sum).max() < 1e-12                              # budget balanced every round
    assert bg.total_contribution.iloc[-1] > 2 * plain.total_contribution.iloc[-1]
    assert bg.welfare_p.iloc[-1] > plain.welfare_p.iloc[-1] + 0.1


def test_run_summary_reports_the_measured_curve_and_its_correction(tmp_path):
    result = run("task_fedbr_bg_digits", rounds=2, out=tmp_path / "run")
    curve = result.summary["mechanism_details"]["value_curve"]
    assert curve["dataset"] == "digits" and curve["sizes"][0] == 0.0
    assert len(curve["mean_accuracy"]) == len(curve["corrected_accuracy"]) == len(curve["sizes"])
    assert np.all(np.diff(curve["corrected_accuracy"]) >= 0)
    assert set(curve["correction"]) == {"monotone_max", "concave_max", "total_max", "total_rms", "noise_sd"}
    assert "mechanism_details" not in run("quickstart", rounds=2).summary      # closed forms report nothing
