"""``privmarket reproduce 001``: every check passes, and the Fig. 6 / Fig. 7 helpers."""

import numpy as np
import pytest

from analysis.reproduce import p001
from market.core.families import make_value
from market.theory.data_contribution.equilibrium import value_shaping_equilibrium


def test_every_p001_check_passes():
    checks = p001.checks()
    assert len(checks) >= 69
    failed = [f"{c.name}: paper {c.paper}, simulator {c.simulated}" for c in checks if not c.ok]
    assert not failed, failed


def test_fig6_rules_across_p():
    """docs/models/data_contribution.md#fig6: PD rises with p to the value-shaping total; PV collects nothing (m* = 0, v(d) = 0)."""
    pd = [p001.fairness_max_data("pd", p)[0] for p in (0.0, 0.5, 1.0)]
    assert pd == pytest.approx([0.0, 45300, 91900], abs=100)
    assert p001.fairness_max_data("pv", 0.5)[0] == 0.0
    ps = p001.fairness_max_data("ps", 0.5, nodes=32, levels=190, candidates=801)[0]
    assert ps == pytest.approx(pd[1], rel=0.01)


def test_fig7_pd_two_types_counts_high_types_when_they_are_everyone():
    v = make_value("erm_bound", 0.95, 1.0)
    total, high = p001.pd_two_type_max_data(v, 0, 100, 1e-4, 2e-4, 0.5)
    assert total > 0 and high == total
    total, high = p001.pd_two_type_max_data(v, 100, 0, 1e-4, 2e-4, 0.5)
    assert total > 0 and high == 0.0
    # value shaping collects at least as much as PD at its best p, for every mix
    for n_low in (0, 30, 70):
        costs = np.concatenate([np.full(n_low, 1e-4), np.full(100 - n_low, 2e-4)])
        best = max(p001.pd_two_type_max_data(v, n_low, 100 - n_low, 1e-4, 2e-4, p)[0] for p in (0.2, 0.5, 1.0))
        assert value_shaping_equilibrium(v, costs).sum() >= best
