"""The chart page: 30 sessions of H1 drawn within 1 s of the request, in headless chromium.

Project path: `ChartServer` over `ChartSource(BarReader)` (reader role, Redis snapshots
published as the pipeline does), the page of `market-assets chart` fetching `/api/bars` (bars
through the read chain, plus the quality strip's two queries) and lightweight-charts (the
vendored standalone build, 0.2 MB) drawing them. One repeat: a fresh browser context (cold
cache: the library and the scripts loaded and compiled again), `page.goto(...)` until
`<body data-ready="1">`, timed from just before the request to the marker; `data-drawn-ms`
(the page's own clock since navigation start) is reported beside it, as are a second visit
of the same URL (the scripts from the browser's cache) and an in-page redraw (the form
submitted again: one fetch and one `setData`), and the page without a symbol (the scripts
alone, no data).

Baseline, the same page in the same run, interleaved: a second server whose `/api/bars` runs
a plain `pandas.read_sql` of the H1 rollup table (same window and order) and no quality
strip, i.e. what a chart built around the read path would do.

Peer (benchmarks/chart_plotly_peer.py), interleaved too: the same bars, from the project's
payload, drawn with plotly.js (4.8 MB, from the `plotly` wheel: the `bench` extra), the
library the page used before; first and second visit. Skipped when plotly is not installed.

Debian's chromium through Playwright (executablePath /usr/bin/chromium), launched with
--headless --no-sandbox --disable-gpu --disable-background-networking
--disable-component-update --no-first-run --disable-sync.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import requests
import sqlalchemy as sa

from benchmarks import BenchResult, Target, m1_bars, ratio, spread
from benchmarks.chart_plotly_peer import INSTALL_HINT, PlotlyPeerServer, plotly_js_path
from benchmarks.stack import BenchStack
from benchmarks.upsert import partitions_of
from market_assets.charts.page import library_path, vendored
from market_assets.charts.payload import ChartSource, build_payload, calendar_of
from market_assets.charts.request import ChartRequest
from market_assets.charts.server import ChartServer
from market_assets.core.identifiers import validate_sql_identifier
from market_assets.core.partition_keys import BarPartition
from market_assets.db.migrate import sqlalchemy_url
from market_assets.ohlcv.bar_store import replace_partitions
from market_assets.ohlcv.publish import publish_symbols
from market_assets.ohlcv.rollups import refresh_rollups
from market_assets.ohlcv.snapshots import DEFAULT_BARS
from market_assets.read.reader import BarReader

NAME = "chart"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SYMBOL = "EURUSD"
FIRST_DAY = dt.date(2024, 3, 4)  # a Monday: 42 calendar days hold 30 FX sessions
TARGET_S = 1.0
TIMEOUT_MS = 30_000

SIZES: dict[bool, dict[str, int]] = {
    True: {"days": 7, "repeats": 2},
    False: {"days": 42, "repeats": 7},
}


def _baseline_sql(schema: str) -> sa.TextClause:
    validate_sql_identifier(schema)
    return sa.text(
        f'SELECT ts, open, high, low, close, volume FROM "{schema}".ohlcv_h1'  # noqa: S608
        " WHERE symbol = :symbol AND ts >= :start AND ts < :end ORDER BY ts"
    )


@contextlib.contextmanager
def _fresh_page(browser: Any) -> Iterator[Any]:
    """A page in a new browser context: nothing cached, closed afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
    finally:
        context.close()


def _until_ready(page: Any, start: float) -> float:
    """Seconds from `start` until the page marks itself drawn (`data-ready="1"`)."""
    page.wait_for_selector('body[data-ready="1"]', state="attached")
    return time.perf_counter() - start


def _visit(page: Any, url: str) -> float:
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    return _until_ready(page, start)


def _time_page(browser: Any, url: str) -> tuple[float, float, int, float, float]:
    """(wall s to the marker, the page's own ms, candles drawn, second visit s, redraw s) in
    a fresh context: cold cache first, then the same URL again, then the form resubmitted."""
    with _fresh_page(browser) as page:
        wall = _visit(page, url)
        error = page.get_attribute("body", "data-error")
        if error:
            raise RuntimeError(f"the chart page failed: {error}")
        own_ms = float(page.get_attribute("body", "data-drawn-ms") or "nan")
        candles = int(page.get_attribute("body", "data-candles") or "0")
        warm = _visit(page, url)  # a second visit: a new navigation, scripts from the cache
        start = time.perf_counter()
        page.click("button[type=submit]")  # sets data-ready="0" before it returns
        redraw = _until_ready(page, start)
        return wall, own_ms, candles, warm, redraw


