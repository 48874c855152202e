"""Learning guarantees of the decision rules on small games.

The games are test-only mechanisms (not registered) built on the Mechanism
interface, so the rules see them exactly as they see the simulator's.
Golden numbers come from the public API: nashpy for the mixed equilibrium,
the rules' documented formulas for the rest.
"""

from dataclasses import dataclass

import nashpy
import numpy as np
import pytest

from market.core.mechanism import ActionSpace, Mechanism, Outcome, RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS, RULES


def owners_with(n, action, sensitivity=None, data_size=None):
    o = OwnerArrays.empty()
    sens = np.ones(n) if sensitivity is None else sensitivity
    size = np.ones(n) if data_size is None else data_size
    o.append(np.arange(1, n + 1), {"sensitivity": sens, "data_size": size}, np.asarray(action, float), 0)
    return o


class PairedGame(Mechanism):
    """Owners 2m and 2m+1 play a bimatrix game (A for the even owner, B for the odd one)."""

    name = "paired_game_test"

    @dataclass(frozen=True)
    class Params:
        A: tuple = ((1.0, 0.0), (0.0, 1.0))
        B: tuple = ((1.0, 0.0), (0.0, 1.0))

    def validate(self):
        self.A, self.B = np.array(self.params.A, float), np.array(self.params.B, float)
        self._space = ActionSpace(np.arange(self.A.shape[0], dtype=float))

    @property
    def action_space(self):
        return self._space

    def deviation_utilities(self, action, owners, ctx):
        a = action.astype(int)
        opponent = a[np.arange(a.size) ^ 1]
        even = np.arange(a.size) % 2 == 0
        return np.where(even[:, None], self.A[:, opponent].T, self.B[opponent, :])

    def settle(self, action, owners, ctx):
        util = self.deviation_utilities(action, owners, ctx)[np.arange(action.size), action.astype(int)]
        return Outcome(payment=util, cost=np.zeros_like(util), utility=util, platform_utility=0.0)


class RandomPayoffs(Mechanism):
    """Every candidate pays an independent Bernoulli(1/2) utility each round (an equal-means bandit)."""

    name = "random_payoffs_test"

    @dataclass(frozen=True)
    class Params:
        k: int = 2
        seed: int = 0

    @property
    def action_space(self):
        return ActionSpace(np.arange(self.params.k, dtype=float))

    def deviation_utilities(self, action, owners, ctx):
        rng = np.random.default_rng([self.params.seed, ctx.round])
        return (rng.random((action.size, self.params.k)) < 0.5).astype(float)

    def settle(self, action, owners, ctx):
        util = self.deviation_utilities(action, owners, ctx)[np.arange(action.size), action.astype(int)]
        return Outcome(payment=util, cost=np.zeros_like(util), utility=util, platform_utility=0.0)


def play(rule, mech, owners, rounds, rng, on_round=None):
    """Synchronous revision as in DataMarket.step: choose, settle, observe."""
    rows = np.arange(len(owners))
    for t in range(1, rounds + 1):
        ctx = RoundContext(round=t, time=float(t), rng=rng)
        owners.action[rows] = rule.choose(rows, mech, owners, ctx, rng)
        out = mech.settle(owners.action, owners, ctx)
        owners.payment, owners.cost, owners.utility = out.payment, out.cost, out.utility
        if on_round is not None:
            on_round(t, ctx)
        rule.observe(mech, owners, ctx)


def make(rule_name, space, **params):
    cls = RULES[rule_name]
    return cls(cls.Params(**params), space)


# --------------------------------------------------------------- regret matching
CHICKEN = (((0.0, 7.0), (2.0, 6.0)), ((0.0, 2.0), (7.0, 6.0)))  # Aumann's game: CE set larger than Nash
PENNIES = (((1.0, -1.0), (-1.0, 1.0)), ((-1.0, 1.0), (1.0, -1.0)))


@pytest.mark.parametrize("game", [CHICKEN, PENNIES], ids=["chicken", "pennies"])
def test_regret_matching_conditional_regret_vanishes(game):
    """Hart & Mas-Colell (2000): max_{j,k} D(j,k)+ -> 0, measured on 100 independent pairs."""
    mech = PairedGame(PairedGame.Params(A=game[0], B=game[1]))
    scale = np.ptp(np.array(game))  # payoff range
    regret = []
    for rounds in (100, 500, 2000):
        rng = np.random.default_rng(1)
        owners = owners_with(200, rng.integers(0, 2, 200))
        rule = make("regret_matching", mech.action_space)
        play(rule, mech, owners, rounds, rng)
        regret.append(rule.max_regret().mean() / scale)
    assert regret[0] > regret[1] > regret[2]
    assert regret[2] < 0.05 and regret[2] < 0.5 * regret[0]


