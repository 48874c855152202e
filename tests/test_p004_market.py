"""Paper 004 in the simulator: the peer_prediction mechanism and DataMarket runs of the p004 scenarios."""

import math

import numpy as np
import pytest

from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.simulation.deviation_measures import deviation_measures
from market.mechanisms.peer_prediction import ABSTAIN, ALWAYS_ONE, ALWAYS_ZERO, action_strategies
from market.registry import MECHANISMS
from market.simulation.model import DataMarket
from market.theory.value_of_privacy.peer_prediction import (
    CostFunction,
    chernoff_information,
    equilibrium_check,
    equilibrium_payment,
    mechanism_parameters,
    payment_scale,
    value_lower_bound,
)
from market.theory.value_of_privacy.randomized_response import Strategy, map_error_iid
from scenarios.schema import ScenarioError, builtin_names, load

THETA, PRIOR1 = 0.8, 0.7


def make(**params):
    cls = MECHANISMS["peer_prediction"]
    return cls(cls.Params(**params))


def owners(n, sensitivity=1.0):
    o = OwnerArrays.empty()
    o.append(np.arange(n), {"sensitivity": np.broadcast_to(np.asarray(sensitivity, float), (n,)).copy(),
                            "data_size": np.ones(n)}, np.zeros(n), joined=0)
    return o


def ctx(seed=0):
    return RoundContext(round=1, time=1.0, rng=np.random.default_rng(seed))


def test_action_codes_map_to_strategies():
    s = action_strategies(np.array([ABSTAIN, ALWAYS_ZERO, ALWAYS_ONE, 1.0]))
    np.testing.assert_allclose(s.stacked()[:3], [[0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 0, 0]])
    np.testing.assert_allclose(s.privacy_level(), [0, 0, 0, 1.0])
    space = make().action_space
    assert space.labels[:3] == ("abstain", "always0", "always1")
    assert 1.0 in space.values


def test_invalid_parameters_name_the_key():
    for key, value in (("epsilon", 0.0), ("theta", 0.5), ("prior", 1.0), ("cost_form", "cubic"),
                       ("epsilon_step", 0.0), ("epsilon_min", -1.0), ("estimator", "mle")):
        with pytest.raises(ValueError, match=key):
            make(**{key: value})
    mech = make()
    with pytest.raises(ValueError, match="sensitivity"):
        mech.settle(np.full(3, 1.0), owners(3, 0.0), ctx())


@pytest.mark.parametrize("n", [11, 50])
def test_deviation_utilities_match_the_equilibrium_check(n):
    mech = make(epsilon=1.0, epsilon_step=0.01, epsilon_min=0.5, epsilon_max=1.5)
    action = np.full(n, 1.0)
    util = mech.deviation_utilities(action, owners(n), ctx())
    values = mech.action_space.values
    check = equilibrium_check(Strategy.randomized_response(np.full(n, 1.0)), 1.0, THETA, PRIOR1, CostFunction())
    k = int(np.flatnonzero(values == 1.0)[0])
    np.testing.assert_allclose(util[:, k], check.utility, rtol=1e-12)
    assert np.all(np.argmax(util, axis=1) == k)  # the posted eps is everyone's best response
    assert np.all(mech.best_response(action, owners(n), ctx()) == 1.0)
    np.testing.assert_allclose(util[:, 0], 0.0)  # abstaining pays nothing
    # the margin over the best pooling action is g'(eps) sinh(eps) - g(eps) = 0.175201
    assert util[0, k] - util[0, 1:3].max() == pytest.approx(0.175201, abs=1e-6)


def test_deviation_utilities_with_heterogeneous_costs():
    n = 20
    sens = np.linspace(0.5, 3.0, n)
    mech = make(cost_form="power", cost_exponent=2.0, epsilon_step=0.01, epsilon_min=0.5, epsilon_max=1.5)
    util = mech.deviation_utilities(np.full(n, 1.0), owners(n, sens), ctx())
    values = mech.action_space.values
    assert np.all(values[np.argmax(util, axis=1)] == 1.0)


