"""`privmarket reproduce 004`: every docs/models/value_of_privacy.md golden check passes and the figures are written."""

from analysis.reproduce import reproduce


def test_reproduce_004_all_checks_pass_and_writes_figures(tmp_path):
    report = reproduce("004", tmp_path)
    failed = [c.name for c in report.checks if not c.ok]
    assert not failed, failed
    assert len(report.checks) >= 90
    names = {p.name for p in report.figures}
    assert "p004_figure2_payment_accuracy.png" in names
    for path in report.figures:
        assert path.exists() and path.stat().st_size > 10_000
