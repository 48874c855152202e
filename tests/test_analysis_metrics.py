"""Emergence and welfare measures on tiny hand-built series (values computed by hand)."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.emergence import (cycle_period, oscillation_amplitude, owner_round_table, payout_share,
                                rent_by_decile, settling_round, settling_time, summarize, top_share)
from market.simulation.deviation_measures import deviation_measures, free_riding_share, standalone
from analysis.null_values import null_reason, null_values
from analysis.welfare_measures import gini, nash_welfare, p_mean, utilitarian, welfare_table
from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS
from market.theory.data_contribution.value_functions import standalone_optimum as paper_standalone


def test_welfare_measures_hand_values():
    assert utilitarian([1, 2, 3, 4]) == 10
    assert p_mean([1, 4], 1) == pytest.approx(2.5)
    assert p_mean([1, 4], 0.5) == pytest.approx(2.25)          # ((1 + 2) / 2)^2
    assert p_mean([1, 4], 0) == pytest.approx(2.0)             # geometric mean
    assert p_mean([1, 4], 2) == pytest.approx(math.sqrt(8.5))
    assert p_mean([1, 4], -np.inf) == 1.0
    assert p_mean([1, 4], -1) == pytest.approx(1.6)            # harmonic mean 2 / (1 + 1/4)
    assert nash_welfare([1, math.e, math.e**2]) == pytest.approx(3.0)
    assert gini([1, 1, 1]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)           # (n - 1) / n
    assert gini([1, 2, 3]) == pytest.approx(8 / 36)            # sum |ui - uj| = 8 over 2 n^2 mean = 36


def test_welfare_measures_of_huge_finite_utilities_do_not_overflow():
    """Utilities near the float limit (1.8e308): the sums inside k * u_(k) once overflowed into a NaN Gini."""
    with np.errstate(all="raise"):                              # no overflow warning on the way
        assert gini([0.0, 1e307]) == 0.5                        # (n - 1) / n for n = 2, exactly
        assert gini([0.0, 0.0, 0.0, 1e308]) == 0.75
        assert gini(np.array([1.0, 2.0, 3.0]) * 1e306) == pytest.approx(8 / 36, rel=1e-12)
        assert gini([1e307] * 1000) == pytest.approx(0.0, abs=1e-12)
        assert p_mean([1e307, 4e307], 2) == pytest.approx(1e307 * math.sqrt(8.5), rel=1e-12)
        assert p_mean([1e307, 4e307], 0.5) == pytest.approx(2.25e307, rel=1e-12)
        assert p_mean([1e307, 4e307], -1) == pytest.approx(1.6e307, rel=1e-12)
        assert p_mean([1e-300, 4e-300], -1) == pytest.approx(1.6e-300, rel=1e-12)  # tiny: no 1/u overflow
        assert nash_welfare([1e307, 1e308]) == pytest.approx(math.log(1e307) + math.log(1e308))
        assert utilitarian([1e308, 1e308, -1e308]) == 1e308     # a partial sum beyond the range, a total within
        assert utilitarian([1e308, 1e308]) == math.inf          # the total itself beyond the float range
    assert utilitarian([0.1, 0.2, 0.3]) == 0.1 + 0.2 + 0.3      # scaling by a power of 2 is exact


def test_every_missing_summary_number_has_a_reason():
    row = {"rounds": 5, "cum_total_payments": math.inf, "cum_platform_utility": -math.inf, "final_gini": math.nan,
           "rent_decile_3": math.nan, "mystery": math.nan, "error_bound": math.inf, "settling_round": None,
           "final_utilitarian": 1.0}
    reasons = null_values(row)
    assert list(reasons) == ["cum_platform_utility", "cum_total_payments", "error_bound", "final_gini", "mystery",
                             "rent_decile_3", "settling_round"]
    assert reasons["cum_total_payments"].startswith("+infinity: the total of finite values lies beyond the float")
    assert reasons["cum_platform_utility"].startswith("-infinity: the total")
    assert reasons["error_bound"] == "+infinity"                 # infinite by definition, not an overflow
    assert "Gini coefficient needs non-negative utilities" in reasons["final_gini"]
    assert reasons["rent_decile_3"] == "NaN: no owner in this sensitivity decile (fewer owners than deciles)"
    assert reasons["mystery"] == "NaN: undefined (no owners, no round measured, or not applicable)"
    assert reasons["settling_round"].startswith("None: the run did not settle")
    assert null_reason("metrics.final_nash", math.nan) == "NaN: Nash welfare needs every utility positive in the " \
        "last recorded round"


def test_welfare_measures_reject_values_outside_their_domain():
    with pytest.raises(ValueError, match="u:"):
        nash_welfare([1.0, 0.0])
    with pytest.raises(ValueError, match="u:"):
        p_mean([1.0, 0.0], 0)
    with pytest.raises(ValueError, match="u:"):
        gini([-1.0, 2.0])
    with pytest.raises(ValueError, match="u:"):
        utilitarian([])


def test_welfare_table_marks_undefined_rounds_nan():
    owners = pd.DataFrame({"round": [1, 1, 2, 2], "utility": [1.0, 4.0, -1.0, 3.0]})
    table = welfare_table(owners, p=0)
    assert table["utilitarian"].tolist() == [5.0, 2.0]
    assert table.loc[0, "p_mean"] == pytest.approx(2.0)
    assert table.loc[0, "nash"] == pytest.approx(math.log(4.0))
    assert table.loc[0, "gini"] == pytest.approx(3 / 10)       # |1-4| * 2 / (2 * 4 * 2.5)
    assert table.loc[1, ["p_mean", "nash", "gini"]].isna().all()


def test_free_riding_and_concentration():
    # owner 1 supplies less than alone (1 < 2) and is better off than alone (3 > 2): the only free rider;
    # owner 2 supplies less but is worse off than alone, owners 0 and 3 supply at least their optimum
    riding = free_riding_share(np.array([0.0, 1, 0, 2]), np.array([0.0, 2, 1, 1]), np.array([1.0, 3, 2, 0]),
                               np.array([0.5, 2, 3, 1]))
    assert riding == 0.25
    assert top_share([5, 3, 1, 1], 0.25) == pytest.approx(0.5)
    assert top_share([5, 3, 1, 1], 0.5) == pytest.approx(0.8)
    assert top_share([5, 3, 1, 1], 0.01) == pytest.approx(0.5)  # at least one owner
    data = np.r_[np.full(10, 10.0), np.ones(990)]               # 1% of 1000 owners hold 100 of 1090
    assert top_share(data, 0.01) == pytest.approx(100 / 1090)
    assert top_share(data, 0.10) == pytest.approx(190 / 1090)
    with pytest.raises(ValueError, match="q:"):
        top_share([1, 2], 0)


def test_information_rent_in_total_and_by_decile():
    payment, cost, sensitivity = [5, 5, 5, 5], [1, 2, 3, 4], [4, 1, 3, 2]
    table = rent_by_decile(payment, cost, sensitivity, bins=2)
    assert table["decile"].tolist() == [0, 1]
    assert table["owners"].tolist() == [2, 2]
    assert table["total_rent"].tolist() == [4.0, 6.0]          # sensitivities {1, 2}: rents 3 + 1; {3, 4}: 2 + 4
    assert table["mean_rent"].tolist() == [2.0, 3.0]
    assert table["sensitivity_low"].tolist() == [1.0, 3.0]
    ten = rent_by_decile(np.ones(20), np.zeros(20), np.zeros(20))  # equal sensitivities: still 10 equal bins
    assert ten["owners"].tolist() == [2] * 10


def test_platform_payout_share():
    assert payout_share(30.0, 10.0) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="platform_utility:"):
        payout_share(1.0, -2.0)


def test_convergence_measures():
    x = [5, 3, 1, 1.5, 1, 1, 1]
    assert settling_time(x, tol=0.1) == 5                       # last excursion at round 4
    assert settling_time(x, tol=0.1, rounds=np.arange(11, 18)) == 15
    assert settling_time([2, 2, 2]) == 1
    assert oscillation_amplitude([9, 0, 1, 0, 1], window=4) == 0.5
    assert cycle_period([7, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3], window=12) == 3
    assert cycle_period([4, 3, 2, 1, 1, 1, 1, 1], window=4) == 1
    assert cycle_period([0, 1, 0, 1, 0, 1, 0, 1], window=8) == 2
    assert cycle_period(np.arange(20.0), window=10) is None


def test_owner_round_table_and_summary():
    owners = pd.DataFrame({"round": [10, 10, 10, 10], "action": [0.0, 1.0, 2.0, 1.0],
                           "payment": [0.0, 1.0, 3.0, 1.0], "cost": [0.0, 0.5, 1.0, 0.5],
                           "utility": [0.0, 0.5, 2.0, 0.5]})
    row = owner_round_table(owners).iloc[0]
    assert row["top10_share"] == pytest.approx(0.5)             # one owner supplies 2 of 4
    assert row["surplus_over_cost"] == pytest.approx(3.0)
    assert row["gini"] == pytest.approx(gini([0, 0.5, 2, 0.5]))
    assert np.isnan(row["nash"])                                # an owner with zero utility
    model = pd.DataFrame({"round": [1, 2, 3, 4], "share_0": [1, 0.5, 0.25, 0.25], "share_1": [0, 0.5, 0.75, 0.75],
                          "mean_action": [0, 0.5, 0.75, 0.75], "mean_utility": [0, 1, 1, 1],
                          "total_payments": [0, 2, 3, 3], "information_rent_total": [0, 1, 1, 1],
                          "platform_utility": [1, 1, 1, 1], "exploitability": [1.0, 0.5, 0.0, 0.0]})
    s = summarize(model, owners, window=2, equilibrium_tol=1e-6)
    assert s["cum_total_payments"] == 8 and s["cum_platform_utility"] == 4 and s["cum_information_rent_total"] == 3
    assert s["payout_share"] == pytest.approx(8 / 12)
    assert s["converged"] and s["settling_round"] == 3 and s["equilibrium_tol"] == 1e-6
    assert s["amplitude"] == 0 and s["cycle_period"] == 1
    assert s["share_1"] == 0.75 and "final_free_riding_share" not in s  # no shared good in this table


def test_settling_round_from_exploitability():
    rounds = np.arange(1, 8)
    assert settling_round(np.array([3, 1, 0, 0.2, 0, 0, 0]), rounds, 1e-3) == 5   # last excursion at round 4
    assert settling_round(np.array([3, 1, 0, 0, 0, 0, 0.5]), rounds, 1e-3) is None  # not converged
    assert settling_round(np.array([3, np.nan, 0, np.nan, 0, np.nan, 0]), rounds, 1e-3) == 3  # unmeasured skipped
    assert settling_round(np.full(7, np.nan), rounds, 1e-3) is None


def test_standalone_optimum_and_free_riding_against_it():
    mech = MECHANISMS["posted_price"](MECHANISMS["posted_price"].Params())  # price (0, .5, 1), cost (0, .4, 1)
    owners = OwnerArrays.empty()
    owners.append(np.arange(1, 5), {"sensitivity": np.array([0.2, 0.2, 3.0, 0.6]), "data_size": np.ones(4)},
                  np.array([2.0, 1.0, 0.0, 2.0]), 0)
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(0))
    # utilities (0, .5 - .4 c, 1 - c): c = 0.2 -> level 2; c = 3 -> level 0; c = 0.6 -> (0, .26, .4) -> level 2
    best, best_utility = standalone(mech, owners, ctx)
    np.testing.assert_array_equal(best, [2.0, 2.0, 0.0, 2.0])
    np.testing.assert_allclose(best_utility, [0.8, 0.8, 0.0, 0.4])
    utility = mech.settle(owners.action, owners, ctx).utility
    measures = deviation_measures(mech, owners, ctx, utility)
    assert "free_riding_share" not in measures                       # posted prices: no shared good
    assert measures["nash_conv"] == pytest.approx(0.8 - 0.42)        # only owner 2 (level 1 of 2) can gain
    assert ctx.rng.bit_generator.state == np.random.default_rng(0).bit_generator.state  # the run's stream untouched

    # Naive federated learning is a public good (everyone gets the model of the pooled data).  Alone, an
    # owner supplies paper 001's stand-alone optimum m* (Theorem I: b'(m*) = c; 4.64 here); with four
    # others supplying 20 each it pays to add less: every best reply free-rides on the pool.
    naive = MECHANISMS["naive_fl"](MECHANISMS["naive_fl"].Params(value="sqrt", a=0.95, k=1.0, m_max=20.0,
                                                                 grid_points=21))
    n = 5
    pool = OwnerArrays.empty()
    pool.append(np.arange(1, n + 1), {"sensitivity": np.full(n, 0.05), "data_size": np.ones(n)}, np.full(n, 20.0), 0)
    alone, _ = standalone(naive, pool, ctx)
    m_star = float(paper_standalone(naive.v, 0.05))
    assert m_star == pytest.approx(4.6416, abs=1e-3) and np.allclose(alone, m_star, rtol=1e-6)
    assert deviation_measures(naive, pool, ctx, naive.settle(pool.action, pool, ctx).utility)["free_riding_share"] == 0
    assert np.all(naive.best_response(pool.action, pool, ctx) < alone)
    pool.action[:] = [20.0, 0, 0, 0, 0]   # one owner supplies the pool, four enjoy v(20) > u* for nothing
    out = naive.settle(pool.action, pool, ctx)
    assert np.all(out.utility[1:] > naive.outside_utility(None, pool)[1:])
    assert deviation_measures(naive, pool, ctx, out.utility)["free_riding_share"] == 0.8
    pool.action[:] = 0.0                  # nobody supplies: below the optimum but worse off than alone
    assert deviation_measures(naive, pool, ctx, naive.settle(pool.action, pool, ctx).utility)["free_riding_share"] == 0
