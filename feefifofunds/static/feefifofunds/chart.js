/* Candlestick chart with volume and gap markers for one series, fed by the JSON API. */
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("chart-config").textContent);
  const container = document.getElementById("chart");
  const statusEl = document.getElementById("chart-status");
  const gapTable = document.querySelector("#gap-table tbody");
  const PAGE = 5000;
  const MAX_CANDLES = 100000;
  const MAX_WHITESPACE = 5000;
  const GAP_PAGE = 1000;
  const MAX_GAPS = 20000;
  const LWC = window.LightweightCharts;

  const seconds = (iso) => Math.floor(Date.parse(iso) / 1000);

  function seriesQuery(extra) {
    const q = new URLSearchParams({ ticker: config.ticker, interval: String(config.interval), quote: config.quote });
    if (config.source) q.set("source", config.source);
    if (config.start) q.set("start", config.start);
    if (config.end) q.set("end", config.end);
    for (const [k, v] of Object.entries(extra || {})) if (v !== null && v !== undefined) q.set(k, String(v));
    return q;
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    return body;
  }

  async function loadCandles() {
    const rows = [];
    let cursor = null;
    do {
      const page = await getJSON(config.candlesUrl + "?" + seriesQuery({ limit: PAGE, resample: config.resample, cursor }));
      rows.push(...page.candles);
      cursor = page.next_cursor;
    } while (cursor && rows.length < MAX_CANDLES);
    return rows;
  }

  // Gaps come a page at a time, like candles: follow next_cursor (bounded, like the candles).
  async function loadGaps() {
    const info = { gaps: [], confirmed_empty: [], trailing: null, off_calendar: [], pages: 0 };
    let cursor = null;
    try {
      do {
        const page = await getJSON(config.gapsUrl + "?" + seriesQuery({ limit: GAP_PAGE, cursor }));
        info.gaps.push(...page.gaps);
        info.confirmed_empty.push(...page.confirmed_empty);
        info.trailing = page.trailing;
        info.off_calendar = page.off_calendar || [];  // the same on every page
        info.pages += 1;
        cursor = page.next_cursor;
      } while (cursor && info.gaps.length + info.confirmed_empty.length < MAX_GAPS);
    } catch (err) {
      info.error = err.message;
    }
    return info;
  }

  // The time of the last bar at or before t (bars sorted); the first bar when t is before all of them.
  function barAtOrBefore(times, t) {
    let lo = 0, hi = times.length - 1, found = times[0];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t) { found = times[mid]; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  function fillGapTable(gapInfo) {
    const rows = [];
    const add = (kind, g) => rows.push(
      `<tr class="gap-row ${kind === "gap" ? "real" : "empty"}"><td>${kind}</td><td>${g.start}</td><td>${g.end}</td>` +
      `<td class="num">${g.missing_candles}</td></tr>`);
    gapInfo.gaps.forEach((g) => add("gap", g));
    gapInfo.confirmed_empty.forEach((g) => add("no trades", g));
    if (gapInfo.trailing) {
      const t = gapInfo.trailing;
      rows.push(`<tr class="gap-row trailing"><td>since the last candle</td><td>${t.start}</td><td>${t.end}</td>` +
        `<td class="num">${t.missing_candles}</td></tr>`);
    }
    if (gapInfo.error) rows.push(`<tr><td colspan="4" class="error">${gapInfo.error.replace(/</g, "&lt;")}</td></tr>`);
    gapTable.innerHTML = rows.length ? rows.join("") : '<tr><td colspan="4" class="note">No gaps.</td></tr>';
  }

  async function main() {
    const gapsLoading = loadGaps();  // in parallel with the candles; the table is filled even if they fail
    let candles;
    try {
      candles = await loadCandles();
    } finally {
      fillGapTable(await gapsLoading);
    }
    const gapInfo = await gapsLoading;
    if (!candles.length) {
      statusEl.textContent = "No candles in this range.";
      container.dataset.state = "empty";
      return;
    }
    const chart = LWC.createChart(container, {
      autoSize: true,
      layout: { background: { color: "#ffffff" }, textColor: "#1d2330" },
      grid: { vertLines: { color: "#f0f1f4" }, horzLines: { color: "#f0f1f4" } },
      timeScale: { timeVisible: config.interval < 1440 || !!config.resample, secondsVisible: false },
      rightPriceScale: { scaleMargins: { top: 0.08, bottom: 0.28 } },
    });
    const price = chart.addSeries(LWC.CandlestickSeries, {
      upColor: "#26a69a", downColor: "#ef5350", borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350",
    });
    const volume = chart.addSeries(LWC.HistogramSeries, {
      priceScaleId: "volume", priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false,
    });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });

    const bars = candles.map((c) => ({ time: seconds(c.time), open: c.open, high: c.high, low: c.low, close: c.close }));
    const vols = candles.map((c) => ({
      time: seconds(c.time), value: c.volume || 0, color: c.close >= c.open ? "rgba(38,166,154,0.45)" : "rgba(239,83,80,0.45)",
    }));
    const times = bars.map((b) => b.time);
    const step = 60 * (config.resample || config.interval);

    // Missing candles become empty slots on the time axis (up to a bound), so gaps are visible as holes.
    const whitespace = [];
    if (!config.resample) {
      for (const g of gapInfo.gaps.concat(gapInfo.confirmed_empty)) {
        for (let t = seconds(g.start); t <= seconds(g.end) && whitespace.length < MAX_WHITESPACE; t += step) {
          if (t > times[0] && t < times[times.length - 1]) whitespace.push({ time: t });
        }
      }
    }
    const merge = (data) => data.concat(whitespace).sort((a, b) => a.time - b.time);
    price.setData(merge(bars));
    volume.setData(merge(vols));

    const markers = [];
    for (const g of gapInfo.gaps) {
      markers.push({ time: barAtOrBefore(times, seconds(g.start)), position: "aboveBar", shape: "arrowDown",
        color: "#e53935", text: `gap ${g.missing_candles}`, id: "gap-" + g.start });
    }
    for (const g of gapInfo.confirmed_empty) {
      markers.push({ time: barAtOrBefore(times, seconds(g.start)), position: "belowBar", shape: "circle",
        color: "#9e9e9e", text: `no trades ${g.missing_candles}`, id: "empty-" + g.start });
    }
    // Candles on a day the market was closed (provider data kept as sent): marked, never a gap.
    for (const t of gapInfo.off_calendar) {
      markers.push({ time: barAtOrBefore(times, seconds(t)), position: "belowBar", shape: "square",
        color: "#fb8c00", text: "off calendar", id: "off-" + t });
    }
    markers.sort((a, b) => a.time - b.time);
    LWC.createSeriesMarkers(price, markers);
    chart.timeScale().fitContent();

    container.dataset.candles = String(bars.length);
    container.dataset.gapMarkers = String(gapInfo.gaps.length);
    container.dataset.emptyMarkers = String(gapInfo.confirmed_empty.length);
    container.dataset.offCalendarMarkers = String(gapInfo.off_calendar.length);
    container.dataset.gapPages = String(gapInfo.pages);
    container.dataset.state = "ready";
    statusEl.textContent = `${bars.length} candles` + (config.resample ? ` (resampled to ${config.resample} min)` : "") +
      `, gaps: ${gapInfo.gaps.length}, confirmed no-trade ranges: ${gapInfo.confirmed_empty.length}`;
    window.fffChart = { chart, price, volume, markers };
  }

  main().catch((err) => {
    statusEl.textContent = "Could not load the chart: " + err.message;
    statusEl.className = "error";
    container.dataset.state = "error";
  });
})();