def test_regret_matching_empirical_play_is_approximate_correlated_equilibrium():
    """The empirical joint distribution satisfies every CE incentive constraint up to the measured regret."""
    A, B = (np.array(m) for m in CHICKEN)
    mech = PairedGame(PairedGame.Params(A=CHICKEN[0], B=CHICKEN[1]))
    rng = np.random.default_rng(2)
    n, rounds = 400, 1500
    owners = owners_with(n, rng.integers(0, 2, n))
    rule = make("regret_matching", mech.action_space)
    joint = np.zeros((2, 2))
    play(rule, mech, owners, rounds, rng,
         on_round=lambda t, ctx: np.add.at(joint, (owners.action[0::2].astype(int),
                                                   owners.action[1::2].astype(int)), 1.0))
    z = joint / joint.sum()
    # CE constraints: sum_b z(j,b) [A(k,b) - A(j,b)] <= eps for the row player, likewise for the column.
    row_gain = max(z[j] @ (A[k] - A[j]) for j in range(2) for k in range(2))
    col_gain = max(z[:, j] @ (B[:, k] - B[:, j]) for j in range(2) for k in range(2))
    assert max(row_gain, col_gain) < 0.05


def test_regret_matching_unconditional_external_regret_vanishes():
    mech = PairedGame(PairedGame.Params(A=PENNIES[0], B=PENNIES[1]))
    rng = np.random.default_rng(3)
    owners = owners_with(200, rng.integers(0, 2, 200))
    rule = make("regret_matching", mech.action_space, variant="unconditional")
    play(rule, mech, owners, 2000, rng)
    assert rule.max_regret().mean() < 0.02 * 2


# ------------------------------------------------------------------------ Hedge
def test_hedge_average_regret_shrinks_like_inverse_sqrt_t():
    """Anytime Hedge on an equal-means random bandit: regret ~ sqrt(T) and below Thm. 2.3's bound."""
    k, n = 2, 2000
    mech = RandomPayoffs(RandomPayoffs.Params(k=k, seed=4))
    rule = make("hedge", mech.action_space, learning_rate=float(np.sqrt(8.0)), anytime=True)
    owners = owners_with(n, np.zeros(n))
    rng = np.random.default_rng(4)
    checkpoints, best, gained, avg = (100, 400, 1600), np.zeros((n, k)), np.zeros(n), {}

    def account(t, ctx):
        nonlocal gained
        util = mech.deviation_utilities(owners.action, owners, ctx)
        gained += np.einsum("ik,ik->i", rule.mixed_strategy(), util)  # expected utility of the played mixture
        best[:] += util
        if t in checkpoints:
            avg[t] = float(np.mean(best.max(axis=1) - gained)) / t

    play(rule, mech, owners, checkpoints[-1], rng, on_round=account)
    for t in checkpoints:  # Cesa-Bianchi & Lugosi 2006, Thm. 2.3
        assert avg[t] * t <= 2 * np.sqrt(t / 2 * np.log(k)) + np.sqrt(np.log(k) / 8)
    slope = np.polyfit(np.log(checkpoints), np.log([avg[t] for t in checkpoints]), 1)[0]
    assert slope == pytest.approx(-0.5, abs=0.1)