def test_settle_pays_nonnegative_and_matches_the_exact_mean():
    n, rounds = 11, 1500
    mech = make()
    o = owners(n)
    c = ctx(5)
    means = np.array([mech.settle(np.full(n, 1.0), o, c).payment.mean() for _ in range(rounds)])
    exact = float(equilibrium_payment(n, 1.0, THETA, PRIOR1, CostFunction()))
    assert abs(means.mean() - exact) <= 4 * means.std(ddof=1) / math.sqrt(rounds)
    out = mech.settle(np.full(n, 1.0), o, c)
    assert np.all(out.payment >= 0)
    assert out.metrics["expected_payment"] == pytest.approx(exact, rel=1e-12)
    o.action[:] = 1.0                                   # the measured profile: everyone at eps = 1
    rent = deviation_measures(mech, o, c, out.utility)["information_rent_mean"]
    assert rent == pytest.approx(exact - 1.0, rel=1e-9)
    assert out.metrics["expected_error"] == pytest.approx(map_error_iid(n, 1.0, THETA, PRIOR1), rel=1e-9)
    assert out.metrics["value_lower_bound"] == pytest.approx(5.413669, rel=1e-6)
    assert out.metrics["pooling"] == 0.0
    assert out.metrics["mean_epsilon"] == pytest.approx(1.0, rel=1e-12)


def test_settle_flags_pooling_and_pays_kappa_a00():
    n = 50
    out = make().settle(np.full(n, ALWAYS_ZERO), owners(n), ctx())
    kappa_a00 = float(payment_scale(1.0, CostFunction())) * float(mechanism_parameters(n, 1.0, THETA, PRIOR1).a00)
    np.testing.assert_allclose(out.payment, kappa_a00)
    assert kappa_a00 == pytest.approx(14.621, abs=1e-3)
    assert out.metrics["pooling"] == 1.0
    assert out.metrics["expected_error"] == pytest.approx(1 - PRIOR1)
    assert out.metrics["estimate"] == 1.0  # the prior's mode: the collector learns nothing


def test_all_p004_scenarios_load_and_run():
    names = [n for n in builtin_names() if n.startswith("p004_")]
    assert set(names) >= {"p004_pooling_collapse", "p004_pooling_stable", "p004_value_of_privacy",
                          "p004_heterogeneous_costs", "p004_payment_accuracy"}
    for name in names:
        model = DataMarket(name, rounds=3)
        model.run()
        frame = model.model_frame()
        assert len(frame) == 3
        for col in ("collector_error", "expected_error", "mean_epsilon", "information_rent_mean", "pooling"):
            assert np.all(np.isfinite(frame[col]))
    with pytest.raises(ScenarioError, match="epsilon"):
        load("p004_pooling_collapse", ["mechanism.epsilon=-1.0"])


def test_value_and_payment_accuracy_scenarios_report_the_paper_quantities():
    """p004_value_of_privacy: E[R(100, 1)] = 5.441778 just above V_LB(1) = 5.413669 (rent 4.441778);
    p004_payment_accuracy (tau = 0.01): 48 owners at eps~ = 1.730778, total 445.1695 between the Theorem 3
    bounds 434.8646 and 444.1171 + O(tau ln 1/tau), error bound e^{-48 D(eps~)} <= 0.01."""
    model = DataMarket("p004_value_of_privacy", rounds=3)
    model.run()
    last = model.model_frame().iloc[-1]
    assert last.expected_payment == pytest.approx(5.441778, rel=1e-6)
    assert last.value_lower_bound == pytest.approx(5.413669, rel=1e-6)
    assert last.information_rent_mean == pytest.approx(4.441778, rel=1e-6)
    model = DataMarket("p004_payment_accuracy", rounds=3)
    model.run()
    last = model.model_frame().iloc[-1]
    assert last.mean_epsilon == pytest.approx(1.730778, rel=1e-9)
    assert last.n_owners * last.expected_payment == pytest.approx(445.1695, abs=1e-3)
    assert last.error_bound <= 0.01
    assert last.expected_error == pytest.approx(map_error_iid(48, 1.730778, THETA, PRIOR1), rel=1e-9)


