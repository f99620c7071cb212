"""Vendor column mappings of the landing zone: the shipped file, and a user's file over it.

A vendor folder `landing/<vendor>/` picks one mapping. The project ships some in
`landing_vendors.yaml`; a user adds or fixes vendors in a file of their own, named by
MARKET_ASSETS_LANDING_VENDORS, without editing the package: its vendors are merged over the
shipped ones (a vendor of the same name replaces the shipped entry as a whole, new names are
added). Every field of every entry is checked when a file loads, because a wrong mapping would
otherwise surface as a rejected file (or wrong bars) much later; errors name the file, the
vendor entry and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from market_assets.core.bars import PRICE_COLUMNS
from market_assets.core.identifiers import describe
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import BASE_TIMEFRAMES, VENDORS

SHIPPED_VENDORS_FILE = Path(__file__).with_name("landing_vendors.yaml")

# Bar fields a mapping may name a vendor column for.
COLUMN_FIELDS = ("symbol", "timestamp", "date", "time", *PRICE_COLUMNS, "volume")
_ENTRY_KEYS = {
    "timezone": "an IANA zone name, e.g. Asia/Tokyo",
    "timeframe": "a base timeframe: M1, M5, M15, M30, H1, H4, D1, W1 or MN1",
    "symbol_vendor": f"one of {list(VENDORS)}",
    "canonical_symbols": "true or false",
    "symbol_from_filename": "a regex with a (?P<symbol>...) group",
    "csv": "a mapping with `sep`",
    "columns": "bar field -> vendor column",
    "datetime_format": "a strptime format",
    "label": "open, close or period_end",
}
LABELS = ("open", "close", "period_end")
_VENDOR_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _shown(value: object) -> str:
    """A short, log-safe rendering of a value from the file (a number or flag as written)."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return describe(value)


class VendorMappingError(ValueError):
    """A vendor-mapping file (or one of its entries) is invalid."""


@dataclass(frozen=True)
class VendorSpec:
    name: str
    timezone: str
    timeframe: Timeframe
    columns: dict[str, str]
    symbol_vendor: str = "landing"
    canonical_symbols: bool = True
    symbol_from_filename: str | None = None
    sep: str = ","
    datetime_format: str | None = None
    # What a vendor time labels: a bar's open (default), an intraday bar's close (ts = label -
    # length) or, for D1/W1/MN1, the last day inside the period (2012-01-31 for January).
    label: str = "open"

    def required_columns(self) -> list[str]:
        return list(self.columns.values())


def _text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise VendorMappingError(
            f"{where}: {key}: expected {_ENTRY_KEYS[key]}, got {_shown(value)}"
        )
    return value


def _timezone(entry: Mapping[str, Any], where: str) -> str:
    zone = _text(entry, "timezone", where)
    if zone is None:
        raise VendorMappingError(f"{where}: timezone: missing (zone of naive vendor times)")
    try:
        pd.Timestamp("2024-01-01").tz_localize(zone)
    except Exception:  # pytz/zoneinfo raise several kinds for an unknown name
        raise VendorMappingError(
            f"{where}: timezone: unknown zone {_shown(zone)}; expected {_ENTRY_KEYS['timezone']}"
        ) from None
    return zone


def _timeframe(entry: Mapping[str, Any], where: str) -> Timeframe:
    raw = entry.get("timeframe", "M1")
    try:
        tf = Timeframe.parse(raw)
    except ValueError as exc:
        raise VendorMappingError(f"{where}: timeframe: {exc}") from None
    if tf not in BASE_TIMEFRAMES:
        raise VendorMappingError(
            f"{where}: timeframe: {tf} is not a base timeframe; expected {_ENTRY_KEYS['timeframe']}"
        )
    return tf


def _label(entry: Mapping[str, Any], timeframe: Timeframe, where: str) -> str:
    label = entry.get("label", "open")
    if label not in LABELS:
        raise VendorMappingError(
            f"{where}: label: expected {_ENTRY_KEYS['label']}, got {_shown(label)}"
        )
    if label == "close" and not timeframe.is_intraday:
        raise VendorMappingError(
            f"{where}: label: close is for intraday bars (M1..H4); {timeframe} bars are dated "
            "by their period: use open or period_end"
        )
    if label == "period_end" and timeframe.is_intraday:
        raise VendorMappingError(
            f"{where}: label: period_end is for D1, W1 or MN1 bars; {timeframe} bars are "
            "labelled by their open or close"
        )
    return str(label)