# -------------------------------------------------------------- fictitious play
def test_fictitious_play_average_play_converges_to_unique_mixed_equilibrium():
    A = np.array([[3.0, -1.0], [-1.0, 1.0]])  # zero-sum, unique fully mixed equilibrium
    (p_star, q_star), = list(nashpy.Game(A, -A).support_enumeration())
    mech = PairedGame(PairedGame.Params(A=tuple(map(tuple, A)), B=tuple(map(tuple, -A))))
    rng = np.random.default_rng(5)
    n, rounds = 40, 3000
    owners = owners_with(n, rng.integers(0, 2, n))
    rule = make("fictitious_play", mech.action_space)
    counts = np.zeros((n, 2))
    play(rule, mech, owners, rounds, rng,
         on_round=lambda t, ctx: np.add.at(counts, (np.arange(n), owners.action.astype(int)), 1.0))
    freq = counts / rounds
    np.testing.assert_allclose(freq[0::2], np.broadcast_to(p_star, (n // 2, 2)), atol=0.03)
    np.testing.assert_allclose(freq[1::2], np.broadcast_to(q_star, (n // 2, 2)), atol=0.03)
    assert np.all(np.abs(freq[:, 0] - np.rint(freq[:, 0])) > 0.2)  # genuinely mixed, not a pure profile


# ------------------------------------------------------------------------ logit
def _posted_price():
    cls = MECHANISMS["posted_price"]
    return cls(cls.Params(price=(0.0, 0.5, 1.0), privacy_cost=(0.0, 0.4, 1.0)))


def test_logit_probabilities_follow_the_softmax_formula():
    mech = _posted_price()
    rng = np.random.default_rng(6)
    owners = owners_with(50, np.zeros(50), sensitivity=rng.uniform(0, 2, 50))
    ctx = RoundContext(round=1, time=1.0, rng=rng)
    util = mech.deviation_utilities(owners.action, owners, ctx)
    rule = make("logit", mech.action_space, temperature=0.3)
    expected = np.exp(util / 0.3) / np.exp(util / 0.3).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(rule.probabilities(np.arange(50), mech, owners, ctx), expected, rtol=1e-12)


def test_logit_approaches_best_response_as_temperature_falls():
    mech = _posted_price()
    rng = np.random.default_rng(7)
    n = 400
    owners = owners_with(n, np.zeros(n), sensitivity=rng.uniform(0, 2, n))
    ctx = RoundContext(round=1, time=1.0, rng=rng)
    rows = np.arange(n)
    best = make("best_response", mech.action_space).choose(rows, mech, owners, ctx, rng).astype(int)
    gap = []
    for tau in (1.0, 0.1, 0.01, 0.001, 0.0):
        prob = make("logit", mech.action_space, temperature=tau).probabilities(rows, mech, owners, ctx)
        gap.append(float(np.mean(1.0 - prob[rows, best])))  # mass off the best response
    assert all(a > b for a, b in zip(gap[:3], gap[1:4]))
    assert gap[-1] == 0.0  # temperature 0 is the best response
    # Off-best mass at tau is bounded by sum_k exp(-(u* - u_k)/tau), the softmax tail.
    util = mech.deviation_utilities(owners.action, owners, ctx)
    margin = np.sort(util, axis=1)[:, -1] - np.sort(util, axis=1)[:, -2]
    clear = margin > 0.05
    prob = make("logit", mech.action_space, temperature=0.001).probabilities(rows, mech, owners, ctx)
    assert np.all(1 - prob[clear, best[clear]] <= 2 * np.exp(-margin[clear] / 0.001) + 1e-12)
    chosen = make("logit", mech.action_space, temperature=0.001).choose(rows, mech, owners, ctx, rng)
    np.testing.assert_array_equal(chosen[clear], best[clear])


# -------------------------------------------------------------------- imitation
class PopulationGame(Mechanism):
    """Homogeneous owners; the payoff of level a is (M x)_a for the population shares x."""

    name = "population_game_test"

    @dataclass(frozen=True)
    class Params:
        M: tuple = ((0.0, 3.0), (1.0, 2.0))  # hawk-dove: interior rest point x = (1/2, 1/2)

    def validate(self):
        self.M = np.array(self.params.M, float)
        self._space = ActionSpace(np.arange(self.M.shape[0], dtype=float))

    @property
    def action_space(self):
        return self._space

    def payoffs(self, action):
        x = np.bincount(action.astype(int), minlength=self.M.shape[0]) / action.size
        return self.M @ x, x

    def deviation_utilities(self, action, owners, ctx):
        return np.broadcast_to(self.payoffs(action)[0], (action.size, self.M.shape[0])).copy()

    def settle(self, action, owners, ctx):
        util = self.payoffs(action)[0][action.astype(int)]
        return Outcome(payment=util, cost=np.zeros_like(util), utility=util, platform_utility=0.0)


@pytest.mark.parametrize("protocol", ["proportional", "fermi"])
def test_imitation_on_complete_graph_follows_mean_dynamics(protocol):
    mech = PopulationGame(PopulationGame.Params())
    M, n, steps = mech.M, 40000, 12
    rng = np.random.default_rng(8)
    owners = owners_with(n, (rng.random(n) < 0.1).astype(float))  # x_1 = 0.1 at the start
    scale, noise = 3.0, 1.0
    rule = make("imitation", mech.action_space, protocol=protocol, scale=scale, noise=noise)

    def mean_step(x):
        pi = M @ x
        if protocol == "proportional":  # discrete replicator (Schlag 1998)
            return x + x * (pi - x @ pi) / scale
        return x + x * (np.tanh((pi[:, None] - pi[None, :]) / (2 * noise)) @ x)

    ctx = RoundContext(round=0, time=0.0, rng=rng)
    out = mech.settle(owners.action, owners, ctx)
    owners.utility = out.utility
    x_sim = [mech.payoffs(owners.action)[1]]
    x_mean = [x_sim[0]]
    play(rule, mech, owners, steps, rng,
         on_round=lambda t, ctx: x_sim.append(mech.payoffs(owners.action)[1]))
    for _ in range(steps):
        x_mean.append(mean_step(x_mean[-1]))
    x_sim, x_mean = np.array(x_sim), np.array(x_mean)
    sd = np.sqrt(0.25 / n)
    # One step from the realised shares is within 5 sd of the mean dynamics; the whole path within 0.02.
    one_step = np.array([mean_step(x) for x in x_sim[:-1]])
    assert np.max(np.abs(x_sim[1:, 1] - one_step[:, 1])) < 5 * sd
    assert np.max(np.abs(x_sim[:, 1] - x_mean[:, 1])) < 0.02
    assert x_sim[-1, 1] > x_sim[0, 1] + 0.1  # the dynamics really moved towards the rest point 1/2
