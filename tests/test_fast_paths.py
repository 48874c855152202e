"""Each optimised per-round path pinned to the straightforward computation it replaced.

The references (``reference_*``) are the straightforward implementations,
kept here only as test oracles: the owner types by a sort of the owner rows,
log-binomials by ``gammaln``, the auction's deviation menus by one
``menu_choice`` per candidate report, posted-price best responses for
everyone, owner columns by concatenation and boolean indexing.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln

from agents import DataOwner, GradientBuyer, Platform
from market.core.mechanism import ActionSpace, RoundContext
from market.core.population import OwnerArrays
from market.mechanisms import fair_payment as fair_payment_module
from market.registry import MECHANISMS, RULES
from market.rules.learning import sample_mixed, softmax
from market.runner import run
from market.simulation.model import DataMarket
from market.simulation.recorder import Recorder
from market.theory.data_contribution.equilibrium import max_contribution, shaping_lines
from market.theory.data_contribution.value_functions import on_unique, standalone_optimum
from market.theory.fair_value import fair_values as fair_values_module
from market.theory.fair_value.fair_values import (
    _compositions,
    _CompositionIndex,
    _exact_grid,
    _interp_many,
    _interp_sum,
    _log_binom,
    shapley_by_type_stratified,
)
from market.theory.fair_value.mean_estimation import OwnerTypes
from market.theory.fl_market.auctions import (
    JUMP_MARGIN,
    SELECTION_SIZE,
    MenuHull,
    _menu_grid,
    _price_by_selection,
    _price_of_sorted_jumps,
    menu_choice,
    menu_choice_by_shading,
    proportional_share,
    supply_jumps,
    valuation,
)


def reference_types(level, data_size, importance):
    rows = np.column_stack([np.asarray(level, float), data_size, importance])
    uniq, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return uniq, counts, inverse.reshape(-1)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 4), st.sampled_from([1, 2, 5, 17, 400]), st.integers(0, 2**31))
def test_owner_types_equal_the_sorted_rows(n, levels, sizes, seed):
    # sizes > 16: coded by searchsorted; 400 sizes x 3 importances x levels: keys beyond bincount's range
    rng = np.random.default_rng(seed)
    level = rng.integers(0, levels, n)
    size = rng.choice(rng.lognormal(0, 1, sizes), n)
    importance = rng.choice([0.5, 1.0, 2.0], n)
    types, owner_type = OwnerTypes.from_owners(level, size, importance)
    uniq, counts, inverse = reference_types(level, size, importance)
    np.testing.assert_array_equal(types.level, uniq[:, 0])
    np.testing.assert_array_equal(types.data_size, uniq[:, 1])
    np.testing.assert_array_equal(types.importance, uniq[:, 2])
    np.testing.assert_array_equal(types.count, counts)
    np.testing.assert_array_equal(owner_type, inverse)


def test_log_binomial_table_equals_gammaln():
    rng = np.random.default_rng(1)
    n = rng.integers(0, 200_000, (50, 16)).astype(float)
    k = np.floor(rng.random((50, 16)) * (n + 1))
    np.testing.assert_array_equal(_log_binom(n, k), gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))
    # non-integer or out-of-range arguments go to gammaln itself
    x = np.array([2.5, 7.0, 3.0])
    np.testing.assert_array_equal(_log_binom(x, np.array([1.0, 7.5, 4.0])),
                                  gammaln(x + 1) - gammaln(np.array([2.0, 8.5, 5.0])) - gammaln(x - [1.0, 7.5, 4.0] + 1))


def test_on_unique_gives_the_elementwise_result_with_and_without_sharing():
    rng = np.random.default_rng(2)
    f = lambda a, b: np.sqrt(a) * np.log1p(b)  # noqa: E731
    continuous = rng.random(5000), rng.random(5000)
    typed = rng.choice([1.0, 2.0, 3.0], 5000), rng.choice([0.5, 4.0], 5000)
    for cols in (continuous, typed):
        np.testing.assert_array_equal(on_unique(f, *cols), f(*cols))
    calls = []
    on_unique(lambda a, b: calls.append(a.size) or f(a, b), *typed)
    assert calls == [6]  # three sizes x two rates: one evaluation per distinct row


@pytest.mark.parametrize("M", [0, 1, 20])
def test_menu_choice_by_shading_equals_one_menu_choice_per_candidate(M):
    rng = np.random.default_rng(3 + M)
    n, buyers = 400, 3
    kind = rng.integers(0, 5, n)
    rate = rng.uniform(0.05, 2.0, n)
    eps_bar = rng.uniform(0.1, 5.0, n)
    shading = np.linspace(0.5, 1.5, 11)
    price = rng.uniform(0.0, 3.0, (buyers, n))
    cap = np.where(rng.random((buyers, n)) < 0.3, rng.uniform(0.0, 2.0, (buyers, n)), np.inf)
    fast, unit = menu_choice_by_shading(kind, rate, shading, price, cap, eps_bar, M)
    full = lambda a: np.broadcast_to(a, price.shape)  # noqa: E731
    for c, s in enumerate(shading):
        np.testing.assert_array_equal(fast[..., c], menu_choice(full(kind), full(rate * s), price, cap, full(eps_bar), M))
    np.testing.assert_array_equal(unit, valuation(kind[:, None], 1.0, fast))
    assert (fast > 0).any() and (fast == 0).any()


def reference_auction_deviations(mech, action, owners, ctx):
    """True utility per owner and shading, one auction run and one menu choice per candidate."""
    budgets = np.minimum(mech.params.round_budget, ctx.buyer_budgets)
    kind, rate, eps_bar = owners.extra["valuation"].astype(int), owners.sensitivity, owners.extra["eps_bar"]
    shape = (budgets.size, len(owners))
    alloc = proportional_share(np.broadcast_to(kind, shape), np.broadcast_to(action * rate, shape),
                               np.broadcast_to(eps_bar, shape), budgets * (1.0 - mech.params.commission),
                               M=mech.params.M, side=owners.ids % 2 == 1)
    out = np.zeros((len(owners), mech.action_space.values.size))
    for c, s in enumerate(mech.action_space.values):
        e = menu_choice(np.broadcast_to(kind, shape), np.broadcast_to(rate * s, shape), alloc.price, alloc.cap,
                        np.broadcast_to(eps_bar, shape), mech.params.M)
        out[:, c] = (alloc.price * e - valuation(kind, rate, e)).sum(axis=0)
    return out


def _share_auction_market(rng: np.random.Generator, n: int):
    """A proportional-share FL-Market (M = 20) and n owners of random families, budgets and shadings."""
    FLMarket = MECHANISMS["fl_market"]
    mech = FLMarket(FLMarket.Params(auction="proportional_share", M=20))
    o = OwnerArrays.empty(("valuation", "eps_bar"))
    o.append(np.arange(n), {"sensitivity": rng.uniform(0.05, 1.0, n), "data_size": np.ones(n),
                            "valuation": rng.integers(0, 4, n).astype(float), "eps_bar": rng.uniform(0.5, 5.0, n)},
             np.ones(n), 0)
    return mech, o, rng.choice(mech.action_space.values, n)


def test_auction_deviation_utilities_equal_the_per_candidate_reference():
    rng = np.random.default_rng(4)
    mech, o, action = _share_auction_market(rng, 300)
    budgets = np.array([40.0, 90.0])
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(0), buyer_budgets=budgets,
                       buyer_valuations=np.ones(2))
    dev = mech.deviation_utilities(action, o, ctx)
    np.testing.assert_array_equal(dev, reference_auction_deviations(mech, action, o, ctx))
    assert np.ptp(dev, axis=1).max() > 0


def test_fair_values_are_memoised_by_composition_with_common_random_numbers():
    cls = MECHANISMS["fair_payment"]
    mech = cls(cls.Params(utility="federated_mean", s2=0.1, r2=100.0, privacy_cost=[0.0, 0.08, 1.0],
                          alpha=0.5, resolve_every=0, exact_limit=10, mc_samples=64))
    level = np.repeat([0, 1, 2], 40)
    types, _ = OwnerTypes.from_owners(level, np.repeat([10.0, 100.0], 60), np.ones(120))
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(5))
    fair_payment_module.FAIR_VALUE_MEMO.clear()
    phi, se = mech._values(types, ctx)
    assert len(fair_payment_module.FAIR_VALUE_MEMO) == 1 and se > 0
    # the estimate is the stratified estimator's with the generator seeded by (seed, composition)
    composition = np.concatenate([types.level, types.count, types.data_size.view(np.int64),
                                  types.importance.view(np.int64)])
    utility = mech.utility()
    ref, _ = shapley_by_type_stratified(
        types.count, lambda K: utility.coalition_utility(K, types),
        np.random.default_rng([mech.estimate_seed, *(composition & (2**63 - 1)).tolist()]),
        null=types.null, n_samples=64, exact_rows=10, n_bins=16, groups=types.level)
    np.testing.assert_array_equal(phi, ref)
    # the same composition again (another round, another generator state): the memoised values
    again, _ = mech._values(types, RoundContext(round=7, time=7.0, rng=np.random.default_rng(99)))
    assert again is phi and len(fair_payment_module.FAIR_VALUE_MEMO) == 1
    # after the memo is dropped the values are recomputed identically (a pure function of the composition)
    fair_payment_module.FAIR_VALUE_MEMO.clear()
    np.testing.assert_array_equal(mech._values(types, ctx)[0], phi)


def test_log_binomial_of_integer_counts_equals_the_float_path():
    rng = np.random.default_rng(11)
    n = rng.integers(0, 300_000, (40, 1, 3))
    k = np.floor(rng.random((40, 7, 3)) * (n + 1)).astype(np.int64)
    fast = _log_binom(n, k)
    np.testing.assert_array_equal(fast, _log_binom(n.astype(float), k.astype(float)))
    np.testing.assert_array_equal(fast, gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0))
    assert _log_binom(np.int64(5), np.int64(0)) == 0.0  # edge: k = 0 and k = n
    assert _log_binom(np.int64(5), np.int64(5)) == 0.0


@pytest.mark.parametrize("counts", [[30, 25, 40, 5, 0, 12], [400, 1, 300, 2, 3, 500], [60, 0, 1, 80, 1, 300],
                                    [60, 0, 0, 80, 1, 1]])  # the last: few coalitions, computed exactly
def test_stratified_estimate_of_wanted_types_equals_the_full_estimate(counts):
    counts = np.array(counts)
    types = OwnerTypes(np.array([0, 1, 2, 0, 1, 2]), counts, np.repeat([10.0, 100.0], 3), np.ones(6))
    cls = MECHANISMS["fair_payment"]
    utility = cls(cls.Params(s2=0.1, r2=100.0)).utility()
    G = lambda K: utility.coalition_utility(K, types)  # noqa: E731
    args = dict(null=types.null, n_samples=64, exact_rows=20, n_bins=16, groups=types.level)
    full, full_se = shapley_by_type_stratified(counts, G, np.random.default_rng(3), **args)
    estimated = full_se.max() > 0
    assert np.all(np.isfinite(full)) and estimated == (counts[2] + counts[5] > 2)
    for t in np.flatnonzero(~types.null & (counts > 0)):
        phi, se = shapley_by_type_stratified(counts, G, np.random.default_rng(3), wanted=np.arange(6) == t, **args)
        assert phi[t] == full[t] and se[t] == full_se[t]  # bitwise: same samples, same terms
        others = np.arange(6) != t
        assert np.all(np.isnan(phi[others][~types.null[others] & (counts[others] > 0)]) == estimated)


def reference_fair_deviations(mech, action, owners, ctx):
    """Deviation utilities with every moved composition estimated in full (moves to level 0 included)."""
    kappa = np.asarray(mech.params.privacy_cost)
    types, owner_type = mech._types(action, owners)
    base, _ = mech._values(types, ctx)
    dev = np.zeros((types.size, kappa.size))
    for t in range(types.size):
        for k in range(kappa.size):
            moved, cell = fair_payment_module._move_one(types, t, k)
            dev[t, k] = base[t] if k == types.level[t] else mech._estimate(moved, False)[0][cell]
    return mech.alpha * dev[owner_type] - owners.sensitivity[:, None] * kappa[None, :]


def test_fair_payment_deviations_equal_full_estimates_of_every_move():
    rng = np.random.default_rng(12)
    cls = MECHANISMS["fair_payment"]
    mech = cls(cls.Params(utility="federated_mean", s2=0.1, r2=100.0, privacy_cost=[0.0, 0.08, 1.0],
                          alpha=0.5, exact_limit=10, mc_samples=64))
    n = 500
    o = OwnerArrays.empty(("importance",))
    o.append(np.arange(n), {"sensitivity": rng.uniform(0, 8, n), "data_size": rng.choice([10.0, 100.0], n),
                            "importance": np.ones(n)}, np.ones(n), 0)
    # level 2 held by two owners of size 10 only: moves create new types and empty a rare one
    action = np.where(rng.random(n) < 0.5, 1.0, 0.0)
    action[np.flatnonzero(o.data_size == 10.0)[:2]] = 2.0
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(5))
    fair_payment_module.FAIR_VALUE_MEMO.clear()
    dev = mech.deviation_utilities(action, o, ctx)
    np.testing.assert_array_equal(dev, reference_fair_deviations(mech, action, o, ctx))
    assert np.all(np.isfinite(dev)) and np.ptp(dev[:, 1] - dev[:, 0]) > 0


def test_fair_payment_runs_identically_with_a_warm_memo(tiny):
    tiny["mechanism"] = {"name": "fair_payment", "utility": "federated_mean", "s2": 0.1, "r2": 100.0,
                         "privacy_cost": [0.0, 0.08, 1.0], "alpha": 0.5, "resolve_every": 0,
                         "exact_limit": 10, "mc_samples": 64}
    tiny["rounds"] = 6
    fair_payment_module.FAIR_VALUE_MEMO.clear()
    first = DataMarket(tiny)
    first.run()
    second = DataMarket(tiny)  # every composition is now in the memo
    second.run()
    assert first.model_frame().equals(second.model_frame())
    np.testing.assert_array_equal(first.owners.payment, second.owners.payment)


def test_posted_price_best_response_of_rows_equals_everyones_restricted(tiny):
    model = DataMarket(tiny)
    mech, o = model.mechanism, model.owners
    rows = np.array([3, 0, 17, 42])
    ctx = model.context()
    np.testing.assert_array_equal(mech.best_response_of(rows, o.action, o, ctx),
                                  mech.best_response(o.action, o, ctx)[rows])


def test_owner_columns_with_spare_capacity_equal_concatenation():
    rng = np.random.default_rng(6)
    o = OwnerArrays.empty(("importance",))
    ref = {k: np.zeros(0) for k in ("ids", "sensitivity", "importance")}
    next_id, reused = 0, 0
    for step in range(40):
        k = int(rng.integers(0, 30)) if step else 500
        if k:
            ids = np.arange(next_id, next_id + k)
            next_id += k
            attrs = {"sensitivity": rng.random(k), "data_size": rng.random(k), "importance": rng.random(k)}
            before = o.sensitivity
            o.append(ids, attrs, np.zeros(k), joined=step)
            reused += before.size > 0 and np.shares_memory(before, o.sensitivity)
            ref = {"ids": np.concatenate([ref["ids"], ids]), "sensitivity": np.concatenate([ref["sensitivity"],
                   attrs["sensitivity"]]), "importance": np.concatenate([ref["importance"], attrs["importance"]])}
        leaving = np.flatnonzero(rng.random(len(o)) < 0.03)
        keep = np.ones(len(o), dtype=bool)
        keep[leaving] = False
        o.remove(leaving)
        ref = {name: v[keep] for name, v in ref.items()}
        np.testing.assert_array_equal(o.ids, ref["ids"])
        np.testing.assert_array_equal(o.sensitivity, ref["sensitivity"])
        np.testing.assert_array_equal(o.extra["importance"], ref["importance"])
        np.testing.assert_array_equal(o.row_of[o.ids], np.arange(len(o)))
    assert reused > 0  # joins wrote into the spare capacity instead of copying every column


def test_owner_agents_are_views_made_on_demand(tiny):
    tiny["churn"] = {"leave_rate": 0.05, "join_rate": 3.0}
    tiny["buyers"] = {"initial": 2}
    model = DataMarket(tiny)
    assert len(model.agents) == 3  # the platform and two buyers: no per-owner object
    model.run()
    uid = int(model.owners.ids[5])
    view = model.owner(uid)
    assert isinstance(view, DataOwner) and view is model.owner(uid)
    assert view.sensitivity == model.owners.sensitivity[5] and view.row == 5
    gone = model.recorder.frames()["events"].query("kind == 'owner_leave'").agent_id.iloc[0]
    with pytest.raises(KeyError):
        model.owner(int(gone))
    groups = model.agents_by_type
    assert len(groups[DataOwner]) == len(model.owners)
    assert len(groups[Platform]) == 1 and len(groups[GradientBuyer]) == len(model.buyers)
    # ids are Mesa's: owners, buyers and the platform never share one
    others = {a.unique_id for a in model.agents}
    assert not others & set(model.owners.ids.tolist())


def test_summary_reads_only_the_last_recorded_round_of_owners(tiny, tmp_path):
    tiny["rounds"] = 60
    tiny["population"]["owners"] = 400
    tiny["output"] = {"owner_every": 1}
    result = run(tiny, out=tmp_path / "r")
    assert result.recorded_owners is None  # not read back by the run itself
    full = result.owners
    assert len(full) == 60 * 400
    recorder = Recorder(tmp_path / "r")
    recorder.closed = True
    final = recorder.final_owners()
    expected = full[full["round"] == 60].reset_index(drop=True)
    assert final.reset_index(drop=True).equals(expected) and len(final) == 400
    in_memory = run(tiny)
    assert in_memory.summary["metrics"] == result.summary["metrics"]


def value_shaping_owners(rng, n):
    """Owners with costs around the viability cutoff, some duplicated (on_unique's sharing path)."""
    c = np.concatenate([rng.uniform(0.005, 0.2, n - 40), np.full(40, 0.05)])
    o = OwnerArrays.empty(())
    o.append(np.arange(n), {"sensitivity": c, "data_size": np.ones(n)}, np.zeros(n), 0)
    return o


def reference_shaped_utility(mech, c, m_star, others, m_top, cand):
    """Eq. (11) branch by branch, with the intersection point (the straightforward evaluation)."""
    c, m_star, others, m_top = (x[:, None] for x in (c, m_star, others, m_top))
    v, eps = mech.v, mech.params.eps
    pooled = v(cand + others)
    line = v(m_star) + (c + eps) * (cand - m_star)
    value = np.where(cand <= m_star, v(cand), np.where(cand <= m_top, np.minimum(line, pooled), pooled))
    return value - c * cand


@pytest.mark.parametrize("eps", [1e-8, 0.0])
def test_value_shaping_utility_without_the_intersection_equals_eq_11(eps):
    rng = np.random.default_rng(13)
    cls = MECHANISMS["value_shaping"]
    mech = cls(cls.Params(m_max=200.0, eps=eps))
    n = 2000
    o = value_shaping_owners(rng, n)
    action = rng.uniform(0.0, 30.0, n) * (rng.random(n) < 0.8)
    action[:50] = 0.0
    for seed_d in (0.0, 5.0):
        ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(0))
        c = mech.costs(o)
        m_star = mech.standalone(c)[0]
        others = action.sum() + seed_d - action if seed_d else mech.others(action, ctx)
        others[:10] = 0.0  # D = 0: the tangency, m^max = m*
        m_top = max_contribution(mech.v, c, m_star, others, eps)
        # candidates on every branch: 0, below m*, m*, between m* and m^max, m^max itself, beyond, far beyond
        cand = np.stack([np.zeros(n), 0.5 * m_star, m_star, 0.5 * (m_star + m_top), m_top, m_top * (1 + 1e-6),
                         m_top + 10.0, rng.uniform(0, 200, n)], axis=1)
        fast = mech._shaped_utility((c, m_star, others, mech.v(m_star)), cand)
        ref = reference_shaped_utility(mech, c, m_star, others, m_top, cand)
        np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)
        # equal except within the root's tolerance around m^max (the line and the pooled value cross there)
        assert np.mean(fast == ref) > 0.999


