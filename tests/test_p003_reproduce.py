"""Paper 003: every check of ``privmarket reproduce 003`` passes, and the figures are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.reproduce import p003


def test_p003_checks_all_pass() -> None:
    results = p003.checks()
    failed = [c.name for c in results if not c.ok]
    assert not failed, failed
    names = " ".join(c.name for c in results)
    for needle in ("Example 1 Nash welfare", "beta* for c = (5, 4)", "Thm A.2", "Thm 3.2", "Thm 4.1",
                   "G10 W_1 at the NE", "Table 1 n=10 p=0.2", "Table 1 n=100 p=1", "MWFed n=10"):
        assert needle in names


def test_p003_table1_analogue() -> None:
    small, big = p003.tables()
    rows = {line.split()[0]: line.split()[1:] for line in small.splitlines()[2:]}
    assert list(rows) == ["FedAvg", "MWFed", "FedBR", "FedBR-BG"]
    assert [float(v) for v in rows["MWFed"]] == pytest.approx([75000, 237.1708, 34.81192, 13.3371, 7.5, 400],
                                                             rel=1e-6)
    assert [float(v) for v in rows["FedBR-BG"]] == pytest.approx([85000, 268.7936, 39.45351, 15.11537, 8.5, 100],
                                                                rel=1e-6)
    assert "n = 100" in big and "9.183772e+09" in big


def test_p003_figures(tmp_path: Path) -> None:
    paths = p003.figures(tmp_path)
    assert [p.name for p in paths] == ["p003_welfare_over_rounds.png", "p003_rate_bound.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
