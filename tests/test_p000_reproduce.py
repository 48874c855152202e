"""``privmarket reproduce 000``: every check of paper 000 passes."""

from analysis.reproduce import p000


def test_every_p000_check_passes():
    checks = p000.checks()
    assert len(checks) >= 110
    failed = [f"{c.name}: paper {c.paper}, simulator {c.simulated}" for c in checks if not c.ok]
    assert not failed, failed