def reference_value_shaping_best_response(mech, action, owners, ctx):
    """m^max and the pooled optimum compared by eq. (11), then the box's ends: each step evaluated in full."""
    c = mech.costs(owners)
    m_star = mech.standalone(c)[0]
    others = mech.others(action, ctx)
    m_top = max_contribution(mech.v, c, m_star, others, mech.params.eps)
    beyond = np.maximum(m_top, mech.v.db_inv(c) - others)
    cand = np.stack([m_top, beyond], axis=1)
    util = lambda x: reference_shaped_utility(mech, c, m_star, others, m_top, x)  # noqa: E731
    best = cand[np.arange(c.size), np.argmax(util(cand), axis=1)]
    m_max = mech.params.m_max
    box = np.stack([np.minimum(best, m_max), np.zeros_like(best), np.full_like(best, m_max)], axis=1)
    return box[np.arange(c.size), np.argmax(util(box), axis=1)]


@pytest.mark.parametrize("m_max", [200.0, 3.0])
def test_value_shaping_best_response_equals_the_reference(m_max):
    rng = np.random.default_rng(14)
    cls = MECHANISMS["value_shaping"]
    mech = cls(cls.Params(m_max=m_max, eps=1e-8))
    n = 3000
    o = value_shaping_owners(rng, n)
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(0))
    action = np.zeros(n)
    for _ in range(4):  # best-response dynamics from nobody contributing: climbs, some owners hit m_max
        fast = mech.best_response(action, o, ctx)
        np.testing.assert_array_equal(fast, reference_value_shaping_best_response(mech, action, o, ctx))
        action = fast
    assert (action > 0).any() and ((action == m_max).any() == (m_max == 3.0))


