"""Hostile and bad input through the real landing source and row rules (no servers).

The property everywhere: a bad value is refused with a clear message naming the file, or the
row is set aside (unassigned, or a NaN the row rules quarantine) with a reason; nothing is
silently changed, clipped, renamed or dropped. Every row of a file is accounted for:
rows_total = rows in partitions + unassigned rows.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from market_assets.core.row_rules import apply_row_rules
from market_assets.core.universe import default_universe
from resources.sources import landing as landing_source
from resources.sources.base import SourceError
from resources.sources.generator import GeneratorSource
from resources.sources.landing import LandingFile, LandingScan, LocalFileStore, scan_file

ROOT = Path(__file__).resolve().parents[2]
HEADER = ["symbol", "timestamp", "open", "high", "low", "close", "volume"]
GOOD = ["USDJPY", "2024-03-11 00:00", "150.1", "150.2", "150.0", "150.15", "10"]
HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from(list("'\";/\\.._-,\t\n \u00e9\u00fc\uff21\u0667\U0001f600$%{}=")),
    min_size=1,
    max_size=12,
) | st.text(min_size=1, max_size=12)
SOON = dt.datetime.now() + dt.timedelta(days=3)  # past any session a partition can have yet
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _file(key: str, data: bytes) -> LandingFile:
    return LandingFile(key=key, etag="e", size=len(data), last_modified=dt.datetime.now(dt.UTC))


def _csv(rows: list[list[str]], header: list[str] = HEADER, sep: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _scan(data: bytes, key: str = "landing/generic/f.csv") -> LandingScan:
    return scan_file(_file(key, data), data=data)


def _accounted(scan: LandingScan) -> None:
    assert len(scan.bars) + len(scan.unassigned) == scan.rows_total


# --- symbols --------------------------------------------------------------------------------


@FEW
@given(symbol=HOSTILE_TEXT)
def test_hostile_symbols_are_unassigned_with_their_exact_spelling(symbol: str) -> None:
    assume("\x00" not in symbol and "\r" not in symbol)
    spelled = symbol.strip()
    assume(spelled not in {i.symbol for i in default_universe().instruments})
    scan = _scan(_csv([[symbol, *GOOD[1:]], GOOD]))
    _accounted(scan)
    assert scan.partitions() == [(dt.date(2024, 3, 11), "USDJPY")]  # the good row proceeds
    assert len(scan.bars) == 1
    (row,) = scan.unassigned.itertuples()
    assert row.rule == "unknown_symbol"
    assert row.symbol == spelled and repr(spelled) in row.reason  # kept as delivered


# --- file names and vendor folders ------------------------------------------------------------


@FEW
@given(name=HOSTILE_TEXT)
def test_hostile_file_names_never_become_symbols_or_paths(tmp_path_factory, name: str) -> None:  # type: ignore[no-untyped-def]
    assume("/" not in name and "\x00" not in name and name not in (".", ".."))
    root = tmp_path_factory.mktemp("landing")
    folder = root / "landing" / "mt5"
    folder.mkdir(parents=True)
    data = _csv([["2024.03.11", "00:00:00", "1", "2", "0.5", "1.5", "10"]], header=[
        "<DATE>", "<TIME>", "<OPEN>", "<HIGH>", "<LOW>", "<CLOSE>", "<TICKVOL>"
    ], sep="\t")  # fmt: skip
    (folder / f"{name}_M1.csv").write_bytes(data)
    (file,) = LocalFileStore(root).list("landing/")
    try:
        scan = scan_file(file)
    except SourceError as exc:  # the name gives no symbol: refused, naming the file
        assert "file name does not give a symbol" in str(exc) and file.key in str(exc)
        return
    _accounted(scan)
    symbols = set(scan.bars["symbol"]) | set(scan.unassigned["symbol"])
    assert symbols <= {i.symbol for i in default_universe().instruments} | {name.split("_")[0]}


@pytest.mark.parametrize(
    "key",
    [
        "landing/'; DROP TABLE ohlcv_bars; --/f.csv",
        'landing/gen"eric/f.csv',
        "landing/génériqué/f.csv",
        "landing/../generic/f.csv",
    ],
)
def test_unknown_vendor_folder_is_refused_by_name(key: str) -> None:
    with pytest.raises(SourceError, match="no column mapping for vendor folder") as raised:
        _scan(_csv([GOOD]), key)
    assert key in str(raised.value)
    assert raised.value.retryable is False


def test_a_key_cannot_escape_the_local_landing_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("x")
    (tmp_path / "zone").mkdir()
    with pytest.raises(SourceError, match="escapes the landing folder"):
        LocalFileStore(tmp_path / "zone").read("../secret.csv")


# --- sizes and encodings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        (b"", "landing/generic/empty.csv", "not parseable as CSV"),
        (b"", "landing/generic/empty.parquet", "not a readable Parquet file"),
        (b"\x00\x01PAR1", "landing/generic/f.parquet", "not a readable Parquet file"),
        (b"symbol\n", "landing/generic/f.csv", "missing columns"),
        (b"a,b\n1,2\n", "landing/generic/f.txt", "unsupported file type .txt"),
    ],
)
def test_empty_and_truncated_files_are_refused(data: bytes, key: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        _scan(data, key)


def test_a_header_only_file_covers_nothing_and_says_so() -> None:
    scan = _scan(_csv([]))
    assert (scan.rows_total, scan.partitions(), len(scan.unassigned)) == (0, [], 0)


def test_a_file_above_the_size_limit_is_refused_before_reading(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(landing_source, "MAX_FILE_BYTES", 1000)
    data = _csv([GOOD] * 100)
    with pytest.raises(SourceError, match="above the landing limit of 1000; split the file"):
        _scan(data)


def test_a_large_file_is_read_whole() -> None:
    """50,000 rows (2.4 MB): every row is accounted for, none dropped for size."""
    ts = pd.date_range("2024-03-11 00:00", periods=50_000, freq="min").strftime("%Y-%m-%d %H:%M")
    rows = [["USDJPY", t, "150.1", "150.2", "150.0", "150.15", "10"] for t in ts]
    scan = _scan(_csv(rows))
    _accounted(scan)
    assert scan.rows_total == 50_000 and len(scan.bars) == 50_000
    assert len(scan.partitions()) == len({d for d, _ in scan.partitions()}) > 30


@FEW
@given(
    word=st.text(alphabet=st.characters(min_codepoint=0xA0, max_codepoint=0xFF), min_size=1),
    encoding=st.sampled_from(["utf-16", "utf-16-le", "latin-1", "cp1252"]),
)
def test_wrong_encodings_are_refused_or_their_rows_set_aside(word: str, encoding: str) -> None:
    """Bytes that are not UTF-8 are refused; the rare latin-1 bytes that happen to be valid
    UTF-8 decode to other characters, which can then only land as an unknown symbol."""
    try:
        data = _csv([[f"USD{word}", *GOOD[1:]]]).decode().encode(encoding)
    except UnicodeEncodeError:
        assume(False)
        return
    try:
        scan = _scan(data)
    except SourceError as exc:
        assert "not UTF-8" in str(exc) or "NUL bytes" in str(exc)
        return
    _accounted(scan)
    assert scan.bars.empty and set(scan.unassigned["rule"]) == {"unknown_symbol"}


# --- timestamps -----------------------------------------------------------------------------


@FEW
@given(
    when=st.one_of(
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(2019, 12, 30, 12)),
        st.datetimes(min_value=SOON, max_value=dt.datetime(9999, 12, 31)),
    ),
    symbol=st.sampled_from(["USDJPY", "7203"]),
)
def test_times_far_in_the_past_or_future_are_unassigned_with_the_range(
    when: dt.datetime, symbol: str
) -> None:
    text = when.strftime("%Y-%m-%d %H:%M").rjust(16, "0")
    scan = _scan(_csv([[symbol, text, *GOOD[2:]], GOOD]))
    _accounted(scan)
    assert scan.partitions() == [(dt.date(2024, 3, 11), "USDJPY")]
    bad = scan.unassigned[scan.unassigned["symbol"] == symbol]
    bad = bad if symbol != "USDJPY" else scan.unassigned
    (row,) = bad.itertuples()
    assert row.rule == "bad_timestamp" and "outside the partitioned range" in row.reason
    assert row.ts == text  # the delivered text, not a clipped time


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01 00:00", "2024-03-11 25:00", "NaT"])
def test_unparseable_times_are_unassigned(text: str) -> None:
    scan = _scan(_csv([["USDJPY", text, *GOOD[2:]]]))
    (row,) = scan.unassigned.itertuples()
    assert row.rule == "bad_timestamp" and row.ts == text


# --- numbers ----------------------------------------------------------------------------------


@FEW
@given(
    value=st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, min_value=1e-6, max_value=1e9).map(repr),
        st.sampled_from(["1,234.5", "1.234,5", "$12", "12abc", "0x10", "１２", "1e400", "-0", " "]),
        HOSTILE_TEXT,
    )
)
def test_numbers_as_text_parse_exactly_or_become_a_recorded_nan(value: str) -> None:
    assume("\x00" not in value and "\r" not in value and "\n" not in value)
    scan = _scan(_csv([["USDJPY", GOOD[1], value, "1e9", "1e-9", "1", "10"]]))
    _accounted(scan)
    (opened,) = scan.bars["open"]
    try:
        exact = float(value.strip())
    except ValueError:
        exact = math.nan
    if math.isfinite(exact) and value.strip().isascii():
        assert opened == exact  # parsed as written, never rounded or rescaled
    else:  # not a number as written: NaN (quarantined as non_finite), and the text recorded
        assert math.isnan(opened) or not math.isfinite(opened)
        if value.strip() and value.strip().lower() not in ("nan", "inf", "-inf", "1e400"):
            assert any(i["column"] == "open" for i in scan.issues)


def test_numbers_stored_as_strings_in_parquet_are_parsed_not_coerced() -> None:
    table = pa.table(
        {
            "symbol": ["USDJPY", "USDJPY"],
            "timestamp": ["2024-03-11 00:00", "2024-03-11 00:01"],
            "open": ["150.1", "1,50"],
            "high": [150.2, 150.2],
            "low": [150.0, 150.0],
            "close": [True, False],  # a boolean is not a price
            "volume": [10, 10],
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    scan = _scan(sink.getvalue().to_pybytes(), "landing/generic/f.parquet")
    assert scan.bars["open"].iloc[0] == 150.1 and np.isnan(scan.bars["open"].iloc[1])
    assert scan.bars["close"].isna().all()
    assert {(i["column"], i["value"]) for i in scan.issues} >= {("open", "1,50")}


# --- columns ----------------------------------------------------------------------------------


@FEW
@given(dropped=st.sets(st.sampled_from(HEADER), min_size=1, max_size=len(HEADER) - 1))
def test_missing_columns_are_refused_by_name(dropped: set[str]) -> None:
    keep = [i for i, c in enumerate(HEADER) if c not in dropped]
    data = _csv([[GOOD[i] for i in keep]], header=[HEADER[i] for i in keep])
    with pytest.raises(SourceError, match="missing columns") as raised:
        _scan(data)
    assert all(repr(c) in str(raised.value) for c in dropped)


@FEW
@given(extra=st.lists(HOSTILE_TEXT, min_size=1, max_size=3, unique=True))
def test_extra_columns_are_ignored_and_change_nothing(extra: list[str]) -> None:
    names = [e.strip() for e in extra]
    assume(all(n and n not in HEADER for n in names) and len(set(names)) == len(names))
    assume(not any(c in e for e in extra for c in "\x00\r\n"))
    plain = _scan(_csv([GOOD]))
    wider = _scan(_csv([[*GOOD, *("x" * len(extra))]], header=[*HEADER, *extra]))
    pd.testing.assert_frame_equal(plain.bars, wider.bars)


@pytest.mark.parametrize(
    "header",
    [[*HEADER, "open"], [*HEADER[:2], " open", *HEADER[2:]]],
    ids=["repeated", "repeated-after-trim"],
)
def test_duplicate_columns_are_refused_not_silently_renamed(header: list[str]) -> None:
    row = [*GOOD, "999"] if len(header) == len(HEADER) + 1 else [*GOOD[:2], "999", *GOOD[2:]]
    with pytest.raises(SourceError, match=r"duplicate columns \['open'\]"):
        _scan(_csv([row], header=header))


def test_rows_with_too_many_fields_are_refused_and_too_few_quarantined() -> None:
    with pytest.raises(SourceError, match="Expected 7 fields in line 3, saw 8"):
        _scan(_csv([GOOD, [*GOOD, "9"]]))
    with pytest.raises(SourceError, match="a row has more fields than the header"):
        _scan(
            b"symbol,timestamp,open,high,low,close,volume\nUSDJPY,2024-03-11 00:00,1,2,0.5,1,5,9\n"
        )
    short = _scan(b"symbol,timestamp,open,high,low,close,volume\nUSDJPY,2024-03-11 00:00,1,2\n")
    assert short.bars[["low", "close", "volume"]].isna().all(axis=None)  # row rules: non_finite


# --- the row rules on the same hostile values ---------------------------------------------------


@FEW
@given(
    column=st.sampled_from(["open", "high", "low", "close", "volume"]),
    value=st.one_of(
        st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, "12", "abc", None]),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    ts=st.sampled_from(["1677-09-22", "1900-01-01", "2200-01-01", None]),
)
def test_row_rules_quarantine_with_a_reason_and_never_alter_a_passing_row(
    column: str, value: object, ts: str | None
) -> None:
    inst = default_universe().resolve("USDJPY")
    day = dt.date(2024, 3, 11)
    frame = GeneratorSource().fetch_many([inst], [day]).head(5).astype({column: object})
    original = frame.copy()
    frame.loc[0, column] = value
    if ts is not None:
        frame.loc[1, "ts"] = pd.Timestamp(ts, tz="UTC")
    outcome = apply_row_rules(frame, inst, day)
    assert len(outcome.passed) + outcome.rejected_count == len(frame)
    assert (outcome.rejected["reason"] != "").all() and (outcome.rejected["rule"] != "").all()
    if ts is not None:
        assert "outside_partition" in set(outcome.rejected["rule"])
    untouched = original.iloc[2:].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        outcome.passed.tail(len(untouched)).reset_index(drop=True), untouched, check_dtype=False
    )


# --- SQL is never built by formatting values ------------------------------------------------------

_SQL_CALLS = {"execute", "executemany", "copy", "stream"}


def _formatted_sql(node: ast.AST) -> str | None:
    """Why the first argument of an execute-like call is built by string formatting, if it is."""
    if isinstance(node, ast.JoinedStr):
        return "f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        if any(isinstance(n, (ast.Constant, ast.JoinedStr)) and isinstance(
            getattr(n, "value", ""), str) for n in (node.left, node.right)):  # fmt: skip
            return "% or + on a string"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
    ):
        return "str.format"
    return None


def test_no_sql_is_built_by_formatting_strings() -> None:
    """Values are bind parameters; identifiers go through psycopg.sql (Identifier) after the
    allow-lists in market_assets/core/identifiers.py. A formatted string passed to execute() would
    be the first step towards injection, so none may exist in the project's code."""
    offenders = []
    for folder in ("market_assets", "resources", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _SQL_CALLS
                    and node.args
                ):
                    why = _formatted_sql(node.args[0])
                    if why:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} ({why})")
    assert offenders == []


def test_a_session_just_before_the_first_partition_is_unassigned_not_moved() -> None:
    """23:00 UTC on 30 Dec 2019 opens the FX session of the 31st, one day before the first
    partition: the row must not slide into 1 January."""
    scan = _scan(_csv([["USDJPY", "2019-12-30 23:00", *GOOD[2:]]]))
    (row,) = scan.unassigned.itertuples()
    assert row.rule == "bad_timestamp" and "outside the partitioned range" in row.reason
    assert scan.partitions() == []
