"""Paper 000, Theorem 3: a sweep over the sensitivity c reproduces the three regimes as a phase band.

The worked example of docs/models/fair_value.md#example-n2 (N = 2, noiseless DP mean, U = [[0, 2/3], [2/3, 1]],
binary privacy): gamma_min = 1/2, gamma_max = 2/3 and c_th = 1/3 (docs/models/fair_value.md#eq-24), so the platform
buys everyone's data (alpha* = 2c) for c < 1/3, gets a mixed profile for 1/3 < c < 2/3 and offers
nothing (alpha* = 0) for c > 2/3.
"""

import numpy as np

from analysis.plots import plot
from analysis.sweep import sweep

THEOREM3 = "p000_theorem3"  # the built-in scenario of docs/models/fair_value.md#example-n2
C = [round(0.005 + 0.02 * k, 3) for k in range(50)]          # 50 values, none on a threshold


def _theorem3_regime(c):
    return "all low-privacy" if c < 1 / 3 else ("mixed" if c < 2 / 3 else "no incentives")


def test_sweep_over_sensitivity_reproduces_the_three_regimes(tmp_path):
    result = sweep(THEOREM3, {"population.owner.0.sensitivity": C}, 1, out=tmp_path, n_workers=2,
                   processes=False)
    summary = result.summary.sort_values("population.owner.0.sensitivity")
    assert summary["regime"].tolist() == [_theorem3_regime(c) for c in C]
    final_alpha = result.rounds().groupby("cell")["alpha"].last().to_numpy()
    low = np.array(C) < 1 / 3
    np.testing.assert_allclose(final_alpha[low], 2 * np.array(C)[low], atol=1e-4)   # alpha* = c / gamma_min
    assert np.all(final_alpha[np.array(C) > 2 / 3] == 0)                            # no incentives
    paths = plot(tmp_path)
    band = [p for p in paths if p.name == "phase_band.png"]
    assert band and band[0].stat().st_size > 10_000