def _time_peer(browser: Any, url: str) -> tuple[float, float, int, float]:
    """The plotly.js peer's (wall s, page ms, candles, second visit s) in a fresh context."""
    with _fresh_page(browser) as page:
        wall = _visit(page, url)
        error = page.get_attribute("body", "data-error")
        if error:
            raise RuntimeError(f"the plotly.js peer page failed: {error}")
        own_ms = float(page.get_attribute("body", "data-drawn-ms") or "nan")
        candles = int(page.get_attribute("body", "data-candles") or "0")
        return wall, own_ms, candles, _visit(page, url)


def _time_empty_page(browser: Any, url: str) -> float:
    """The page without a symbol in a fresh context: the library and the scripts only, no
    data (what a first visit costs before any bar is read)."""
    with _fresh_page(browser) as page:
        return _visit(page, url)


def _time_api(url: str, repeats: int) -> list[float]:
    """Seconds of `GET api/bars` alone (the server's side of a chart: read, quality, JSON),
    to tell the server's share of a visit from the browser's."""
    with requests.Session() as session:
        session.get(url, timeout=TIMEOUT_MS / 1000).raise_for_status()  # connection, warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            session.get(url, timeout=TIMEOUT_MS / 1000).raise_for_status()
            times.append(time.perf_counter() - start)
    return times


