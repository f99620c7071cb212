"""Listing windows (`listed`/`delisted`) and universe `rules:`: parsing, validation, first
match, and the cut of a run's keys to each symbol's window (core/listing.py)."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml

from market_assets.core.families import daily_family, intraday_family
from market_assets.core.listing import clip_days, clip_periods
from market_assets.core.partition_keys import BarPartition
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import (
    DEFAULT_UNIVERSE_PATH,
    Instrument,
    UniverseError,
    load_universe,
    parse_universe,
)

D = dt.date


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text())


def _entry(document: dict[str, Any], symbol: str, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    for entry in doc["instruments"]:
        if entry["symbol"] == symbol:
            entry.update(changes)
    return doc


def _rules(document: dict[str, Any], rules: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc["rules"] = rules
    return doc


# -- listed / delisted ----------------------------------------------------------------------
def test_listing_dates_parse_from_yaml_dates_and_strings(document: dict[str, Any]) -> None:
    # YAML gives an unquoted 2021-03-15 as a date, a quoted one as text: both are accepted.
    u = parse_universe(_entry(document, "AAPL", listed=D(2021, 3, 15), delisted="2023-06-30"))
    aapl = u.get("AAPL")
    assert (aapl.listed, aapl.delisted) == (D(2021, 3, 15), D(2023, 6, 30))
    assert u.get("MSFT").listed is None and u.get("MSFT").delisted is None
    assert pickle.loads(pickle.dumps(aapl)) == aapl


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"listed": "2021-13-01"}, r"instruments\[\d+\] \(AAPL\): .*listed must be an ISO date"),
        ({"delisted": 20210101}, r"\(AAPL\): .*delisted must be an ISO date"),
        ({"listed": "2021-03-15", "delisted": "2021-03-14"}, "delisted 2021-03-14 is before"),
    ],
)
def test_bad_listing_dates_name_the_entry_and_field(
    document: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    with pytest.raises(UniverseError, match=message):
        parse_universe(_entry(document, "AAPL", **change), origin="my/universe.yaml")
    with pytest.raises(UniverseError, match=r"^my/universe\.yaml: "):
        parse_universe(_entry(document, "AAPL", **change), origin="my/universe.yaml")


def test_new_equity_takes_no_listing_dates(document: dict[str, Any]) -> None:
    doc = copy.deepcopy(document)
    doc["new_equity"]["listed"] = "2020-01-01"
    with pytest.raises(UniverseError, match=r"new_equity: unknown keys \['listed'\]"):
        parse_universe(doc)


def test_trades_on_and_outside_listing() -> None:
    inst = Instrument("AAPL", "equity", "XNYS", "USD", 190.0, 0.01)
    inst = Instrument(**{**_state(inst), "listed": D(2024, 3, 4), "delisted": D(2024, 9, 30)})
    assert not inst.trades_on(D(2024, 3, 1))
    assert inst.trades_on(D(2024, 3, 4)) and inst.trades_on(D(2024, 9, 30))
    assert not inst.trades_on(D(2024, 10, 1))
    assert inst.outside_listing(D(2023, 1, 1), D(2023, 12, 31)) == (
        "before AAPL's listing on 2024-03-04"
    )
    assert inst.outside_listing(D(2025, 1, 1), D(2025, 12, 31)) == (
        "after AAPL's delisting on 2024-09-30"
    )
    assert inst.outside_listing(D(2024, 1, 1), D(2024, 12, 31)) is None


def _state(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": inst.symbol,
        "kind": inst.kind,
        "calendar": inst.calendar,
        "currency": inst.currency,
        "start_price": inst.start_price,
        "tick_size": inst.tick_size,
        "base_timeframe": inst.base_timeframe,
        "source": inst.source,
    }


def test_trading_on_leaves_out_unlisted_delisted_and_unknown(document: dict[str, Any]) -> None:
    u = parse_universe(
        _entry(_entry(document, "AAPL", listed="2024-06-03"), "MSFT", delisted="2024-05-31")
    )
    symbols = ["SPX", "AAPL", "MSFT", "NOPE"]
    assert u.trading_on(symbols, D(2024, 5, 31)) == ["SPX", "MSFT"]
    assert u.trading_on(symbols, D(2024, 6, 3)) == ["SPX", "AAPL"]


# -- clipping -------------------------------------------------------------------------------
def test_clip_days_skips_days_outside_the_listing(document: dict[str, Any]) -> None:
    u = parse_universe(_entry(document, "AAPL", listed="2024-03-05", delisted="2024-03-07"))
    days = [D(2024, 3, d) for d in (4, 5, 6, 7, 8)]
    parts = [BarPartition(d, "AAPL") for d in days] + [BarPartition(D(2024, 3, 4), "MSFT")]
    out = clip_days(parts, lambda s: u.resolve(s) if s in u else None)
    assert [(p.session_date.day, p.symbol) for p in out.parts] == [
        (5, "AAPL"),
        (6, "AAPL"),
        (7, "AAPL"),
        (4, "MSFT"),
    ]
    assert out.skipped == {
        "2024-03-04|AAPL": "before AAPL's listing on 2024-03-05",
        "2024-03-08|AAPL": "after AAPL's delisting on 2024-03-07",
    }
    # a symbol the universe cannot resolve stays in (raw_bars holds it back with the reason)
    unknown = clip_days([BarPartition(D(2024, 3, 4), "ZZZZ")], lambda _s: None)
    assert [p.symbol for p in unknown.parts] == ["ZZZZ"] and not unknown.skipped


def test_clip_periods_cuts_years_to_the_listing(document: dict[str, Any]) -> None:
    doc = _entry(document, "AAPL", base_timeframe="D1", listed="2021-07-01", delisted="2023-03-10")
    u = parse_universe(doc)
    family = daily_family()
    keys = [f"{y}|AAPL" for y in (2020, 2021, 2022, 2023, 2024)]
    out = clip_periods(family, keys, u.resolve, until=D(2026, 12, 1))
    assert out.skipped == {
        "2020|AAPL": "before AAPL's listing on 2021-07-01",
        "2024|AAPL": "after AAPL's delisting on 2023-03-10",
    }
    days = [p.session_date for p in out.parts]
    assert min(days) == D(2021, 7, 1) and max(days) == D(2023, 3, 10)
    assert {p.session_date.year for p in out.parts} == {2021, 2022, 2023}
    # until still holds the year in progress back to today's sessions
    open_ended = parse_universe(_entry(document, "AAPL", base_timeframe="D1"))
    cut = clip_periods(family, ["2024|AAPL"], open_ended.resolve, until=D(2024, 1, 3))
    assert [p.session_date for p in cut.parts] == [D(2024, 1, 2), D(2024, 1, 3)]


def test_clip_periods_keeps_a_session_window_inside_the_listing(document: dict[str, Any]) -> None:
    """A session-tagged run (the year schedules' one session) expands only that window, and
    the listing still bounds it; the order is the partitions' own (session date, symbol)."""
    doc = _entry(document, "AAPL", base_timeframe="D1", listed="2022-03-15")
    doc = _entry(doc, "MSFT", base_timeframe="D1")
    u = parse_universe(doc)
    family = daily_family()
    keys = ["2022|MSFT", "2022|AAPL"]
    one = clip_periods(family, keys, u.resolve, until=D(2026, 12, 1), window=(D(2022, 3, 1),) * 2)
    assert [(p.session_date, p.symbol) for p in one.parts] == [(D(2022, 3, 1), "MSFT")]
    span = clip_periods(
        family, keys, u.resolve, until=D(2022, 3, 16), window=(D(2022, 3, 14), D(2022, 3, 31))
    )
    assert [(p.session_date, p.symbol) for p in span.parts] == [
        (D(2022, 3, 14), "MSFT"),
        (D(2022, 3, 15), "AAPL"),
        (D(2022, 3, 15), "MSFT"),
        (D(2022, 3, 16), "AAPL"),
        (D(2022, 3, 16), "MSFT"),
    ]
    assert span.parts == sorted(span.parts)


def test_without_dates_nothing_is_cut(document: dict[str, Any]) -> None:
    u = load_universe()
    parts = [BarPartition(D(2024, 3, 4), "7203")]
    assert clip_days(parts, u.resolve).parts == parts
    assert intraday_family().carries(u.resolve("7203").base_timeframe)


# -- rules ----------------------------------------------------------------------------------
RULES = [
    {"match": {"symbols": [1301, "130A", "13320"]}, "base_timeframe": "M1", "source": "generator"},
    {"match": {"all_companies": True}, "base_timeframe": "D1", "source": "jquants"},
]


def test_rules_first_match_wins_over_new_equity(document: dict[str, Any]) -> None:
    u = parse_universe(_rules(document, RULES))
    watched = u.resolve("1301")
    assert (watched.base_timeframe, watched.source) == (Timeframe.M1, "generator")
    assert u.resolve("130A").base_timeframe is Timeframe.M1
    assert u.resolve("1332").base_timeframe is Timeframe.M1  # '13320' as J-Quants spells it
    company = u.resolve("1333")
    assert (company.base_timeframe, company.source) == (Timeframe.D1, "jquants")
    assert company.family.name == "daily" and watched.family.name == "intraday"
    # the rest of the template is new_equity's; file instruments are not touched by rules
    assert (company.calendar, company.currency, company.tick_size) == ("XTKS", "JPY", 1.0)
    assert u.resolve("7203") == load_universe().get("7203")
    assert pickle.loads(pickle.dumps(u)).resolve("1333") == company


def test_without_rules_new_equity_applies_unchanged(document: dict[str, Any]) -> None:
    u = parse_universe(document)
    assert u.rules == ()
    assert u.resolve("1332") == load_universe().resolve("1332")
    assert u.resolve("1332").base_timeframe is Timeframe.M1
    only_watch = parse_universe(_rules(document, RULES[:1]))
    assert only_watch.resolve("1333") == u.resolve("1333")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("all", r"rules must be a list"),
        ([["x"]], r"rules\[0\]: expected a mapping"),
        ([{"base_timeframe": "D1"}], r"rules\[0\]: match must be a mapping with one of"),
        ([{"match": {"symbols": [1301], "all_companies": True}}], r"rules\[0\]: match must"),
        ([{"match": {"market": ["0111"]}}], r"rules\[0\]\.match: unknown keys \['market'\]"),
        ([{"match": {"all_companies": "yes"}}], r"rules\[0\]\.match\.all_companies must be true"),
        ([{"match": {"symbols": []}}], r"rules\[0\]\.match\.symbols: symbols must be a non-empty"),
        ([{"match": {"symbols": ["AAPL"]}}], r"rules\[0\]\.match\.symbols: 'AAPL' is not a TSE"),
        ([{"match": {"symbols": ["7203"]}}], r"7203 is in instruments"),
        (
            [RULES[0], {"match": {"all_companies": True}, "base_timeframe": "M2"}],
            r"rules\[1\]: unknown timeframe",
        ),
        (
            [{"match": {"all_companies": True}, "base_timeframe": "H1", "source": "jquants"}],
            r"rules\[0\]: base_timeframe H1 cannot come from source jquants",
        ),
        (
            [{"match": {"all_companies": True}, "source": "bloomberg"}],
            r"rules\[0\]: source 'bloomberg' is not one of",
        ),
        ([{"match": {"all_companies": True}, "colour": "red"}], r"rules\[0\]: unknown keys"),
        ([{"match": {"all_companies": True}, "listed": "2020-01-01"}], r"rules\[0\]: unknown"),
        (
            [{"match": {"all_companies": True}, "calendar": "XMARS"}],
            r"rules\[0\]: unknown calendar",
        ),
    ],
)
def test_bad_rules_name_the_file_rule_and_field(
    document: dict[str, Any], rules: Any, message: str
) -> None:
    with pytest.raises(UniverseError, match=message) as info:
        parse_universe(_rules(document, rules), origin="u.yaml")
    assert str(info.value).startswith("u.yaml: ")


