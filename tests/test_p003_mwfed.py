"""Paper 003's MWFed baseline (Blum et al. 2021, MW-FED): multiplicative shares, targets, stability."""

from __future__ import annotations

import numpy as np
import pytest

from market.registry import MECHANISMS
from market.simulation.model import DataMarket
from market.theory.contribution_game.game import ContributionGame, mwfed, mwfed_shares, stability_slack
from market.theory.contribution_game.payoffs import ConvexCost, PowerLaw, RandomCoverage


def noniid() -> ContributionGame:
    """Accuracy 1 - alpha_i S^(-1/2) with alpha = (0.5, 1, 2): target 0.9 needs S = 25, 100, 400."""
    return ContributionGame(PowerLaw(3, alpha=[0.5, 1.0, 2.0], exponent=0.5), ConvexCost(0.005, n=3), 400.0)


def test_mwfed_shares_multiplicative_update() -> None:
    np.testing.assert_allclose(mwfed_shares(np.full(3, 1 / 3), [False, True, True], 4.0), [1 / 9, 4 / 9, 4 / 9])
    np.testing.assert_allclose(mwfed_shares([0.2, 0.3, 0.5], [True, False, True], 2.0), np.array([0.4, 0.3, 1.0]) / 1.7)
    np.testing.assert_allclose(mwfed_shares([0.2, 0.3, 0.5], [True, True, True], 4.0), [0.2, 0.3, 0.5])
    np.testing.assert_allclose(mwfed_shares([0.2, 0.3, 0.5], [True, False, True], 1.0), [0.2, 0.3, 0.5])


def test_mwfed_rounds_follow_the_multiplicative_weights_and_stop_at_the_targets() -> None:
    game = noniid()
    run = mwfed(game, 0.9, batch=10.0)
    assert run.converged and len(run.states) == 15 and run.beta == 0.0
    np.testing.assert_allclose(run.states[1], [10.0, 10.0, 10.0])
    np.testing.assert_allclose(run.shares[:3], [[1 / 3] * 3, [1 / 9, 4 / 9, 4 / 9], [1 / 33, 16 / 33, 16 / 33]])
    for t in range(len(run.shares)):
        np.testing.assert_allclose(run.states[t + 1] - run.states[t], 30.0 * run.shares[t], atol=1e-12)
        if t + 1 < len(run.shares):
            below = game.payoff(run.states[t + 1]) < 0.9
            np.testing.assert_allclose(run.shares[t + 1], mwfed_shares(run.shares[t], below, 4.0), rtol=1e-12)
    np.testing.assert_allclose(run.final, [14.60563, 61.12408, 344.27029], atol=1e-5)
    assert run.final.sum() == pytest.approx(420.0)
    assert np.all(game.payoff(run.final) >= 0.9)
    assert game.payoff(run.states[-2])[2] < 0.9          # the hardest owner was still short one round earlier
    np.testing.assert_allclose(run.utilities[-1], game.payoff(run.final) - 0.005 * run.final)


def test_mwfed_moves_the_burden_towards_a_stable_equilibrium() -> None:
    """Blum et al.: stable = no owner could sample less and still meet its target; uniform shares are far from it."""
    game = noniid()
    weighted, uniform = mwfed(game, 0.9), mwfed(game, 0.9, boost=1.0)
    np.testing.assert_allclose(uniform.final, [140.0, 140.0, 140.0])
    np.testing.assert_allclose(uniform.shares, 1 / 3)
    np.testing.assert_allclose(stability_slack(game, weighted.final, 0.9), [14.60563, 61.12408, 20.0], atol=1e-5)
    np.testing.assert_allclose(stability_slack(game, uniform.final, 0.9), [140.0, 140.0, 20.0], atol=1e-9)
    # owner-specific payoffs (random coverage, eq. 1): MWFed also needs fewer samples in total
    q = np.array([[0.5, 0.5, 0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25, 0, 0], [0.1, 0.1, 0.2, 0.2, 0.2, 0.2]])
    cover = ContributionGame(RandomCoverage(3, q=0.98 * q + 0.02 / 6), ConvexCost(0.005, n=3), 200.0)
    weighted, uniform = mwfed(cover, 0.95, batch=1.0), mwfed(cover, 0.95, batch=1.0, boost=1.0)
    assert weighted.converged and uniform.converged
    assert weighted.final.sum() == pytest.approx(18.0) and uniform.final.sum() == pytest.approx(21.0)
    np.testing.assert_allclose(weighted.final, [3.51967, 5.07867, 9.40166], atol=1e-5)
    np.testing.assert_allclose(stability_slack(cover, weighted.final, 0.95), [3.51967, 5.07867, 2.25531], atol=1e-5)
    np.testing.assert_allclose(stability_slack(cover, uniform.final, 0.95), [7.0, 6.80199, 0.39963], atol=1e-5)


