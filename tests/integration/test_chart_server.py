"""The chart server's JSON endpoint on real stores: bars through the read path, the quality
strip from quarantine and data_quality_metrics (reader role), and 400s for bad input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml

from market_assets.charts.page import library_path
from market_assets.charts.payload import ChartSource
from market_assets.charts.server import ChartServer
from market_assets.core.partition_keys import BarPartition, partition_key
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH
from market_assets.ohlcv.collection_log import write_quarantine
from market_assets.quality.evaluation import CheckOutcome, record_metrics
from market_assets.read.reader import BarReader
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from tests.integration.runs import materialize_range
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SYMBOL = "EURUSD"
DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12), dt.date(2024, 3, 13)]
WINDOW = {"symbol": SYMBOL, "tf": "H1", "start": "2024-03-10", "end": "2024-03-13"}


@pytest.fixture
def stores(
    s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource, db: DbTarget
) -> Iterator[tuple[BarReader, PostgresResource]]:
    """Three sessions materialised; a reader on the reader role (as `market-assets chart`)."""
    result = materialize_range(s3_store, postgres, redis_store, [SYMBOL], DAYS[0], DAYS[-1])
    assert result.success
    reader_pg = PostgresResource(url=db.reader_url, schema_name=db.schema, connect_timeout_s=3)
    yield BarReader(postgres=reader_pg, redis=redis_store, s3=s3_store), postgres
    reader_pg.close()


@pytest.fixture
def server(stores: tuple[BarReader, PostgresResource]) -> Iterator[str]:
    chart = ChartServer(ChartSource(stores[0]).payload, port=0).start_background()
    yield chart.url
    chart.stop()


def test_bars_are_what_the_read_path_answers(
    server: str, stores: tuple[BarReader, PostgresResource]
) -> None:
    body = requests.get(f"{server}api/bars", params=WINDOW, timeout=30).json()
    expected = stores[0].get(
        SYMBOL,
        "H1",
        dt.datetime(2024, 3, 10, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 14, tzinfo=dt.UTC),
    )
    assert body["count"] == len(expected) > 0
    assert body["layer"] in {"redis", "postgres"}
    bars = body["bars"]
    assert bars["ts"][0] == expected.index[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert bars["close"] == expected["close"].tolist()
    assert set(bars["session_date"]) == {d.isoformat() for d in DAYS}
    assert body["read_stats"][f"answered_by_{body['layer']}"] >= 1
    assert body["quality"] == [] and body["quality_error"] is None
    assert body["request"]["timeframe"] == "H1" and body["adjusted"] is False


def test_adjusted_and_latest_n_go_through_the_read_path(server: str) -> None:
    latest = requests.get(f"{server}api/bars", params={"symbol": SYMBOL, "last": "24"}, timeout=30)
    assert latest.status_code == 200 and latest.json()["count"] == 24
    adjusted = requests.get(f"{server}api/bars", params={**WINDOW, "adjusted": "1"}, timeout=30)
    assert adjusted.status_code == 200
    assert adjusted.json()["adjusted"] is True and adjusted.json()["count"] > 0


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, "symbol"),
        ({"symbol": "EUR/USD"}, "symbol"),
        ({"symbol": "EURUSD';--"}, "symbol"),
        ({"symbol": SYMBOL, "tf": "H2"}, "timeframe"),
        ({"symbol": SYMBOL, "start": "last week"}, "start"),
        ({"symbol": SYMBOL, "start": "2024-03-11", "end": "2024-13-01"}, "end"),
        ({"symbol": SYMBOL, "start": "2024-03-12", "end": "2024-03-11"}, "end"),
        ({"symbol": SYMBOL, "last": "0"}, "last"),
        ({"symbol": SYMBOL, "adjusted": "maybe"}, "adjusted"),
        ({"symbol": SYMBOL, "sql": "1"}, "parameter"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(server: str, params: dict, names: str) -> None:
    response = requests.get(f"{server}api/bars", params=params, timeout=30)
    assert response.status_code == 400
    assert names in response.json()["error"]


def test_a_quarantined_row_and_a_failed_check_mark_their_sessions(
    server: str, stores: tuple[BarReader, PostgresResource]
) -> None:
    writer = stores[1]
    rejected = pd.DataFrame(
        {
            "ts": [pd.Timestamp("2024-03-12T10:00Z")],
            "open": [1.09],
            "high": [1.08],
            "low": [1.1],
            "close": [1.09],
            "volume": [5.0],
            "rule": ["ohlc_sanity"],
            "reason": ["high < low"],
        }
    )
    with writer.transaction() as conn:
        write_quarantine(
            conn,
            rejected,
            asset="raw_bars",
            partition_key=partition_key(DAYS[1], SYMBOL),
            symbol=SYMBOL,
            session_date=DAYS[1],
            source_ref="test",
            run_id="test",
        )
    failing = BarPartition(DAYS[2], SYMBOL)
    outcome = CheckOutcome(
        asset="raw_bars",
        name="row_count",
        passed=False,
        failures=["too few rows"],
        checked=[failing],
        failing={failing: {"expected": 1440, "actual": 1000}},
    )
    record_metrics(writer, [outcome], "test", [failing])

    body = requests.get(f"{server}api/bars", params=WINDOW, timeout=30).json()
    by_day = {q["session_date"]: q for q in body["quality"]}
    assert set(by_day) == {"2024-03-12", "2024-03-13"}
    assert by_day["2024-03-12"]["quarantined_rows"] == 1
    assert by_day["2024-03-12"]["rules"] == ["ohlc_sanity"]
    assert by_day["2024-03-13"]["failed_checks"] == ["raw_bars.row_count (ERROR)"]

    # a later evaluation that passes clears the session
    record_metrics(
        writer, [CheckOutcome("raw_bars", "row_count", True, checked=[failing])], "later", [failing]
    )
    again = requests.get(f"{server}api/bars", params=WINDOW, timeout=30).json()
    assert [q["session_date"] for q in again["quality"]] == ["2024-03-12"]


def test_page_and_its_local_assets(server: str) -> None:
    page = requests.get(server, timeout=30)
    assert page.status_code == 200 and "static/lightweight-charts.js?v=" in page.text
    assert "cdn" not in page.text.lower()
    library = requests.get(f"{server}static/lightweight-charts.js", timeout=30)
    assert library.status_code == 200 and library.headers["Content-Type"].startswith(
        "text/javascript"
    )
    assert library.content == library_path().read_bytes()
    assert "immutable" in library.headers["Cache-Control"]
    for path in ("static/../pyproject.toml", "static/page.html", "static/vendor/LICENSE", "nope"):
        assert requests.get(f"{server}{path}", timeout=30).status_code == 404


def test_every_store_down_is_a_503_naming_them() -> None:
    broken = BarReader(
        postgres=PostgresResource(url="postgresql://x:y@127.0.0.1:1/db", connect_timeout_s=1),
        redis=None,
        s3=None,
    )
    chart = ChartServer(ChartSource(broken).payload, port=0).start_background()
    try:
        response = requests.get(f"{chart.url}api/bars", params=WINDOW, timeout=30)
    finally:
        chart.stop()
    assert response.status_code == 503
    assert "postgres" in response.json()["error"] and ":y@" not in response.json()["error"]


def test_a_timeframe_finer_than_the_base_is_a_400_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    for entry in document["instruments"]:
        if entry["symbol"] == SYMBOL:
            entry["base_timeframe"] = "H1"
    path = tmp_path / "universe.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))
    reader = BarReader(postgres=None, redis=None, s3=None)
    chart = ChartServer(ChartSource(reader).payload, port=0).start_background()
    try:
        response = requests.get(f"{chart.url}api/bars", params={**WINDOW, "tf": "M5"}, timeout=30)
    finally:
        chart.stop()
    assert response.status_code == 400
    assert response.json()["error"].startswith("EURUSD has base timeframe H1: M5 is finer")
