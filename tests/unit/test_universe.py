from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from market_assets.core.identifiers import InvalidIdentifierError
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import (
    DEFAULT_UNIVERSE_PATH,
    Instrument,
    InstrumentKind,
    UniverseError,
    UnknownSymbolError,
    default_universe,
    equity_instrument,
    jquants_code_for_symbol,
    load_universe,
    parse_universe,
    symbol_for_jquants_code,
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text())


def _with(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc.update(changes)
    return doc


def _with_entry(document: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc["instruments"][index].update(changes)
    return doc


def test_default_universe_contents() -> None:
    u = load_universe()
    assert u.symbols() == [
        "USDJPY",
        "EURUSD",
        "GBPUSD",
        "AUDUSD",
        "EURJPY",
        "N225",
        "SPX",
        "7203",
        "6758",
        "9984",
        "AAPL",
        "MSFT",
    ]
    assert default_universe() is default_universe()
    usdjpy = u.get("USDJPY")
    assert usdjpy.kind is InstrumentKind.FX
    assert usdjpy.calendar == "FX24X5"
    assert usdjpy.tick_size == 0.001
    assert u.get("EURUSD").tick_size == 0.00001
    assert u.get("N225").calendar == "XTKS" and u.get("N225").tick_size == 0.01
    assert u.get("SPX").calendar == "XNYS"
    toyota = u.get("7203")
    assert toyota.calendar == "XTKS" and toyota.currency == "JPY" and toyota.tick_size == 1.0
    assert toyota.base_timeframe is Timeframe.M1 and toyota.source == "generator"
    assert toyota.vendor_symbol("jquants") == "72030"
    assert toyota.vendor_symbol("yfinance") == "7203.T"
    assert u.get("AAPL").tick_size == 0.01 and u.get("AAPL").calendar == "XNYS"
    assert all(i.active for i in u)
    assert len(u) == 12 and "AAPL" in u and "XXX" not in u


def test_get_unknown_symbol() -> None:
    u = default_universe()
    with pytest.raises(UnknownSymbolError, match=r"unknown symbol 'NOPE'.*universe\.yaml"):
        u.get("NOPE")
    with pytest.raises(UnknownSymbolError) as info:
        u.get("X" * 1000)
    assert len(str(info.value)) < 300


def test_by_vendor() -> None:
    u = default_universe()
    assert u.by_vendor("yfinance", "7203.T").symbol == "7203"
    assert u.by_vendor("yfinance", "USDJPY=X").symbol == "USDJPY"
    assert u.by_vendor("yfinance", "^N225").symbol == "N225"
    assert u.by_vendor("yfinance", "^GSPC").symbol == "SPX"
    assert u.by_vendor("jquants", "72030").symbol == "7203"
    with pytest.raises(UnknownSymbolError, match="yfinance"):
        u.by_vendor("yfinance", "7203")
    with pytest.raises(UnknownSymbolError):
        u.by_vendor("jquants", "13010")  # valid code, but not in the file


@pytest.mark.parametrize(
    ("code", "symbol"),
    [("72030", "7203"), ("67580", "6758"), ("130A0", "130A"), ("25935", "25935"), ("7203", "7203")],
)
def test_symbol_for_jquants_code(code: str, symbol: str) -> None:
    assert symbol_for_jquants_code(code) == symbol


@pytest.mark.parametrize("code", ["", "7203.T", "720300", "72-3", "7203a", "abcde", "7203'", None])
def test_symbol_for_jquants_code_rejects(code: object) -> None:
    with pytest.raises(InvalidIdentifierError):
        symbol_for_jquants_code(code)  # type: ignore[arg-type]


def test_jquants_code_for_symbol() -> None:
    assert jquants_code_for_symbol("7203") == "72030"
    assert jquants_code_for_symbol("25935") == "25935"
    with pytest.raises(InvalidIdentifierError):
        jquants_code_for_symbol("AAPL")


def test_equity_instrument_for_unlisted_code() -> None:
    inst = equity_instrument("1301", name="Kyokuyo")
    assert (inst.symbol, inst.calendar, inst.currency, inst.source) == (
        "1301",
        "XTKS",
        "JPY",
        "generator",
    )
    assert inst.base_timeframe is Timeframe.M1 and inst.kind is InstrumentKind.EQUITY
    assert inst.vendor_symbol("jquants") == "13010"
    assert inst.vendor_symbol("yfinance") == "1301.T"
    assert 200 <= inst.start_price <= 20000
    assert equity_instrument("13010") == inst.__class__(**{**inst.__dict__, "name": ""})
    assert equity_instrument("1301").start_price == inst.start_price  # stable
    with pytest.raises(InvalidIdentifierError):
        equity_instrument("../x")


def test_resolve_falls_back_to_new_equity_template() -> None:
    u = default_universe()
    assert u.resolve("7203") is u.get("7203")
    assert u.resolve("1301").calendar == "XTKS"
    with pytest.raises(UnknownSymbolError):
        u.resolve("NOPE")


def test_symbols_active_only(document: dict[str, Any]) -> None:
    u = parse_universe(_with_entry(document, 0, active=False))
    assert "USDJPY" not in u.symbols()
    assert "USDJPY" in u.symbols(active_only=False)
    assert u.get("USDJPY").active is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"calendar": "XMARS"}, "unknown calendar 'XMARS'"),
        ({"kind": "bond"}, "kind 'bond'"),
        ({"symbol": "usd/jpy"}, "invalid symbol"),
        ({"symbol": 7203}, "must be quoted"),
        ({"currency": "yen"}, "ISO 4217"),
        ({"source": "bloomberg"}, "source 'bloomberg'"),
        ({"base_timeframe": "M2"}, "unknown timeframe"),
        (
            {"base_timeframe": "H1", "source": "yfinance"},
            "base_timeframe H1 cannot come from source yfinance, which delivers M1 and D1",
        ),
        ({"start_price": -1}, "start_price must be a positive number"),
        ({"start_price": "150"}, "start_price must be a positive number"),
        ({"tick_size": 0}, "tick_size must be a positive number"),
        ({"vendors": {"reuters": "JPY="}}, "unknown vendor 'reuters'"),
        ({"vendors": {"yfinance": "USD JPY"}}, "vendor symbol"),
        ({"colour": "red"}, "unknown keys \\['colour'\\]"),
        ({"active": "yes please"}, "active must be true or false"),
        ({"currency": "USD"}, "FX symbols are BASEQUOTE"),
    ],
)
def test_invalid_entries(document: dict[str, Any], change: dict[str, Any], message: str) -> None:
    with pytest.raises(UniverseError, match=message):
        parse_universe(_with_entry(document, 0, **change))


