"""The browser page (``privmarket app``), driven in Debian's headless Chromium through Playwright.

The test starts ``privmarket app quickstart --port P`` on a free localhost port,
loads the page, moves the "owners" slider, resets, presses Step, and checks in
the page that the round counter, the metrics table and the plotted series
(the SVG of the matplotlib figures) follow the model.  The screenshot goes to
``tests/artifacts/app.png`` (git-ignored).  Skipped only where
``/usr/bin/chromium`` is absent (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"
SERVER_START_S = 60
STEPS = 5

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="/usr/bin/chromium is absent (apt-get install chromium chromium-driver)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    """``privmarket app quickstart`` on a free port; yields its URL; always terminated."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen([sys.executable, "-m", "market.cli", "app", "quickstart", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"privmarket app exited with {proc.returncode}:\n{proc.stdout.read()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"privmarket app did not answer on {url} within {SERVER_START_S} s")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _figures(page) -> list[str]:
    """The SVG text of every figure on the page."""
    return page.evaluate("""async () => Promise.all(
        [...document.querySelectorAll('img.widget-image')].map(async img => (await fetch(img.src)).text()))""")


def _points(page, series: str) -> int:
    """Number of plotted points of one series (its SVG path's move/line commands); 0 if not drawn."""
    for svg in _figures(page):
        match = re.search(rf'<g id="series-{re.escape(series)}">\s*<path d="([^"]*)"', svg)
        if match:
            return len(re.findall(r"[ML] ", match.group(1)))
    return 0


def _metric(page, name: str) -> str:
    """The value cell of one row of the metrics table."""
    row = page.locator(".market-metrics tr", has=page.locator("td", has_text=re.compile(rf"^{name}$")))
    return row.locator("td").nth(1).inner_text()


def test_page_moves_with_the_market(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(20_000)
            page.goto(server)
            rounds = page.locator(".market-round")
            expect(rounds).to_have_text("Round 0")
            assert _metric(page, "owners") == "1000"
            assert _points(page, "share_0") == 0

            # A slider changes the next model: a click at 30% of the "owners" track, applied on Reset.
            slider = page.get_by_role("slider", name="owners", exact=True)
            track = page.locator(".v-input__slider", has=slider).locator(".v-slider")
            box = track.bounding_box()
            page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + box["height"] / 2)
            expect(slider).not_to_have_attribute("aria-valuenow", "1000")
            owners = slider.get_attribute("aria-valuenow")
            assert 1000 < int(owners) < 2500
            page.get_by_role("button", name="Reset").click()
            expect(page.locator(".market-metrics")).to_contain_text(f"owners {owners}")

            step = page.get_by_role("button", name="Step")
            step.click()
            expect(rounds).to_have_text("Round 1")
            first = {k: _metric(page, k) for k in ("round", "total_payments", "platform_utility")}
            assert first["round"] == "1 of 200"
            assert _points(page, "share_0") == 1
            for k in range(2, STEPS + 1):
                step.click()
                expect(rounds).to_have_text(f"Round {k}")
            later = {k: _metric(page, k) for k in first}
            assert later["round"] == f"{STEPS} of 200"
            assert later["total_payments"] != first["total_payments"]
            assert later["platform_utility"] != first["platform_utility"]
            for series in ("share_0", "share_2", "total_payments", "information_rent", "platform_utility",
                           "welfare"):
                assert _points(page, series) == STEPS, series

            page.set_viewport_size({"width": 1400, "height": 1700})  # the page scrolls inside its panel
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "app.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            browser.close()
