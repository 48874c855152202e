"""The browser page (``privmarket app``): its model and components, and the page in a real browser.

The first tests check, without a browser, that the page's controls are the
command line's ``--set`` overrides of the same ``DataMarket`` and that every
component renders.  The browser test starts ``privmarket app quickstart --port P`` on a free localhost port,
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

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="/usr/bin/chromium is absent (apt-get install chromium chromium-driver)")


def _defaults(params: dict) -> dict:
    """The initial value of every page control."""
    from mesa.visualization import Slider

    return {k: v.value if isinstance(v, Slider) else v["value"] if isinstance(v, dict) else v
            for k, v in params.items()}


def test_defaults_of_the_controls_reproduce_the_scenario():
    from analysis.app import model_params, page_scenario
    from scenarios.schema import load

    for name in ("quickstart", "network_imitation"):
        params = _defaults(model_params(name))
        params.pop("scenario")
        assert page_scenario(name, params).to_dict() == load(name).to_dict()


def test_page_model_is_the_command_line_model():
    """Controls are ``--set`` overrides; Step advances the model's own event simulator by one round."""
    from analysis.app import MarketApp
    from market.simulation.model import DataMarket

    controls = {"population.owners": 200, "population.types.0.sensitivity.high": 1.2,
                "mechanism.sale_price": 1.5, "decision.inertia": 0.2, "seed": 3}
    first = MarketApp(scenario="quickstart", **controls)
    first.simulator.run_for(2)
    page = MarketApp(scenario="quickstart", simulator=first.simulator, **controls)  # what Reset does
    cli = DataMarket("quickstart", seed=3, overrides=[
        "population.owners=200", "population.types.0.sensitivity.high=1.2", "mechanism.sale_price=1.5",
        "decision.inertia=0.2"])
    for _ in range(6):
        page.simulator.run_for(1)
    cli.simulator.run_until(6.0)
    assert page.steps == cli.steps == 6
    assert page.model_frame().equals(cli.model_frame())
    assert page.model_frame()["n_buyers"].tolist() == cli.model_frame()["n_buyers"].tolist()


def test_switching_the_mechanism_takes_its_defaults():
    from analysis.app import MarketApp, page_scenario

    scenario = page_scenario("quickstart", {"mechanism.name": "value_shaping", "mechanism.sale_price": 1.0,
                                            "population.owners": 50})
    assert scenario.mechanism.name == "value_shaping"
    assert scenario.population["owners"] == 50
    model = MarketApp(scenario="quickstart", **{"mechanism.name": "value_shaping", "population.owners": 50})
    model.simulator.run_for(1)
    assert model.row["n_owners"] == len(model.owners) > 0 and model.problem is None


def test_invalid_controls_are_reported_not_applied():
    from analysis.app import MarketApp

    model = MarketApp(scenario="quickstart", **{"population.types.0.sensitivity.low": 3.0, "seed": 5})
    assert "population.types[0].sensitivity" in model.problem
    assert model.scenario.seed == 1 and len(model.owners) == 1000  # the scenario as loaded


def test_components_render_svg_series():
    """Every component renders; the network view appears only with an explicit social graph."""
    import ipywidgets
    import solara

    from analysis.app import MarketApp, components

    assert "NetworkView" not in [c.__name__ for c in components(MarketApp(scenario="quickstart"))]
    model = MarketApp(scenario="network_imitation", **{"population.owners": 120})
    model.simulator.run_for(3)
    parts = components(model)
    assert [c.__name__ for c in parts][-1] == "NetworkView"

    @solara.component
    def Probe():
        with solara.Column():
            for part in parts:
                part(model)

    _, rc = solara.render(Probe(), handle_error=False)
    svgs = [bytes(w.value).decode() for w in rc.find(ipywidgets.Image).widgets]
    assert len(svgs) == len(parts) - 1  # every component but the metrics table is a figure
    line = re.search(r'<g id="series-platform_utility">\s*<path d="([^"]*)"', "".join(svgs))
    assert line and len(re.findall(r"[ML] ", line.group(1))) == 3  # one point per round
    assert '<g id="series-owners">' in "".join(svgs)
    network = svgs[-1]
    assert "PathCollection" in network and "LineCollection" in network  # nodes and edges


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


@needs_chromium
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
