"""The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against live_server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright import sync_api

from .conftest import load_market

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
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


def test_dashboard_in_chromium(questdb, live_server):
    load_market()  # before Playwright starts its event loop in this thread
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

            page.goto(live_server.url + "/")
            rows = page.locator("#asset-table tr.asset-row")
            assert sorted(set(rows.evaluate_all("rs => rs.map(r => r.dataset.ticker)"))) == ["AAPL", "BTC", "ETH"]
            btc_text = page.locator("#asset-table tr[data-ticker=BTC]").all_inner_texts()
            assert any("Tier 1" in t and "Crypto" in t for t in btc_text)
            page.screenshot(path=str(ARTIFACTS / "dashboard-assets.png"), full_page=True)

            page.fill("input[name=q]", "apple")
            page.click("#asset-filters button")
            page.wait_for_url("**/?q=apple*")
            assert rows.evaluate_all("rs => rs.map(r => r.dataset.ticker)") == ["AAPL"]

            page.goto(live_server.url + "/")
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

            # Resampled to 4 hours: still a chart with the gap marked.
            page.select_option("select[name=resample]", "240")
            page.click("#series-form button")
            page.wait_for_url("**resample=240*")
            page.wait_for_selector("#chart[data-state=ready]", timeout=30_000)
            assert page.locator("#chart").get_attribute("data-candles") == "18"
            assert page.locator("#chart").get_attribute("data-gap-markers") == "1"
            page.screenshot(path=str(ARTIFACTS / "dashboard-btc-4h.png"), full_page=True)

            assert not errors, errors
            # A bad parameter is an error page, not a crash.
            response = page.goto(live_server.url + "/assets/BTC/?interval=7")
            assert response.status == 400 and "interval" in page.inner_text("#error-message")
        finally:
            browser.close()
