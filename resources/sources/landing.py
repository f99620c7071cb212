"""Bars from vendor files dropped in a landing zone (an S3 prefix or a local folder).

Files live under `landing/<vendor>/...` as CSV or Parquet; the vendor folder picks the column
mapping (`landing_vendors.yaml`, with a user's file merged over it: see landing_vendors.py).
Reading a file never repairs anything silently:

* a file that cannot be read as a whole (not CSV/Parquet, not UTF-8, required columns missing,
  a vendor folder with no mapping) raises SourceError(retryable=False) naming the file, since
  retrying the same bytes would fail again and guessing would store wrong bars;
* a file above `MAX_FILE_BYTES`, or with two columns of the same name (pandas would silently
  rename the second `open.1` and use the first), is refused the same way;
* a value that should be a number but does not parse becomes NaN, so the row rules quarantine
  the row as `non_finite`, and the raw text is kept in the scan's `issues` (and in the ledger);
* naive vendor times are localised in the vendor's zone (ambiguous or nonexistent DST times
  become NaT, quarantined as `bad_timestamp`), then converted to UTC;
* `session_date` comes from the symbol's calendar; a row outside every session gets the local
  date in the exchange's zone instead of NaT, so that it reaches a partition and the rules
  quarantine it as `outside_partition` rather than being dropped by grouping;
* a time outside the partitioned range (before its family's start, or after tomorrow, e.g. a
  year 1900 or 9999 typo) would name a partition that does not exist: such a row is
  unassigned (`bad_timestamp`, with the range in the reason), never clipped or dropped;
* rows that cannot be assigned to any partition at all (an unknown vendor symbol, a row with
  neither a timestamp nor a date) are returned as `unassigned` with a rule and a reason; the
  ledger (`market_assets.ohlcv.landing_ledger.record_files`) writes them to quarantine once
  per file.
  Keeping the raw spelling in the bar frame instead would not work: raw_bars groups rows by
  (symbol, session_date), so a row with a symbol no partition asked for would vanish.

A file is authoritative for the partitions it covers: when several files cover one
(symbol, session_date), the newest (last modified, then key) supplies all of its rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from market_assets.core import settings
from market_assets.core.bars import (
    BAR_COLUMNS,
    BAR_PANDAS_DTYPES,
    PRICE_COLUMNS,
    concat_bars,
    session_date_column,
)
from market_assets.core.calendars import (
    bar_session_dates,
    calendar_timezone,
    dated_bar_sessions,
    session_dates_of,
)
from market_assets.core.families import family_for
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import (
    Instrument,
    Universe,
    UnknownSymbolError,
    default_universe,
    symbol_for_jquants_code,
)
from resources.sources.base import BarSource, SourceError, sort_bars
from resources.sources.landing_vendors import VendorSpec, merged_vendors

LANDING_PREFIX = "landing/"
MAX_ISSUES = 100  # per file; the count is exact, the list is a sample
# A file is parsed in memory (about 10x its size at peak): refuse what would exhaust a worker
# rather than let the run die of it. A day of M1 bars for 4,000 codes is about 60 MB.
MAX_FILE_BYTES = 512 * 1024 * 1024
_NUMERIC_FIELDS = (*PRICE_COLUMNS, "volume")


# --- where files live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LandingFile:
    """One version of one file: `etag` changes whenever its content does."""

    key: str  # relative to the store, e.g. "landing/generic/2024-03-11.csv"
    etag: str
    size: int
    last_modified: dt.datetime
    store: FileStore | None = field(default=None, compare=False, repr=False)

    @property
    def vendor(self) -> str:
        parts = PurePosixPath(self.key).parts
        return parts[1] if len(parts) >= 3 and parts[0] == LANDING_PREFIX.strip("/") else ""

    def read(self) -> bytes:
        if self.store is None:
            raise SourceError(f"file {self.key} has no store to read from", source="landing")
        return self.store.read(self.key)


class FileStore(Protocol):
    """The two operations the landing zone needs: list files under a prefix, read one."""

    def list(self, prefix: str) -> list[LandingFile]: ...

    def read(self, key: str) -> bytes: ...


class S3FileStore:
    """Files under a key prefix of an S3Resource (keys are relative to the resource prefix)."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def list(self, prefix: str) -> list[LandingFile]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self.s3.full_key(prefix)
        strip = len(self.s3.full_key("")) if self.s3.prefix.strip("/") else 0
        out: list[LandingFile] = []
        try:
            paginator = self.s3.client().get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.s3.bucket, Prefix=full):
                for obj in page.get("Contents", []):
                    out.append(
                        LandingFile(
                            key=obj["Key"][strip:],
                            etag=str(obj.get("ETag", "")).strip('"'),
                            size=int(obj["Size"]),
                            last_modified=obj["LastModified"],
                            store=self,
                        )
                    )
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(
                f"cannot list {self.s3.address}/{full}: {exc}", source="landing", retryable=True
            ) from exc
        return sorted(out, key=lambda f: f.key)

    def read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self.s3.client().get_object(Bucket=self.s3.bucket, Key=self.s3.full_key(key))
            return bytes(obj["Body"].read())
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(
                f"cannot read {key}: {exc}", source="landing", retryable=True
            ) from exc