def test_market_collapses_into_pooling_at_n11():
    """GT10 through DataMarket: from eps' = 0.95, round 1 moves to 0.89, then everyone always reports 0."""
    model = DataMarket("p004_pooling_collapse", rounds=12)
    model.run()
    f = model.model_frame()
    assert f.mean_epsilon.iloc[0] == pytest.approx(0.89)
    assert f.pooling.iloc[0] == 0.0
    assert np.all(f.pooling.iloc[1:] == 1.0) and np.all(f.informative_share.iloc[1:] == 0.0)
    assert np.all(model.owners.action == ALWAYS_ZERO)
    np.testing.assert_allclose(f.expected_error.iloc[1:], 1 - PRIOR1, rtol=1e-12)
    kappa_a00 = float(payment_scale(1.0, CostFunction())) * float(mechanism_parameters(11, 1.0, THETA, PRIOR1).a00)
    np.testing.assert_allclose(f.expected_payment.iloc[1:], kappa_a00, rtol=1e-12)
    # owners are paid more than in the informative equilibrium
    assert kappa_a00 > float(equilibrium_payment(11, 1.0, THETA, PRIOR1, CostFunction())) - 1.0
    up = DataMarket("p004_pooling_collapse", rounds=8, overrides=["population.initial_action=1.05"])
    up.run()
    g = up.model_frame()
    assert list(g.mean_epsilon.iloc[:3]) == pytest.approx([1.09, 1.15, 1.24], abs=0.011)
    assert np.all(up.owners.action == ALWAYS_ONE) and g.pooling.iloc[-1] == 1.0


@pytest.mark.parametrize("n, rent", [(50, 4.698), (100, 4.442)])
def test_market_stays_informative_at_n50_and_n100(n, rent):
    """Best response from eps' = 0.95 returns to the grid point next to eps = 1; the rent is E[R(N, 1)] - 1."""
    model = DataMarket("p004_pooling_stable", rounds=12, overrides=[f"population.owners={n}"])
    model.run()
    f = model.model_frame()
    assert np.all(f.pooling == 0.0) and np.all(f.informative_share == 1.0)
    assert f.mean_epsilon.iloc[-1] == pytest.approx(1.0, abs=0.011)
    assert f.expected_error.iloc[-1] == pytest.approx(map_error_iid(n, 1.0, THETA, PRIOR1), rel=0.05)
    assert f.information_rent_mean.iloc[-1] == pytest.approx(rent, abs=0.01)


def test_heterogeneous_costs_run_converges_to_eps_and_pays_by_kappa_i():
    model = DataMarket("p004_heterogeneous_costs")
    model.run()
    f = model.model_frame()
    assert np.all(model.owners.action == 1.0)
    assert f.pooling.iloc[-1] == 0.0
    vlb = value_lower_bound(1.0, THETA, CostFunction("power", model.owners.sensitivity, 2.0))
    assert f.value_lower_bound.iloc[-1] == pytest.approx(float(vlb.mean()), rel=1e-12)
    assert f.expected_payment.iloc[-1] > f.value_lower_bound.iloc[-1]


def test_market_error_rate_follows_the_chernoff_rate():
    """The collector's realised error in DataMarket runs falls with N at the Chernoff rate D(eps) (Section 5).

    eps = 2 (D = 0.1171), N = 3, 11, 21, 1000 rounds each (this run: 0.190, 0.043, 0.014 against the exact
    0.1811, 0.0502, 0.0124): every empirical rate is the exact MAP error within 4 SE and below the bound (21)
    e^{-N D}; on a log scale the slope of ln(err sqrt N) against N is -D within 50 % (this run 0.77 D; the
    exact errors give 0.82 D at these N), and the exact error reaches the rate: over N = 101..401 the slope
    is -D within 1 % (0.9992 D).
    """
    eps, rounds, sizes = 2.0, 1000, np.array([3, 11, 21])
    d = float(chernoff_information(eps, THETA))
    empirical = []
    for n in sizes:
        model = DataMarket("p004_value_of_privacy", rounds=rounds,
                           overrides=[f"population.owners={n}", "decision.clock_rate=0.0", f"mechanism.epsilon={eps}",
                                      f"population.initial_action={eps}", "output.owner_every=0"])
        model.run()
        f = model.model_frame()
        np.testing.assert_allclose(f.mean_epsilon, eps, rtol=1e-9)
        assert np.all(f.pooling == 0.0)
        empirical.append(f.collector_error.mean())
    empirical = np.array(empirical)
    exact = np.array([map_error_iid(int(n), eps, THETA, PRIOR1) for n in sizes])
    np.testing.assert_allclose(exact, [0.181137, 0.050228, 0.012389], atol=1e-6)  # mpmath, min(P_W(w) P(k | w)) summed
    assert np.all(np.abs(empirical - exact) <= 4 * np.sqrt(exact * (1 - exact) / rounds))
    assert np.all(np.diff(empirical) < 0)
    assert np.all(empirical <= np.exp(-sizes * d))
    slope = np.polyfit(sizes, np.log(empirical * np.sqrt(sizes)), 1)[0]
    assert slope == pytest.approx(-d, rel=0.5)
    large = np.arange(101, 402, 50)
    exact_large = np.array([map_error_iid(int(n), eps, THETA, PRIOR1) for n in large])
    assert np.polyfit(large, np.log(exact_large * np.sqrt(large)), 1)[0] == pytest.approx(-d, rel=0.01)


