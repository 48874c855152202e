"""``privmarket reproduce 002``: every check of paper 002 passes."""

from analysis.reproduce import p002


def test_every_p002_check_passes():
    checks = p002.checks()
    assert len(checks) >= 60
    failed = [f"{c.name}: paper {c.paper}, simulator {c.simulated}" for c in checks if not c.ok]
    assert not failed, failed
