"""Families declared in the universe file (`families:`): parsing, validation at load, weekday
keys (with a pinned calendar's holidays excluded), and the property that every bar of a
family's bases on its calendars has exactly one key of the family and lies inside it."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_assets.core.calendars import (
    ALWAYS_OPEN,
    FX24X5,
    bar_session_dates,
    expected_bar_labels,
    session_date_of,
    sessions_in_range,
)
from market_assets.core.families import DateGrain, DayKeys, Family, FamilyError, parse_families
from market_assets.core.storage_layout import object_key_for
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import UniverseError, parse_universe

FX = {"symbol": "EURUSD", "kind": "fx", "calendar": "FX24X5", "currency": "USD", "start_price": 1}
BTC = {"symbol": "BTCUSD", "kind": "crypto", "calendar": "24/7", "currency": "USD"}
TOKYO = {"symbol": "7203", "kind": "equity", "calendar": "XTKS", "currency": "JPY"}

FAMILIES = [
    {"name": "fx_m1", "bases": ["M1"], "grain": "day", "start": "2020-01-01", "days": "weekdays"},
    {"name": "hourly", "bases": ["H1", "H4"], "grain": "month", "start": dt.date(2018, 1, 1)},
    {
        "name": "tokyo_m1",
        "bases": ["M1"],
        "grain": "day",
        "start": "2024-01-01",
        "days": "weekdays",
        "calendar": "XTKS",
    },
]


def _doc(instruments: list[dict[str, Any]], families: Any = FAMILIES) -> dict[str, Any]:
    return {"version": 1, "families": families, "instruments": instruments}


def _universe_error(doc: dict[str, Any]) -> str:
    with pytest.raises(UniverseError) as info:
        parse_universe(doc, origin="my-universe.yaml")
    return str(info.value)


def test_declared_families_and_instruments_that_name_them() -> None:
    u = parse_universe(
        _doc(
            [
                {**FX, "family": "fx_m1"},
                {**BTC, "start_price": 40000, "base_timeframe": "H1", "family": "hourly"},
                {**TOKYO, "start_price": 2000, "family": "tokyo_m1"},
                {**TOKYO, "symbol": "6758", "start_price": 3000},  # no family: the built-in
            ]
        )
    )
    assert [f.name for f in u.families] == ["fx_m1", "hourly", "tokyo_m1"]
    fx, hourly, tokyo = u.families
    assert (fx.grain, fx.days, fx.calendar, fx.symbols_set) == (
        DateGrain.DAY,
        DayKeys.WEEKDAYS,
        None,
        "fx_m1_symbols",
    )
    assert hourly.bases == (Timeframe.H1, Timeframe.H4) and hourly.start == dt.date(2018, 1, 1)
    assert u.get("EURUSD").family is fx
    assert u.get("BTCUSD").family is hourly
    assert u.get("7203").family is tokyo
    assert u.get("6758").family.name == "intraday"
    restored = __import__("pickle").loads(__import__("pickle").dumps(u))
    assert restored.get("BTCUSD").family == hourly and restored.families == u.families


def test_the_shipped_universe_declares_none() -> None:
    from market_assets.core.universe import default_universe

    assert default_universe().families == ()
    assert all(i.declared_family is None for i in default_universe())


@pytest.mark.parametrize(
    ("instrument", "families", "expected"),
    [
        (
            {**FX, "family": "fx_h1"},
            FAMILIES,
            "instruments[0] (EURUSD): family 'fx_h1' is not declared",
        ),
        (
            {**FX, "base_timeframe": "H1", "family": "fx_m1"},
            FAMILIES,
            "instruments[0] (EURUSD): instrument EURUSD: family fx_m1 does not carry"
            " base_timeframe H1",
        ),
        (
            {**BTC, "start_price": 1, "family": "fx_m1"},
            FAMILIES,
            "instruments[0] (BTCUSD): instrument BTCUSD: family: family fx_m1 has weekday keys"
            " only, but calendar 24/7 has weekend sessions",
        ),
        (
            {**FX, "family": "tokyo_m1"},
            FAMILIES,
            "family tokyo_m1 is pinned to calendar XTKS, not FX24X5",
        ),
        (FX, [*FAMILIES, FAMILIES[0]], "families[3]: field name 'fx_m1' is declared twice"),
        (FX, [{**FAMILIES[0], "name": "daily"}], "families[0]: field name 'daily' is reserved"),
        (FX, [{**FAMILIES[0], "name": "bar"}], "field name 'bar' is reserved"),
        (FX, [{**FAMILIES[0], "name": "year"}], "field name 'year' is reserved"),
        (FX, [{**FAMILIES[0], "name": "Fx-M1"}], "families[0]: field name 'Fx-M1' must be"),
        (FX, [{**FAMILIES[0], "bases": ["M2"]}], "families[0] (fx_m1): field bases: 'M2'"),
        (FX, [{**FAMILIES[0], "bases": []}], "field bases must be a non-empty list"),
        (FX, [{**FAMILIES[0], "grain": "week"}], "families[0] (fx_m1): field grain 'week'"),
        (FX, [{**FAMILIES[1], "days": "weekdays"}], "field days: weekdays needs grain day"),
        (FX, [{**FAMILIES[0], "days": "workdays"}], "field days 'workdays' is not one of"),
        (FX, [{**FAMILIES[0], "start": "2020/01/01"}], "field start must be an ISO date"),
        (FX, [{**FAMILIES[0], "start": "1980-01-01"}], "field start must be on or after"),
        (FX, [{**FAMILIES[0], "calendar": "XXXX"}], "families[0] (fx_m1): field calendar:"),
        (FX, [{**FAMILIES[1], "calendar": "XTKS"}], "it needs `days: weekdays`"),
        (
            FX,
            [{**FAMILIES[0], "calendar": "24/7"}],
            "field calendar: family fx_m1 has weekday keys only, but calendar 24/7",
        ),
        (FX, [{**FAMILIES[0], "colour": "red"}], "families[0]: unknown keys ['colour']"),
        (FX, [{"name": "x", "bases": ["M1"], "grain": "day"}], "missing required field 'start'"),
        (FX, {"fx_m1": FAMILIES[0]}, "families must be a list"),
    ],
)
def test_bad_declarations_fail_at_load_naming_file_entry_and_field(
    instrument: dict[str, Any], families: Any, expected: str
) -> None:
    message = _universe_error(_doc([instrument], families))
    assert message.startswith("my-universe.yaml: ")
    assert expected in message


def test_a_family_is_not_a_new_equity_or_default_key() -> None:
    doc = {**_doc([FX]), "new_equity": {"family": "fx_m1"}}
    assert "new_equity: unknown keys ['family']" in _universe_error(doc)


def _weekdays(calendar: str | None = None, start: dt.date = dt.date(2020, 1, 1)) -> Family:
    days = DayKeys.WEEKDAYS
    return Family("wk", (Timeframe.M1,), DateGrain.DAY, start, "wk_symbols", days, calendar)


def test_weekday_keys_skip_weekends_and_the_pinned_calendars_holidays() -> None:
    fam = _weekdays()
    keys = fam.date_keys(dt.date(2020, 1, 31))
    assert len(keys) == 23 and keys[:3] == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert all(dt.date.fromisoformat(k).weekday() < 5 for k in keys)
    assert fam.keys_per_symbol(dt.date(2020, 1, 31)) == 23
    for bad in ("2020-01-04", "2020-01-05"):  # Saturday, Sunday
        with pytest.raises(FamilyError, match="not a key of family wk"):
            fam.partition_key(bad, "EURUSD")
    tokyo = _weekdays("XTKS", dt.date(2024, 1, 1))
    keys = tokyo.date_keys(dt.date(2024, 12, 31))
    assert keys == [d.isoformat() for d in sessions_in_range("XTKS", "2024-01-01", "2024-12-31")]
    assert dt.date(2024, 1, 2) in tokyo.excluded_days()  # New Year holiday, a Tuesday
    with pytest.raises(FamilyError):
        tokyo.expand("2024-01-02|7203", "XTKS")
    assert fam.cron == "0 0 * * 1-5" and tokyo.cron == "0 0 * * 1-5"


def test_fx_sunday_evening_open_is_mondays_key() -> None:
    """FX24X5 opens at 17:00 New York on Sunday: that bar's session, and key, is Monday's."""
    fam = _weekdays()
    sunday_open = "2024-03-10 21:00:00+00:00"  # 17:00 EDT on the DST Sunday
    assert session_date_of(FX24X5, sunday_open) == dt.date(2024, 3, 11)
    assert fam.date_key(dt.date(2024, 3, 11)) == "2024-03-11"
    winter_open = "2024-01-07 22:00:00+00:00"  # 17:00 EST
    assert session_date_of(FX24X5, winter_open) == dt.date(2024, 1, 8)
    assert all(d.weekday() < 5 for d in sessions_in_range(FX24X5, "1990-01-01", "2099-12-31"))


def test_month_grain_key_and_object() -> None:
    fam = Family("hourly", (Timeframe.H1,), DateGrain.MONTH, dt.date(2018, 1, 1), "hourly_symbols")
    assert fam.keys(3, dt.date(2026, 12, 1)) == 3 * 108
    assert fam.date_keys(dt.date(2018, 3, 5)) == ["2018-01", "2018-02", "2018-03"]
    day = dt.date(2024, 2, 29)
    assert (
        object_key_for(fam, "H1", day, "BTCUSD")
        == "ohlcv/timeframe=H1/month=2024-02/symbol=BTCUSD/bars.parquet"
    )
    assert len(fam.sessions("2024-02", ALWAYS_OPEN)) == 29


# -- every bar has exactly one key, and lies inside it ---------------------------------------
CASES = [
    # (family, calendars, a range of session dates to draw from: DST changes inside)
    (_weekdays(), (FX24X5, "XNYS", "XTKS"), (dt.date(2020, 1, 1), dt.date(2025, 12, 31))),
    (
        _weekdays("XTKS", dt.date(2024, 1, 1)),
        ("XTKS",),
        (dt.date(2024, 1, 1), dt.date(2025, 12, 31)),
    ),
    (
        Family("all_h1", (Timeframe.H1, Timeframe.M30), DateGrain.DAY, dt.date(2018, 1, 1), "s"),
        (ALWAYS_OPEN, FX24X5, "XNYS"),
        (dt.date(2018, 1, 1), dt.date(2025, 12, 31)),
    ),
    (
        Family("month_h1", (Timeframe.H1, Timeframe.H4), DateGrain.MONTH, dt.date(2018, 1, 1), "s"),
        (ALWAYS_OPEN, FX24X5, "XTKS", "XLON"),
        (dt.date(2018, 1, 1), dt.date(2025, 12, 31)),
    ),
    (  # the built-in daily family's grain, for comparison
        Family(
            "year_d1",
            (Timeframe.D1, Timeframe.W1, Timeframe.MN1),
            DateGrain.YEAR,
            dt.date(2004, 1, 1),
            "s",
        ),
        ("XNYS", "XTKS", ALWAYS_OPEN),
        (dt.date(2004, 1, 1), dt.date(2025, 12, 31)),
    ),
]
TODAY = dt.date(2026, 1, 1)


def _bars_of(fam: Family, calendar: str, session: dt.date) -> list[tuple[str, Any]]:
    return [(tf, ts) for tf in fam.bases for ts in expected_bar_labels(calendar, tf, session)]


@settings(max_examples=300, deadline=None)
@given(case=st.integers(0, len(CASES) - 1), data=st.data())
def test_every_bar_maps_to_exactly_one_key_and_lies_inside_it(case: int, data: Any) -> None:
    fam, calendars, (lo, hi) = CASES[case]
    calendar = data.draw(st.sampled_from(calendars))
    sessions = sessions_in_range(calendar, lo, hi)
    session = data.draw(st.sampled_from(sessions))
    bars = _bars_of(fam, calendar, session)
    assert bars, f"{calendar} {session} expects bars of {fam.bases}"
    tf, ts = data.draw(st.sampled_from(bars))
    filed = bar_session_dates(calendar, tf, [ts])[0]
    assert not np.isnat(filed)
    filed = filed.astype(object)
    key = fam.date_key(filed)  # raises if the family has no key for the bar's session
    assert key in set(fam.date_keys(TODAY))
    first, last = fam.period(key)
    assert first <= filed <= last
    # inside its key: the key's expansion holds the bar's session, and no other key's does
    assert filed in fam.sessions(key, calendar)
    neighbours = {
        fam.date_key(d)
        for d in (first - dt.timedelta(1), last + dt.timedelta(1))
        if d >= fam.start and fam.has_key(d)
    } - {key}
    for other in neighbours:
        assert filed not in fam.sessions(other, calendar)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_keys_partition_the_sessions(case: int) -> None:
    """Over whole years (DST changes, 24/7 midnights, holidays), the sessions of the keys are
    disjoint and together every session of each calendar: no session without a key."""
    fam, calendars, (lo, _) = CASES[case]
    until = dt.date(lo.year + 1, 12, 31)
    for calendar in calendars:
        seen: list[dt.date] = []
        for key in fam.date_keys(until):
            seen.extend(fam.sessions(key, calendar))
        assert seen == sessions_in_range(calendar, max(lo, fam.start), until)


def test_the_24_7_day_boundary() -> None:
    fam = CASES[2][0]
    last = "2024-02-29 23:00:00+00:00"
    first = "2024-03-01 00:00:00+00:00"
    assert bar_session_dates(ALWAYS_OPEN, "H1", [last])[0] == np.datetime64("2024-02-29")
    assert bar_session_dates(ALWAYS_OPEN, "H1", [first])[0] == np.datetime64("2024-03-01")
    assert fam.date_key(dt.date(2024, 2, 29)) == "2024-02-29"
    month = CASES[3][0]
    assert month.date_key(dt.date(2024, 2, 29)) == "2024-02"
    assert month.date_key(dt.date(2024, 3, 1)) == "2024-03"


def test_parse_families_of_nothing() -> None:
    assert parse_families(None) == ()


def test_scale_scenario_with_declared_families() -> None:
    """The table of docs/DESIGN.md ("Families declared in the universe file"), on 2026-12-01."""
    today = dt.date(2026, 12, 1)
    m1, h1 = (Timeframe.M1,), (Timeframe.H1,)
    tokyo = Family(
        "tokyo_m1", m1, DateGrain.DAY, dt.date(2024, 1, 1), "s", DayKeys.WEEKDAYS, "XTKS"
    )
    assert tokyo.keys(100, today) == 70_900
    assert _weekdays(None, dt.date(2024, 1, 1)).keys(100, today) == 76_200
    assert Family("t", m1, DateGrain.DAY, dt.date(2024, 1, 1), "s").keys(100, today) == 106_600
    assert _weekdays(None, dt.date(2020, 1, 1)).keys(5, today) == 9_025
    assert Family("c", h1, DateGrain.MONTH, dt.date(2018, 1, 1), "s").keys(3, today) == 324
    assert len(tokyo.excluded_days()) == 200
    year = Family("y", m1, DateGrain.DAY, dt.date(2025, 1, 1), "s", DayKeys.WEEKDAYS, "XTKS")
    assert len(year.date_keys(dt.date(2025, 12, 31))) == 243  # growth per symbol and year
    assert tokyo.keys(141, today) < 100_000 < tokyo.keys(142, today)


def test_the_readme_example_loads() -> None:
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Asset families of your own") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    universe = parse_universe({"version": 1, **yaml.safe_load(example.group(1))})
    assert {i.symbol: i.family.name for i in universe} == {
        "7203": "tokyo_m1",
        "BTCUSD": "crypto_h1",
    }


def test_a_rule_puts_the_companies_it_matches_in_a_declared_family() -> None:
    """A watch-list rule naming `tokyo_m1` routes its codes there (its symbols set, its
    weekday keys); companies of the next rule stay in the built-in family of their base."""
    doc = _doc([{**TOKYO, "start_price": 2500}])
    doc["rules"] = [
        {"match": {"symbols": ["6758", "9984"]}, "base_timeframe": "M1", "family": "tokyo_m1"},
        {"match": {"all_companies": True}, "base_timeframe": "D1", "source": "jquants"},
    ]
    u = parse_universe(doc)
    watched = u.resolve("6758")
    assert watched.family.name == "tokyo_m1"
    assert watched.family.symbols_set == "tokyo_m1_symbols"
    assert u.resolve("8306").family.name == "daily"
    assert pickle.loads(pickle.dumps(u)).resolve("9984").family.name == "tokyo_m1"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"family": "nope"}, r"rules\[0\]: family 'nope' is not declared"),
        ({"family": "hourly"}, r"rules\[0\]: .*family hourly does not carry base_timeframe M1"),
    ],
)
def test_a_rule_naming_a_bad_family_fails_naming_the_rule(
    rule: dict[str, Any], expected: str
) -> None:
    doc = _doc([{**TOKYO, "start_price": 2500}])
    doc["rules"] = [{"match": {"symbols": ["6758"]}, "base_timeframe": "M1", **rule}]
    with pytest.raises(UniverseError, match=expected):
        parse_universe(doc, origin="u.yaml")