class LocalFileStore:
    """Files in a local folder; the etag is a content hash, so an edit in place is a new version."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def list(self, prefix: str) -> list[LandingFile]:
        base = self.root / prefix
        if not base.exists():
            return []
        out = []
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            data = path.read_bytes()
            stat = path.stat()
            out.append(
                LandingFile(
                    key=path.relative_to(self.root).as_posix(),
                    etag=hashlib.sha256(data).hexdigest()[:32],
                    size=len(data),
                    last_modified=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
                    store=self,
                )
            )
        return out

    def read(self, key: str) -> bytes:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise SourceError(f"key escapes the landing folder: {key!r}", source="landing")
        return path.read_bytes()


# --- vendor mappings ----------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _vendors_at(user_file: str | None, stamp: tuple[int, int] | None) -> dict[str, VendorSpec]:
    return merged_vendors(user_file)


def default_vendors() -> dict[str, VendorSpec]:
    """The shipped mappings with the file named by MARKET_ASSETS_LANDING_VENDORS merged over
    them (same format; a vendor of the same name replaces the shipped one, new ones are added).

    Loaded once per version of the user's file (its modification time and size are part of the
    cache key), so a long-lived daemon and `market-assets landing retry` see a fixed mapping
    without a restart. A bad file raises VendorMappingError naming the file, entry and field.
    """
    user_file = settings.env(settings.LANDING_VENDORS)
    stamp = None
    if user_file is not None:
        try:
            stat = Path(user_file).stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None  # merged_vendors names the file it cannot read
    return _vendors_at(user_file, stamp)


# --- reading one file ---------------------------------------------------------------------------


@dataclass
class LandingScan:
    """What one file version holds, split into rows with a partition and rows without one."""

    file: LandingFile
    checksum: str  # sha256 of the bytes read
    rows_total: int
    bars: pd.DataFrame  # bar schema; every row has a symbol in the universe and a session date
    unassigned: pd.DataFrame  # raw rows with `line`, `rule`, `reason`
    issues: list[dict[str, Any]]  # unparseable values: line, column, value (a sample)
    issue_count: int = 0

    def partitions(self) -> list[tuple[dt.date, str]]:
        if self.bars.empty:
            return []
        pairs = {
            (d, str(s)) for s, d in zip(self.bars["symbol"], self.bars["session_date"], strict=True)
        }
        return sorted(pairs)


def _malformed(file: LandingFile, problem: str) -> SourceError:
    return SourceError(f"malformed landing file {file.key}: {problem}", source="landing")


def _refuse_duplicates(file: LandingFile, names: Iterable[object]) -> None:
    seen: set[str] = set()
    twice = sorted({n for n in (str(c).strip() for c in names) if n in seen or seen.add(n)})
    if twice:
        raise _malformed(file, f"duplicate columns {twice[:10]}: which one holds the bars?")


def _read_table(file: LandingFile, data: bytes, spec: VendorSpec) -> pd.DataFrame:
    suffix = PurePosixPath(file.key).suffix.lower()
    if suffix == ".csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _malformed(file, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        if "\x00" in text:
            raise _malformed(file, "binary content (NUL bytes) in a CSV file")
        header = next(csv.reader(io.StringIO(text.partition("\n")[0]), delimiter=spec.sep), [])
        _refuse_duplicates(file, header)
        try:
            # index_col=False: pandas would otherwise take a row with one field too many as a
            # sign that the first column is an index, and shift every column silently; the
            # warning it gives instead (the extra field would be dropped) is made an error.
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return pd.read_csv(
                    io.StringIO(text),
                    sep=spec.sep,
                    dtype=str,
                    keep_default_na=False,
                    index_col=False,
                )
        except pd.errors.ParserWarning:
            raise _malformed(file, "a row has more fields than the header") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise _malformed(file, f"not parseable as CSV: {str(exc).strip()[:200]}") from None
    if suffix == ".parquet":
        try:
            return pq.read_table(pa.BufferReader(data)).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise _malformed(file, f"not a readable Parquet file: {str(exc)[:200]}") from None
    raise _malformed(file, f"unsupported file type {suffix or '(none)'}; expected .csv or .parquet")


def _numeric(raw: pd.Series, column: str, issues: list[dict[str, Any]]) -> np.ndarray:
    """Numbers as float64; text that does not parse becomes NaN and is recorded in `issues`."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.to_numpy(dtype="float64", na_value=np.nan)
    text = raw.astype("string").str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & text.notna() & (text != "") & (text.str.lower() != "nan")
    for i in np.flatnonzero(bad.to_numpy(dtype=bool)):
        issues.append({"line": int(i) + 2, "column": column, "value": str(text.iloc[i])[:80]})
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _timestamps(
    table: pd.DataFrame, spec: VendorSpec, universe: Universe
) -> tuple[pd.DatetimeIndex, pd.Series, np.ndarray]:
    """UTC opening times (NaT where missing/unparseable/ambiguous/out of range), the vendor's
    date text, and a mask of the times outside the partitioned range."""
    cols = spec.columns
    if "timestamp" in cols:
        raw = table[cols["timestamp"]]
        dates = pd.Series([None] * len(table), dtype=object)
    else:
        dates = table[cols["date"]].astype("string").str.strip()
        raw = dates if "time" not in cols else dates + " " + table[cols["time"]].astype("string")
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.DatetimeIndex(raw)
    else:
        text = raw.astype("string").str.strip()
        fmt = spec.datetime_format or "ISO8601"
        try:
            parsed = pd.DatetimeIndex(pd.to_datetime(text, format=fmt, errors="coerce"))
        except (ValueError, TypeError):  # mixed offsets: parse each against UTC
            parsed = pd.DatetimeIndex(pd.to_datetime(text, format=fmt, errors="coerce", utc=True))
    if parsed.tz is None:
        parsed = parsed.tz_localize(spec.timezone, ambiguous="NaT", nonexistent="NaT")
    parsed = parsed.tz_convert("UTC")
    # a bar may open the evening before its session's date
    first, last = _session_range(spec.timeframe, universe)
    lo = pd.Timestamp(first, tz="UTC") - pd.Timedelta(days=1)
    far = np.asarray(
        (parsed < lo) | (parsed >= pd.Timestamp(last, tz="UTC") + pd.Timedelta(days=1))
    )
    return parsed.where(~far).as_unit("ns"), dates, far


