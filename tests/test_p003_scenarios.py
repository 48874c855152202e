"""Paper 003 in the simulator: the mechanisms and the built-in p003 scenarios run through DataMarket."""

from __future__ import annotations

import numpy as np
import pytest

from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS
from market.simulation.model import DataMarket
from market.theory.contribution_game.welfare import p_mean_welfare
from scenarios.schema import ScenarioError, builtin_names, load

P003 = ["p003_example1", "p003_homogeneous", "p003_heterogeneous", "p003_section5_n10",
        "p003_section5_n100", "p003_nonexistence", "p003_mwfed_noniid"]


def owners(sensitivity: list[float], data_size: list[float], **extra: list[float]) -> OwnerArrays:
    n = len(sensitivity)
    mech_extra = {"cost_curvature": 0.0, "cost_offset": 0.0, "budget": 0.0, "payoff_weight": 1.0}
    arrays = OwnerArrays.empty(tuple(mech_extra))
    attrs = {"sensitivity": np.array(sensitivity, float), "data_size": np.array(data_size, float)}
    attrs.update({k: np.array(extra.get(k, [v] * n), float) for k, v in mech_extra.items()})
    arrays.append(np.arange(n), attrs, np.zeros(n), joined=0)
    return arrays


def ctx() -> RoundContext:
    return RoundContext(round=1, time=1.0, rng=np.random.default_rng(0))


def example1_mechanism(name: str, **params):
    cls = MECHANISMS[name]
    return cls(cls.Params(payoff="power_law", payoff_params={"alpha": 1.0, "exponent": 1.0, "offset": 8.0},
                          max_contribution=2.0, grid_points=201, welfare_p=0.0, **params))


def test_mechanisms_settle_example1() -> None:
    own = owners([5.0, 4.0], [1.6, 2.0])
    plain = example1_mechanism("contribution_game")
    out = plain.settle(np.array([0.0, 0.5]), own, ctx())
    np.testing.assert_allclose(out.utility, [6.0, 4.0])
    assert out.metrics["welfare_p"] == pytest.approx(24.0)
    assert out.metrics["payments_sum"] == 0.0 and out.metrics["free_riders"] == 1.0
    np.testing.assert_allclose(plain.best_response(np.array([0.3, 0.3]), own, ctx()),
                               [1 / np.sqrt(5) - 0.3, 0.2], atol=1e-8)
    mech = example1_mechanism("budget_balanced")
    s = np.array([0.0, 1 / np.sqrt(20 / 9)])
    out = mech.settle(s, own, ctx())
    assert out.metrics["beta"] == pytest.approx(4 / 9)
    np.testing.assert_allclose(out.payment, [-1.192570, 1.192570], atol=1e-6)
    assert abs(out.metrics["payments_sum"]) < 1e-12
    np.testing.assert_allclose(mech.best_response(s, own, ctx()), s, atol=1e-7)
    fixed = example1_mechanism("budget_balanced", beta_rule="fixed", beta=0.25)
    assert fixed.settle(s, own, ctx()).metrics["beta"] == 0.25


def test_deviation_utilities_respect_tau_and_match_settle() -> None:
    own = owners([5.0, 4.0], [1.6, 2.0])
    mech = example1_mechanism("budget_balanced")
    action = np.array([0.2, 0.4])
    dev = mech.deviation_utilities(action, own, ctx())
    grid = mech.action_space.values
    assert np.all(np.isneginf(dev[0, grid > 1.6])) and np.all(np.isfinite(dev[1]))
    k = int(np.argmin(np.abs(grid - 1.0)))
    moved = action.copy()
    moved[0] = grid[k]
    assert dev[0, k] == pytest.approx(mech.settle(moved, own, ctx()).utility[0])


def test_protocols_gradient_and_full() -> None:
    own = owners([0.005] * 10, [100.0] * 10)
    cls = MECHANISMS["budget_balanced"]
    params = dict(payoff="power_law", payoff_params={"alpha": 1.0, "exponent": 0.5}, step_size=5000.0)
    full = cls(cls.Params(protocol="full", **params))
    np.testing.assert_allclose(full.best_response(np.zeros(10), own, ctx()), 100.0)
    step = cls(cls.Params(protocol="gradient", **params))
    s = np.arange(10.0, 101.0, 10.0)
    grad = 0.5 * s.sum() ** -1.5 - 0.1 * 0.005
    np.testing.assert_allclose(step.best_response(s, own, ctx()), np.clip(s + 5000 * grad, 0, 100))
    fd = cls(cls.Params(protocol="gradient", delta_s=10.0, **params))
    grad_fd = ((1 - (s.sum() + 10) ** -0.5) - (1 - s.sum() ** -0.5)) / 10 - 0.1 * 0.005
    np.testing.assert_allclose(fd.best_response(s, own, ctx()), np.clip(s + 5000 * grad_fd, 0, 100))