def test_max_contribution_with_lines_at_hand_equals_the_plain_call():
    rng = np.random.default_rng(15)
    cls = MECHANISMS["value_shaping"]
    v = cls(cls.Params()).v
    c = rng.uniform(0.005, 0.2, (30, 40))  # 2-D and broadcast inputs: solved flat, returned in shape
    m_star = standalone_optimum(v, c)
    others = rng.uniform(0.0, 500.0, (1, 40))
    plain = max_contribution(v, c, m_star, others, 1e-8)
    assert plain.shape == (30, 40)
    np.testing.assert_array_equal(max_contribution(v, c, m_star, others, 1e-8,
                                                   lines=shaping_lines(v, c, m_star, 1e-8)), plain)
    for i in (0, 17):
        np.testing.assert_array_equal(
            np.array([max_contribution(v, np.array([c[i, j]]), np.array([m_star[i, j]]),
                                       np.array([others[0, j]]), 1e-8)[0] for j in range(40)]), plain[i])


# --------------------------------------------------------------------------- proportional share by menu hulls
def reference_grid_price(kind, rate, eps_bar, budget, members, M):
    """Clearing price from every owner's full grid menu at her reported rate (the item-by-item slopes)."""
    x, v = _menu_grid(kind, rate, eps_bar, M)
    K = x.shape[-1]
    a, b = np.full(x.shape, -np.inf), np.full(x.shape, np.inf)
    for i in range(K - 1):
        slope = (v[..., i + 1:] - v[..., i, None]) / (x[..., i + 1:] - x[..., i, None])
        np.maximum(a[..., i + 1:], slope, out=a[..., i + 1:])
        b[..., i] = slope.min(axis=-1)
    chosen = (a < b) & members[..., None]
    step, last = np.zeros(x.shape), np.zeros(x.shape[:-1])
    for k in range(1, K):
        step[..., k] = np.where(chosen[..., k], x[..., k] - last, 0.0)
        last = np.where(chosen[..., k], x[..., k], last)
    jumps = np.where(step > 0, a, np.inf).reshape(budget.shape + (-1,))
    order = np.argsort(jumps, axis=-1, kind="stable")
    p = np.take_along_axis(jumps, order, axis=-1)
    supply = np.cumsum(np.take_along_axis(step.reshape(jumps.shape), order, axis=-1), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.maximum(np.maximum(p, 0.0), np.divide(budget[..., None], supply))
    upper = np.concatenate([p[..., 1:], np.full(p.shape[:-1] + (1,), np.inf)], axis=-1)
    ok = np.isfinite(p) & (supply > 0) & (price <= upper)
    t = np.argmax(ok, axis=-1)[..., None]
    price = np.take_along_axis(price, t, axis=-1)[..., 0]
    price = np.where(price <= np.take_along_axis(p, t, axis=-1)[..., 0], price * (1.0 + JUMP_MARGIN), price)
    valid = ok.any(axis=-1) & (budget > 0) & (price <= np.exp(30.0)) & (price >= np.exp(-30.0))
    return np.where(valid, price, 0.0)


def reference_proportional_share(kind, rate, eps_bar, budget, M, side):
    """The proportional share served owner by owner in index order, every choice by ``menu_choice``."""
    kind, rate, eps_bar = np.broadcast_arrays(kind, rate, eps_bar)
    budget = np.broadcast_to(np.asarray(budget, float), rate.shape[:-1])
    n = rate.shape[-1]
    out = {k: np.zeros(rate.shape) for k in ("epsilon", "payment", "price", "cap")}
    for g in (False, True):
        members = side == g
        share = budget * members.sum() / n
        pi = reference_grid_price(kind, rate, eps_bar, share, np.broadcast_to(~members, rate.shape), M)
        left = share.copy()
        for i in np.flatnonzero(members):
            q = np.where(pi > 0, left / np.where(pi > 0, pi, 1.0), 0.0)
            e = np.where(pi > 0, menu_choice(kind[..., i], rate[..., i], pi, q, eps_bar[..., i], M), 0.0)
            pay = np.minimum(pi * e, left)
            out["epsilon"][..., i], out["payment"][..., i], out["price"][..., i] = e, pay, pi
            out["cap"][..., i] = q
            left = np.maximum(left - pay, 0.0)
    return out


def auction_case(seed, n, buyers, families=(0, 1, 2, 3, 4), ties=False):
    rng = np.random.default_rng(seed)
    kind = rng.choice(families, n)
    rate = rng.uniform(0.05, 2.0, n)
    eps_bar = rng.uniform(0.5, 5.0, n)
    if ties:  # identical owners: equal breakpoints, the price quoted just above a shared jump
        kind, rate, eps_bar = kind % 2, np.round(rate * 2) / 2 + 0.5, np.round(eps_bar)
    budget = rng.uniform(0.5, 2.0, buyers) * n
    return kind, rate, eps_bar, budget


@pytest.mark.parametrize("seed, n, buyers, ties", [(20, 1, 1, False), (21, 2, 2, False), (22, 9, 3, False),
                                                   (23, 400, 2, False), (24, 400, 1, True), (25, 60, 4, True)])
def test_proportional_share_by_hulls_equals_the_owner_by_owner_reference(seed, n, buyers, ties):
    kind, rate, eps_bar, budget = auction_case(seed, n, buyers, ties=ties)
    side = np.random.default_rng(seed).random(n) < 0.5
    shape = (buyers, n)
    full = lambda a: np.broadcast_to(a, shape)  # noqa: E731
    fast = proportional_share(full(kind), full(rate), full(eps_bar), budget, M=20, side=side,
                              hull=MenuHull.of(kind, eps_bar, 20))
    ref = reference_proportional_share(full(kind), full(rate), full(eps_bar), budget, 20, side)
    for name in ("price", "epsilon", "payment"):
        np.testing.assert_allclose(getattr(fast, name), ref[name], rtol=1e-12, atol=1e-12 * budget.max())
    served = fast.epsilon > 0
    np.testing.assert_allclose(fast.cap[served], ref["cap"][served], rtol=1e-12)
    assert np.array_equal(fast.epsilon > 0, ref["epsilon"] > 0) and (n < 9 or served.any())
    # the hulls built inside equal the ones handed in
    inner = proportional_share(full(kind), full(rate), full(eps_bar), budget, M=20, side=side)
    np.testing.assert_array_equal(inner.epsilon, fast.epsilon)


def test_clearing_price_by_selection_equals_the_sort():
    rng = np.random.default_rng(26)
    J = 5 * SELECTION_SIZE
    jumps = np.where(rng.random(J) < 0.3, np.inf, rng.exponential(1.0, J))
    jumps[:2000] = 0.7  # a block of ties
    step = np.where(np.isfinite(jumps), rng.uniform(0.01, 1.0, J), 0.0)
    total = step.sum()
    for budget in (1e-9, 0.01 * total, 0.5 * total, 3.0 * total, 1e6 * total, 1e15 * total, 0.0):
        sorted_ = _price_of_sorted_jumps(jumps[None], step[None], np.array([budget]), np.inf)[0]
        live = step > 0
        picked = _price_by_selection(jumps[live], step[live], np.array(budget))
        assert picked == pytest.approx(sorted_, rel=1e-12, abs=0.0)
    live = step > 0
    assert _price_by_selection(jumps[live], step[live], np.array(1e15 * total)) == 0.0  # beyond the price range


@pytest.mark.parametrize("M", [1, 20])
def test_hull_choice_and_sells_equal_the_item_by_item_choice(M):
    kind, rate, eps_bar, _ = auction_case(27 + M, 3000, 1)
    rng = np.random.default_rng(M)
    rate[:50] = 0.0  # a free report
    price = rng.uniform(0.0, 6.0, 3000)
    price[50:100] = 0.0
    # caps: none, zero, below the smallest item, exactly an item, between items, above the top
    items = eps_bar[:, None] / np.arange(1, M + 1)
    cap = np.select([rng.random(3000) < p for p in (0.2, 0.1, 0.1, 0.2, 0.2)],
                    [np.full(3000, np.inf), np.zeros(3000), 0.5 * items[:, -1],
                     items[np.arange(3000), rng.integers(0, M, 3000)],
                     rng.uniform(0.0, 1.0, 3000) * eps_bar], 2.0 * eps_bar)
    q = np.maximum(np.minimum(eps_bar, cap), 0.0)
    hull = MenuHull.of(kind, eps_bar, M)
    e, unit = hull.choice(price, rate, q, kind, eps_bar, M)
    ref = menu_choice(kind, rate, price, cap, eps_bar, M)
    np.testing.assert_array_equal(e, ref)
    np.testing.assert_array_equal(unit, valuation(kind, 1.0, ref))
    np.testing.assert_array_equal(hull.sells(price, rate, q, eps_bar, M), ref > 0)
    some = rng.random(3000) < 0.1
    np.testing.assert_array_equal(hull.choice(price, rate, q, kind, eps_bar, M, some)[0], np.where(some, ref, 0.0))
    assert (ref > 0).mean() > 0.2 and (ref == 0).mean() > 0.2


def test_auction_deviation_utilities_are_reused_once_for_the_same_inputs():
    rng = np.random.default_rng(28)
    mech, o, action = _share_auction_market(rng, 200)
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(0), buyer_budgets=np.array([30.0]),
                       buyer_valuations=np.ones(1))
    first = mech.deviation_utilities(action, o, ctx)
    again = mech.deviation_utilities(action, o, ctx)  # the kept result
    np.testing.assert_array_equal(again, first)
    assert mech._deviation_last.size == 0  # handed out once
    moved = np.where(action < 1.0, 3.0, 0.1)  # everyone's report moves: the others' menus change
    fresh = type(mech)(mech.params)
    np.testing.assert_array_equal(mech.deviation_utilities(moved, o, ctx), fresh.deviation_utilities(moved, o, ctx))
    assert not np.array_equal(mech.deviation_utilities(moved, o, ctx), first)


