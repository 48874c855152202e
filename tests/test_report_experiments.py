"""`privmarket report DIR` on experiment folders: a tournament, a mixed tournament, a designed sweep (before and
after `privmarket sensitivity`), and the one-line refusal of an unfinished folder."""

from html.parser import HTMLParser

import pandas as pd
import pytest

from analysis.report import folder_kind, report
from market.cli import main

TOURNAMENT = ["tournament", "--rules", "best_response,random", "--mechanisms", "posted_price", "--replicates", "3",
              "--rounds", "6", "--owners", "30", "--set", 'decision.revision="synchronous"', "--workers", "1",
              "--threads"]
DESIGN = ["sweep", "quickstart", "--design", "sobol", "--samples", "2", "--design-seed", "1", "--rounds", "3",
          "--param", "mechanism.sale_price=1:3", "--param", "mechanism.price.2=0.6:1.6",
          "--set", "population.owners=30", "--set", 'decision.revision="synchronous"', "--workers", "1", "--threads"]


class _Page(HTMLParser):
    """Headings, list items, table cells and image sources of a page."""

    def __init__(self):
        super().__init__()
        self.headings, self.items, self.cells, self.images, self._in = [], [], [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in = tag if tag in ("h1", "h2", "li", "td", "th") else None

    def handle_data(self, data):
        target = {"h1": self.headings, "h2": self.headings, "li": self.items, "td": self.cells,
                  "th": self.cells}.get(self._in)
        if target is not None:
            target.append(data)
            self._in = None


def _page(path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    page.close()
    return page


@pytest.fixture(scope="module")
def tournament_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("t") / "t"
    assert main([*TOURNAMENT, "--out", str(out)]) == 0
    return out


def test_tournament_report_ranks_the_rules_with_significance_and_heatmaps(tournament_dir, capsys):
    assert folder_kind(tournament_dir) == "tournament"
    assert main(["report", str(tournament_dir)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {tournament_dir / 'report.html'}"
    page = _page(tournament_dir / "report.html")
    assert page.headings[0] == "Tournament of decision rules and mechanisms"
    assert {"What ran", "Significance", "Rules by mean rank over the scenarios (ranked by owner_welfare)",
            "Cells ranked within each scenario (mean [95% CI] over seeds)",
            "Heatmaps: rule x scenario (mechanism)"} <= set(page.headings)
    rules = pd.read_parquet(tournament_dir / "rules.parquet")
    assert list(rules["rule"]) == ["best_response", "random"]          # best response wins at the equilibrium
    ranked = [c for c in page.cells if c in ("best_response", "random")]
    assert ranked[:2] == ["best_response", "random"]                     # the ranked table, best first
    assert page.items[0].startswith("quickstart: best_response ranks first by owner_welfare")
    assert "significantly ahead of random" in page.items[0]
    assert page.items[-1].startswith("Tests: paired t test over paired seeds, Holm-corrected over all 1 pairs")
    heatmaps = sorted((tournament_dir / "figures").glob("heatmap_*.png"))
    assert len(heatmaps) >= 6 and len(page.images) == len(heatmaps)
    assert all(src.startswith("data:image/png;base64,") for src in page.images)


def test_the_tournament_command_writes_the_report_and_an_unfinished_one_is_refused(tournament_dir, capsys):
    assert (tournament_dir / "report.html").is_file()
    part = tournament_dir / "parts" / "quickstart__random__r1.parquet"
    saved = part.read_bytes()
    part.unlink()
    try:
        assert main(["report", str(tournament_dir)]) == 2
        err = capsys.readouterr().err
        assert err == (f"privmarket: error: {tournament_dir / 'tournament.json'}: runs: 1 of 6 not finished; "
                       "rerun the same command to finish them\n")
    finally:
        part.write_bytes(saved)


def test_plot_on_a_tournament_points_to_report_in_one_line(tournament_dir, capsys):
    assert main(["plot", str(tournament_dir)]) == 2
    assert capsys.readouterr().err == (
        f"privmarket: error: {tournament_dir / 'tournament.json'}: dir: this folder is a tournament, which "
        f"`privmarket plot` does not draw; `privmarket report {tournament_dir}` renders it\n")


def test_mixed_tournament_report_shows_the_mixed_population_ranking(tmp_path):
    out = tmp_path / "m"
    assert main([*TOURNAMENT, "--mixed", "--out", str(out)]) == 0
    page = _page(out / "report.html")
    assert page.headings[0] == "Mixed-population tournament"
    assert ("Mixed-population ranking: rules by their own owners' payoff (mean rank over the scenarios)"
            in page.headings)
    assert page.items[0].startswith("quickstart: best_response ranks first by owner_payoff")
    assert len(page.images) == 1  # the one outcome of mixed mode


def test_designed_sweep_report_shows_design_sample_and_sensitivity(tmp_path, capsys):
    out = tmp_path / "d"
    assert main([*DESIGN, "--out", str(out)]) == 0
    assert folder_kind(out) == "design"
    capsys.readouterr()
    assert main(["plot", str(out)]) == 2
    assert capsys.readouterr().err == (f"privmarket: error: {out / 'design.json'}: dir: this folder is a designed "
                                       f"sweep, which `privmarket plot` does not draw; `privmarket report {out}` "
                                       "renders it\n")
    page = _page(report(out))
    assert page.headings[0] == ("Sobol design on quickstart: 2 parameters, design seed 1, sample size 2 "
                                "(12 points x 1 replicates, 3 rounds)")
    assert "Design" in page.headings and "Sample table: 12 runs (each measure over the runs)" in page.headings
    assert "Sensitivity" in page.headings and not page.images  # no indices before `privmarket sensitivity`
    assert {"mechanism.sale_price", "mechanism.price.2", "share_2"} <= set(page.cells)
    assert main(["sensitivity", str(out), "--metric", "share_2"]) == 0
    capsys.readouterr()
    page = _page(report(out))
    heading = "Sensitivity of share_2 (*_conf: half-width of the 95% bootstrap interval)"
    assert heading in page.headings and len(page.images) == 1
    indices = pd.read_parquet(out / "sensitivity" / "indices_share_2.parquet")
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(page.cells)  # the indices table's header...
    assert f"{indices['ST'].iloc[1]:.4g}" in page.cells                # ...and its numbers
    (out / "rounds" / "cell=5" / "replicate=0.parquet").unlink()
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == (f"privmarket: error: {out / 'design.json'}: runs: 1 of 12 not finished; "
                                       "rerun the same command to finish them\n")


def test_failed_design_points_are_named_and_their_folder_is_refused(tmp_path, capsys):
    """Design points whose runs fail (payments overflow) are named on standard error (exit 1), recorded in
    failures.csv, and the report refuses the folder, pointing at the failure records."""
    out = tmp_path / "f"
    args = ["sweep", "quickstart", "--design", "lhs", "--samples", "3", "--rounds", "3",
            "--param", "mechanism.price.2=1e307:1e308", "--set", "population.owners=30",
            "--set", 'decision.revision="synchronous"', "--workers", "1",
            "--threads", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("privmarket: failed: cell=")]
    recorded = pd.read_csv(out / "failures.csv")
    assert len(failed) == len(recorded) == 3 and all("total_payments is inf" in line for line in failed)
    assert f"privmarket: {len(failed)} runs failed (rerun the command to retry them)" in err
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == (f"privmarket: error: {out / 'design.json'}: runs: {len(failed)} of 3 "
                                       "not finished; "
                                       f"failure records in {out / 'failures'}/; rerun the same command to finish "
                                       "them\n")
