"""The DataMarket model: determinism, agents vs arrays, events."""

import numpy as np
import pandas as pd
import pytest

from agents import DataOwner, GradientBuyer, Platform
from market.runner import run
from market.simulation.model import DataMarket


def test_same_seed_identical_parquet_different_seed_differs(tiny, tmp_path):
    tiny["churn"] = {"leave_rate": 0.02, "join_rate": 1.0}
    tiny["buyers"] = {"initial": 1, "arrival_rate": 0.5}
    tiny["decision"] = {"rule": "best_response", "revision": "asynchronous", "clock_rate": 0.2}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run(tiny, seed=seed, out=tmp_path / name)
    for table in ("model", "owners", "events"):
        a, b, c = ((tmp_path / n / f"{table}.parquet").read_bytes() for n in "abc")
        assert a == b, table
        assert a != c, table
    assert (tmp_path / "a" / "scenario.toml").read_text() == (tmp_path / "b" / "scenario.toml").read_text()


def test_agents_and_arrays_agree_after_churn(tiny):
    tiny["churn"] = {"leave_rate": 0.05, "join_rate": 3.0}
    tiny["rounds"] = 40
    model = DataMarket(tiny)
    model.run()
    owners = model.agents_by_type[DataOwner]
    assert len(owners) == len(model.owners)
    assert sorted(a.unique_id for a in owners) == sorted(model.owners.ids.tolist())
    for agent in owners:
        row = agent.row
        assert model.owners.ids[row] == agent.unique_id
        assert agent.sensitivity == model.owners.sensitivity[row]
        assert agent.action == model.owners.action[row]
    # Writing through an agent writes the array.
    some = next(iter(owners))
    some.sensitivity = 9.5
    assert model.owners.sensitivity[some.row] == 9.5
    leaves = model.recorder.frames()["events"].query("kind == 'owner_leave'")
    assert len(leaves) > 0
    assert all(model.owners.row_of[uid] == -1 for uid in leaves.agent_id)


def test_model_has_one_platform_and_buyers_as_agents(tiny):
    tiny["buyers"] = {"initial": 3}
    model = DataMarket(tiny)
    assert len(model.agents_by_type[Platform]) == 1
    assert len(model.agents_by_type[GradientBuyer]) == 3


def test_poisson_buyer_arrivals_match_rate(tiny):
    rate, rounds = 2.0, 1500
    tiny.update(rounds=rounds, population={"owners": 5, "types": [{"sensitivity": 1.0}]})
    tiny["buyers"] = {"arrival_rate": rate, "budget": 1e9, "stay": 0.5}
    result = run(tiny)
    arrivals = (result.events.kind == "buyer_arrival").sum()
    expected = rate * rounds  # arrivals in (0, rounds]; the process runs to the last round
    assert abs(arrivals - expected) < 4 * np.sqrt(expected)
    assert arrivals != expected  # a Poisson count, not a fixed schedule


def test_buyers_never_pay_beyond_budget(tiny):
    tiny["buyers"] = {"initial": 4, "budget": 2.5, "stay": 1000.0}
    tiny["mechanism"]["sale_price"] = 1.0
    result = run(tiny)
    assert result.model.buyer_spend.sum() == pytest.approx(4 * 2.5)
    assert (result.events.kind == "buyer_budget_spent").sum() == 4


def test_posted_price_best_response_settles_at_argmax(tiny):
    model = DataMarket(tiny)
    model.run()
    o = model.owners
    price, cost = np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.4, 1.0])
    util = o.data_size[:, None] * price - o.sensitivity[:, None] * cost
    np.testing.assert_array_equal(o.action, np.argmax(util, axis=1))
    np.testing.assert_allclose(o.utility, util.max(axis=1))


def test_sequential_revision_moves_one_owner_per_round(tiny):
    tiny["decision"] = {"rule": "best_response", "revision": "sequential", "revisions_per_round": 1}
    tiny["rounds"] = 5
    model = DataMarket(tiny)
    changed = []
    for _ in range(5):
        before = model.owners.action.copy()
        model.simulator.run_until(float(model.steps + 1))
        changed.append(int(np.count_nonzero(before != model.owners.action)))
    assert max(changed) <= 1 and sum(changed) >= 1


def test_model_frame_matches_recorded_table(tiny):
    model = DataMarket(tiny)
    model.run()
    pd.testing.assert_frame_equal(model.model_frame(), model.recorder.frames()["model"], check_dtype=False)
    assert model.model_frame()["round"].tolist() == list(range(1, 21))
