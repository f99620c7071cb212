"""Allow-lists for every identifier that ends up in SQL, S3 keys, Redis keys or file paths.

Symbols, schema names and key prefixes reach places where escaping is easy to forget (an f-string
building a Redis key, an S3 prefix, an identifier that cannot be a bind parameter). Validating
them once against a narrow allow-list at the boundary makes every later use safe by
construction. Patterns are matched with `re.fullmatch`, never `re.match` + `$`, because `$` also
matches before a trailing newline.

Error messages show at most a short `repr` of the rejected value: hostile input may be huge or
contain control characters, and it ends up in logs and in the Dagster UI.
"""

from __future__ import annotations

import re

SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9._-]{0,31}$"
SQL_IDENTIFIER_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
# Hive-style partition keys need '='; everything else is the S3 "safe characters" set.
S3_PREFIX_PATTERN = r"^[A-Za-z0-9._=/-]*$"
S3_MAX_KEY_LENGTH = 1024

_SYMBOL_RE = re.compile(SYMBOL_PATTERN.strip("^$"))
_SQL_RE = re.compile(SQL_IDENTIFIER_PATTERN.strip("^$"))
_S3_RE = re.compile(S3_PREFIX_PATTERN.strip("^$"))

_SHOWN_CHARS = 40


class InvalidIdentifierError(ValueError):
    """An identifier failed its allow-list; the message never echoes more than a short repr."""


def describe(value: object) -> str:
    """A log-safe description of untrusted input: a truncated repr (escapes control chars)."""
    if not isinstance(value, str):
        return f"a {type(value).__name__}"
    n = min(len(value), _SHOWN_CHARS)
    shown = repr(value[:n])
    while len(shown) > _SHOWN_CHARS + 22:  # escapes (\U0001f600) may blow up the repr
        n -= 1
        shown = repr(value[:n])
    return shown if n == len(value) else f"{shown}... ({len(value)} chars)"


def _require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifierError(f"{what} must be a string, got {describe(value)}")
    return value


def validate_symbol(value: object) -> str:
    """Return `value` unchanged if it is a canonical symbol (upper case, digits, '._-')."""
    s = _require_str(value, "symbol")
    if not _SYMBOL_RE.fullmatch(s):
        raise InvalidIdentifierError(
            f"invalid symbol {describe(s)}: symbols are 1-32 characters of A-Z, 0-9, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return s


def validate_sql_identifier(value: object) -> str:
    """Return `value` unchanged if it is safe to splice into SQL as a schema or table name."""
    s = _require_str(value, "SQL identifier")
    if not _SQL_RE.fullmatch(s):
        raise InvalidIdentifierError(
            f"invalid SQL identifier {describe(s)}: use 1-63 characters of a-z, 0-9 and '_', "
            "not starting with a digit"
        )
    return s


def validate_s3_prefix(value: object) -> str:
    """Return `value` unchanged if it is a safe, relative S3 key prefix ('' means bucket root).

    Rejects '..' and '.' segments, empty segments ('//') and a leading '/', so that a prefix
    cannot escape its area when a local filesystem or a path-normalising gateway serves it.
    """
    s = _require_str(value, "S3 prefix")
    if len(s) > S3_MAX_KEY_LENGTH or not _S3_RE.fullmatch(s):
        raise InvalidIdentifierError(
            f"invalid S3 prefix {describe(s)}: use A-Z, a-z, 0-9 and '._=/-' only "
            f"(at most {S3_MAX_KEY_LENGTH} characters)"
        )
    if s.startswith("/"):
        raise InvalidIdentifierError(f"invalid S3 prefix {describe(s)}: must not start with '/'")
    segments = s.split("/")
    if s.endswith("/"):
        segments = segments[:-1]
    if s and any(seg in ("", ".", "..") for seg in segments):
        raise InvalidIdentifierError(
            f"invalid S3 prefix {describe(s)}: no empty, '.' or '..' path segments"
        )
    return s


def validate_s3_key(value: object) -> str:
    """Like `validate_s3_prefix`, for a full object key: non-empty, no trailing '/'."""
    s = validate_s3_prefix(value)
    if not s or s.endswith("/"):
        raise InvalidIdentifierError(
            f"invalid S3 key {describe(s)}: must be non-empty and not end with '/'"
        )
    return s
