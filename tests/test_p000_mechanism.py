"""Paper 000, the ``fair_payment`` mechanism: payments, deviation utilities by type, platform's alpha, model runs."""

from __future__ import annotations

import numpy as np
import pytest

from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS
from market.simulation.model import DataMarket
from market.theory.fair_value.fair_values import shapley_exact
from market.theory.fair_value.mean_estimation import FederatedMeanEstimation
from market.theory.fair_value.privacy_game import OwnerClasses, PrivacyGame

FIG5_RHO = np.array([2, 2, 2, 2, 1, 1, 1, 1, 1, 0], dtype=float)
FIG5_N = np.array([100, 100, 10, 10, 100, 100, 10, 10, 10, 10.0])
FIG6_SENS = np.array([1, 1, 2, 2, 6, 6, 4.2, 4.2, 4.2, 8.0])


def make(**params):
    cls = MECHANISMS["fair_payment"]
    return cls(cls.Params(**params))


def owners(sensitivity, data_size, importance=None):
    n = len(sensitivity)
    o = OwnerArrays.empty(("importance",))
    o.append(np.arange(n), {"sensitivity": np.asarray(sensitivity, float), "data_size": np.asarray(data_size, float),
                            "importance": np.ones(n) if importance is None else np.asarray(importance, float)},
             np.zeros(n), joined=0)
    return o


def ctx(round_=1):
    return RoundContext(round=round_, time=float(round_), rng=np.random.default_rng(0))


def test_payments_are_alpha_times_fair_values_and_metrics():
    mech = make(alpha=0.5)
    o = owners(FIG6_SENS, FIG5_N)
    out = mech.settle(FIG5_RHO, o, ctx())
    fl = FederatedMeanEstimation(100.0, 1.0)
    phi = shapley_exact(FIG5_RHO.astype(int), lambda r: fl(r, FIG5_N))
    np.testing.assert_allclose(out.payment, 0.5 * phi, atol=1e-9)
    np.testing.assert_allclose(out.cost, FIG6_SENS * np.array([0, 0.08, 1.0])[FIG5_RHO.astype(int)])
    assert out.platform_utility == pytest.approx(0.5 * fl(FIG5_RHO.astype(int), FIG5_N), abs=1e-9)
    assert out.metrics["alpha"] == 0.5
    assert out.metrics["utility_U"] == pytest.approx(40.229, abs=1e-3)
    assert out.metrics["platform_share"] == pytest.approx(0.5, abs=1e-12)
    assert out.metrics["negative_fair_values"] == 0.0


def test_negative_fair_values_are_paid_and_counted():
    mech = make(alpha=1.0)
    a = np.ones(10)
    a[4] = 100.0
    out = mech.settle(FIG5_RHO, owners(FIG6_SENS, FIG5_N, a), ctx())
    assert out.metrics["negative_fair_values"] == 4.0
    assert np.all(out.payment[5:9] < 0)  # not clipped
    assert out.payment.sum() == pytest.approx(out.metrics["utility_U"], abs=1e-9)


def test_deviation_utilities_match_the_type_game():
    """Rows of owners of one type agree with PrivacyGame's deviation values (Fig. 6 NE: staying is best)."""
    mech = make(alpha=0.5)
    o = owners(FIG6_SENS, FIG5_N)
    dev = mech.deviation_utilities(FIG5_RHO, o, ctx())
    game = PrivacyGame(FederatedMeanEstimation(100.0, 1.0), OwnerClasses(
        [2, 2, 2, 3, 1], np.outer([1.0, 2.0, 6.0, 4.2, 8.0], [0.0, 0.08, 1.0]), [100, 10, 100, 10, 10]))
    X = np.array([[0, 0, 2], [0, 0, 2], [0, 2, 0], [0, 3, 0], [1, 0, 0]])
    u = game.payoffs(X, 0.5)
    owner_class = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3, 4])
    np.testing.assert_allclose(dev, u[owner_class, FIG5_RHO.astype(int)], atol=1e-9)
    assert np.all(np.argmax(dev, axis=1) == FIG5_RHO)


def test_monte_carlo_fallback_reports_standard_error():
    mech = make(alpha=1.0, exact_limit=10, mc_samples=300)
    out = mech.settle(FIG5_RHO, owners(FIG6_SENS, FIG5_N), ctx())
    assert out.metrics["fair_value_se"] > 0
    exact = make(alpha=1.0).settle(FIG5_RHO, owners(FIG6_SENS, FIG5_N), ctx())
    assert np.all(np.abs(out.payment - exact.payment) <= 4 * out.metrics["fair_value_se"] + 1e-12)


def test_platform_alpha_choice_two_groups():
    mech = make(utility="dp_mean", privacy_cost=(0.0, 1.0), selection="platform_favourite", resolve_every=1)
    o = owners([0.5, 0.4], [1.0, 1.0])
    choice = mech.choose_alpha(o, 1.0)
    assert choice.alpha == pytest.approx(0.6, abs=1e-9)
    assert choice.platform_payoff == pytest.approx(0.2666667, abs=1e-6)
    sym = make(utility="dp_mean", privacy_cost=(0.0, 1.0), selection="symmetric_mixed")
    choice = sym.choose_alpha(owners([0.5, 0.5], [1.0, 1.0]), 1.0)
    assert choice.alpha == pytest.approx(6 / 7, abs=1e-5)