def test_interpolation_of_many_rows_equals_numpy_interp_bitwise():
    rng = np.random.default_rng(17)
    for _ in range(100):
        nodes = np.unique(rng.integers(0, 1000, rng.integers(1, 20)))
        x = rng.integers(nodes[0], nodes[-1] + 1, 300)
        values = rng.normal(size=(5, nodes.size)) * 10 ** rng.uniform(-8, 8)
        expected = np.stack([np.interp(x, nodes, row) for row in values])
        np.testing.assert_array_equal(_interp_many(x, nodes, values), expected)


def test_cached_exact_grid_equals_a_fresh_one_and_is_read_only():
    comps, rank, base, size, r0, r1 = _exact_grid(6, 3)
    fresh = _compositions(6, 4)
    index = _CompositionIndex(6, 4)
    np.testing.assert_array_equal(comps, fresh)
    np.testing.assert_array_equal(rank, index.rank(fresh))
    np.testing.assert_array_equal(base, fresh[fresh.sum(axis=1) <= 3])
    np.testing.assert_array_equal(size, base.sum(axis=1))
    np.testing.assert_array_equal(r0, index.rank(base))
    plus_one = (base[:, None, :] + np.eye(6, dtype=np.int64)).reshape(-1, 6)
    np.testing.assert_array_equal(r1, index.rank(plus_one).reshape(r1.shape))
    assert _exact_grid(6, 3)[0] is comps and not comps.flags.writeable


