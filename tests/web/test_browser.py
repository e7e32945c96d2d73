"""The dashboard as `make serve` runs it (gunicorn, WhiteNoise, collected static files, deployment settings),
in headless Chromium: Debian's /usr/bin/chromium driven by Playwright, never a downloaded browser.

The server is started as a subprocess through the same module the Makefile calls, pointed at the test
QuestDB and test catalog by environment variables. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright import sync_api

from tests.support.market import load_market
from tests.support.sessions import write_daily

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

# No skip: `make test` installs Debian's chromium; a missing browser must fail this test, not hide it.
pytestmark = pytest.mark.django_db(transaction=True)

CANVAS_HAS_PIXELS = """(canvas) => {
    const ctx = canvas.getContext('2d');
    if (!ctx || !canvas.width || !canvas.height) return 0;
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4 * 97) colours.add(data[i] + ',' + data[i + 1] + ',' + data[i + 2]);
    return colours.size;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(command_env, tmp_path):
    """`python -m feefifofunds.web.serve` (what `make serve` runs) on a free loopback port; yields its URL."""
    port = free_port()
    env = {k: v for k, v in command_env.items() if k != "DJANGO_SECRET_KEY"}
    env.update(FEEFIFOFUNDS_STATE_DIR=str(tmp_path / "state"), FEEFIFOFUNDS_PORT=str(port),
               FEEFIFOFUNDS_WORKERS="2", DJANGO_DEBUG="0")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "feefifofunds.web.serve"], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url + "/static/feefifofunds/dashboard.css", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not answer within 90 s:\n{log.read_text()}")
                time.sleep(0.3)
        # A per-install key was generated into the (new) state folder, and nothing was served from the repo.
        assert (tmp_path / "state" / "secret_key").stat().st_size >= 50
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "serve.log").write_bytes(log.read_bytes())


def _written_apart(asset) -> int:
    """``write_daily`` in a thread of its own, which then closes its catalog connection."""
    from django.db import connection

    try:
        return write_daily(asset, "finnhub")
    finally:
        connection.close()


