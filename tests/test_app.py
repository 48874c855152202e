"""The browser page (``privmarket app``): its model and components, and the page in a real browser.

The first tests check, without a browser, that the page's controls are the
command line's ``--set`` overrides of the same ``DataMarket`` and that every
component renders.  The browser test starts ``privmarket app quickstart --port P`` on a free localhost port,
loads the page, moves the "owners" slider, resets, presses Step, and checks in
the page that the round counter, the metrics table and the plotted series
(the ``data-points`` of the live figures) follow the model.  A second page plays
quickstart with 1,000 owners at ``PLAY_ROUNDS_PER_FRAME`` rounds per frame and
asserts the rate measured in the browser (at least ``MIN_ROUNDS_PER_S``), then
takes a screenshot (``tests/artifacts/app_play.png``, git-ignored) and checks
its layout: every panel present, inside the page, not cut off, and not blank.
Skipped only where ``/usr/bin/chromium`` is absent (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
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
PLAY_ROUNDS_PER_FRAME = 21
"""Rounds per frame of the speed test (Mesa's "Render Interval (steps)" slider: 1 + 2 per key press)."""
MIN_ROUNDS_PER_S = 20.0
FIRST_LOAD_MS = 60_000

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


def test_components_render_live_figures():
    """Every component renders; the network view appears only with an explicit social graph."""
    import ipyvue
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
    images = rc.find(ipywidgets.Image).widgets
    assert len(images) == len(parts) - 1  # every component but the metrics table is a figure
    formats = sorted(w.format for w in images)
    assert formats == ["png"] * (len(parts) - 2) + ["svg+xml"], formats  # live figures; the network (SVG)
    assert all(bytes(w.value[:4]) == b"\x89PNG" for w in images if w.format == "png")
    views = {w.attributes["data-view"]: w.attributes for w in rc.find(ipyvue.Html).widgets
             if w.attributes and "data-view" in w.attributes}
    assert json.loads(views["welfare"]["data-points"]) == {"platform_utility": 3, "owners_utility": 3,
                                                           "welfare": 3}  # one point per round
    assert json.loads(views["owners"]["data-points"]) == {"owners": len(model.owners)}
    assert views["owners"]["data-title"] == "Owners (round 3)"


def test_live_lines_append_only_new_rounds_and_match_the_model_table():
    """The blitted figure holds exactly the model table's columns, appended frame by frame."""
    import numpy as np

    from analysis.app import LiveLines, MarketApp, OwnerCloud

    model = MarketApp(scenario="quickstart", **{"population.owners": 200})
    view = LiveLines("t", {"total_payments": "payments", "share_0": "level 0"}, "money", model.rounds)
    owners = OwnerCloud(model)
    assert owners.update(model) == (0, True) and owners.colorbar is None  # round 0: no payment, no colour bar
    redraws = 0
    for frame in range(1, 41):
        model.simulator.run_for(5)
        drawn, redraw = view.update(model)
        redraws += redraw
        assert drawn == 5 * frame and view.render(redraw)[:4] == b"\x89PNG"
    frame = model.model_frame()
    for k, line in view.lines.items():
        np.testing.assert_array_equal(line.get_xdata(), frame["round"])
        np.testing.assert_array_equal(line.get_ydata(), frame[k])
    assert redraws <= 8  # of 40 frames: the background (text, ticks) is drawn again only when the range grows
    assert owners.update(model)[1] and owners.colorbar is not None
    assert owners.ax.get_title() == "Owners (round 200)"


def test_blitted_frame_is_the_full_drawing():
    """The fast path (background once, data drawn over it) gives the image of a full redraw of the figure."""
    import io

    import numpy as np
    from PIL import Image

    from analysis.app import LiveLines, MarketApp

    model = MarketApp(scenario="quickstart", **{"population.owners": 200})
    view = LiveLines("t", {"total_payments": "payments", "information_rent": "rent"}, "money", model.rounds)
    model.simulator.run_for(20)
    view.render(view.update(model)[1])
    model.simulator.run_for(30)  # a second frame over the cached background
    blitted = np.asarray(Image.open(io.BytesIO(view.render(view.update(model)[1]))), dtype=int)
    for line in view.lines.values():
        line.set_animated(False)
    view.canvas.draw()
    full = np.asarray(view.canvas.buffer_rgba(), dtype=int)
    differ = np.abs(blitted - full).max(axis=2) > 0
    assert blitted.shape == full.shape and differ.mean() < 5e-4  # only where a line crosses the axes frame


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_server(tmp_path):
    """``privmarket app quickstart`` on a free port; yields its URL and its log file; always terminated."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "market.cli", "app", "quickstart", "--port", str(port)],
                                stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"privmarket app exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"privmarket app did not answer on {url} within {SERVER_START_S} s")
            time.sleep(0.3)
        yield url, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def server(app_server):
    """The URL of ``privmarket app quickstart``."""
    return app_server[0]


def _view(page, name: str) -> dict:
    """The live figure ``name`` of the page: its title and the number of points of each series."""
    element = page.locator(f'[data-view="{name}"]')
    return {"title": element.get_attribute("data-title"),
            "points": json.loads(element.get_attribute("data-points"))}


def _points(page, series: str) -> int:
    """Number of plotted points of one series; 0 if not drawn."""
    for name in ("shares", "money", "welfare"):
        points = _view(page, name)["points"]
        if series in points:
            return points[series]
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
            expect(rounds).to_have_text("Round 0", timeout=FIRST_LOAD_MS)
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
            for series in ("share_0", "share_2", "total_payments", "information_rent_total", "platform_utility",
                           "welfare"):
                assert _points(page, series) == STEPS, series
            # the scatter's title shows the round of the header
            expect(page.locator('[data-view="owners"]')).to_have_attribute("data-title", f"Owners (round {STEPS})")

            page.set_viewport_size({"width": 1400, "height": 1700})  # the page scrolls inside its panel
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "app.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            browser.close()


def _play_rate(page, start: int, stop: int) -> float:
    """Rounds per second of Play, timed in the browser from the first frame after ``start`` to ``stop``."""
    page.get_by_role("button", name="▶").click()
    rate = page.evaluate("""async ([start, stop]) => {
        const round = () => parseInt(document.querySelector('.market-round').textContent.replace('Round ', ''));
        const sleep = ms => new Promise(r => setTimeout(r, ms));
        while (round() <= start) await sleep(5);
        const r0 = round(), t0 = performance.now();
        while (round() < stop) await sleep(5);
        return (round() - r0) / ((performance.now() - t0) / 1000);
    }""", [start, stop])
    return rate


def _blank(image, box: dict) -> bool:
    """Whether a screenshot region is one flat colour (nothing drawn)."""
    from PIL import ImageStat

    region = image.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]),
                         int(box["y"] + box["height"]))).convert("L")
    return ImageStat.Stat(region).stddev[0] < 5


@pytest.mark.slow
@needs_chromium
def test_play_reaches_interactive_speed_and_the_layout_holds(app_server):
    """Play at 21 rounds per frame: >= 20 rounds/s of quickstart (1,000 owners); every panel drawn and whole."""
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1700})
            page.set_default_timeout(20_000)
            messages = []
            page.on("console", lambda m: messages.append(m) if m.type in ("warning", "error") else None)
            server, log = app_server
            page.goto(server)
            expect(page.locator(".market-round")).to_have_text("Round 0", timeout=FIRST_LOAD_MS)
            assert _metric(page, "owners") == "1000"
            started = log.read_text()  # the page is served and its module imported: nothing but the address
            assert started.startswith("privmarket: app: quickstart at http") and "arning" not in started, started
            # Round 0: the scatter has no colour bar yet (no payment has been made)
            assert _view(page, "owners")["title"] == "Owners (round 0)"

            frame = page.get_by_role("slider", name="Render Interval (steps)", exact=True)
            frame.focus()
            for _ in range((PLAY_ROUNDS_PER_FRAME - 1) // 2):
                frame.press("ArrowRight")
            expect(frame).to_have_attribute("aria-valuenow", str(PLAY_ROUNDS_PER_FRAME))
            rate = _play_rate(page, 0, 180)
            print(f"Play: {rate:.1f} rounds/s at {PLAY_ROUNDS_PER_FRAME} rounds per frame")
            assert rate >= MIN_ROUNDS_PER_S
            expect(page.locator(".market-round")).to_have_text("Round 200", timeout=30_000)
            expect(page.locator('[data-view="owners"]')).to_have_attribute("data-title", "Owners (round 200)")
            assert _view(page, "owners")["points"]["owners"] == int(_metric(page, "owners"))
            assert _points(page, "welfare") == 200

            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "app_play.png"
            page.screenshot(path=str(shot), full_page=False)
            image = Image.open(shot)
            figures = page.locator(".market-figure img")
            assert figures.count() == 4  # shares, payments, welfare, owners (+ the metrics table)
            for k in range(figures.count()):
                box = figures.nth(k).bounding_box()
                assert box["width"] > 300 and box["height"] > 150, box
                assert box["y"] + box["height"] <= 1700 and not _blank(image, box), k
            panel = page.evaluate("""() => {
                const table = document.querySelector('.market-metrics table');
                const cell = table.closest('.vue-grid-item');
                const t = table.getBoundingClientRect(), c = cell.getBoundingClientRect();
                return {table: [t.left, t.top, t.right, t.bottom], cell: [c.left, c.top, c.right, c.bottom]};
            }""")
            (tl, tt, tr, tb), (cl, ct, cr, cb) = panel["table"], panel["cell"]
            assert cl <= tl and ct <= tt and tr <= cr and tb <= cb, panel  # the whole table in its panel
            assert not _blank(image, {"x": tl, "y": tt, "width": tr - tl, "height": tb - tt})
            assert not [m.text for m in messages if "warn" in m.text.lower() and "solara" in m.text.lower()]
        finally:
            browser.close()