def test_interpolant_summed_by_node_interval_equals_the_sum_over_every_size():
    rng = np.random.default_rng(23)
    for _ in range(100):
        nodes = np.unique(np.append(rng.integers(0, 100_000, rng.integers(0, 20)), rng.integers(0, 100_000)))
        values = rng.normal(size=(4, nodes.size)) * 10 ** rng.uniform(-8, 8)
        every = np.arange(nodes[0], nodes[-1] + 1)
        terms = np.stack([np.interp(every, nodes, row) for row in values])
        scale = np.abs(terms).sum(axis=1)
        assert np.all(np.abs(_interp_sum(nodes, values) - terms.sum(axis=1)) <= 1e-12 * scale)


def test_stratified_estimate_with_summed_control_equals_the_per_size_sum():
    """The control's mean summed per node interval: the same estimates as summing every middle size to 1e-12."""
    counts = np.array([25_000, 24_000, 1_000, 26_000, 23_000, 1_000])
    types = OwnerTypes(np.array([0, 1, 2, 0, 1, 2]), counts, np.repeat([10.0, 100.0], 3), np.ones(6))
    cls = MECHANISMS["fair_payment"]
    utility = cls(cls.Params(s2=0.1, r2=100.0)).utility()
    G = lambda K: utility.coalition_utility(K, types)  # noqa: E731
    args = dict(null=types.null, n_samples=96, exact_rows=400, n_bins=16, groups=types.level)
    fast, fast_se = shapley_by_type_stratified(counts, G, np.random.default_rng(4), **args)
    per_size = lambda nodes, values: np.array([np.interp(np.arange(nodes[0], nodes[-1] + 1), nodes, row).sum()  # noqa: E731
                                               for row in values])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fair_values_module, "_interp_sum", per_size)
        ref, ref_se = shapley_by_type_stratified(counts, G, np.random.default_rng(4), **args)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(fast_se, ref_se)
    assert fast_se.max() > 0


