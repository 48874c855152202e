"""Best response against posted prices equals a brute-force argmax (ties to the lowest level)."""

import numpy as np
from hypothesis import given, settings, strategies as st

from market.core.mechanism import RoundContext
from market.core.population import OwnerArrays
from market.registry import MECHANISMS, RULES

levels = st.integers(min_value=2, max_value=5)
value = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)


@st.composite
def instances(draw):
    k = draw(levels)
    n = draw(st.integers(min_value=1, max_value=30))
    price = draw(st.lists(value, min_size=k, max_size=k))
    cost = [0.0] + draw(st.lists(value, min_size=k - 1, max_size=k - 1))
    # Coarse grids make exact ties frequent, which exercises the tie-break.
    sens = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=n, max_size=n))
    size = draw(st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=n, max_size=n))
    return price, cost, np.array(sens), np.array(size)


def _owners(sens, size):
    o = OwnerArrays.empty()
    ids = np.arange(1, sens.size + 1)
    o.append(ids, {"sensitivity": sens, "data_size": size}, np.zeros(sens.size), joined=0)
    return o


@settings(max_examples=200, deadline=None)
@given(instances())
def test_best_response_is_brute_force_argmax(inst):
    price, cost, sens, size = inst
    mech = MECHANISMS["posted_price"](MECHANISMS["posted_price"].Params(
        price=tuple(price), privacy_cost=tuple(cost), value=tuple([0.0] * len(price))))
    rule = RULES["best_response"](RULES["best_response"].Params(), mech.action_space)
    owners = _owners(sens, size)
    ctx = RoundContext(round=1, time=1.0, rng=np.random.default_rng(0))
    chosen = rule.choose(np.arange(sens.size), mech, owners, ctx, np.random.default_rng(0))
    for i in range(sens.size):
        utilities = [price[k] * size[i] - sens[i] * cost[k] for k in range(len(price))]
        best = max(utilities)
        expected = min(k for k, u in enumerate(utilities) if u == best)  # lowest level among ties
        assert chosen[i] == expected
