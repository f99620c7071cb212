// Candlesticks, volume and the data-quality strip of one chart payload, drawn with plotly.js.
// Shared by the page served by `market-assets chart` and the file of `bars --plot`.
// When the candles are drawn, <body> gets data-candles="N", data-ready="1" and data-drawn-ms
// (milliseconds since the navigation started); tests and the benchmark read them.
"use strict";

(function () {
  const UP = "#26a69a", DOWN = "#ef5350", QUARANTINE = "#ff9800", FAILED = "#d32f2f";

  function label(ts) { return ts.slice(0, 16).replace("T", " "); }

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

  function traces(p) {
    const b = p.bars, x = b.ts.map(label);
    const colors = b.close.map((c, i) => (c >= b.open[i] ? UP : DOWN));
    const firstBar = {};
    b.session_date.forEach((d, i) => { if (d && !(d in firstBar)) firstBar[d] = x[i]; });
    const placed = p.quality.filter((q) => q.session_date in firstBar);
    return [
      { type: "candlestick", name: p.request.symbol, x: x, open: b.open, high: b.high,
        low: b.low, close: b.close, xaxis: "x", yaxis: "y",
        increasing: { line: { color: UP } }, decreasing: { line: { color: DOWN } } },
      { type: "bar", name: "volume", x: x, y: b.volume, xaxis: "x", yaxis: "y2",
        marker: { color: colors }, hovertemplate: "%{y}<extra>volume</extra>" },
      { type: "scatter", mode: "markers", name: "quality", xaxis: "x", yaxis: "y3",
        x: placed.map((q) => firstBar[q.session_date]), y: placed.map(() => 1),
        text: placed.map(qualityText), hovertemplate: "%{text}<extra></extra>",
        marker: { symbol: "square", size: 12,
                  color: placed.map((q) => (q.failed_checks.length ? FAILED : QUARANTINE)) } },
    ];
  }

  function layout(p) {
    const r = p.request;
    return {
      title: { text: r.symbol + " " + r.timeframe + (p.adjusted ? " (adjusted)" : " (raw)")
        + " · from " + p.layer, font: { size: 14 } },
      showlegend: false, margin: { l: 60, r: 20, t: 40, b: 60 },
      xaxis: { type: "category", rangeslider: { visible: false }, nticks: 12, anchor: "y2" },
      yaxis: { domain: [0.3, 0.9], title: { text: "price" } },
      yaxis2: { domain: [0, 0.22], title: { text: "volume" } },
      yaxis3: { domain: [0.92, 1], range: [0, 2], visible: false, fixedrange: true },
    };
  }

  // Draw a payload into the page; resolves with the number of candles drawn.
  window.drawChart = function (payload) {
    const body = document.body;
    body.dataset.ready = "0";
    document.getElementById("summary").textContent = summary(payload);
    renderQuality(document.getElementById("quality"), payload);
    const el = document.getElementById("chart");
    return Plotly.react(el, traces(payload), layout(payload),
                        { responsive: true, displaylogo: false })
      .then(function () {
        body.dataset.candles = String(payload.count);
        body.dataset.layer = payload.layer;
        body.dataset.drawnMs = performance.now().toFixed(1); // since navigation start
        body.dataset.ready = "1";
        return payload.count;
      });
  };

  window.showError = function (message) {
    document.getElementById("error").textContent = message;
    document.body.dataset.error = message;
    document.body.dataset.candles = "0";
    document.body.dataset.ready = "1";
  };
})();
