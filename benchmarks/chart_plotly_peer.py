"""The chart benchmark's peer: the same bars drawn with plotly.js, the library the page used
before lightweight-charts (issue 17 item 3).

A page of its own, served on loopback by a small stdlib server like the project's: it asks
for the bars early (as the project's page does, so the fetch overlaps the library's load),
loads `plotly.min.js` from the `plotly` wheel (4.8 MB), draws the candles and the volume
with `Plotly.react` on a category axis (the old chart.js's two main traces), and sets
`<body data-ready="1" data-candles="N">` when plotly's promise resolves. `/api/bars` answers
from the project's own payload function, so only the drawing library differs.

plotly is a benchmark-only dependency now (the ``bench`` extra); without it the peer is
reported as skipped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from market_assets.charts.request import ChartRequest, parse_request

INSTALL_HINT = "pip install -c constraints.txt -e '.[bench]'"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>plotly.js peer</title>
<script>if (new URLSearchParams(location.search).get('symbol'))
  window.firstChart = fetch('api/bars' + location.search);</script>
</head><body data-ready="0"><div id="chart" style="width:100%;height:72vh"></div>
<script src="plotly.min.js"></script>
<script>
"use strict";
const UP = "#26a69a", DOWN = "#ef5350";
function draw(p) {
  const b = p.bars, x = b.ts.map((ts) => ts.slice(0, 16).replace("T", " "));
  const colors = b.close.map((c, i) => (c >= b.open[i] ? UP : DOWN));
  return Plotly.react("chart", [
    { type: "candlestick", x: x, open: b.open, high: b.high, low: b.low, close: b.close,
      increasing: { line: { color: UP } }, decreasing: { line: { color: DOWN } } },
    { type: "bar", x: x, y: b.volume, yaxis: "y2", marker: { color: colors } },
  ], { showlegend: false, margin: { l: 60, r: 20, t: 40, b: 60 },
       xaxis: { type: "category", rangeslider: { visible: false }, nticks: 12, anchor: "y2" },
       yaxis: { domain: [0.3, 0.9] }, yaxis2: { domain: [0, 0.22] } },
     { responsive: true, displaylogo: false })
    .then(() => {
      document.body.dataset.candles = String(p.count);
      document.body.dataset.drawnMs = performance.now().toFixed(1);
      document.body.dataset.ready = "1";
    });
}
if (window.firstChart) {
  window.firstChart.then((r) => r.json()).then(draw).catch((e) => {
    document.body.dataset.error = String(e);
    document.body.dataset.ready = "1";
  });
} else {
  document.body.dataset.ready = "1";
}
</script>
</body></html>
"""


def plotly_js_path() -> Path | None:
    """plotly.min.js as shipped in the `plotly` wheel, or None when plotly is not installed."""
    spec = find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


class _Handler(BaseHTTPRequestHandler):
    server: PlotlyPeerServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/":
            self._send(PAGE.encode(), "text/html; charset=utf-8", cache=False)
        elif url.path == "/plotly.min.js":
            self._send(self.server.library, "text/javascript; charset=utf-8", cache=True)
        elif url.path == "/api/bars":
            request = parse_request(parse_qs(url.query, max_num_fields=20))
            body = json.dumps(self.server.payload(request), allow_nan=False, default=str)
            self._send(body.encode(), "application/json", cache=False)
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def _send(self, data: bytes, content_type: str, cache: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        # As the project's server sends its static files: kept for good once fetched.
        self.send_header(
            "Cache-Control", "public, max-age=31536000, immutable" if cache else "no-store"
        )
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PlotlyPeerServer(ThreadingHTTPServer):
    """The peer's page, plotly.min.js and `/api/bars` (the project's payload) on loopback."""

    daemon_threads = True

    def __init__(self, payload: Callable[[ChartRequest], dict[str, Any]], library: Path):
        self.payload = payload
        self.library = library.read_bytes()
        super().__init__(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, name="plotly-peer", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def stop(self) -> None:
        self.shutdown()
        self._thread.join(timeout=10)
        self.server_close()