@pytest.mark.parametrize("n, buyers", [(12_000, 1), (9_000, 3)])
def test_proportional_share_with_kept_supply_jumps_equals_the_pass_over_the_hulls(n, buyers):
    """The groups' supply jumps kept with the hulls give bitwise the same auction as the pass over the hulls."""
    rng = np.random.default_rng(n)
    kind = rng.integers(0, 3, n)
    eps_bar = rng.uniform(0.5, 5.0, n)
    hull = MenuHull.of(kind, eps_bar, 20)
    rate = rng.uniform(0.1, 2.0, (buyers, n))
    side = rng.random(n) < 0.5
    budget = rng.uniform(0.1, 2.0, buyers) * n
    jumps = tuple(supply_jumps(hull, side == g) for g in (False, True))
    assert jumps[0].group_size + jumps[1].group_size == n and jumps[0].group_size * buyers > SELECTION_SIZE
    ref = proportional_share(kind, rate, eps_bar, budget, 20, side, hull)
    fast = proportional_share(kind, rate, eps_bar, budget, 20, side, hull, jumps)
    assert np.all(ref.price > 0) and np.all(ref.epsilon.sum(axis=-1) > 0)
    for field in ("price", "epsilon", "payment", "cap"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(ref, field))


def test_auction_keeps_the_supply_jumps_while_hulls_and_split_are_unchanged():
    rng = np.random.default_rng(29)
    n = 300
    FLMarket = MECHANISMS["fl_market"]
    mech = FLMarket(FLMarket.Params(auction="proportional_share", M=20))
    kind, eps_bar = rng.integers(0, 4, n), rng.uniform(0.5, 5.0, n)
    side = np.arange(n) % 2 == 1
    hull = mech._menu_hull(kind, eps_bar)
    kept = mech._supply_jumps(hull, side)
    assert kept[0].group_size == kept[1].group_size == n // 2
    assert np.shares_memory(mech._supply_jumps(hull, side)[0].owner, kept[0].owner)  # kept, not recomputed
    for jumps, group in zip(kept, (~side, side)):
        expected = supply_jumps(hull, group)
        np.testing.assert_array_equal(jumps.owner, expected.owner)
        np.testing.assert_array_equal(jumps.breaks, expected.breaks)
        np.testing.assert_array_equal(jumps.steps, expected.steps)
        assert jumps.owner.size > 0 and np.all(group[jumps.owner])
    other = rng.random(n) < 0.3                   # another split: recomputed
    np.testing.assert_array_equal(mech._supply_jumps(hull, other)[1].owner, supply_jumps(hull, other).owner)
    new_hull = mech._menu_hull(kind, eps_bar * 2)  # other budgets: new hulls, recomputed jumps
    np.testing.assert_array_equal(mech._supply_jumps(new_hull, other)[1].breaks, supply_jumps(new_hull, other).breaks)
    assert not np.array_equal(supply_jumps(new_hull, other).breaks, supply_jumps(hull, other).breaks)


