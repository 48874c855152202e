"""Every built-in scenario checkpoints and resumes bit-for-bit (mechanism and rule state included)."""

import numpy as np
import pandas as pd
import pytest

from market.simulation.model import DataMarket
from market.simulation.recorder import Recorder
from scenarios.schema import builtin_names, load

CUT, TOTAL = 3, 6


def _short(name):
    scenario = load(name)
    population = scenario.population
    overrides = [f"rounds={TOTAL}"]
    if "owners" in population and population["owners"] > 2000:
        overrides.append("population.owners=2000")
    return load(name, overrides)


@pytest.mark.parametrize("name", builtin_names())
def test_checkpoint_restore_continues_identically(name):
    scenario = _short(name)
    straight = DataMarket(scenario, recorder=Recorder(None, owner_every=1))
    straight.run()
    first = DataMarket(scenario, recorder=Recorder(None, owner_every=1))
    first.simulator.run_until(float(CUT))
    state, arrays = first.checkpoint_state()
    second = DataMarket(scenario, recorder=Recorder(None, owner_every=1), restore=(state, arrays))
    second.run()
    a = straight.recorder.frames()["model"]
    b = pd.concat([first.recorder.frames()["model"], second.recorder.frames()["model"]], ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(straight.owners.action, second.owners.action)
