// Candlesticks, volume and the data-quality markers of one chart payload, drawn with
// TradingView's lightweight-charts (v5, vendored in static/vendor/: the `LightweightCharts`
// global). Shared by the page served by `market-assets chart` and the file of `bars --plot`.
// When the candles are drawn, <body> gets data-candles="N", data-ready="1" and data-drawn-ms
// (milliseconds since the navigation started); tests and the benchmark read them.
"use strict";

(function () {
  const UP = "#26a69a", DOWN = "#ef5350", QUARANTINE = "#ff9800", FAILED = "#d32f2f";
  const UP_VOLUME = "rgba(38, 166, 154, 0.6)", DOWN_VOLUME = "rgba(239, 83, 80, 0.6)";
  const SESSION_BASED = new Set(["D1", "W1", "MN1"]);
  const LWC = window.LightweightCharts;
  let view = null; // one chart per page, drawn again for each payload

  function label(ts) { return ts.slice(0, 16).replace("T", " "); }

  // The library's times are seconds, shown as UTC (it does not shift them to local time).
  function seconds(ts) { return Date.parse(ts) / 1000; }

  function utcLabel(time, daily) {
    const iso = new Date(time * 1000).toISOString();
    return daily ? iso.slice(0, 10) : label(iso);
  }

  function qualityText(q) {
    const parts = [];
    if (q.quarantined_rows) {
      parts.push(q.quarantined_rows + " quarantined row" + (q.quarantined_rows > 1 ? "s" : "")
        + " (" + q.rules.join(", ") + ")");
    }
    if (q.failed_checks.length) parts.push("failed: " + q.failed_checks.join(", "));
    return q.session_date + ": " + parts.join("; ");
  }

  function summary(p) {
    const r = p.request;
    let text = p.count + " " + (p.adjusted ? "adjusted" : "raw") + " " + r.timeframe
      + " bars of " + r.symbol + " from " + p.layer;
    const stats = Object.entries(p.read_stats || {}).map(([k, v]) => k + "=" + v).join(" ");
    if (stats) text += " · read stats: " + stats;
    for (const s of p.skipped || []) text += " · skipped " + s.store + ": " + s.reason;
    return text;
  }

  function title(p) {
    const r = p.request;
    return r.symbol + " " + r.timeframe + (p.adjusted ? " (adjusted)" : " (raw)")
      + " · from " + p.layer;
  }

  function renderQuality(list, p) {
    list.replaceChildren();
    if (p.quality_error) {
      const li = document.createElement("li");
      li.className = "unknown";
      li.textContent = p.quality_error;
      list.appendChild(li);
    }
    for (const q of p.quality) {
      const li = document.createElement("li");
      li.dataset.session = q.session_date;
      li.className = q.failed_checks.length ? "failed" : "quarantined";
      li.textContent = qualityText(q);
      list.appendChild(li);
    }
    list.dataset.sessions = String(p.quality.length);
  }

  // Six significant digits: EURUSD 1.08412, USDJPY 151.234, an index at 39,000 39123.4.
  function precision(highs) {
    let top = 0;
    for (const h of highs) if (h !== null && h > top) top = h;
    if (!(top > 0)) return 2;
    return Math.max(0, Math.min(8, 5 - Math.floor(Math.log10(top))));
  }

  // The series' points: a bar with a missing price is a gap (whitespace), not a zero.
  function series(p) {
    const b = p.bars, candles = [], volume = [], sessionOf = new Map(), firstBar = {};
    for (let i = 0; i < b.ts.length; i++) {
      const time = seconds(b.ts[i]);
      const o = b.open[i], h = b.high[i], l = b.low[i], c = b.close[i], v = b.volume[i];
      const whole = o !== null && h !== null && l !== null && c !== null;
      candles.push(whole ? { time: time, open: o, high: h, low: l, close: c } : { time: time });
      volume.push(v === null ? { time: time }
        : { time: time, value: v, color: whole && c < o ? DOWN_VOLUME : UP_VOLUME });
      const day = b.session_date[i];
      if (day) {
        sessionOf.set(time, day);
        if (!(day in firstBar)) firstBar[day] = time;
      }
    }
    // One square above the first bar of each flagged session (the strip over the candles).
    const flagged = new Map(p.quality.map((q) => [q.session_date, q]));
    const markers = p.quality.filter((q) => q.session_date in firstBar).map((q) => ({
      time: firstBar[q.session_date], position: "aboveBar", shape: "square",
      color: q.failed_checks.length ? FAILED : QUARANTINE, id: q.session_date,
    }));
    return { candles, volume, markers, sessionOf, flagged };
  }

  // The legend line: the bar under the crosshair and, in a flagged session, what is wrong.
  function legendText(v, param) {
    if (!param.time) return "";
    const bar = param.seriesData.get(v.candles), vol = param.seriesData.get(v.volume);
    let text = utcLabel(param.time, v.daily);
    if (bar && bar.open !== undefined) {
      const f = (x) => x.toFixed(v.precision);
      text += "  O " + f(bar.open) + "  H " + f(bar.high) + "  L " + f(bar.low)
        + "  C " + f(bar.close);
    }
    if (vol && vol.value !== undefined) text += "  V " + vol.value;
    const q = v.data.flagged.get(v.data.sessionOf.get(param.time));
    if (q) text += "  ·  " + qualityText(q);
    return text;
  }

  function create(el) {
    const chart = LWC.createChart(el, {
      // Sized now, from the element (not on a later ResizeObserver callback), so the first
      // frame draws the candles at their size; the window's resize events keep it in step.
      width: el.clientWidth,
      height: el.clientHeight,
      layout: { background: { color: "#ffffff" }, textColor: "#333", fontSize: 11,
                attributionLogo: true, panes: { separatorColor: "#ddd" } },
      grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
      rightPriceScale: { borderVisible: false },
      timeScale: { borderVisible: false, secondsVisible: false },
      crosshair: { mode: LWC.CrosshairMode.Normal },
    });
    const candles = chart.addSeries(LWC.CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderUpColor: UP, borderDownColor: DOWN,
      wickUpColor: UP, wickDownColor: DOWN,
    });
    // Volume in a pane of its own below the candles: its own price scale, a quarter of the
    // height (as plotly's second y axis was).
    const volume = chart.addSeries(LWC.HistogramSeries, {
      priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false,
    }, 1);
    chart.panes()[0].setStretchFactor(3);
    chart.panes()[1].setStretchFactor(1);
    const v = { chart, candles, volume, markers: LWC.createSeriesMarkers(candles, []),
                data: null, daily: false, precision: 2 };
    const legend = document.getElementById("legend");
    chart.subscribeCrosshairMove((param) => {
      if (v.data && legend) legend.textContent = legendText(v, param);
    });
    window.addEventListener("resize", () => chart.resize(el.clientWidth, el.clientHeight));
    return v;
  }

  function draw(payload) {
    const el = document.getElementById("chart");
    if (view === null) view = create(el);
    const data = series(payload);
    const daily = SESSION_BASED.has(payload.request.timeframe);
    const digits = precision(payload.bars.high);
    view.data = data;
    view.daily = daily;
    view.precision = digits;
    view.chart.applyOptions({
      timeScale: { timeVisible: !daily },
      localization: { timeFormatter: (time) => utcLabel(time, daily) },
    });
    view.candles.applyOptions({
      priceFormat: { type: "price", precision: digits, minMove: Math.pow(10, -digits) },
    });
    view.candles.setData(data.candles);
    view.volume.setData(data.volume);
    view.markers.setMarkers(data.markers);
    view.chart.timeScale().fitContent();
    document.getElementById("legend").textContent = "";
    // The library paints on the next animation frame (its own, asked for by setData); a
    // frame asked for now runs after it, so the candles are on the canvas when it does.
    return new Promise((resolve) => requestAnimationFrame(() => resolve(
      view.candles.data().filter((d) => d.open !== undefined).length)));
  }

  // Draw a payload into the page; resolves with the number of candles drawn.
  window.drawChart = function (payload) {
    const body = document.body;
    body.dataset.ready = "0";
    document.getElementById("summary").textContent = summary(payload);
    document.getElementById("title").textContent = title(payload);
    renderQuality(document.getElementById("quality"), payload);
    return Promise.resolve().then(() => draw(payload)).then(function (drawn) {
      body.dataset.candles = String(drawn);
      body.dataset.layer = payload.layer;
      body.dataset.drawnMs = performance.now().toFixed(1); // since navigation start
      body.dataset.ready = "1";
      return drawn;
    });
  };

  // The chart's objects, for tests and the browser console (the canvas has no DOM to read).
  window.chartView = function () { return view; };

  window.showError = function (message) {
    document.getElementById("error").textContent = message;
    document.body.dataset.error = message;
    document.body.dataset.candles = "0";
    document.body.dataset.ready = "1";
  };
})();
