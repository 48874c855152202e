"""Figures and the HTML report render from a real short run and a small sweep."""

from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import pytest

from analysis.plots import plot
from analysis.report import report
from analysis.sweep import sweep
from market.cli import main
from market.runner import run

SMALL = ["population.owners=60", "buyers.initial=1"]


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.headings, self._in_h = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in_h = tag in ("h1", "h2")

    def handle_data(self, data):
        if self._in_h:
            self.headings.append(data)
            self._in_h = False


def _check_images(paths, names):
    assert sorted({p.stem for p in paths}) == sorted(names)
    for path in paths:
        assert path.exists() and path.stat().st_size > 1000
        if path.suffix == ".png":
            image = mpimg.imread(path)
            assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0  # not blank
            border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])[:, :3]
            assert np.all(border > 0.95), path.name  # a white margin all round: no legend or label cut off
        elif path.suffix == ".pdf":
            assert path.read_bytes().startswith(b"%PDF")  # the vector copy for papers
        else:
            text = path.read_text()
            assert text.lstrip().startswith("<?xml") and "<svg" in text
            assert text.count("<text") >= 5  # title, labels and legends stay searchable text, not glyph outlines


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run("quickstart", rounds=30, overrides=SMALL, out=out, owner_every=5)
    return out


def test_run_figures(run_dir):
    _check_images(plot(run_dir), ["action_shares", "payments", "welfare", "regimes"])


def test_cli_report_is_one_parsable_self_contained_page(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--out", str(tmp_path / "r.html")]) == 0
    page = _Page()
    page.feed((tmp_path / "r.html").read_text())
    page.close()
    assert page.tags[0] == "html" and "table" in page.tags
    assert page.headings[0].startswith("Run of quickstart")
    assert {"Scenario", "Summary metrics", "Transient and regime shifts", "Standard columns of model.parquet",
            "Figures"} <= set(page.headings)
    assert "Payments above privacy cost by sensitivity decile (round 30)" in page.headings
    assert len(page.images) == 4 and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert main(["plot", str(tmp_path)]) == 2
    assert "neither a run" in capsys.readouterr().err


def test_sweep_phase_diagram_and_report(tmp_path):
    # (the one-parameter phase band is drawn in tests/test_analysis_phase_band.py)
    grid = {"population.types.1.sensitivity": [0.5, 4.0], "mechanism.sale_price": [1.0, 2.0]}
    sweep("quickstart", grid, 1, out=tmp_path, rounds=5, overrides=SMALL, n_workers=1, processes=False)
    _check_images(plot(tmp_path), ["phase_diagram", "sweep_metrics"])
    page = _Page()
    page.feed(report(tmp_path).read_text())
    assert page.headings[0].startswith("Sweep of quickstart")
    assert "Regime shifts across the grid" in page.headings and len(page.images) == 2