def test_missing_required_key(document: dict[str, Any]) -> None:
    doc = copy.deepcopy(document)
    del doc["instruments"][0]["calendar"]
    with pytest.raises(UniverseError, match=r"instruments\[0\] \(USDJPY\): missing required key"):
        parse_universe(doc)


def test_duplicate_symbol_rejected(document: dict[str, Any]) -> None:
    doc = copy.deepcopy(document)
    doc["instruments"].append(copy.deepcopy(doc["instruments"][0]))
    doc["instruments"][-1]["vendors"] = {}
    with pytest.raises(UniverseError, match="duplicate symbol 'USDJPY'"):
        parse_universe(doc)


def test_duplicate_vendor_spelling_rejected(document: dict[str, Any]) -> None:
    with pytest.raises(UniverseError, match=r"USDJPY=X.*both USDJPY and EURJPY"):
        parse_universe(_with_entry(document, 4, vendors={"yfinance": "USDJPY=X"}))


def test_top_level_errors(document: dict[str, Any]) -> None:
    with pytest.raises(UniverseError, match="mapping"):
        parse_universe([1, 2])
    with pytest.raises(UniverseError, match="non-empty list"):
        parse_universe(_with(document, instruments=[]))
    with pytest.raises(UniverseError, match="unknown keys"):
        parse_universe(_with(document, extra=1))
    with pytest.raises(UniverseError, match="version"):
        parse_universe(_with(document, version=2))
    with pytest.raises(UniverseError, match="new_equity"):
        parse_universe(_with(document, new_equity={"calendar": "XTKS", "symbol": "X"}))
    with pytest.raises(UniverseError, match="unknown calendar"):
        parse_universe(_with(document, new_equity={"calendar": "XMARS"}))


def test_load_universe_file_errors(tmp_path: Path, document: dict[str, Any]) -> None:
    with pytest.raises(UniverseError, match="cannot read"):
        load_universe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("instruments: [\n")
    with pytest.raises(UniverseError, match="not valid YAML"):
        load_universe(bad)
    good = tmp_path / "u.yaml"
    good.write_text(yaml.safe_dump(_with_entry(document, 0, calendar="NOPE")))
    with pytest.raises(UniverseError, match=str(good).replace("\\", "\\\\")):
        load_universe(good)


@pytest.mark.parametrize("timeframe", ["M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1", "MN1"])
def test_any_of_the_nine_timeframes_may_be_a_base(document: dict[str, Any], timeframe: str) -> None:
    u = parse_universe(_with_entry(document, 0, base_timeframe=timeframe.lower()))
    assert u.get("USDJPY").base_timeframe is Timeframe.parse(timeframe)


def test_defaults_apply(document: dict[str, Any]) -> None:
    doc = _with(document, defaults={"source": "yfinance", "base_timeframe": "D1"})
    u = parse_universe(doc)
    assert u.get("AAPL").source == "yfinance"
    assert u.get("AAPL").base_timeframe is Timeframe.D1


def test_instrument_is_hashable_and_read_only() -> None:
    inst = default_universe().get("7203")
    assert hash(inst) == hash(default_universe().get("7203"))
    with pytest.raises(TypeError):
        inst.vendor_symbols["jquants"] = "x"  # type: ignore[index]


def test_instrument_direct_construction_validates() -> None:
    with pytest.raises(UniverseError, match="unknown calendar"):
        Instrument(
            symbol="X",
            kind=InstrumentKind.EQUITY,
            calendar="XX",
            currency="USD",
            start_price=1.0,
            tick_size=0.01,
        )


def test_instruments_and_universe_pickle() -> None:
    import pickle

    u = default_universe()
    assert pickle.loads(pickle.dumps(u.get("7203"))) == u.get("7203")
    assert copy.deepcopy(u.get("USDJPY")) == u.get("USDJPY")
    clone = pickle.loads(pickle.dumps(u))
    assert clone.symbols() == u.symbols()
    assert clone.by_vendor("yfinance", "7203.T").symbol == "7203"
    assert pickle.loads(pickle.dumps(Timeframe.H4)) is Timeframe.H4


def test_by_calendar_groups_in_given_order_and_skips_unknown_symbols() -> None:
    universe = default_universe()
    groups = universe.by_calendar(["USDJPY", "7203", "NOPE", "EURUSD", "6758"])
    assert groups["FX24X5"] == ["USDJPY", "EURUSD"]
    assert groups["XTKS"] == ["7203", "6758"]
    assert not any("NOPE" in group for group in groups.values())
