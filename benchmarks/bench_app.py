"""Frame time of the browser page's figures: blitted live figures against a full redraw per frame.

On demand, not part of the test run::

    python benchmarks/bench_app.py [--owners 1000] [--per-frame 21]

Plays quickstart (1,000 owners, 200 rounds) at ``--per-frame`` rounds per frame and,
in the same process on the same model states, times per frame

* the reference: what the page did before, a new matplotlib figure per plot and
  frame (constrained layout) written as SVG from the whole per-round table, for the
  three line plots and the owner scatter;
* the live figures of :mod:`analysis.app`: the axes, ticks and legends drawn once
  into a background, each frame only the new rounds appended and the data drawn
  over it (Agg blitting), written as PNG.

The simulation's own time per frame is reported beside them.  The Playwright test
(tests/test_app.py) measures the whole page in a browser.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from matplotlib.figure import Figure

from analysis.app import LiveLines, MarketApp, OwnerCloud, _welfare_values

LINES = {"money": {"total_payments": "payments", "total_cost": "privacy cost",
                   "information_rent": "information rent", "buyer_spend": "buyer spend"},
         "welfare": {"platform_utility": "platform", "owners_utility": "owners (total)", "welfare": "welfare"},
         "shares": {"share_0": "0", "share_1": "1", "share_2": "2"}}


def reference_frame(model: MarketApp) -> None:
    """The straightforward page: every figure built and written from scratch."""
    frame = model.model_frame()
    values = {**{k: frame[k] for k in ("total_payments", "total_cost", "information_rent", "buyer_spend",
                                         "share_0", "share_1", "share_2")},
              **_welfare_values({k: frame[k].tolist() for k in frame})}
    for series in LINES.values():
        fig = Figure(figsize=(5.6, 3.0), layout="constrained")
        ax = fig.subplots()
        for k, label in series.items():
            ax.plot(frame["round"], values[k], label=label)
        ax.legend(fontsize="small")
        ax.set(title="t", xlabel="round")
        fig.savefig(io.BytesIO(), format="svg")
    owners = model.owners
    fig = Figure(figsize=(5.6, 3.0), layout="constrained")
    ax = fig.subplots()
    points = ax.scatter(owners.sensitivity, owners.action, c=owners.payment, s=8, alpha=0.5)
    fig.colorbar(points, ax=ax, label="payment")
    ax.set(title=f"Owners (round {model.steps})", xlabel="sensitivity", ylabel="action")
    fig.savefig(io.BytesIO(), format="svg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=1000)
    parser.add_argument("--per-frame", type=int, default=21)
    args = parser.parse_args()
    model = MarketApp(scenario="quickstart", **{"population.owners": args.owners})
    views = [LiveLines("t", LINES["money"], "money", model.rounds),
             LiveLines("t", LINES["welfare"], "money", model.rounds, _welfare_values),
             LiveLines("t", LINES["shares"], "share", model.rounds, ylim=(-0.02, 1.02)), OwnerCloud(model)]
    sim, ref, live = [], [], []
    while model.running:
        start = time.perf_counter()
        for _ in range(args.per_frame):
            if model.running:
                model.simulator.run_for(1)
        sim.append(time.perf_counter() - start)
        start = time.perf_counter()
        reference_frame(model)
        ref.append(time.perf_counter() - start)
        start = time.perf_counter()
        for view in views:
            _, redraw = view.update(model)
            view.render(redraw)
        live.append(time.perf_counter() - start)
    frames = len(sim)
    print(f"quickstart, {args.owners} owners, {model.steps} rounds, {args.per_frame} rounds per frame, "
          f"{frames} frames")
    for name, times in (("simulation", sim), ("reference figures (new figure, SVG)", ref),
                        ("live figures (blitted, PNG)", live)):
        print(f"  {name:<38} {1000 * np.median(times):8.1f} ms per frame (median)")
    print(f"  figures: live is {np.median(ref) / np.median(live):.1f}x faster; rounds/s bound by the figures: "
          f"reference {args.per_frame / (np.median(ref) + np.median(sim)):.1f}, "
          f"live {args.per_frame / (np.median(live) + np.median(sim)):.1f}")


if __name__ == "__main__":
    main()
