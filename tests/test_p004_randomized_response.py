"""Paper 004, Section 3: strategies, privacy level (Definition 1), sampling and the collector's estimate."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from market.theory.value_of_privacy.peer_prediction import chernoff_information, error_bound
from market.theory.value_of_privacy.randomized_response import (
    ABSTAIN,
    Strategy,
    map_error,
    map_error_iid,
    map_estimate,
    report_quality,
    sample_reports,
    sample_signals,
    sample_state,
)

THETA, PRIOR1 = 0.8, 0.7


def test_epsilon_strategy_has_privacy_level_epsilon():
    xi = np.array([-2.0, -0.3, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(Strategy.randomized_response(xi).privacy_level(), np.abs(xi), atol=1e-12)


def test_privacy_level_of_general_strategy_is_the_max_over_six_events():
    # p1, p0, q1, q0 -> bot probabilities 0.2 and 0.4
    s = Strategy(p1=0.5, p0=0.2, q1=0.3, q0=0.4)
    expected = max(abs(math.log(0.5 / 0.2)), abs(math.log(0.5 / 0.8)), abs(math.log(0.3 / 0.4)),
                   abs(math.log(0.7 / 0.6)), abs(math.log(0.2 / 0.4)), abs(math.log(0.8 / 0.6)))
    assert s.privacy_level() == pytest.approx(expected, rel=1e-12)


def test_privacy_level_conventions():
    # non-informative: 0 (0/0 = 1 for the impossible abstention)
    for report in (0, 1, ABSTAIN):
        assert Strategy.constant(report).privacy_level() == 0.0
        assert not Strategy.constant(report).is_informative()
    # truthful reporting: x/0 = infinity
    assert Strategy(p1=1.0, p0=0.0, q1=0.0, q0=1.0).privacy_level() == math.inf
    # floating-point residue of the abstention probability must not give infinity (docs/models/value_of_privacy.md#def-1)
    keep = 0.7310585786300049
    s = Strategy(p1=keep, p0=1 - keep, q1=1 - keep + 1e-17, q0=keep - 1e-17)
    assert s.privacy_level() == pytest.approx(math.log(keep / (1 - keep)), rel=1e-9)


def test_invalid_strategy_and_parameters_raise():
    with pytest.raises(ValueError, match="p1"):
        Strategy(p1=1.2, p0=0.0, q1=0.0, q0=0.0)
    with pytest.raises(ValueError, match="strategy"):
        Strategy(p1=0.7, p0=0.0, q1=0.7, q0=0.0)
    with pytest.raises(ValueError, match="theta"):
        report_quality(1.0, 0.5)
    with pytest.raises(ValueError, match="prior"):
        sample_state(1.0, np.random.default_rng(0))


def test_report_quality_matches_section_4_2_2():
    e = math.e
    assert report_quality(1.0, THETA) == pytest.approx(0.8 * e / (e + 1) + 0.2 / (e + 1), rel=1e-12)
    assert report_quality(1.0, THETA) == pytest.approx(0.638635, abs=1e-6)


def test_sampled_reports_follow_the_strategy():
    rng = np.random.default_rng(4)
    trials = 200_000
    state = sample_state(PRIOR1, rng, trials)
    assert state.mean() == pytest.approx(PRIOR1, abs=4 * math.sqrt(0.21 / trials))
    signals = sample_signals(state, THETA, 1, rng)[:, 0]
    assert np.mean(signals == state) == pytest.approx(THETA, abs=4 * math.sqrt(0.16 / trials))
    s = Strategy(p1=np.array([0.6]), p0=np.array([0.1]), q1=np.array([0.3]), q0=np.array([0.5]))
    reports = sample_reports(s, signals[:, None], rng)[:, 0]
    for sig, probs in ((1, (0.6, 0.3)), (0, (0.1, 0.5))):
        r = reports[signals == sig]
        se = 4 * math.sqrt(0.25 / r.size)
        assert np.mean(r == 1) == pytest.approx(probs[0], abs=se)
        assert np.mean(r == 0) == pytest.approx(probs[1], abs=se)
        assert np.mean(r == ABSTAIN) == pytest.approx(1 - sum(probs), abs=se)


def test_gt9_exact_map_error_and_bound_21():
    """docs/models/value_of_privacy.md#gt9: exact MAP error <= exp(-N D(eps))."""
    assert map_error_iid(11, 1.0, THETA, PRIOR1) == pytest.approx(0.150038, abs=1e-6)
    assert map_error_iid(50, 1.0, THETA, PRIOR1) == pytest.approx(0.020255, abs=1e-6)
    assert error_bound(np.full(11, 1.0), THETA) == pytest.approx(0.644055, abs=1e-6)
    assert error_bound(np.full(50, 1.0), THETA) == pytest.approx(0.135353, abs=1e-6)
    # the general (grouped) computation agrees with the i.i.d. binomial one
    assert map_error(Strategy.randomized_response(np.full(11, 1.0)), THETA, PRIOR1) == pytest.approx(0.150038, abs=1e-6)