def _raw_times(table: pd.DataFrame, spec: VendorSpec, ts: pd.DatetimeIndex) -> np.ndarray:
    """The parsed UTC time as text, or the vendor's own text where it gave no usable time
    (a quarantined row keeps what was delivered, e.g. `9999-12-31 00:00`)."""
    cols = spec.columns
    if "timestamp" in cols:
        raw = table[cols["timestamp"]].astype("string")
    else:
        raw = table[cols["date"]].astype("string")
        if "time" in cols:
            raw = raw + " " + table[cols["time"]].astype("string")
    parsed = pd.Series(ts.astype("string"), index=table.index)
    return parsed.where(parsed.notna(), raw).fillna("").to_numpy(dtype=object)


def _session_range(
    timeframe: Timeframe | str, universe: Universe | None = None
) -> tuple[dt.date, dt.date]:
    """The session dates a landing file may cover: the first partition of the families that
    carry the file's timeframe (intraday from MARKET_ASSETS_INTRADAY_START, daily and coarser
    from MARKET_ASSETS_DAILY_START, a family declared in the universe file from its start; each
    symbol is then held to its own family's start) to tomorrow (UTC), so a vendor in a zone
    ahead of UTC is not refused for a session that has begun there."""
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    declared = [f.start for f in (universe.families if universe else ()) if f.carries(timeframe)]
    return min([family_for(timeframe).start, *declared]), tomorrow