def _columns(entry: Mapping[str, Any], where: str) -> dict[str, str]:
    cols = entry.get("columns")
    if not isinstance(cols, dict) or not cols:
        raise VendorMappingError(
            f"{where}: columns: expected a mapping of bar field -> vendor column, got "
            f"{_shown(cols)}"
        )
    for field_name, column in cols.items():
        if field_name not in COLUMN_FIELDS:
            raise VendorMappingError(
                f"{where}: columns.{field_name}: unknown bar field; allowed are "
                f"{list(COLUMN_FIELDS)}"
            )
        if not isinstance(column, str) or not column.strip():
            raise VendorMappingError(
                f"{where}: columns.{field_name}: expected a vendor column name, got "
                f"{_shown(column)}"
            )
    missing = [c for c in (*PRICE_COLUMNS, "volume") if c not in cols]
    if "timestamp" not in cols and "date" not in cols:
        missing.append("timestamp|date")
    if "symbol" not in cols and not entry.get("symbol_from_filename"):
        missing.append("symbol|symbol_from_filename")
    if missing:
        raise VendorMappingError(f"{where}: columns: no vendor column for {missing}")
    if "timestamp" in cols and ("date" in cols or "time" in cols):
        raise VendorMappingError(
            f"{where}: columns: map either `timestamp` or `date` (+ `time`), not both"
        )
    if "time" in cols and "date" not in cols:
        raise VendorMappingError(f"{where}: columns.time: needs `date` beside it")
    return {str(k): str(v) for k, v in cols.items()}


def _spec(name: Any, entry: Any, origin: str) -> VendorSpec:
    where = f"{origin}: vendor {_shown(name)}"
    if not isinstance(name, str) or not _VENDOR_NAME_RE.fullmatch(name):
        raise VendorMappingError(
            f"{where}: the name is the folder under landing/: 1-64 characters of A-Z, a-z, "
            "0-9, '.', '_' or '-'"
        )
    if not isinstance(entry, dict):
        raise VendorMappingError(f"{where}: expected a mapping, got {_shown(entry)}")
    unknown = sorted(str(k) for k in entry if k not in _ENTRY_KEYS)
    if unknown:
        raise VendorMappingError(
            f"{where}: unknown keys {unknown}; allowed are {sorted(_ENTRY_KEYS)}"
        )
    symbol_vendor = entry.get("symbol_vendor", "landing")
    if symbol_vendor not in VENDORS:
        raise VendorMappingError(
            f"{where}: symbol_vendor: {_shown(symbol_vendor)} is not one of {list(VENDORS)}"
        )
    canonical = entry.get("canonical_symbols", True)
    if not isinstance(canonical, bool):
        raise VendorMappingError(
            f"{where}: canonical_symbols: expected true or false, got {_shown(canonical)}"
        )
    pattern = _text(entry, "symbol_from_filename", where)
    if pattern is not None:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise VendorMappingError(f"{where}: symbol_from_filename: not a regex: {exc}") from None
        if "symbol" not in compiled.groupindex:
            raise VendorMappingError(
                f"{where}: symbol_from_filename: needs a (?P<symbol>...) group"
            )
    csv_options = entry.get("csv") or {}
    if not isinstance(csv_options, dict) or sorted(csv_options) not in ([], ["sep"]):
        raise VendorMappingError(f"{where}: csv: expected a mapping with only `sep`")
    sep = csv_options.get("sep", ",")
    if not isinstance(sep, str) or len(sep) != 1:
        raise VendorMappingError(f"{where}: csv.sep: expected one character, got {_shown(sep)}")
    timeframe = _timeframe(entry, where)
    return VendorSpec(
        name=name,
        timezone=_timezone(entry, where),
        timeframe=timeframe,
        label=_label(entry, timeframe, where),
        columns=_columns(entry, where),
        symbol_vendor=symbol_vendor,
        canonical_symbols=canonical,
        symbol_from_filename=pattern,
        sep=sep,
        datetime_format=_text(entry, "datetime_format", where),
    )


def parse_vendors(data: Any, origin: str = "<vendors>") -> dict[str, VendorSpec]:
    """Validate a mapping document (`version: 1`, a `vendors` table): every entry, every field."""
    if not isinstance(data, dict) or not isinstance(data.get("vendors"), dict):
        raise VendorMappingError(f"{origin}: expected a mapping with a 'vendors' table")
    unknown = sorted(str(k) for k in data if k not in ("version", "vendors"))
    if unknown:
        raise VendorMappingError(
            f"{origin}: unknown top-level keys {unknown}; allowed are ['vendors', 'version']"
        )
    if data.get("version", 1) != 1:
        raise VendorMappingError(f"{origin}: version: {_shown(data.get('version'))} is not 1")
    return {name: _spec(name, entry, origin) for name, entry in data["vendors"].items()}


def load_vendor_file(path: str | Path) -> dict[str, VendorSpec]:
    """Read and validate one mapping file; errors name the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise VendorMappingError(f"cannot read vendor-mapping file {p}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise VendorMappingError(f"{p}: not UTF-8 text ({exc.reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VendorMappingError(f"{p}: not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_vendors(data, str(p))


def merged_vendors(user_file: str | Path | None) -> dict[str, VendorSpec]:
    """The shipped mappings with the user's file (if any) merged over them, by vendor name."""
    vendors = load_vendor_file(SHIPPED_VENDORS_FILE)
    if user_file is not None:
        vendors.update(load_vendor_file(user_file))
    return vendors
