"""Judging listed-company records: usable rows for the master, or quarantine with a reason.

A source record is one dict in J-Quants' listed/info layout. A bad record (a missing field, an
unknown sector or market code, a code that appears twice) is held back with its rule and the
rest proceed; its code, when readable, is "held": the sync leaves that company as it was
instead of deactivating it, since the source did list it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from market_assets.core.identifiers import InvalidIdentifierError
from market_assets.core.universe import symbol_for_jquants_code

# J-Quants codes: 5 characters (4-character TSE code + a 5th, '0' for ordinary shares);
# 4-character codes are accepted as given. New TSE codes contain letters ('130A0').
CODE_RE = re.compile(r"[0-9][0-9A-Z]{3}[0-9A-Z]?")
REQUIRED_FIELDS = ("Code", "Date", "CompanyName", "Sector17Code", "Sector33Code", "MarketCode")
OPTIONAL_FIELDS = ("CompanyNameEnglish", "ScaleCategory", "MarginCode")
MAX_TEXT = 200

# Fields whose change makes a company "updated" (reference_date moves every day and is not
# a change of the company).
CONTENT_FIELDS = (
    "company_name",
    "company_name_english",
    "sector17_code",
    "sector33_code",
    "market_code",
    "scale_category",
    "margin_code",
)


@dataclass(frozen=True)
class CompanyRow:
    """One company as the master stores it (codes as J-Quants gives them)."""

    code: str
    company_name: str
    company_name_english: str | None
    sector17_code: str
    sector33_code: str
    market_code: str
    scale_category: str | None
    margin_code: str | None
    reference_date: dt.date

    @property
    def symbol(self) -> str:
        return symbol_for_jquants_code(self.code)

    def content(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in CONTENT_FIELDS)


@dataclass(frozen=True)
class Rejected:
    """A record held back: the rule it broke, why, what arrived, and its code if readable."""

    rule: str
    reason: str
    record: Any
    code: str | None = None


@dataclass(frozen=True)
class KnownCodes:
    """The code tables as they are in the database when the sync runs."""

    markets: frozenset[str]
    sector17: frozenset[str]
    sector33: frozenset[str]


@dataclass
class Judged:
    rows: list[CompanyRow] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def held_codes(self) -> set[str]:
        """Codes the source listed but that could not be used: leave those companies be."""
        return {r.code for r in self.rejected if r.code is not None}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise ValueError(f"longer than {MAX_TEXT} characters")
    return value or None


def _date(value: str) -> dt.date:
    digits = value.replace("-", "")
    if not re.fullmatch(r"\d{8}", digits):
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def judge_record(record: Any, known: KnownCodes) -> CompanyRow | Rejected:
    """A usable row, or the first rule the record breaks."""
    if not isinstance(record, Mapping):
        return Rejected("not_an_object", "the record is not a JSON object", record)
    raw_code = record.get("Code")
    code = raw_code.strip() if isinstance(raw_code, str) else None
    if code is not None and not CODE_RE.fullmatch(code):
        return Rejected(
            "code_format",
            "Code must be 4 or 5 characters as J-Quants gives them (e.g. '72030', '130A0'), "
            f"got {code[:12]!r}",
            record,
        )
    values: dict[str, str | None] = {}
    for name in REQUIRED_FIELDS + OPTIONAL_FIELDS:
        try:
            values[name] = _text(record.get(name))
        except (TypeError, ValueError) as exc:
            return Rejected("bad_field", f"{name}: {exc}", record, code)
    missing = [n for n in REQUIRED_FIELDS if values[n] is None]
    if missing:
        return Rejected("missing_field", f"missing or empty: {', '.join(missing)}", record, code)
    assert code is not None
    try:
        symbol_for_jquants_code(code)
        reference_date = _date(str(values["Date"]))
    except (InvalidIdentifierError, ValueError) as exc:
        return Rejected("bad_field", str(exc), record, code)
    for field_name, table, label in (
        ("MarketCode", known.markets, "market"),
        ("Sector17Code", known.sector17, "sector17"),
        ("Sector33Code", known.sector33, "sector33"),
    ):
        if values[field_name] not in table:
            return Rejected(
                f"unknown_{label}_code",
                f"{field_name} {values[field_name]!r} is not in the {label} code table",
                record,
                code,
            )
    return CompanyRow(
        code=code,
        company_name=str(values["CompanyName"]),
        company_name_english=values["CompanyNameEnglish"],
        sector17_code=str(values["Sector17Code"]),
        sector33_code=str(values["Sector33Code"]),
        market_code=str(values["MarketCode"]),
        scale_category=values["ScaleCategory"],
        margin_code=values["MarginCode"],
        reference_date=reference_date,
    )


def judge_records(records: Iterable[Any], known: KnownCodes) -> Judged:
    """Every record judged; codes listed more than once (also as '7203' and '72030', which
    are one symbol) are all held back when the copies disagree, and the repeats dropped when
    they are identical."""
    judged = Judged()
    by_symbol: dict[str, list[tuple[CompanyRow, Any]]] = defaultdict(list)
    for record in records:
        outcome = judge_record(record, known)
        if isinstance(outcome, Rejected):
            judged.rejected.append(outcome)
        else:
            by_symbol[outcome.symbol].append((outcome, record))
    for symbol, copies in by_symbol.items():
        first = copies[0][0]
        if len(copies) == 1:
            judged.rows.append(first)
            continue
        if all(row == first for row, _ in copies[1:]):
            judged.rows.append(first)
            held_back = copies[1:]
            reason = f"code {first.code} repeated {len(copies)} times with identical content"
        else:
            held_back = copies
            codes = sorted({row.code for row, _ in copies})
            reason = (
                f"symbol {symbol} listed {len(copies)} times (codes {codes}) with different "
                "content; the company is left as it was"
            )
        judged.rejected.extend(
            Rejected("duplicate_code", reason, record, row.code) for row, record in held_back
        )
    judged.rows.sort(key=lambda r: r.code)
    return judged
