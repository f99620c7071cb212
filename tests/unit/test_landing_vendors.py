"""Vendor mappings: the user's file (MARKET_ASSETS_LANDING_VENDORS) merged over the shipped one,
and errors that name the file, the vendor entry and the field."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from market_assets.core import settings as s
from market_assets.core.timeframes import Timeframe
from resources.sources.base import SourceError
from resources.sources.landing import LandingFile, default_vendors, scan_file
from resources.sources.landing_vendors import (
    SHIPPED_VENDORS_FILE,
    VendorMappingError,
    load_vendor_file,
    merged_vendors,
    parse_vendors,
)

ACME = {
    "timezone": "Asia/Tokyo",
    "timeframe": "M1",
    "columns": {
        "symbol": "Ticker",
        "timestamp": "Time",
        "open": "O",
        "high": "H",
        "low": "L",
        "close": "C",
        "volume": "V",
    },
}


def _write(tmp_path: Path, vendors: dict[str, Any], name: str = "vendors.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"version": 1, "vendors": vendors}), encoding="utf-8")
    return path


def test_shipped_file_loads_with_every_check() -> None:
    vendors = load_vendor_file(SHIPPED_VENDORS_FILE)
    assert sorted(vendors) == ["generic", "jquants_csv", "mt5"]
    assert vendors["mt5"].sep == "\t" and vendors["jquants_csv"].symbol_vendor == "jquants"


def test_user_file_adds_vendors_and_replaces_those_of_the_same_name(tmp_path: Path) -> None:
    generic = {**ACME, "timezone": "Europe/London", "columns": {**ACME["columns"]}}
    path = _write(tmp_path, {"acme": ACME, "generic": generic})
    vendors = merged_vendors(path)
    assert sorted(vendors) == ["acme", "generic", "jquants_csv", "mt5"]
    assert vendors["acme"].timezone == "Asia/Tokyo" and vendors["acme"].columns["open"] == "O"
    # Replaced as a whole: the shipped `generic` columns are gone, not merged field by field.
    assert vendors["generic"].timezone == "Europe/London"
    assert vendors["generic"].columns["symbol"] == "Ticker"
    assert vendors["mt5"] == load_vendor_file(SHIPPED_VENDORS_FILE)["mt5"]


def test_default_vendors_follows_the_variable_and_edits_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(s.LANDING_VENDORS, raising=False)
    assert sorted(default_vendors()) == ["generic", "jquants_csv", "mt5"]
    path = _write(tmp_path, {"acme": ACME})
    monkeypatch.setenv(s.LANDING_VENDORS, str(path))
    assert "acme" in default_vendors()
    _write(tmp_path, {"acme": {**ACME, "timezone": "UTC"}, "other": ACME})  # edited in place
    assert default_vendors()["acme"].timezone == "UTC" and "other" in default_vendors()


def test_a_file_of_an_unknown_vendor_names_the_variable(tmp_path: Path) -> None:
    file = LandingFile("landing/acme/x.csv", "e", 10, dt.datetime(2024, 3, 11, tzinfo=dt.UTC))
    with pytest.raises(SourceError, match=s.LANDING_VENDORS):
        scan_file(file, vendors=load_vendor_file(SHIPPED_VENDORS_FILE), data=b"a\n1\n")


def _changed(change: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    entry = copy.deepcopy(ACME)
    entry.update(change)
    for key in drop:
        entry.pop(key)
    return entry


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        (_changed({}, drop=("timezone",)), "timezone", "missing"),
        (_changed({"timezone": "Mars/Olympus"}), "timezone", "unknown zone 'Mars/Olympus'"),
        (_changed({"timezone": 9}), "timezone", "got 9"),
        (_changed({"timeframe": "M7"}), "timeframe", "unknown timeframe 'M7'"),
        (_changed({"timeframe": 60}), "timeframe", "unknown timeframe int"),
        (_changed({"colums": {}}), "unknown keys", "'colums'"),
        (_changed({"label": "middle"}), "label", "open, close or period_end, got 'middle'"),
        (_changed({"label": "period_end"}), "label", "period_end is for D1, W1 or MN1"),
        (_changed({"timeframe": "D1", "label": "close"}), "label", "close is for intraday"),
        (_changed({"canonical_symbols": "yes"}), "canonical_symbols", "true or false"),
        (_changed({"symbol_vendor": "bloomberg"}), "symbol_vendor", "is not one of"),
        (_changed({"symbol_from_filename": "^(?P<sym>x)"}), "symbol_from_filename", "group"),
        (_changed({"symbol_from_filename": "("}), "symbol_from_filename", "not a regex"),
        (_changed({"csv": {"sep": ";;"}}), "csv.sep", "one character"),
        (_changed({"csv": {"quote": "'"}}), "csv", "only `sep`"),
        (_changed({"datetime_format": 5}), "datetime_format", "a strptime format"),
        (_changed({"columns": ["O", "H"]}), "columns", "expected a mapping"),
        (_changed({"columns": {**ACME["columns"], "vwap": "W"}}), "columns.vwap", "unknown"),
        (_changed({"columns": {**ACME["columns"], "open": 3}}), "columns.open", "column name"),
        (
            _changed({"columns": {k: v for k, v in ACME["columns"].items() if k != "close"}}),
            "columns",
            "no vendor column for ['close']",
        ),
        (
            _changed({"columns": {**ACME["columns"], "date": "D"}}),
            "columns",
            "not both",
        ),
    ],
)
def test_every_field_is_checked_and_the_error_names_file_entry_and_field(
    tmp_path: Path, entry: dict[str, Any], field: str, message: str
) -> None:
    path = _write(tmp_path, {"acme": entry})
    with pytest.raises(VendorMappingError) as caught:
        merged_vendors(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: vendor 'acme': {field}"), text
    assert message in text


def test_document_level_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(VendorMappingError, match=f"cannot read vendor-mapping file {missing}"):
        merged_vendors(missing)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("vendors: [unclosed", encoding="utf-8")
    with pytest.raises(VendorMappingError, match=f"{bad_yaml}: not valid YAML"):
        merged_vendors(bad_yaml)
    for document, message in (
        ({"vendor": {}}, "expected a mapping with a 'vendors' table"),
        ({"vendors": {}, "extra": 1}, "unknown top-level keys ['extra']"),
        ({"version": 2, "vendors": {}}, "version: 2 is not 1"),
        ({"vendors": {"a/b": ACME}}, "vendor 'a/b': the name is the folder"),
        ({"vendors": {"acme": "UTC"}}, "vendor 'acme': expected a mapping"),
    ):
        path = tmp_path / "doc.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        with pytest.raises(VendorMappingError) as caught:
            merged_vendors(path)
        assert str(caught.value).startswith(str(path)) and message in str(caught.value)


@pytest.mark.parametrize("timeframe", ["M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1", "MN1"])
def test_a_vendor_may_deliver_any_base_timeframe(tmp_path: Path, timeframe: str) -> None:
    path = _write(tmp_path, {"acme": _changed({"timeframe": timeframe})})
    assert merged_vendors(path)["acme"].timeframe is Timeframe.parse(timeframe)


@pytest.mark.parametrize(
    ("timeframe", "label"),
    [("M1", None), ("H1", "close"), ("D1", "period_end"), ("MN1", "period_end"), ("W1", "open")],
)
def test_label_defaults_to_open_and_fits_the_timeframe(
    tmp_path: Path, timeframe: str, label: str | None
) -> None:
    change = {"timeframe": timeframe, **({"label": label} if label else {})}
    spec = merged_vendors(_write(tmp_path, {"acme": _changed(change)}))["acme"]
    assert spec.label == (label or "open")


def test_a_user_file_may_add_nothing(tmp_path: Path) -> None:
    assert sorted(merged_vendors(_write(tmp_path, {}))) == ["generic", "jquants_csv", "mt5"]
    assert merged_vendors(_write(tmp_path, {"acme": ACME}))["acme"].timeframe is Timeframe.M1


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
PRICED = {c: c for c in ("open", "high", "low", "close", "volume")}


def _scan(vendor: dict[str, Any], key: str, data: bytes):  # type: ignore[no-untyped-def]
    file = LandingFile(key, "e", len(data), dt.datetime(2024, 3, 11, tzinfo=dt.UTC))
    return scan_file(file, vendors={key.split("/")[1]: _spec(vendor, key)}, data=data)


def _spec(vendor: dict[str, Any], key: str):  # type: ignore[no-untyped-def]
    return parse_vendors({"vendors": {key.split("/")[1]: vendor}})[key.split("/")[1]]


def test_hourly_bars_labelled_by_their_close_open_an_hour_earlier() -> None:
    vendor = {
        "timezone": "UTC",
        "timeframe": "H1",
        "label": "close",
        "columns": {"symbol": "pair", "timestamp": "time", **PRICED},
    }
    scan = _scan(
        vendor, "landing/hourly/eurusd.csv", (FIXTURES / "eurusd_h1_close.csv").read_bytes()
    )
    bars = scan.bars
    assert (bars["timeframe"] == "H1").all()
    assert [str(t) for t in bars["ts"]] == [
        "2024-03-10 21:00:00+00:00",  # New York summer time: Monday's session opens 21:00 UTC
        "2024-03-10 22:00:00+00:00",
        "2024-03-11 20:00:00+00:00",
        "2024-03-11 20:30:00+00:00",  # off the hourly grid: its partition's rules reject it
    ]
    assert [str(d) for d in bars["session_date"]] == ["2024-03-11"] * 4


@pytest.mark.parametrize(
    ("timeframe", "label", "date", "session", "ts"),
    [
        ("D1", "period_end", "2024-01-31", "2024-01-31", "2024-01-31 14:30"),
        ("MN1", "period_end", "2024-01-31", "2024-01-02", "2024-01-02 14:30"),
        ("MN1", "open", "2024-01-01", "2024-01-02", "2024-01-02 14:30"),
        ("W1", "period_end", "2024-01-07", "2024-01-02", "2024-01-02 14:30"),
        ("W1", "open", "2024-01-07", "2024-01-08", "2024-01-08 14:30"),  # a Sunday-start week
    ],
)
def test_dated_bars_are_filed_under_the_first_session_of_their_period(
    timeframe: str, label: str, date: str, session: str, ts: str
) -> None:
    vendor = {
        "timezone": "America/New_York",
        "timeframe": timeframe,
        "label": label,
        "columns": {"symbol": "ticker", "date": "day", **PRICED},
    }
    data = f"ticker,day,open,high,low,close,volume\nAAPL,{date},185.5,190.25,180.0,188.0,1e6\n"
    bars = _scan(vendor, "landing/daily/aapl.csv", data.encode()).bars
    assert str(bars["session_date"].iloc[0]) == session
    assert bars["ts"].iloc[0] == pd.Timestamp(ts, tz="UTC")
