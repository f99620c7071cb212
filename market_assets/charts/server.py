"""A small HTTP server for charts: the page, its static files and one JSON endpoint.

stdlib `ThreadingHTTPServer`, no framework: three routes do not need one, and the server
starts in milliseconds. It binds 127.0.0.1 unless told otherwise (the data is the operator's,
not the network's).

    GET /                  the page (pick symbol, timeframe, range; raw or adjusted)
    GET /api/bars?symbol=EURUSD&tf=H1&start=2024-03-01&end=2024-03-29[&adjusted=1|&last=N]
                           bars + layer + read statistics + quality strip, as JSON
    GET /static/<name>     lightweight-charts.js (vendored: static/vendor/), chart.js, page.js

Bad input answers 400 with `{"error": "..."}` naming the parameter; no store able to answer
is 503; anything else is a 500 whose body says only that (the traceback goes to the log).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from market_assets.charts.page import served_page, static_path
from market_assets.charts.request import BadRequest, ChartRequest, parse_request
from market_assets.ohlcv.bar_reads import TimeframeUnavailableError
from resources.errors import StoreUnavailableError

log = logging.getLogger(__name__)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8"}

PayloadFn = Callable[[ChartRequest], dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: ChartServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, served_page().encode(), "text/html; charset=utf-8")
        elif url.path == "/api/bars":
            self._bars(url.query)
        elif url.path.startswith("/static/"):
            self._static(url.path.removeprefix("/static/"))
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _bars(self, query: str) -> None:
        try:
            request = parse_request(parse_qs(query, keep_blank_values=False, max_num_fields=20))
        except (BadRequest, ValueError) as exc:  # parse_qs raises ValueError past the cap
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        try:
            payload = self.server.payload(request)
        except TimeframeUnavailableError as exc:  # finer than the symbol's base
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        except StoreUnavailableError as exc:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": " ".join(str(exc).split())})
            return
        except Exception:
            log.exception("chart read failed for %s", request.as_dict())
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error (see log)"})
            return
        self._json(HTTPStatus.OK, payload)

    def _static(self, name: str) -> None:
        path = static_path(name)
        if path is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        # Page URLs carry the file's content hash (?v=...): each version may be kept for good.
        self._send(HTTPStatus.OK, path.read_bytes(), content_type, cache=True)

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body, allow_nan=False, separators=(",", ":"), default=str).encode()
        self._send(status, data, "application/json")

    def _send(
        self, status: HTTPStatus, data: bytes, content_type: str, cache: bool = False
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header(
            "Cache-Control", "public, max-age=31536000, immutable" if cache else "no-store"
        )
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class ChartServer(ThreadingHTTPServer):
    """The chart server; `payload` reads a request's bars (market_assets/charts/payload.py)."""

    daemon_threads = True

    def __init__(self, payload: PayloadFn, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
        self.payload = payload
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def start_background(self) -> ChartServer:
        """Serve from a daemon thread (tests, benchmarks); `shutdown()` stops it."""
        self._thread = threading.Thread(target=self.serve_forever, name="chart-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=10)
        self.server_close()
