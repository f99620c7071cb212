"""The scale benchmark's pure inputs: synthetic master, scenario universe, key arithmetic."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from benchmarks.scale import budgets, chosen_size
from benchmarks.scale_scenario import (
    KeyBudget,
    Scenario,
    company_code,
    date_keys,
    synthetic_master,
    universe_document,
    watch_symbols,
)
from market_assets.core.families import DAILY_SYMBOLS_PARTITIONS
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import is_tse_code, parse_universe
from market_assets.masters.records import KnownCodes, judge_records
from resources.masters.sample_file import CODE_TABLES_PATH, read_listed_info

TABLES = json.loads(CODE_TABLES_PATH.read_text(encoding="utf-8"))
KNOWN = KnownCodes(
    **{
        name: frozenset(r["code"] for r in TABLES[name])
        for name in ("markets", "sector17", "sector33")
    }
)
DAY = dt.date(2026, 12, 1)


def test_the_synthetic_master_is_accepted_whole_by_the_sync_judgement(tmp_path) -> None:
    doc = synthetic_master(4400, TABLES, DAY)
    path = tmp_path / "listed.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    judged = judge_records(read_listed_info(path), KNOWN)  # the sync's own reader and rules
    assert judged.rejected == []
    assert len(judged.rows) == 4400
    assert len({r.symbol for r in judged.rows}) == 4400
    assert all(len(r.code) == 5 and is_tse_code(r.symbol) for r in judged.rows)


def test_the_synthetic_master_says_it_is_synthetic_and_is_deterministic() -> None:
    doc = synthetic_master(40, TABLES, DAY)
    assert doc["synthetic"] is True and "SYNTHETIC" in doc["_note"]
    assert all("synthetic" in r["CompanyNameEnglish"] for r in doc["info"])
    assert doc == synthetic_master(40, TABLES, DAY)
    assert synthetic_master(10, TABLES, DAY)["info"] == doc["info"][:10]  # baseline = prefix


def test_codes_are_valid_and_bounded() -> None:
    assert company_code(0) == "13000"
    assert company_code(8699) == "99990"
    with pytest.raises(ValueError):
        company_code(8700)
    with pytest.raises(ValueError):
        Scenario(companies=10, m1_equities=11, fx=5, crypto=3)


def test_the_universe_puts_each_kind_in_the_family_of_its_base() -> None:
    scenario = Scenario(companies=40, m1_equities=10, fx=5, crypto=3)
    universe = parse_universe(universe_document(scenario), origin="scenario")
    company = universe.resolve("1300")  # not in the file: the new_equity template
    assert company.base_timeframe is Timeframe.D1
    assert company.family.symbols_set == DAILY_SYMBOLS_PARTITIONS
    crypto = universe.get("BTCUSD")
    assert (crypto.calendar, crypto.base_timeframe) == ("24/7", Timeframe.H1)
    twins = watch_symbols(scenario)
    assert twins[0] == "1300.M1" and len(twins) == 10
    assert all(universe.get(t).family.symbols_set == "tokyo_m1_symbols" for t in twins)
    assert universe.get("EURUSD").family.name == "fx_m1"
    assert crypto.family.name == "crypto_h1"
    keys = {f.name: len(f.date_keys(DAY)) for f in universe.families}
    assert keys["crypto_h1"] == (DAY.year - 2018) * 12 + DAY.month  # months from 2018
    assert len(universe) == 5 + 3 + 10


def test_key_budget_growth_and_headroom() -> None:
    daily = KeyBudget(symbols=4400, keys_per_symbol=19, keys_per_symbol_year=1, goal=100_000)
    assert daily.keys == 83_600 and daily.met
    assert daily.per_added_symbol == 19 and daily.per_added_year == 4400
    assert daily.max_symbols == 5263
    assert daily.years_of_headroom == pytest.approx(16_400 / 4400)
    intraday = KeyBudget(symbols=108, keys_per_symbol=3257, keys_per_symbol_year=365, goal=100_000)
    assert not intraday.met and intraday.years_of_headroom < 0
    assert intraday.max_symbols == 30


def test_date_keys_count_like_the_families() -> None:
    assert date_keys("year", dt.date(2008, 1, 1), DAY) == 19
    assert date_keys("day", dt.date(2018, 1, 1), dt.date(2018, 1, 1)) == 1
    assert date_keys("day", dt.date(2018, 1, 2), dt.date(2018, 1, 1)) == 0
    with pytest.raises(ValueError):
        date_keys("month", DAY, DAY)


def test_budgets_compare_measured_keys_with_the_arithmetic() -> None:
    today = dt.datetime.now(dt.UTC).date()
    years = today.year - 2008 + 1
    probe = {
        "families": {
            "daily": {
                "grain": "year",
                "start": "2008-01-01",
                "symbols_set": "daily_symbols",
                "symbols": 50,
            },
        },
        "assets": {
            "daily_raw_bars": {
                "keys": 50 * years,
                "enumerated_keys": 50 * years,
                "enumerate_s": 0.1,
                "dimensions": ["date", "daily_symbols"],
            },
            "companies": {"keys": 1, "enumerated_keys": 1, "enumerate_s": 0.0, "dimensions": []},
        },
    }
    rows = budgets(probe, goal=100)
    assert rows["daily_raw_bars"]["arithmetic_keys"] == 50 * years
    assert rows["daily_raw_bars"]["per_added_year"] == 50
    assert rows["daily_raw_bars"]["met"] is (50 * years <= 100)
    assert "family" not in rows["companies"]


def test_size_variable(monkeypatch) -> None:
    monkeypatch.setenv("MARKET_ASSETS_BENCH_SCALE_SIZE", "400")
    label, size = chosen_size(smoke=False)
    assert label == "400" and size.scenario.companies == 400 and size.scenario.m1_equities == 100
    assert chosen_size(smoke=True)[0] == "smoke"
    monkeypatch.setenv("MARKET_ASSETS_BENCH_SCALE_SIZE", "lots")
    with pytest.raises(ValueError, match="MARKET_ASSETS_BENCH_SCALE_SIZE"):
        chosen_size(smoke=False)