def _dated_bars(
    calendar: str, spec: VendorSpec, ts: pd.DatetimeIndex
) -> tuple[np.ndarray, np.ndarray]:
    """(session_date, ts ns) of D1/W1/MN1 rows: the vendor's date (in its zone) names a day of
    the bar's period (its first day, or with `label: period_end` its last); the bar is filed
    under the period's first session with that session's open as ts (core/calendars.py)."""
    days = ts.tz_convert(spec.timezone).tz_localize(None).normalize()
    return dated_bar_sessions(
        calendar,
        str(spec.timeframe),
        days.values.astype("datetime64[D]"),
        sunday_starts_week=spec.label == "open",
    )


def _resolve_symbols(
    spellings: Iterable[str], spec: VendorSpec, universe: Universe
) -> dict[str, Instrument]:
    found: dict[str, Instrument] = {}
    for s in spellings:
        inst: Instrument | None = None
        try:
            inst = universe.by_vendor(spec.symbol_vendor, s)
        except UnknownSymbolError:
            candidates = []
            if spec.symbol_vendor == "jquants":
                try:
                    candidates.append(symbol_for_jquants_code(s))
                except ValueError:
                    pass
            if spec.canonical_symbols:
                candidates.append(s)
            for c in candidates:
                try:
                    inst = universe.resolve(c)
                    break
                except (UnknownSymbolError, ValueError):
                    continue
        if inst is not None:
            found[s] = inst
    return found