def run(stack: BenchStack, smoke: bool) -> BenchResult:
    from playwright.sync_api import sync_playwright

    size = SIZES[smoke]
    started = time.perf_counter()
    bars = m1_bars([SYMBOL], FIRST_DAY, size["days"])
    sessions = sorted(set(bars["session_date"]))
    # From the first bar on: the window lies inside the Redis snapshot (2000 H1 bars), as the
    # latest sessions do on the dev stack, so the read path answers from Redis.
    first_bar = pd.Timestamp(bars["ts"].min()).tz_convert("UTC").strftime("%Y-%m-%dT%H:%MZ")
    query = f"?symbol={SYMBOL}&tf=H1&start={first_bar}&end={sessions[-1]}"
    result = BenchResult(
        benchmark=NAME,
        mode="smoke" if smoke else "full",
        repeats=size["repeats"],
        params={"symbol": SYMBOL, "timeframe": "H1", "sessions": len(sessions), "query": query},
    )
    with stack.schema("chart") as schema, stack.redis("chart") as redis:
        writer, reader_pg = schema.postgres(), schema.postgres("reader")
        engine = sa.create_engine(sqlalchemy_url(schema.url("reader")))
        servers: list[ChartServer | PlotlyPeerServer] = []
        try:
            replace_partitions(writer, bars, partitions_of(bars))
            refresh_rollups(writer, [BarPartition(d, SYMBOL) for d in sessions])
            publish_symbols(writer, redis, [SYMBOL], DEFAULT_BARS)
            reader = BarReader(postgres=reader_pg, redis=redis, s3=None)
            source = ChartSource(reader)
            sql = _baseline_sql(schema.schema)
            calendar = calendar_of(SYMBOL)

            def plain_sql(request: ChartRequest) -> dict[str, Any]:
                with engine.connect() as conn:
                    frame = pd.read_sql(
                        sql,
                        conn,
                        params={
                            "symbol": request.symbol,
                            "start": request.start,
                            "end": request.end,
                        },
                    )
                frame = frame.set_index(pd.DatetimeIndex(frame["ts"], name="ts"))
                frame.attrs["layer"] = "plain-sql"
                return build_payload(frame, request, calendar=calendar)

            project = ChartServer(source.payload, port=0).start_background()
            servers.append(project)
            baseline = ChartServer(plain_sql, port=0).start_background()
            servers.append(baseline)
            plotly_js = plotly_js_path()
            # A reader of its own: the project's reader_stats stay the project's reads.
            peer_source = ChartSource(BarReader(postgres=reader_pg, redis=redis, s3=None))
            peer = None if plotly_js is None else PlotlyPeerServer(peer_source.payload, plotly_js)
            if peer is not None:
                servers.append(peer)
            samples: dict[str, list[tuple[float, float, int, float, float]]] = {
                "project": [],
                "sql": [],
            }
            empty: list[float] = []
            peer_samples: list[tuple[float, float, int, float]] = []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    _time_page(browser, project.url + query)  # warm-up: servers, chromium
                    _time_page(browser, baseline.url + query)
                    if peer is not None:
                        _time_peer(browser, peer.url + query)
                    for _ in range(size["repeats"]):
                        samples["project"].append(_time_page(browser, project.url + query))
                        samples["sql"].append(_time_page(browser, baseline.url + query))
                        if peer is not None:
                            peer_samples.append(_time_peer(browser, peer.url + query))
                        empty.append(_time_empty_page(browser, project.url))
                finally:
                    browser.close()
            layer_after = reader.stats.as_dict()  # the pages' reads only
            api = {
                name: _time_api(server.url + "api/bars" + query, size["repeats"])
                for name, server in (("project", project), ("sql", baseline))
            }
        finally:
            for server in servers:
                server.stop()
            engine.dispose()
            writer.close()
            reader_pg.close()

    def column(name: str, i: int) -> list[float]:
        return [s[i] for s in samples[name]]

    project_s = spread(column("project", 0))
    sql_s = spread(column("sql", 0))
    candles = {int(c) for c in column("project", 2)} | {int(c) for c in column("sql", 2)}
    library = vendored()
    result.metrics = {
        "request_to_drawn_s": project_s,
        "page_clock_drawn_ms": spread(column("project", 1)),
        "second_visit_s": spread(column("project", 3)),
        "in_page_redraw_s": spread(column("project", 4)),
        "first_visit_without_data_s": spread(empty),
        "api_bars_s": spread(api["project"]),
        "candles_drawn": sorted(candles),
        "reader_stats": layer_after,
        "library": f"lightweight-charts {library['version']}",
        "library_bytes": library_path().stat().st_size,
    }
    result.baseline = {
        "request_to_drawn_s": sql_s,
        "page_clock_drawn_ms": spread(column("sql", 1)),
        "second_visit_s": spread(column("sql", 3)),
        "in_page_redraw_s": spread(column("sql", 4)),
        "api_bars_s": spread(api["sql"]),
        "method": "the same page; /api/bars = pandas.read_sql of ohlcv_h1 (same window), "
        "no quality strip",
    }
    warm_p, warm_b = spread(column("project", 3)), spread(column("sql", 3))
    result.ratios = {
        "project_vs_plain_sql_cold": ratio(sql_s["median"], project_s["median"]),
        "project_vs_plain_sql_warm": ratio(warm_b["median"], warm_p["median"]),
    }
    peer_method = (
        "the same bars (the project's /api/bars) drawn with plotly.js from the plotly wheel "
        "(candlestick + volume traces, Plotly.react), the library the page used before; "
        "served on loopback with the same cache headers"
    )
    if plotly_js is None:
        result.extra["peer"] = {"method": peer_method, "skipped": f"plotly: {INSTALL_HINT}"}
    else:
        peer_cold = spread([s[0] for s in peer_samples])
        peer_warm = spread([s[3] for s in peer_samples])
        result.extra["peer"] = {
            "request_to_drawn_s": peer_cold,
            "page_clock_drawn_ms": spread([s[1] for s in peer_samples]),
            "second_visit_s": peer_warm,
            "candles_drawn": sorted({s[2] for s in peer_samples}),
            "library": f"plotly.js (plotly {importlib.metadata.version('plotly')})",
            "library_bytes": plotly_js.stat().st_size,
            "method": peer_method,
        }
        result.ratios["project_vs_plotly_peer_cold"] = ratio(
            peer_cold["median"], project_s["median"]
        )
        result.ratios["project_vs_plotly_peer_warm"] = ratio(peer_warm["median"], warm_p["median"])
    result.targets = [
        Target(
            f"{len(sessions)} sessions of H1 drawn after the request, first visit (cold cache)",
            project_s["median"],
            "<=",
            TARGET_S,
            "s",
        ),
        Target(
            f"{len(sessions)} sessions of H1 drawn after the request, scripts cached",
            warm_p["median"],
            "<=",
            TARGET_S,
            "s",
        ),
    ]
    if len(candles) != 1:
        result.notes.append(f"project and baseline drew different candle counts: {candles}")
    result.notes += [
        "each repeat a fresh browser context (the library fetched and compiled again); "
        "second_visit_s: the same URL again in that context (scripts from the browser cache)",
        "loopback servers; chromium headless without GPU on the same 2 vCPUs",
        f"median of {size['repeats']} interleaved repeats (project, baseline, plotly.js peer)",
    ]
    result.elapsed_s = time.perf_counter() - started
    return result