@pytest.mark.parametrize("shape", [(3000,), (2, 11, 3000), (1, 7, 40000)])
def test_hull_count_below_equals_every_rank_compared_for_every_ratio(shape):
    kind, _, eps_bar, _ = auction_case(40, shape[-1], 1)
    hull = MenuHull.of(kind, eps_bar, 20)
    ratio = np.random.default_rng(41).uniform(0.0, 8.0, shape)
    ratio[..., :7] = hull.breaks[3, :7]     # exactly on a breakpoint: not below it
    ratio[..., 7:9] = np.inf
    reference = (ratio[None] > hull.breaks[1:].reshape((20,) + (1,) * (len(shape) - 1) + shape[-1:])).sum(axis=0)
    count = hull._count_below(ratio)
    np.testing.assert_array_equal(count, reference)
    assert count.dtype == np.uint8 and len(np.unique(count)) > 10


def reference_softmax(scores):
    z = scores - np.max(scores, axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def reference_sample_mixed(prob, rng):
    cdf = np.cumsum(prob, axis=1)
    u = rng.random(prob.shape[0]) * cdf[:, -1]
    idx = (cdf < u[:, None]).sum(axis=1)
    return np.minimum(idx, prob.shape[1] - 1).astype(np.int64)


def test_softmax_and_draw_equal_the_row_wise_formulas_bitwise():
    rng = np.random.default_rng(42)
    scores = rng.normal(0.0, 30.0, (20000, 11))
    scores[::7, 3] = -np.inf
    scores[::11, :] = -np.inf
    scores[::11, 5] = 2.0                    # one finite entry: probability 1
    prob = softmax(scores)
    np.testing.assert_array_equal(prob, reference_softmax(scores))
    draw = sample_mixed(prob, np.random.default_rng(43))
    np.testing.assert_array_equal(draw, reference_sample_mixed(prob, np.random.default_rng(43)))
    assert draw.dtype == np.int64 and (draw[::11] == 5).all() and len(np.unique(draw)) == 11


@pytest.mark.parametrize("anytime", [False, True])
def test_hedge_mixed_strategy_equals_the_softmax_of_a_rate_per_owner(anytime):
    rule = RULES["hedge"](RULES["hedge"].Params(learning_rate=0.3, anytime=anytime), ActionSpace(np.arange(5.0)))
    rule.sync(300)
    rng = np.random.default_rng(44)
    rule.total[:] = rng.normal(0.0, 20.0, rule.total.shape)
    rule.count[:] = rng.integers(0, 9, 300)
    eta = np.full(300, 0.3)
    if anytime:
        eta = eta * np.sqrt(np.log(5) / np.maximum(rule.count + 1, 1))
    np.testing.assert_array_equal(rule.mixed_strategy(), reference_softmax(eta[:, None] * rule.total))