def scan_file(
    file: LandingFile,
    *,
    vendors: dict[str, VendorSpec] | None = None,
    universe: Universe | None = None,
    data: bytes | None = None,
) -> LandingScan:
    """Read and map one file; SourceError(retryable=False) when the file as a whole is unusable."""
    vendors = default_vendors() if vendors is None else vendors
    universe = default_universe() if universe is None else universe
    spec = vendors.get(file.vendor)
    if spec is None:
        raise _malformed(
            file,
            f"no column mapping for vendor folder {file.vendor!r}; known: {sorted(vendors)} "
            f"(add one in a file named by {settings.LANDING_VENDORS})",
        )
    size = file.size if data is None else len(data)
    if size > MAX_FILE_BYTES:
        raise _malformed(
            file, f"{size} bytes, above the landing limit of {MAX_FILE_BYTES}; split the file"
        )
    data = file.read() if data is None else data
    checksum = hashlib.sha256(data).hexdigest()
    table = _read_table(file, data, spec)
    _refuse_duplicates(file, table.columns)
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in spec.required_columns() if c not in table.columns]
    if missing:
        raise _malformed(
            file, f"missing columns {missing} for vendor {spec.name} (found {list(table.columns)})"
        )
    n = len(table)
    if "symbol" in spec.columns:
        spelled = table[spec.columns["symbol"]].astype("string").str.strip().fillna("")
    else:
        match = re.match(spec.symbol_from_filename or "", PurePosixPath(file.key).name)
        if not match:
            raise _malformed(
                file, f"file name does not give a symbol ({spec.symbol_from_filename})"
            )
        spelled = pd.Series([match.group("symbol")] * n, dtype="string")
    issues: list[dict[str, Any]] = []
    numbers = {f: _numeric(table[spec.columns[f]], f, issues) for f in _NUMERIC_FIELDS}
    ts, date_text, far = _timestamps(table, spec, universe)
    if spec.label == "close" and spec.timeframe.minutes:  # labelled by the close
        ts = ts - pd.Timedelta(minutes=spec.timeframe.minutes)

    instruments = _resolve_symbols(sorted(set(spelled)), spec, universe)
    symbol = np.array([instruments[s].symbol if s in instruments else "" for s in spelled], object)
    known = symbol != ""
    session = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    nat = np.asarray(ts.isna())
    ts_ns = ts.asi8.copy()
    for sym in sorted(set(symbol[known])):
        inst = universe.resolve(sym)
        rows = (symbol == sym) & ~nat
        if rows.any():
            local = ts[rows]
            fallback = local.tz_convert(calendar_timezone(inst.calendar)).normalize()
            fallback_days = fallback.tz_localize(None).values.astype("datetime64[D]")
            if spec.timeframe.is_session_based:
                days, opens = _dated_bars(inst.calendar, spec, local)
                ts_ns[rows] = np.where(np.isnat(days), ts_ns[rows], opens)
            else:
                days = bar_session_dates(inst.calendar, spec.timeframe, local)
                inside = session_dates_of(inst.calendar, local, strict=False)
                days = np.where(np.isnat(days), inside, days)
            session[rows] = np.where(np.isnat(days), fallback_days, days)
        undated = (symbol == sym) & nat
        if undated.any():  # a date column without a usable time: keep the row on that date
            session[undated] = pd.to_datetime(
                date_text[undated], errors="coerce", format="mixed"
            ).values.astype("datetime64[D]")
    ts = pd.DatetimeIndex(pd.to_datetime(ts_ns, unit="ns", utc=True)).where(~nat)
    lo, hi = (np.datetime64(d, "D") for d in _session_range(spec.timeframe, universe))
    far |= ~np.isnat(session) & ((session < lo) | (session > hi))
    before_start: list[tuple[np.ndarray, str]] = []
    for sym in sorted(set(symbol[known])):  # a declared family's symbol from its start
        declared = universe.resolve(sym).declared_family
        own = np.datetime64(declared.start, "D") if declared is not None else lo
        if declared is not None and own > lo:
            early = (symbol == sym) & ~np.isnat(session) & (session < own)
            far |= early
            text = f"session before the start {declared.start} of family {declared.name}"
            before_start.append((early, text))
    session[far] = np.datetime64("NaT")
    dated = ~np.isnat(session)

    line = np.arange(n) + 2  # 1-based, after the header
    assigned = known & dated
    bars = pd.DataFrame(
        {
            "symbol": symbol[assigned],
            "timeframe": str(spec.timeframe),
            "ts": ts[assigned],
            "session_date": session_date_column(session[assigned]),
            **{f: numbers[f][assigned] for f in _NUMERIC_FIELDS},
            "adj_factor": 1.0,
            "source": "landing",
        }
    )
    bars = bars.astype({c: BAR_PANDAS_DTYPES[c] for c in ("symbol", "timeframe", "source")})
    bars = bars[list(BAR_COLUMNS)]

    rule = np.where(~known, "unknown_symbol", "bad_timestamp")
    reason = np.where(
        ~known,
        [f"{spec.symbol_vendor} symbol {s!r} is not in the universe" for s in spelled],
        np.where(
            far,
            f"time outside the partitioned range {lo}..{hi} (UTC session dates)",
            "no usable timestamp or date, so no partition",
        ),
    )
    for early, text in before_start:
        reason = np.where(early, text, reason)
    left = ~assigned
    unassigned = pd.DataFrame(
        {
            "line": line[left],
            "symbol": np.asarray(spelled, dtype=object)[left],
            "ts": _raw_times(table, spec, ts)[left],
            **{f: numbers[f][left] for f in _NUMERIC_FIELDS},
            "rule": rule[left],
            "reason": reason[left],
        }
    )
    return LandingScan(
        file=file,
        checksum=checksum,
        rows_total=n,
        bars=sort_bars(bars),
        unassigned=unassigned,
        issues=issues[:MAX_ISSUES],
        issue_count=len(issues),
    )


