"""The chart page in a real browser (Debian's chromium, Playwright): it draws as many candles
as the read path returns for the same request, marks the session with a quarantined row, and
`bars --plot` writes the same chart as a file that draws offline.

The bars are materialised through the pipeline on the test session's servers (a seeded
symbol, as `market-assets dev` seeds), the chart server runs in this process on a free port
over a reader on the reader role. Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from market_assets.charts.payload import ChartSource
from market_assets.charts.server import ChartServer
from market_assets.core import settings as s
from market_assets.core.partition_keys import partition_key
from market_assets.ohlcv.collection_log import write_quarantine
from market_assets.read.reader import BarReader
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from tests.e2e.conftest import browser_context, require_chromium, shot
from tests.integration.runs import materialize_range
from tests.plugins.stores import DbTarget, store_environment

TIMEOUT_MS = 60_000
SYMBOL = "EURUSD"
DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12), dt.date(2024, 3, 13)]
QUARANTINED = DAYS[1]
QUERY = f"symbol={SYMBOL}&tf=H1&start=2024-03-10&end=2024-03-13"
START, END = dt.datetime(2024, 3, 10, tzinfo=dt.UTC), dt.datetime(2024, 3, 14, tzinfo=dt.UTC)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module", autouse=True)
def _require_chromium() -> None:
    require_chromium()


@pytest.fixture
def reader(
    s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource, db: DbTarget
) -> Iterator[BarReader]:
    """Three sessions of EURUSD through the pipeline, one quarantined row on the second."""
    assert materialize_range(s3_store, postgres, redis_store, [SYMBOL], DAYS[0], DAYS[-1]).success
    rejected = pd.DataFrame(
        {"ts": [pd.Timestamp("2024-03-12T10:00Z")], "open": [1.09], "high": [1.08]}
        | {"low": [1.1], "close": [1.09], "volume": [5.0]}
        | {"rule": ["ohlc_sanity"], "reason": ["high < low"]}
    )
    with postgres.transaction() as conn:
        write_quarantine(
            conn,
            rejected,
            asset="raw_bars",
            partition_key=partition_key(QUARANTINED, SYMBOL),
            symbol=SYMBOL,
            session_date=QUARANTINED,
            source_ref="test",
            run_id="test",
        )
    reader_pg = PostgresResource(url=db.reader_url, schema_name=db.schema, connect_timeout_s=3)
    yield BarReader(postgres=reader_pg, redis=redis_store, s3=s3_store)
    reader_pg.close()


@pytest.fixture
def chart_url(reader: BarReader) -> Iterator[str]:
    server = ChartServer(ChartSource(reader).payload, port=0).start_background()
    yield server.url
    server.stop()


@pytest.fixture
def page() -> Iterator[Any]:
    with browser_context({"width": 1400, "height": 900}, TIMEOUT_MS) as context:
        context.route("http*://**", _local_only)
        yield context.new_page()


def _local_only(route: Any) -> None:
    """Offline means offline: a request off this machine fails the page (and shows here)."""
    host = route.request.url.split("/")[2].split(":")[0]
    if host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()
        raise AssertionError(f"the page asked the network: {route.request.url}")


def _drawn(page: Any) -> int:
    page.wait_for_selector('body[data-ready="1"]', state="attached")
    assert page.get_attribute("body", "data-error") is None, page.get_attribute(
        "body", "data-error"
    )
    return int(page.get_attribute("body", "data-candles"))


#: What the chart holds, read from the library (a canvas has no DOM to count candles in):
#: the candles with their prices, the quality markers' sessions, and whether the candle
#: pane's canvas has anything painted on it.
CHART_STATE = """() => {
  const v = window.chartView();
  const canvas = [...document.querySelectorAll('#chart canvas')]
    .sort((a, b) => b.width * b.height - a.width * a.height)[0];
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3] && pixels[i] < 250) painted++;
  return {
    candles: v.candles.data().filter((d) => d.open !== undefined).length,
    volume: v.volume.data().filter((d) => d.value !== undefined).length,
    markers: v.markers.markers().map((m) => m.id),
    painted: painted,
  };
}"""


def _chart_state(page: Any) -> dict[str, Any]:
    return page.evaluate(CHART_STATE)


def test_the_page_draws_what_the_read_path_returns(
    chart_url: str, reader: BarReader, page: Any
) -> None:
    page.goto(f"{chart_url}?{QUERY}")
    expected = len(reader.get(SYMBOL, "H1", START, END))
    assert _drawn(page) == expected > 0
    state = _chart_state(page)
    assert state["candles"] == state["volume"] == expected, state
    assert state["markers"] == [QUARANTINED.isoformat()]  # the square over that session
    assert state["painted"] > 1000, state  # candles on the canvas, not an empty chart
    assert page.get_attribute("body", "data-layer") in {"redis", "postgres"}
    flagged = page.locator("#quality li[data-session]")
    assert flagged.count() == 1
    assert flagged.first.get_attribute("data-session") == QUARANTINED.isoformat()
    assert "ohlc_sanity" in flagged.first.inner_text()
    assert "read stats" in page.inner_text("#summary")
    assert shot(page, "chart_eurusd_h1").stat().st_size > 0

    # the form: another timeframe, the URL follows
    page.select_option("select[name=tf]", "D1")
    page.click("button[type=submit]")
    page.wait_for_function("document.body.dataset.ready === '1' && location.search.includes('D1')")
    assert _drawn(page) == len(reader.get(SYMBOL, "D1", START, END)) == len(DAYS)


def test_bad_input_is_shown_not_drawn(chart_url: str, page: Any) -> None:
    page.goto(f"{chart_url}?symbol=EUR/USD&tf=H1")
    page.wait_for_selector('body[data-ready="1"]', state="attached")
    assert "invalid symbol" in page.inner_text("#error")
    assert page.get_attribute("body", "data-candles") == "0"


def test_bars_plot_writes_a_chart_that_draws_offline(
    reader: BarReader,
    db: DbTarget,
    redis_store: RedisResource,
    s3_store: S3Resource,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    page: Any,
) -> None:
    from market_assets.cli.app import app

    environment = {
        s.HOME: str(tmp_path / "no-stack"),
        **store_environment(db.reader_url, db.schema, redis_store, s3_store, s.PG_READER_URL),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "eurusd.html"
    args = ["bars", SYMBOL, "H1", "--start", "2024-03-10", "--end", "2024-03-14"]
    result = CliRunner().invoke(app, [*args, "--format", "csv", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    expected = len(reader.get(SYMBOL, "H1", START, END))
    assert len(result.stdout.splitlines()) == expected + 1  # the header, then the bars
    text = out.read_text()
    assert "<script src=" not in text  # everything inline
    page.goto(out.as_uri())
    assert _drawn(page) == expected
    assert page.locator("#quality li[data-session]").count() == 1
    assert _chart_state(page)["markers"] == [QUARANTINED.isoformat()]
    shot(page, "chart_eurusd_h1_plot_file")
