from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_assets.core.identifiers import (
    SYMBOL_PATTERN,
    InvalidIdentifierError,
    validate_s3_key,
    validate_s3_prefix,
    validate_sql_identifier,
    validate_symbol,
)

HOSTILE = [
    "",
    " ",
    "7203 ",
    "usdjpy",
    "A'B",
    'A"B',
    "A;B",
    "A/B",
    "A\\B",
    "../etc",
    "A B",
    "A\nB",
    "AAPL\n",
    "A\x00B",
    "ＡＡＰＬ",  # full-width letters
    "ÄPFEL",
    "٧٢٠٣",  # Arabic-Indic digits
    "A:B",
    "A*",
    "-A",
    ".A",
    "_A",
    "A" * 33,
    "1; DROP TABLE bars; --",
]


@pytest.mark.parametrize(
    "symbol", ["7203", "USDJPY", "N225", "BRK.B", "BF-B", "A_1", "A" * 32, "130A", "0"]
)
def test_valid_symbols(symbol: str) -> None:
    assert validate_symbol(symbol) == symbol


@pytest.mark.parametrize("symbol", HOSTILE)
def test_hostile_symbols_rejected(symbol: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="invalid symbol"):
        validate_symbol(symbol)


@pytest.mark.parametrize("value", [None, 7203, b"7203", ["A"]])
def test_non_strings_rejected(value: object) -> None:
    with pytest.raises(InvalidIdentifierError, match="must be a string"):
        validate_symbol(value)


def test_invalid_identifier_is_value_error() -> None:
    assert issubclass(InvalidIdentifierError, ValueError)
    assert SYMBOL_PATTERN == r"^[A-Z0-9][A-Z0-9._-]{0,31}$"


def test_message_truncates_and_escapes_hostile_input() -> None:
    hostile = "\x1b[31m" + "X" * 5000 + "\nINJECTED"
    with pytest.raises(InvalidIdentifierError) as info:
        validate_symbol(hostile)
    message = str(info.value)
    assert len(message) < 250
    assert "\x1b" not in message and "\n" not in message
    assert "INJECTED" not in message
    assert "5014 chars" in message


_SYMBOL_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_validate_symbol_property(text: str) -> None:
    """Accepts exactly the ASCII allow-list; anything else raises with a short message."""
    expected = bool(_SYMBOL_RE.fullmatch(text))
    try:
        assert validate_symbol(text) == text
        accepted = True
    except InvalidIdentifierError as exc:
        accepted = False
        assert len(str(exc)) < 250
    assert accepted == expected


@settings(max_examples=200, deadline=None)
@given(st.from_regex(_SYMBOL_RE, fullmatch=True))
def test_every_pattern_match_is_accepted(symbol: str) -> None:
    assert validate_symbol(symbol) == symbol


@pytest.mark.parametrize("name", ["market", "_t", "ohlcv_bars", "test_schema_01", "a" * 63])
def test_sql_identifiers(name: str) -> None:
    assert validate_sql_identifier(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Market",
        "1abc",
        "a-b",
        "a b",
        'a"b',
        "a;b",
        "a.b",
        "a" * 64,
        "märket",
        "public\n",
        "x'; drop schema market cascade; --",
    ],
)
def test_bad_sql_identifiers(name: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="invalid SQL identifier"):
        validate_sql_identifier(name)


@pytest.mark.parametrize(
    "prefix",
    ["", "raw", "raw/", "raw/bars", "raw/bars/date=2024-01-01/symbol=7203/", "env_test-1.2/x"],
)
def test_s3_prefixes(prefix: str) -> None:
    assert validate_s3_prefix(prefix) == prefix


@pytest.mark.parametrize(
    "prefix",
    [
        "/raw",
        "raw/../secret",
        "..",
        "../x",
        "raw//x",
        "./raw",
        "raw/./x",
        "raw\\x",
        "raw x",
        "raw?x",
        "raw#x",
        "raw%2F",
        "ｒａｗ",
        "raw\n",
        "a" * 1025,
    ],
)
def test_bad_s3_prefixes(prefix: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="invalid S3 prefix"):
        validate_s3_prefix(prefix)


def test_s3_key() -> None:
    assert validate_s3_key("raw/bars/part.parquet") == "raw/bars/part.parquet"
    for bad in ("", "raw/", "/raw/x"):
        with pytest.raises(InvalidIdentifierError):
            validate_s3_key(bad)