def test_dashboard_served_in_chromium(questdb, served):
    market = load_market()  # before Playwright starts its event loop in this thread
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

            response = page.goto(served + "/")
            assert response.status == 200
            # The stylesheet is served (hashed name, compressed, cacheable) and applied.
            css = [href for href in page.eval_on_selector_all("link[rel=stylesheet]", "ls => ls.map(l => l.href)")]
            assert len(css) == 1 and "/static/feefifofunds/dashboard." in css[0] and not css[0].endswith(
                "/dashboard.css")
            assert page.eval_on_selector("header.top", "h => getComputedStyle(h).backgroundColor") == "rgb(29, 35, 48)"
            static = page.request.get(css[0], headers={"Accept-Encoding": "gzip"})
            assert static.status == 200 and "immutable" in static.headers.get("cache-control", "")
            rows = page.locator("#asset-table tr.asset-row")
            assert sorted(set(rows.evaluate_all("rs => rs.map(r => r.dataset.ticker)"))) == ["AAPL", "BTC", "ETH"]
            btc_text = page.locator("#asset-table tr[data-ticker=BTC]").all_inner_texts()
            assert any("Tier 1" in t and "Crypto" in t for t in btc_text)
            page.screenshot(path=str(ARTIFACTS / "dashboard-assets.png"), full_page=True)

            page.fill("input[name=q]", "apple")
            page.click("#asset-filters button")
            page.wait_for_url("**/?q=apple*")
            assert rows.evaluate_all("rs => rs.map(r => r.dataset.ticker)") == ["AAPL"]

            page.goto(served + "/")
            page.click("#asset-table a.ticker:text-is('BTC')")
            page.wait_for_url("**/assets/BTC/")
            page.wait_for_selector("#chart[data-state=ready]", timeout=30_000)  # the default: 1-minute USD
            # Open the hourly USD series from the coverage table.
            page.click("a[href='?interval=60&quote=USD&source=kraken']")
            page.wait_for_url("**/assets/BTC/?interval=60*")
            page.wait_for_selector("#chart[data-state=ready]", timeout=30_000)
            chart = page.locator("#chart")
            assert chart.get_attribute("data-candles") == "68"
            assert chart.get_attribute("data-gap-markers") == "1"
            assert chart.get_attribute("data-empty-markers") == "1"
            canvases = page.locator("#chart canvas")
            assert canvases.count() > 0
            assert max(canvases.evaluate_all(f"cs => cs.map({CANVAS_HAS_PIXELS})")) > 3
            assert page.locator("#gap-table tr.gap-row.real").inner_text().split("\t")[-1].strip() == "3"
            assert page.locator("#gap-table tr.gap-row.empty").count() == 1
            markers = page.evaluate("window.fffChart.markers.map(m => m.text)")
            assert "gap 3" in markers and "no trades 1" in markers
            page.screenshot(path=str(ARTIFACTS / "dashboard-btc-1h.png"), full_page=True)

            # A daily stock series is judged by its NYSE sessions: one open gap, not every weekend, in the
            # asset list and on the chart. Written from another thread (Playwright's event loop runs in this one,
            # and the writer notes its spans in the catalog); the server applies the notes at its next request.
            with ThreadPoolExecutor(max_workers=1) as pool:  # NYSE sessions of a quarter, one left out
                aapl_daily = pool.submit(_written_apart, market.aapl).result()
            page.goto(served + "/")
            aapl = page.locator("#asset-table tr[data-ticker=AAPL]:has-text('finnhub') td.num").all_inner_texts()
            assert aapl == [str(aapl_daily), "1"]
            page.goto(served + "/assets/AAPL/?interval=1440&quote=USD&source=finnhub")
            page.wait_for_selector("#chart[data-state=ready]", timeout=30_000)
            assert page.locator("#chart").get_attribute("data-candles") == str(aapl_daily)
            assert page.locator("#chart").get_attribute("data-gap-markers") == "1"
            assert page.locator("#gap-table tr.gap-row.real").inner_text().split("\t")[1:] == [
                "2026-10-14T00:00:00Z", "2026-10-14T00:00:00Z", "1"]
            assert "XNYS" in page.inner_text("#calendar")
            page.screenshot(path=str(ARTIFACTS / "dashboard-aapl-1d.png"), full_page=True)

            # Gaps are read page by page: asked for one gap per page, the chart follows the pages to both gaps.
            page.route("**/api/gaps?*", lambda route: route.continue_(
                url=route.request.url.replace("limit=1000", "limit=1")))
            page.goto(served + "/assets/BTC/?interval=1&quote=USD&start=2024-01-01T00:00")
            page.wait_for_selector("#chart[data-state=ready]", timeout=30_000)
            assert page.locator("#chart").get_attribute("data-gap-markers") == "2"
            assert page.locator("#chart").get_attribute("data-gap-pages") == "2"
            page.unroute("**/api/gaps?*")

            # Resampled to 4 hours: still a chart with the gap marked.
            page.goto(served + "/assets/BTC/?interval=60&quote=USD&source=kraken")
            page.select_option("select[name=resample]", "240")
            page.click("#series-form button")
            page.wait_for_url("**resample=240*")
            page.wait_for_selector("#chart[data-state=ready]", timeout=30_000)
            assert page.locator("#chart").get_attribute("data-candles") == "18"
            assert page.locator("#chart").get_attribute("data-gap-markers") == "1"
            page.screenshot(path=str(ARTIFACTS / "dashboard-btc-4h.png"), full_page=True)
            assert not errors, errors

            # The API docs page works with its assets served locally.
            page.goto(served + "/api/docs")
            page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
            assert all(src.startswith(served) for src in page.eval_on_selector_all(
                "script[src]", "ss => ss.map(s => s.src)"))
            page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=True)

            # An API error reaches the chart as a message: the browser asks for an interval the server refuses.
            page.route("**/api/candles?*", lambda route: route.continue_(
                url=route.request.url.replace("interval=60", "interval=7")))
            page.goto(served + "/assets/BTC/?interval=60&quote=USD&source=kraken")
            page.wait_for_selector("#chart[data-state=error]", timeout=30_000)
            assert "interval" in page.inner_text("#chart-status")
            assert page.eval_on_selector("#chart-status", "e => getComputedStyle(e).color") == "rgb(198, 40, 40)"
            page.screenshot(path=str(ARTIFACTS / "dashboard-api-error.png"), full_page=True)
            page.unroute("**/api/candles?*")

            # A bad parameter is an error page, not a crash.
            response = page.goto(served + "/assets/BTC/?interval=7")
            assert response.status == 400 and "interval" in page.inner_text("#error-message")
        finally:
            browser.close()