def test_ml_estimate_is_the_majority_vote_and_errs_more_than_map():
    """decision_prior = 0.5 drops the prior from the test: for i.i.d. eps-reports it is the majority vote
    (docs/models/value_of_privacy.md#gt9: 0.168597 at N = 11, eps = 1, against the MAP error 0.150038)."""
    assert map_error_iid(11, 1.0, THETA, PRIOR1, decision_prior=0.5) == pytest.approx(0.168597, abs=1e-6)
    profile = Strategy.randomized_response(np.full(11, 1.0))
    assert map_error(profile, THETA, PRIOR1, decision_prior=0.5) == pytest.approx(0.168597, abs=1e-6)
    rng = np.random.default_rng(12)
    reports = rng.integers(0, 2, size=(5000, 11))
    np.testing.assert_array_equal(map_estimate(reports, profile, THETA, PRIOR1, 0.5), reports.sum(axis=1) >= 6)
    # MAP is the minimum-error test: ML never beats it, for any N
    for n in range(1, 40):
        assert map_error_iid(n, 1.0, THETA, PRIOR1) <= map_error_iid(n, 1.0, THETA, PRIOR1, 0.5) + 1e-15
    # a pooling profile: ML decides 0 on the uninformative reports and errs with probability P_W(1)
    assert map_error(Strategy.constant(1, 20), THETA, PRIOR1, decision_prior=0.5) == pytest.approx(PRIOR1)
    with pytest.raises(ValueError, match="prior"):
        map_error_iid(11, 1.0, THETA, PRIOR1, decision_prior=1.0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), eps=st.floats(0.05, 4.0), prior1=st.floats(0.05, 0.95))
def test_map_error_never_exceeds_the_bhattacharyya_bound(n, eps, prior1):
    exact = map_error_iid(n, eps, THETA, prior1)
    assert exact <= math.sqrt(prior1 * (1 - prior1)) * math.exp(-n * float(chernoff_information(eps, THETA))) + 1e-12


def test_map_error_of_mixed_profile_matches_simulation():
    rng = np.random.default_rng(7)
    profile = Strategy.concatenate([Strategy.randomized_response(np.full(6, 1.0)),
                                    Strategy.randomized_response(np.full(4, 2.0)),
                                    Strategy.constant(0, 3)])
    exact = map_error(profile, THETA, PRIOR1)
    trials = 200_000
    state = sample_state(PRIOR1, rng, trials)
    reports = sample_reports(profile, sample_signals(state, THETA, 13, rng), rng)
    empirical = np.mean(map_estimate(reports, profile, THETA, PRIOR1) != state)
    assert empirical == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / trials))


def test_gt9_empirical_map_error_at_n11():
    rng = np.random.default_rng(11)
    trials = 200_000
    profile = Strategy.randomized_response(np.full(11, 1.0))
    state = sample_state(PRIOR1, rng, trials)
    reports = sample_reports(profile, sample_signals(state, THETA, 11, rng), rng)
    empirical = np.mean(map_estimate(reports, profile, THETA, PRIOR1) != state)
    assert empirical == pytest.approx(0.150, rel=0.01)


def test_collector_error_decreases_with_n_at_the_chernoff_rate():
    """Empirical MAP error against N on a log scale: slope of log(err * sqrt(N)) is -D(eps)."""
    rng = np.random.default_rng(3)
    eps, trials = 2.0, 100_000
    sizes = np.array([5, 11, 21, 31, 41])
    empirical = []
    for n in sizes:
        profile = Strategy.randomized_response(np.full(n, eps))
        state = sample_state(PRIOR1, rng, trials)
        reports = sample_reports(profile, sample_signals(state, THETA, int(n), rng), rng)
        empirical.append(np.mean(map_estimate(reports, profile, THETA, PRIOR1) != state))
    empirical = np.array(empirical)
    assert np.all(np.diff(empirical) < 0)
    assert np.all(empirical <= np.exp(-sizes * chernoff_information(eps, THETA)))
    slope = np.polyfit(sizes, np.log(empirical * np.sqrt(sizes)), 1)[0]
    assert slope == pytest.approx(-float(chernoff_information(eps, THETA)), rel=0.2)


def test_uninformative_profile_teaches_the_collector_nothing():
    """GT10: in a pooling profile the posterior is the prior, so the error is min(P_W)."""
    for report in (0, 1, ABSTAIN):
        assert map_error(Strategy.constant(report, 50), THETA, PRIOR1) == pytest.approx(1 - PRIOR1, abs=1e-12)
