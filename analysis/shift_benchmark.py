"""A labelled benchmark of the regime-shift instrument: runs whose shifts are known by construction.

Each :class:`Case` is a small run (a few hundred owners and rounds) and the
rounds of its true regime shifts:

* **calm** runs -- posted prices under several decision rules, revision
  schedules and seeds, with a stationary population: no shift (the approach
  to the equilibrium is a transient);
* **shocks** -- every owner's sensitivity multiplied at known rounds
  (``drift.schedule``), one or two shocks, under synchronous and
  asynchronous revision: one shift per shock, at its round;
* the papers' **proven transitions** -- ``p000_regime_shift`` (paper 000,
  Theorem 3 over time: the truth is the class of the symmetric equilibrium
  :math:`p^*(\\alpha_t, c_t)` the platform's own :math:`\\alpha_t` induces each
  round, eq. 88, so its shifts are where that class changes),
  ``p004_pooling_collapse`` (collapse into pooling from an unstable start:
  a transient, then the pooling regime, no shift) and ``p004_pooling_stable``
  (the informative regime throughout).

:func:`evaluate` runs every case through :func:`analysis.regimes.shift_summary`
and matches detected shifts to true ones: a detection matches an unmatched
true shift at most ``lag`` rounds away (greedy, in time order); precision is
matched detections over detections, recall matched true shifts over true
shifts.  ``benchmarks/bench_regime_shifts.py`` prints the table and
``tests/test_regime_benchmark.py`` asserts precision and recall of at least 0.9.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.regimes import shift_summary
from market.simulation.model import DataMarket
from market.theory.fair_value.privacy_game import SymmetricBinaryGame

#: Largest distance in rounds between a detected shift and the true one it matches.
LAG = 10

#: A stationary posted-price market of 300 owners (the quickstart market without churn).
CALM = ["population.owners=300", "churn.leave_rate=0", "churn.join_rate=0"]
SYNC = ['decision.revision="synchronous"']


@dataclass(frozen=True)
class Case:
    """One labelled run: scenario, overrides, rounds, seed and the rounds of its true shifts.

    ``truth`` is either a tuple of rounds or the name of a function computing
    them from the finished run (:data:`TRUTHS`).
    """

    name: str
    scenario: str
    overrides: tuple[str, ...] = ()
    rounds: int = 300
    seed: int = 1
    truth: tuple[int, ...] | str = field(default=())


def _p000_truth(model: DataMarket, frame: pd.DataFrame) -> tuple[int, ...]:
    """Rounds where the class of the symmetric NE :math:`p^*(\\alpha_t, c_t)` of Theorem 3 changes."""
    game = SymmetricBinaryGame(model.mechanism.utility(), len(model.owners))
    kappa = model.mechanism.params.privacy_cost[-1]
    cost = float(model.owners.sensitivity[0]) * frame["cost_scale"].to_numpy() * kappa
    p = np.array([float(game.p_star(a, c)) if a > 0 else 1.0 for a, c in zip(frame["alpha"], cost)])
    classes = np.where(p >= 1, "no incentives", np.where(p <= 0, "all low-privacy", "mixed"))
    changes = np.flatnonzero(classes[1:] != classes[:-1]) + 1
    rounds = frame["round"].to_numpy()
    # the first round's class is the initial state, not a regime: changes out of it are the transient
    return tuple(int(rounds[i]) for i in changes if i > 1)


#: Truths computed from a finished run.
TRUTHS = {"p000_theorem3": _p000_truth}

#: The benchmark: 16 runs.
CASES: tuple[Case, ...] = (
    Case("calm best response async", "quickstart", tuple(CALM), seed=1),
    Case("calm best response sync", "quickstart", tuple(CALM + SYNC), seed=2),
    Case("calm best response async, inertia", "quickstart", tuple(CALM + ["decision.inertia=0.5"]), seed=3),
    Case("calm logit sync", "quickstart", tuple(CALM + SYNC + ['decision.rule="logit"']), seed=4),
    Case("calm hedge sync", "quickstart", tuple(CALM + SYNC + ['decision.rule="hedge"']), seed=5),
    Case("calm with churn sync", "quickstart", ("population.owners=300",) + tuple(SYNC), seed=6),
    Case("shock x3 at 150 async", "quickstart", tuple(CALM + ["drift.schedule=[[150, 3.0]]"]), seed=7,
         truth=(150,)),
    Case("shock x3 at 150 sync", "quickstart", tuple(CALM + SYNC + ["drift.schedule=[[150, 3.0]]"]), seed=8,
         truth=(150,)),
    Case("shock x0.4 at 120 sync", "quickstart", tuple(CALM + SYNC + ["drift.schedule=[[120, 0.4]]"]), seed=9,
         truth=(120,)),
    Case("two shocks sync", "quickstart",
         tuple(CALM + SYNC + ["drift.schedule=[[100, 3.0], [200, 0.3]]"]), seed=10, truth=(100, 200)),
    Case("two shocks async", "quickstart", tuple(CALM + ["drift.schedule=[[100, 3.0], [200, 0.3]]"]), seed=11,
         truth=(100, 200)),
    Case("shock x3 at 150 logit sync", "quickstart",
         tuple(CALM + SYNC + ['decision.rule="logit"', "drift.schedule=[[150, 3.0]]"]), seed=12, truth=(150,)),
    Case("paper 000 Theorem 3 over time", "p000_regime_shift", ("mechanism.alpha_grid=201",), rounds=240, seed=12,
         truth="p000_theorem3"),
    Case("paper 004 pooling collapse", "p004_pooling_collapse", rounds=80, seed=4),
    Case("paper 004 pooling stable", "p004_pooling_stable", rounds=80, seed=4),
)


def match(detected: list[int], truth: list[int], lag: int = LAG) -> int:
    """Number of detections matched to distinct true shifts at most ``lag`` rounds away (greedy, in time order)."""
    free = sorted(truth)
    hits = 0
    for d in sorted(detected):
        near = [t for t in free if abs(t - d) <= lag]
        if near:
            free.remove(min(near, key=lambda t: abs(t - d)))
            hits += 1
    return hits


def run_case(case: Case) -> dict[str, object]:
    """Run one case; its true and detected shifts, transient and final regime."""
    model = DataMarket(case.scenario, seed=case.seed, rounds=case.rounds, overrides=list(case.overrides))
    model.run()
    frame = model.model_frame()
    truth = list(TRUTHS[case.truth](model, frame) if isinstance(case.truth, str) else case.truth)
    summary = shift_summary(frame, model.mechanism)
    detected = [s["round"] for s in summary["regime_shifts"]]
    return {"case": case.name, "true": truth, "detected": detected, "matched": match(detected, truth),
            "transient": summary["transient"]["length"], "final_regime": summary["final_regime"],
            "change_points": len(summary["change_points"]["rounds"])}


def evaluate(cases: tuple[Case, ...] = CASES) -> tuple[pd.DataFrame, float, float]:
    """Run every case; the table, precision and recall (1 when there is nothing to find or nothing found)."""
    table = pd.DataFrame([run_case(c) for c in cases])
    found = int(table["detected"].map(len).sum())
    true = int(table["true"].map(len).sum())
    hits = int(table["matched"].sum())
    return table, hits / found if found else 1.0, hits / true if true else 1.0