def test_rules_from_a_file(tmp_path: Path, document: dict[str, Any]) -> None:
    path = tmp_path / "universe.yaml"
    text = yaml.safe_dump(_rules(document, None)).replace(
        "rules: null",
        "rules:\n- match: {symbols: [6501]}\n  base_timeframe: M1\n"
        "- match: {all_companies: true}\n  base_timeframe: D1\n  source: jquants\n",
    )
    path.write_text(text)
    u = load_universe(path)
    assert u.resolve("6501").base_timeframe is Timeframe.M1
    assert u.resolve("8306").base_timeframe is Timeframe.D1


def test_new_symbol_history_leaves_out_a_symbol_delisted_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]
) -> None:
    from market_assets.defs.ohlcv.new_symbols import history_requests

    path = tmp_path / "u.yaml"
    path.write_text(yaml.safe_dump(_entry(document, "SPX", delisted="2024-03-08")))
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))
    registered = ["SPX", "AAPL"]
    late = history_requests(registered, registered, D(2024, 3, 20), 5)
    assert [r.tags["dagster/asset_partition_range_start"].split("|")[1] for r in late] == ["AAPL"]
    early = history_requests(registered, registered, D(2024, 3, 8), 5)
    assert [r.tags["dagster/asset_partition_range_end"].split("|")[1] for r in early] == ["AAPL"]
    assert early[0].tags["dagster/asset_partition_range_start"].endswith("|SPX")
