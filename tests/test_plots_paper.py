"""Figures ready for a paper: the matplotlib Figure objects of a run and of sweeps, inspected.

Each test reads what a reader of the paper would: legend entries (only what is
drawn, every line style explained), axis labels in words with units, integer
round ticks, unrotated phase-diagram ticks, dense welfare lines, and the three
saved formats.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
import pytest

from analysis.plots import MONEY_UNIT, describe_key, run_figure_objects, run_figures, sweep_figure_objects
from analysis.sweep import sweep
from market.runner import run

SMALL = ["population.owners=60", "buyers.initial=1"]
ROUNDS = 60


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run("quickstart", rounds=ROUNDS, overrides=SMALL, out=out, owner_every=20)
    return out


@pytest.fixture(scope="module")
def figures(run_dir):
    figs = run_figure_objects(run_dir)
    for fig in figs.values():
        fig.canvas.draw()  # tick positions are final only once drawn
    yield figs
    for fig in figs.values():
        plt.close(fig)


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _legends(fig) -> list[list[str]]:
    return [[t.get_text() for t in legend.get_texts()] for ax in fig.axes
            for legend in [c for c in ax.get_children() if isinstance(c, plt.matplotlib.legend.Legend)]]


def test_action_levels_are_labelled_by_meaning(figures):
    ax = figures["action_shares"].axes[0]
    assert _legend(ax) == ["0: shares nothing", "1: paid 0.5/unit", "2: paid 1/unit"]
    assert ax.get_legend().get_title().get_text() == "action level"


def test_round_axes_have_integer_ticks(figures):
    round_axes = [ax for fig in figures.values() for ax in fig.axes if ax.get_xlabel() == "round"]
    assert len(round_axes) == 5  # shares, payments, welfare (both panels), regimes
    for ax in round_axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert len(ticks) >= 3 and np.allclose(ticks, np.round(ticks)), ticks


def test_money_axes_carry_their_unit_and_legends_explain_every_line(figures):
    payments = figures["payments"].axes[0]
    assert payments.get_ylabel() == f"amount per round ({MONEY_UNIT})"
    assert figures["welfare"].axes[0].get_ylabel() == f"welfare ({MONEY_UNIT})"
    labels = _legend(payments)
    assert labels == ["payments to owners", "owners' privacy cost", "information rent (utility above the outside option)",
                      "platform utility", "zero (grey line)"]
    drawn = [line for line in payments.get_lines() if len(line.get_xdata())]
    assert len(drawn) == len(labels)  # one entry per drawn line, and one line per entry


def test_regime_legend_lists_only_the_regimes_drawn_and_the_shifts(figures):
    top, bottom = figures["regimes"].axes
    legend = _legend(top)
    bars = [c for c in top.collections if isinstance(c, LineCollection)]   # one level bar per regime
    assert len([t for t in legend if t.startswith("regime ")]) == len({tuple(np.round(b.get_color()[0], 3))
                                                                      for b in bars}) >= 1
    assert legend[0] == "mean_action" and sum(t.startswith("transient") for t in legend) <= 1
    shifts = [line for line in top.get_lines() if line.get_color() == "tab:red"]
    notes = [t for t in top.texts if t.get_text().startswith("shift at")]
    assert len(shifts) == len(notes)                 # only shifts are drawn, each where it is
    assert bottom.get_ylabel() == "exploitability" and bottom.get_xlabel() == "round"


def test_welfare_is_dense_and_sparse_owner_measures_are_not_joined(figures):
    utilitarian, gini = figures["welfare"].axes
    (line,) = utilitarian.get_lines()
    assert len(line.get_xdata()) == ROUNDS  # every round, not only the recorded ones
    (points,) = gini.get_lines()
    assert points.get_linestyle() == "None" and points.get_marker() == "o"
    assert list(points.get_xdata()) == [20, 40, 60]
    assert "every 20 rounds" in gini.get_title()


def test_figures_save_as_png_pdf_and_svg(run_dir, tmp_path):
    paths = run_figures(run_dir, tmp_path)
    assert sorted({p.suffix for p in paths}) == [".pdf", ".png", ".svg"] and len(paths) == 12
    assert all(p.stat().st_size > 1000 for p in paths)
    assert (tmp_path / "payments.pdf").read_bytes().startswith(b"%PDF")


def test_swept_keys_are_described_in_words():
    assert describe_key("population.types.1.sensitivity") == "sensitivity of owner type 1"
    assert describe_key("mechanism.sale_price") == "sale price"
    assert describe_key("decision.inertia") == "inertia (decision rule)"
    assert describe_key("population.owners") == "owners"


def test_phase_diagram_axes_in_words_and_ticks_unrotated(tmp_path):
    grid = {"mechanism.sale_price": [1.0, 2.0], "population.types.1.sensitivity": [0.5, 4.0]}
    sweep("quickstart", grid, 1, out=tmp_path, rounds=5, overrides=SMALL, n_workers=1, processes=False)
    figs = sweep_figure_objects(tmp_path)
    ax = figs["phase_diagram"].axes[0]
    assert ax.get_xlabel() == "sale price" and ax.get_ylabel() == "sensitivity of owner type 1"
    assert all(t.get_rotation() == 0 for t in ax.get_xticklabels() + ax.get_yticklabels())
    drawn = {tuple(np.round(c, 3)) for c in ax.collections[0].get_facecolors()}
    assert len(_legend(ax)) == len(drawn)  # only the regimes that colour a cell
    metrics = figs["sweep_metrics"]
    assert {a.get_xlabel() for a in metrics.axes} == {"sale price"}
    assert metrics.axes[-1].get_legend().get_title().get_text() == "sensitivity of owner type 1"
    for fig in figs.values():
        plt.close(fig)
