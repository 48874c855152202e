"""Paper 003: every check of ``privmarket reproduce 003`` passes, and the figures are written."""

from __future__ import annotations

from pathlib import Path

from analysis.reproduce import p003


def test_p003_checks_all_pass() -> None:
    results = p003.checks()
    failed = [c.name for c in results if not c.ok]
    assert not failed, failed
    names = " ".join(c.name for c in results)
    for needle in ("Example 1 Nash welfare", "beta* for c = (5, 4)", "Thm A.2", "Thm 3.2", "Thm 4.1",
                   "G10 W_1 at the NE", "Table 1 n=10 p=0.2", "Table 1 n=100 p=1"):
        assert needle in names


def test_p003_figures(tmp_path: Path) -> None:
    paths = p003.figures(tmp_path)
    assert [p.name for p in paths] == ["p003_welfare_over_rounds.png", "p003_rate_bound.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