# --- the source ---------------------------------------------------------------------------------


class LandingSource(BarSource):
    """Bars for the requested partitions from the newest landing file covering each one.

    `keys` limits the source to given files (a sensor passes the files it discovered); without
    it every file under `prefix` is considered. Files are scanned one by one: a malformed file
    (a non-retryable SourceError) is skipped and kept in `rejected` with its reason, so that
    one bad drop cannot hold back the partitions of every other file under the prefix; the
    caller records it in the ledger (`market_assets.ohlcv.landing_ledger.record_rejected`).
    Errors that a retry may cure (the store is unreachable) still raise. Scans are cached per
    (key, etag) for the life of the source.
    """

    name: ClassVar[str] = "landing"

    def __init__(
        self,
        store: FileStore,
        *,
        prefix: str = LANDING_PREFIX,
        keys: Sequence[str] | None = None,
        vendors: dict[str, VendorSpec] | None = None,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.keys = set(keys) if keys is not None else None
        self.vendors = vendors
        self._scans: dict[tuple[str, str], LandingScan] = {}
        self.rejected: dict[tuple[str, str], tuple[LandingFile, str]] = {}

    def scans(self) -> list[LandingScan]:
        files = [f for f in self.store.list(self.prefix) if self.keys is None or f.key in self.keys]
        out = []
        for f in files:
            version = (f.key, f.etag)
            if version in self.rejected:
                continue
            cached = self._scans.get(version)
            if cached is None:
                try:
                    cached = scan_file(f, vendors=self.vendors)
                except SourceError as exc:
                    if exc.retryable:
                        raise
                    self.rejected[version] = (f, str(exc))
                    continue
                self._scans[version] = cached
            out.append(cached)
        return out

    def fetch_many(
        self,
        instruments: Iterable[Instrument],
        session_dates: Sequence[dt.date],
        timeframe: Timeframe | str | None = None,
    ) -> pd.DataFrame:
        instruments = list(instruments)
        wanted = {(d, i.symbol) for i in instruments for d in session_dates}
        owner: dict[tuple[dt.date, str], LandingScan] = {}
        for scan in sorted(self.scans(), key=lambda s: (s.file.last_modified, s.file.key)):
            for pair in scan.partitions():
                if pair in wanted:
                    owner[pair] = scan  # later (newer) files replace earlier ones
        frames = []
        for (day, symbol), scan in sorted(owner.items()):
            inst = next(i for i in instruments if i.symbol == symbol)
            want_tf = Timeframe.parse(timeframe) if timeframe else inst.base_timeframe
            bars = scan.bars
            rows = bars[(bars["symbol"] == symbol) & (bars["session_date"] == day)]
            if (rows["timeframe"] != str(want_tf)).any():
                raise SourceError(
                    f"{scan.file.key} delivers {rows['timeframe'].iloc[0]} bars but {symbol} "
                    f"needs {want_tf}",
                    source=self.name,
                )
            frames.append(rows)
        return sort_bars(concat_bars(frames))