def test_unanimity_utility_selectable_in_a_scenario():
    """Eq. 48 by name: T = owners with importance > 0 split alpha U = alpha equally (eq. 49)."""
    mech = make(utility="unanimity", privacy_cost=(0.0, 1.0), alpha=0.6)
    out = mech.settle(np.ones(3), owners([0.1, 0.2, 0.3], [1.0, 5.0, 1.0], [1.0, 1.0, 0.0]), ctx())
    np.testing.assert_allclose(out.payment, [0.3, 0.3, 0.0], atol=1e-12)
    assert out.metrics["utility_U"] == 1.0
    out = mech.settle(np.array([1.0, 0.0, 1.0]), owners([0.1, 0.2, 0.3], [1.0, 5.0, 1.0], [1.0, 1.0, 0.0]), ctx())
    assert out.metrics["utility_U"] == 0.0 and np.all(out.payment == 0.0)
    model = DataMarket("p000_fig9", rounds=3, overrides=["mechanism.utility=unanimity"])
    model.run()
    assert model.model_frame()["utility_U"].isin([0.0, 1.0]).all()


@pytest.mark.parametrize("bad, match", [
    ({"privacy_cost": (0.0, 1.0)}, "privacy_cost"),
    ({"alpha": 1.5}, "alpha"),
    ({"selection": "nope"}, "selection"),
    ({"utility": "nope"}, "utility"),
    ({"epsilon": -1.0, "utility": "dp_mean", "privacy_cost": (0.0, 1.0)}, "epsilon"),
])
def test_bad_parameters(bad, match):
    with pytest.raises(ValueError, match=match):
        make(**bad)


def test_fig6_scenario_settles_at_the_nash_configuration():
    model = DataMarket("p000_fig6", rounds=40)
    model.run()
    np.testing.assert_array_equal(model.owners.action, FIG5_RHO)
    row = model.model_frame().iloc[-1]
    assert row["utility_U"] == pytest.approx(40.229, abs=1e-3)
    assert row["alpha"] == 0.5 and row["share_2"] == pytest.approx(0.4)


@pytest.mark.parametrize("name, U, star_share", [
    ("p000_fig5", 40.229, None), ("p000_fig5_intermediate", 31.184, None), ("p000_fig5_homogeneous", 54.356, None),
    ("p000_fig5b", 1021.18, 0.934), ("p000_fig5b_homogeneous", 604.29, 0.234),
])
def test_fig5_scenarios_settle_at_the_configuration_and_pay_as_section_41(name, U, star_share):
    """Each Fig. 5 panel: best response settles at 4 direct / 5 federating / 1 out; payments = phi (alpha = 1)."""
    model = DataMarket(name)
    model.run()
    np.testing.assert_array_equal(model.owners.action, FIG5_RHO)
    row = model.model_frame().iloc[-1]
    assert row["utility_U"] == pytest.approx(U, abs=0.01)
    pay = model.owners.payment  # the last round's payments, owners in scenario order
    assert pay.sum() == pytest.approx(row["utility_U"], rel=1e-9) and pay[9] == 0.0
    avg = row["utility_U"] / 10
    rho, n = FIG5_RHO, FIG5_N
    if name == "p000_fig5":  # heterogeneous: the privacy level drives payment
        assert np.all(pay[rho == 2] > avg) and np.all(pay[rho == 1] < avg)
    elif name == "p000_fig5_homogeneous":  # homogeneous: the amount of data drives payment
        assert np.all(pay[(n == 100) & (rho > 0)] > avg) and np.all(pay[(n == 10) & (rho > 0)] < avg)
        assert pay[0] > pay[4] and pay[2] > pay[6]  # at equal n, rho = 2 still earns more
    elif name == "p000_fig5_intermediate":  # in between: more data slightly favoured
        assert pay[0] > avg and pay[4] > avg and pay[6] < avg
    else:  # the starred owner (a = 100, rho = 2, n = 100)
        assert pay[0] / row["utility_U"] == pytest.approx(star_share, abs=1e-3) and pay[0] == pay.max()
        if name == "p000_fig5b_homogeneous":
            assert np.all(pay[(n == 100) & (rho > 0)] > avg)


def test_fig9_scenario_platform_induces_only_owner_two():
    model = DataMarket("p000_fig9", rounds=12)
    model.run()
    frame = model.model_frame()
    np.testing.assert_array_equal(model.owners.action, [0.0, 1.0])
    assert frame["alpha"].iloc[-1] == pytest.approx(0.6, abs=1e-5)
    assert frame["platform_utility"].iloc[-1] == pytest.approx(0.2666667, abs=1e-5)


def test_regime_shift_passes_through_three_regimes():
    model = DataMarket("p000_regime_shift", rounds=200, overrides=["mechanism.alpha_grid=101"])
    model.run()
    f = model.model_frame()
    assert (f["share_1"].iloc[5:30] == 1.0).any()  # low sensitivity: everybody shares
    mixed = f["share_1"].iloc[40:170]
    assert ((mixed > 0) & (mixed < 1)).mean() > 0.8  # a mixed population
    assert (f["share_1"].iloc[185:] == 0).all() and (f["alpha"].iloc[185:] == 0).all()  # market shut
    assert f["alpha"].iloc[:170].is_monotonic_increasing