def test_ml_estimator_is_the_majority_vote():
    """estimator = "ml": the likelihood-ratio test without the prior; at N = 11, eps = 1 its error is the
    majority-vote error 0.168597 of docs/models/value_of_privacy.md#gt9, above the MAP error 0.150038."""
    n = 11
    out = make(estimator="ml").settle(np.full(n, 1.0), owners(n), ctx())
    assert out.metrics["expected_error"] == pytest.approx(0.168597, abs=1e-6)
    assert make().settle(np.full(n, 1.0), owners(n), ctx()).metrics["expected_error"] == pytest.approx(0.150038,
                                                                                                        abs=1e-6)
    model = DataMarket("p004_value_of_privacy", rounds=400,
                       overrides=["population.owners=11", "decision.clock_rate=0.0", "mechanism.estimator=\"ml\""])
    model.run()
    f = model.model_frame()
    np.testing.assert_allclose(f.expected_error, 0.168597, atol=1e-6)
    assert f.collector_error.mean() == pytest.approx(0.168597, abs=4 * math.sqrt(0.168597 * 0.831403 / 400))


def test_learning_rules_collapse_at_n11_and_stay_informative_at_n50():
    """Owners that learn instead of best-responding: Hedge (full-information multiplicative weights,
    eta = 1) on R(11, 1) pools on "always 0" within 5 rounds (error = min P_W = 0.3, payment kappa A00 = 17.693);
    on R(50, 1) Hedge and fictitious play keep the informative equilibrium near eps = 1."""
    model = DataMarket("p004_pooling_collapse", rounds=15, overrides=["decision.rule=hedge",
                                                                      "decision.learning_rate=1.0"])
    model.run()
    f = model.model_frame()
    assert f.informative_share.iloc[0] > 0.5
    assert np.all(f.pooling.iloc[4:] == 1.0) and np.all(f.informative_share.iloc[4:] == 0.0)
    np.testing.assert_allclose(f.expected_error.iloc[4:], 1 - PRIOR1, rtol=1e-12)
    kappa_a00 = float(payment_scale(1.0, CostFunction())) * float(mechanism_parameters(11, 1.0, THETA, PRIOR1).a00)
    np.testing.assert_allclose(f.expected_payment.iloc[4:], kappa_a00, rtol=1e-12)
    for rule, extra in (("hedge", ["decision.learning_rate=1.0"]), ("fictitious_play", [])):
        model = DataMarket("p004_pooling_stable", rounds=10, overrides=[f"decision.rule={rule}", *extra])
        model.run()
        f = model.model_frame()
        assert np.all(f.pooling == 0.0) and f.informative_share.iloc[-1] >= 0.9
        assert f.mean_epsilon.iloc[-1] == pytest.approx(1.0, abs=0.06)
        assert f.expected_error.iloc[-1] < 0.03


@pytest.mark.parametrize("epsilon", [0.5, 2.0])
@pytest.mark.parametrize("n", [11, 50])
def test_owners_start_at_the_posted_epsilon_so_a_sweep_over_epsilon_stays_informative(epsilon, n):
    """With no initial action in the scenario, owners start at the posted eps-strategy (an equilibrium)
    and stay there: the value-of-privacy scenario traces E[R(N, eps)] >= V_LB(eps) over eps and N."""
    model = DataMarket("p004_value_of_privacy", rounds=30,
                       overrides=[f"mechanism.epsilon={epsilon}", f"population.owners={n}"])
    model.run()
    frame = model.model_frame()
    np.testing.assert_allclose(frame.mean_epsilon, epsilon, rtol=1e-12)
    assert np.all(frame.pooling == 0)
    assert frame.expected_payment.iloc[-1] > frame.value_lower_bound.iloc[-1]
    # an explicit start elsewhere is still honoured
    moved = DataMarket("p004_value_of_privacy", rounds=1, overrides=["population.initial_action=0.5"])
    assert np.all(moved.owners.action == 0.5)