def test_stability_slack_closed_form() -> None:
    game = noniid()
    # aggregate payoff: slack_i = s_i - max(0, S_needed_i - S_{-i}) with S_needed = (25, 100, 400)
    np.testing.assert_allclose(stability_slack(game, np.array([0.0, 0.0, 400.0]), 0.9), [0.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(stability_slack(game, np.array([50.0, 100.0, 300.0]), 0.9), [50.0, 100.0, 50.0],
                               atol=1e-9)
    slack = stability_slack(game, np.array([10.0, 20.0, 40.0]), 0.9)   # S = 70: owners 2 and 3 miss their targets
    assert slack[0] == pytest.approx(10.0) and np.isnan(slack[1]) and np.isnan(slack[2])


def test_mwfed_identical_owners_is_fedavg_stopped_at_the_target() -> None:
    game = ContributionGame(PowerLaw(10, alpha=1.0, exponent=0.5), ConvexCost(0.005, n=10), 100.0, beta=0.9)
    run = mwfed(game, 0.95)
    assert len(run.states) == 5 and run.converged            # S = 100, 200, 300, 400: a(400) = 0.95
    np.testing.assert_allclose(run.shares, 0.1)
    np.testing.assert_allclose(run.final, 40.0)
    np.testing.assert_allclose(run.utilities[-1], 0.75)        # no payments, whatever the game's beta
    np.testing.assert_allclose(run.payments, 0.0)
    capped = mwfed(game, 0.99)                                 # a(1000) = 0.968 < 0.99: everyone gives tau
    assert not capped.converged and len(capped.states) == 11
    np.testing.assert_allclose(capped.final, 100.0)


def test_mwfed_errors() -> None:
    game = noniid()
    for kwargs, key in (({"target": [0.9, 0.9]}, "target:"), ({"target": 0.9, "batch": 0.0}, "batch:"),
                        ({"target": 0.9, "boost": 0.5}, "boost:"), ({"target": 0.9, "rounds": 0}, "rounds:")):
        with pytest.raises(ValueError, match=key):
            mwfed(game, **kwargs)
    cls = MECHANISMS["contribution_game"]
    for bad, key in (({"batch": -1.0}, "batch:"), ({"boost": 0.9}, "boost:"), ({"target": float("nan")}, "target:")):
        with pytest.raises(ValueError, match=key):
            cls(cls.Params(protocol="mwfed", **bad))


def test_datamarket_mwfed_protocol_matches_the_function() -> None:
    game = noniid()
    for boost, expected in ((4.0, mwfed(game, 0.9).final), (1.0, np.full(3, 140.0))):
        model = DataMarket("p003_mwfed_noniid", overrides=[f"mechanism.boost={boost}"])
        model.run()
        frame = model.model_frame()
        np.testing.assert_allclose(model.owners.action, expected, rtol=1e-12)
        np.testing.assert_allclose(frame["total_contribution"].iloc[:3], [30.0, 60.0, 90.0])
        assert list(frame["cycle_period"].iloc[13:16]) == [0.0, 1.0, 1.0]   # sampling stops after round 14