def test_mechanism_parameter_errors() -> None:
    cls = MECHANISMS["budget_balanced"]
    for bad, key in (({"payoff": "cubic"}, "payoff:"), ({"protocol": "fedprox"}, "protocol:"),
                     ({"welfare_p": 2.0}, "welfare_p:"), ({"beta": 1.5}, "beta:"),
                     ({"payoff_params": {"alpha": -1.0}}, "alpha:")):
        with pytest.raises(ValueError, match=key):
            cls(cls.Params(**bad))
    mech = cls(cls.Params(welfare_p=-1.0))
    with pytest.raises(ValueError, match="utility:"):
        mech.settle(np.zeros(2), owners([1.0, 2.0], [10.0, 10.0]), ctx())
    with pytest.raises(ValueError, match="owners:"):
        mech.settle(np.ones(1), owners([1.0], [10.0]), ctx())


def test_builtin_p003_scenarios_load() -> None:
    assert set(P003) <= set(builtin_names())
    for name in P003:
        load(name)
    with pytest.raises(ScenarioError, match="mechanism"):
        load("p003_example1", ["mechanism.protocol=\"fedprox\""])


def test_datamarket_example1_free_riding_then_budget_balance() -> None:
    model = DataMarket("p003_example1")
    model.run()
    frame = model.model_frame()
    np.testing.assert_allclose(model.owners.action, [0.0, 0.5], atol=1e-7)
    assert frame["welfare_p"].iloc[-1] == pytest.approx(24.0, abs=1e-6)
    assert frame["deviation_gain"].iloc[-1] == pytest.approx(0.0, abs=1e-9)
    assert frame["cycle_period"].iloc[-1] == 1.0          # a fixed point: the free-riding NE
    model = DataMarket("p003_example1", overrides=['mechanism.name="budget_balanced"'])
    model.run()
    frame = model.model_frame()
    assert np.all(np.abs(frame["payments_sum"]) < 1e-12)
    np.testing.assert_allclose(frame["beta"], 4 / 9, rtol=1e-12)
    assert frame["welfare_p"].iloc[-1] > 24.0


def test_datamarket_section5_n10_fedbr_bg_versus_fedbr_and_fedavg() -> None:
    runs = {}
    for label, overrides in (("FedBR-BG", []),
                             ("FedBR", ['mechanism.name="contribution_game"', "mechanism.step_size=500.0"]),
                             ("FedAvg", ['mechanism.protocol="full"'])):
        model = DataMarket("p003_section5_n10", overrides=overrides)
        model.run()
        runs[label] = model
    bg = runs["FedBR-BG"]
    assert bg.owners.action.sum() == pytest.approx(100.0, abs=1e-6)
    np.testing.assert_allclose(bg.owners.utility, 0.85, atol=1e-9)
    assert np.all(np.abs(bg.model_frame()["payments_sum"]) < 1e-12)
    assert runs["FedBR"].owners.action.sum() == pytest.approx(100 ** (2 / 3), abs=1e-3)
    for p in (0.2, 0.4, 0.6, 0.8, 1.0):
        w = {k: p_mean_welfare(m.owners.utility, p) for k, m in runs.items()}
        assert w["FedBR-BG"] > w["FedBR"] > w["FedAvg"]


def test_datamarket_nonexistence_cycles() -> None:
    """Theorem A.2 in a run: best responses alternate 0.55 <-> 0 and the run records period 2, never an NE."""
    model = DataMarket("p003_nonexistence")
    model.run()
    frame = model.model_frame()
    total = frame["total_contribution"].to_numpy()
    np.testing.assert_allclose(total[0::2], 1.65, atol=1e-6)
    np.testing.assert_allclose(total[1::2], 0.0, atol=1e-6)
    np.testing.assert_array_equal(frame["cycle_period"], [0.0, 0.0] + [2.0] * 18)
    # a profitable deviation in every round: 0.1375 (drop out at 0.55) or 0.8625 (= 7/8 - eps/4, join at 0)
    np.testing.assert_allclose(frame["deviation_gain"].iloc[0::2], 0.1375, atol=1e-9)
    np.testing.assert_allclose(frame["deviation_gain"].iloc[1::2], 0.8625, atol=1e-9)
    np.testing.assert_allclose(frame["g_norm"].iloc[1::2], 0.0)   # the gradient test alone would miss it
