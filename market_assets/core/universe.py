"""The instrument universe: which symbols exist, how they trade and where their prices come from.

`universe.yaml` declares the non-company instruments (FX, indices) and a few fixed equities;
company-master equities that are not in the file get an instrument from the `new_equity`
template (Tokyo, JPY, generator, M1) through `Universe.resolve` / `equity_instrument`, so the
company master can register codes without editing the file; `rules:` (first match wins) give
chosen codes or every company another template over it, e.g. a watch-list M1 and the rest D1.
An instrument's optional `listed`/`delisted` dates bound its runs, checks and schedules
(core/listing.py).

The file is validated eagerly and completely (unknown keys, duplicate symbols or vendor
spellings, unknown calendars, invalid symbols) because a silent typo here would surface much
later as missing partitions or bars filed under the wrong calendar.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from market_assets.core import settings
from market_assets.core.calendars import is_calendar, unknown_calendar
from market_assets.core.families import Family, FamilyError, family_for, parse_families
from market_assets.core.identifiers import InvalidIdentifierError, describe, validate_symbol
from market_assets.core.quality_config import QualityConfig, QualityConfigError, parse_quality
from market_assets.core.timeframes import ALL_TIMEFRAMES, Timeframe

DEFAULT_UNIVERSE_PATH = Path(__file__).with_name("universe.yaml")

SOURCES: tuple[str, ...] = ("generator", "landing", "yfinance", "jquants")
VENDORS: tuple[str, ...] = ("jquants", "yfinance", "landing")
# Any of the nine may be a symbol's base: the database stores the base's own bars and rolls
# up only the coarser timeframes from them (docs/DESIGN.md, "Base timeframes").
BASE_TIMEFRAMES: tuple[Timeframe, ...] = ALL_TIMEFRAMES

# The vendor APIs deliver these grains only; the generator and landing files deliver any base.
SOURCE_TIMEFRAMES: dict[str, tuple[Timeframe, ...]] = {
    "yfinance": (Timeframe.M1, Timeframe.D1),
    "jquants": (Timeframe.M1, Timeframe.D1),
}

# Vendor spellings go into HTTP query strings and file names: keep them boring too.
_VENDOR_SYMBOL_RE = re.compile(r"[A-Za-z0-9^=._:-]{1,40}")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
# TSE codes: 4 characters (digits, new codes such as '130A'), 5 for preferred shares etc.
_TSE_CODE_RE = re.compile(r"[0-9][0-9A-Z]{3,4}")
_JQUANTS_CODE_RE = re.compile(r"[0-9][0-9A-Z]{3}[0-9A-Z]")


class InstrumentKind(StrEnum):
    EQUITY = "equity"
    FX = "fx"
    INDEX = "index"
    CRYPTO = "crypto"  # a pair trading 24/7 (calendar `24/7`), fractional volume


class UniverseError(ValueError):
    """The universe file (or an instrument definition) is invalid."""


class UnknownSymbolError(LookupError):
    """A symbol (or vendor spelling) is not in the universe."""

    def __str__(self) -> str:  # LookupError would repr() the message
        return str(self.args[0]) if self.args else "unknown symbol"


def default_tick_size(kind: InstrumentKind, currency: str) -> float:
    """Price increment used when the file does not give one (see module docs of generator)."""
    if kind is InstrumentKind.FX:
        return 0.001 if currency == "JPY" else 0.00001
    if kind is InstrumentKind.EQUITY and currency == "JPY":
        return 1.0
    return 0.01


@dataclass(frozen=True)
class Instrument:
    """One tradable symbol and everything the pipeline needs to fetch and check its bars."""

    symbol: str
    kind: InstrumentKind
    calendar: str
    currency: str
    start_price: float
    tick_size: float
    base_timeframe: Timeframe = Timeframe.M1
    source: str = "generator"
    vendor_symbols: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    daily_volume: float | None = None
    name: str = ""
    active: bool = True
    # The first and last session the symbol trades (None: unbounded). Runs, gap checks and
    # schedules stay inside them; data outside is kept, never asked for.
    listed: dt.date | None = None
    delisted: dt.date | None = None
    # A family declared in the universe file (`family: <name>`); None: the built-in family of
    # the base. Set by the file's parser, which resolves the name.
    declared_family: Family | None = None

    def __post_init__(self) -> None:
        try:
            validate_symbol(self.symbol)
        except InvalidIdentifierError as exc:
            raise UniverseError(str(exc)) from exc
        where = f"instrument {self.symbol}"
        try:
            object.__setattr__(self, "kind", InstrumentKind(self.kind))
        except ValueError:
            raise UniverseError(
                f"{where}: kind {describe(self.kind)} is not one of "
                f"{[k.value for k in InstrumentKind]}"
            ) from None
        if not is_calendar(self.calendar):
            raise UniverseError(f"{where}: {unknown_calendar(self.calendar)}")
        if not isinstance(self.currency, str) or not _CURRENCY_RE.fullmatch(self.currency):
            raise UniverseError(f"{where}: currency {describe(self.currency)} is not ISO 4217")
        if self.kind is InstrumentKind.FX:
            if len(self.symbol) != 6 or self.symbol[3:] != self.currency:
                raise UniverseError(
                    f"{where}: FX symbols are BASEQUOTE (6 letters) with currency = quote"
                )
        try:
            tf = Timeframe.parse(self.base_timeframe)
        except ValueError as exc:
            raise UniverseError(f"{where}: {exc}") from None
        if tf not in BASE_TIMEFRAMES:
            valid = ", ".join(BASE_TIMEFRAMES)
            raise UniverseError(f"{where}: base_timeframe must be one of {valid}, got {tf}")
        object.__setattr__(self, "base_timeframe", tf)
        if self.source not in SOURCES:
            raise UniverseError(
                f"{where}: source {describe(self.source)} is not one of {list(SOURCES)}"
            )
        delivered = SOURCE_TIMEFRAMES.get(self.source)
        if delivered is not None and tf not in delivered:
            raise UniverseError(
                f"{where}: base_timeframe {tf} cannot come from source {self.source}, which "
                f"delivers {' and '.join(delivered)}; use the landing zone or the generator"
            )
        for label, value in (("start_price", self.start_price), ("tick_size", self.tick_size)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise UniverseError(f"{where}: {label} must be a positive number")
        object.__setattr__(self, "start_price", float(self.start_price))
        object.__setattr__(self, "tick_size", float(self.tick_size))
        if self.daily_volume is not None:
            v = self.daily_volume
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise UniverseError(f"{where}: daily_volume must be a number >= 0")
            object.__setattr__(self, "daily_volume", float(v))
        vendors = dict(self.vendor_symbols or {})
        for vendor, spelling in vendors.items():
            if vendor not in VENDORS:
                raise UniverseError(
                    f"{where}: unknown vendor {describe(vendor)}; vendors are {list(VENDORS)}"
                )
            if not isinstance(spelling, str) or not _VENDOR_SYMBOL_RE.fullmatch(spelling):
                raise UniverseError(
                    f"{where}: vendor symbol {describe(spelling)} for {vendor} is not allowed"
                )
        object.__setattr__(self, "vendor_symbols", MappingProxyType(vendors))
        if not isinstance(self.active, bool):
            raise UniverseError(f"{where}: active must be true or false")
        fam = self.declared_family
        if fam is not None:
            if not fam.carries(tf):
                raise UniverseError(
                    f"{where}: family {fam.name} does not carry base_timeframe {tf} (its bases"
                    f" are {', '.join(fam.bases)})"
                )
            try:
                fam.check_calendar(self.calendar)
            except FamilyError as exc:
                raise UniverseError(f"{where}: family: {exc}") from None
        for label in ("listed", "delisted"):
            object.__setattr__(self, label, _iso_date(getattr(self, label), f"{where}: {label}"))
        if self.listed and self.delisted and self.delisted < self.listed:
            raise UniverseError(f"{where}: delisted {self.delisted} is before listed {self.listed}")

    def trades_on(self, day: dt.date) -> bool:
        """Whether `day` lies inside [listed, delisted] (a bound that is None is open)."""
        return (self.listed is None or day >= self.listed) and (
            self.delisted is None or day <= self.delisted
        )

    def outside_listing(self, first: dt.date, last: dt.date) -> str | None:
        """Why no day of [first, last] trades (before its listing, after its delisting), or
        None when some day does: the reason a skipped partition's metadata carries."""
        if self.listed is not None and last < self.listed:
            return f"before {self.symbol}'s listing on {self.listed}"
        if self.delisted is not None and first > self.delisted:
            return f"after {self.symbol}'s delisting on {self.delisted}"
        return None

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType does not pickle; rebuild (and re-validate) from plain values so
        # instruments can cross process boundaries (Dagster multiprocess executor) and deepcopy.
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        state["vendor_symbols"] = dict(self.vendor_symbols)
        return (_rebuild, (Instrument, state))

    @property
    def family(self) -> Family:
        """The family the file names for the instrument, else the built-in family of its base
        (intraday for M1..H4, daily for D1..MN1): its partitions live in that family's assets
        and symbols set only."""
        return self.declared_family or family_for(self.base_timeframe)

    def vendor_symbol(self, vendor: str) -> str | None:
        """The vendor's spelling, falling back to derivable ones (J-Quants 5-char codes)."""
        spelled = self.vendor_symbols.get(vendor)
        if spelled is not None:
            return spelled
        if vendor == "jquants" and self.kind is InstrumentKind.EQUITY and self.calendar == "XTKS":
            return jquants_code_for_symbol(self.symbol)
        return None


def _rebuild(cls: type[Any], state: dict[str, Any]) -> Any:
    return cls(**state)


def _iso_date(value: Any, where: str) -> dt.date | None:
    """None, a date, or an ISO date string (YAML gives dates unquoted as `date`)."""
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise UniverseError(f"{where} must be an ISO date (YYYY-MM-DD), got {describe(value)}")


def symbol_for_jquants_code(code: str) -> str:
    """J-Quants 5-character code to canonical symbol: '72030' -> '7203', '25935' stays.

    J-Quants appends a check-like 5th character that is '0' for ordinary shares; the exchange
    and every other vendor use the 4-character code, so that is canonical. 4-character input
    is returned unchanged (already canonical).
    """
    if not isinstance(code, str):
        raise InvalidIdentifierError(f"J-Quants code must be a string, got {describe(code)}")
    if _TSE_CODE_RE.fullmatch(code) and len(code) == 4:
        return code
    if not _JQUANTS_CODE_RE.fullmatch(code):
        raise InvalidIdentifierError(
            f"invalid J-Quants code {describe(code)}: expected 5 characters like '72030'"
        )
    return code[:4] if code[4] == "0" else code


def jquants_code_for_symbol(symbol: str) -> str:
    """Inverse of `symbol_for_jquants_code`: '7203' -> '72030'; 5-character codes stay."""
    if not isinstance(symbol, str) or not _TSE_CODE_RE.fullmatch(symbol):
        raise InvalidIdentifierError(f"not a TSE code: {describe(symbol)}")
    return symbol + "0" if len(symbol) == 4 else symbol


def is_tse_code(symbol: str) -> bool:
    """True for symbols shaped like TSE security codes ('7203', '130A', '25935')."""
    return isinstance(symbol, str) and bool(_TSE_CODE_RE.fullmatch(symbol))


_NEW_EQUITY_DEFAULTS: dict[str, Any] = {
    "kind": "equity",
    "calendar": "XTKS",
    "currency": "JPY",
    "base_timeframe": "M1",
    "source": "generator",
    "tick_size": 1.0,
    "daily_volume": 2_000_000.0,
}


def _indicative_price(code: str) -> float:
    """A stable, code-dependent price level (log-uniform in 200..20000 JPY) for the generator,
    so that unlisted equities do not all trade at the same price."""
    u = int.from_bytes(hashlib.sha256(code.encode()).digest()[:8], "big") / 2.0**64
    return float(round(math.exp(math.log(200) + u * (math.log(20000) - math.log(200)))))


def equity_instrument(
    code: str, *, name: str = "", template: Mapping[str, Any] | None = None
) -> Instrument:
    """An Instrument for a company-master equity that is not in the universe file.

    Defaults: Tokyo calendar (XTKS), JPY, generator source, M1 base; the price level is
    derived from the code. Accepts a canonical code ('7203') or a J-Quants code ('72030').
    """
    symbol = code if is_tse_code(code) and len(code) == 4 else symbol_for_jquants_code(code)
    spec = {**_NEW_EQUITY_DEFAULTS, **(template or {})}
    spec.setdefault("start_price", _indicative_price(symbol))
    vendors = {"jquants": jquants_code_for_symbol(symbol), "yfinance": f"{symbol}.T"}
    return Instrument(symbol=symbol, name=name, vendor_symbols=vendors, **spec)


@dataclass(frozen=True)
class Universe:
    """The validated universe: instruments in file order, with symbol and vendor indexes."""

    instruments: tuple[Instrument, ...]
    new_equity: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType(dict(_NEW_EQUITY_DEFAULTS)), hash=False
    )
    quality: QualityConfig = field(default_factory=QualityConfig, hash=False)
    rules: tuple[Rule, ...] = ()
    families: tuple[Family, ...] = ()  # declared in the file (`families:`), built-ins not here
    _by_symbol: Mapping[str, Instrument] = field(init=False, repr=False, hash=False)
    _by_vendor: Mapping[tuple[str, str], Instrument] = field(init=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", tuple(self.instruments))
        object.__setattr__(self, "new_equity", MappingProxyType(dict(self.new_equity)))
        by_symbol: dict[str, Instrument] = {}
        by_vendor: dict[tuple[str, str], Instrument] = {}
        for inst in self.instruments:
            if inst.symbol in by_symbol:
                raise UniverseError(f"duplicate symbol {inst.symbol!r} in the universe")
            by_symbol[inst.symbol] = inst
            for vendor, spelling in inst.vendor_symbols.items():
                other = by_vendor.get((vendor, spelling))
                if other is not None:
                    raise UniverseError(
                        f"{vendor} symbol {spelling!r} is used by both {other.symbol} "
                        f"and {inst.symbol}"
                    )
                by_vendor[(vendor, spelling)] = inst
        object.__setattr__(self, "_by_symbol", MappingProxyType(by_symbol))
        object.__setattr__(self, "_by_vendor", MappingProxyType(by_vendor))

    def __reduce__(self) -> tuple[Any, ...]:
        state = {
            "instruments": self.instruments,
            "new_equity": dict(self.new_equity),
            "quality": self.quality,
            "rules": self.rules,
            "families": self.families,
        }
        return (_rebuild, (Universe, state))

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.instruments)

    def __len__(self) -> int:
        return len(self.instruments)

    def get(self, symbol: str) -> Instrument:
        """The instrument for a canonical symbol; UnknownSymbolError if it is not in the file."""
        inst = self._by_symbol.get(symbol) if isinstance(symbol, str) else None
        if inst is None:
            raise UnknownSymbolError(
                f"unknown symbol {describe(symbol)}: not in the universe "
                f"({len(self.instruments)} instruments); add it to universe.yaml or register "
                "the company in the company master"
            )
        return inst

    def resolve(self, symbol: str, *, name: str = "") -> Instrument:
        """`get`, falling back for TSE codes not in the file to the first of `rules` that
        matches the code, over the `new_equity` template (which alone applies when none does)."""
        if symbol in self._by_symbol:
            return self._by_symbol[symbol]
        if is_tse_code(symbol):
            return equity_instrument(symbol, name=name, template=self.template_for(symbol))
        return self.get(symbol)  # raises UnknownSymbolError

    def template_for(self, code: str) -> Mapping[str, Any]:
        """The instrument template of a company-master code not in the file: the first
        matching rule's fields over `new_equity`."""
        for rule in self.rules:
            if rule.matches(code):
                return {**self.new_equity, **rule.template}
        return self.new_equity

    def known(self, symbols: Iterable[str]) -> dict[str, Instrument]:
        """The given symbols the universe resolves, with their instruments, in the order given.

        Unknown symbols are left out: every caller has already recorded them (raw_bars holds
        their partitions back with the reason), so the steps after it skip them silently.
        """
        found: dict[str, Instrument] = {}
        for symbol in symbols:
            if symbol in found:
                continue
            try:
                found[symbol] = self.resolve(symbol)
            except UnknownSymbolError:
                continue
        return found

    def by_calendar(self, symbols: Iterable[str]) -> dict[str, list[str]]:
        """The given symbols grouped by their exchange calendar, in the order given; symbols
        the universe cannot resolve are left out (schedules and sensors skip them; the
        assets quarantine them with a reason)."""
        groups: dict[str, list[str]] = {}
        for symbol, inst in self.known(symbols).items():
            groups.setdefault(inst.calendar, []).append(symbol)
        return groups

    def trading_on(self, symbols: Iterable[str], day: dt.date) -> list[str]:
        """The given symbols listed on `day` (inside [listed, delisted]), in the order given;
        symbols the universe cannot resolve are left out (as `by_calendar` does)."""
        return [s for s, inst in self.known(symbols).items() if inst.trades_on(day)]

    def symbols(self, active_only: bool = True) -> list[str]:
        return [i.symbol for i in self.instruments if i.active or not active_only]

    def active(self) -> list[Instrument]:
        return [i for i in self.instruments if i.active]

    def by_vendor(self, vendor: str, vendor_symbol: str) -> Instrument:
        """The instrument a vendor spells `vendor_symbol` ('yfinance', '7203.T' -> 7203).

        J-Quants codes without an explicit spelling are mapped with symbol_for_jquants_code.
        """
        inst = self._by_vendor.get((vendor, vendor_symbol))
        if inst is not None:
            return inst
        if vendor == "jquants" and isinstance(vendor_symbol, str):
            try:
                symbol = symbol_for_jquants_code(vendor_symbol)
            except InvalidIdentifierError:
                symbol = None
            if symbol in self._by_symbol:
                return self._by_symbol[symbol]
        raise UnknownSymbolError(
            f"unknown {describe(vendor)} symbol {describe(vendor_symbol)}: no instrument in the "
            "universe has this vendor spelling"
        )

    def replace_instrument(self, instrument: Instrument) -> Universe:
        """A copy with one instrument added or replaced (handy for tests and overrides)."""
        items = [i for i in self.instruments if i.symbol != instrument.symbol]
        return replace(self, instruments=(*items, instrument))


@dataclass(frozen=True)
class Rule:
    """One entry of the universe's `rules:`: which company-master codes not in the file it
    matches (`symbols`, or every company when None) and the template fields it gives them
    over `new_equity` (base timeframe, source, calendar, ...). Rules are tried in file order
    and the first match wins, so a watch-list goes before a rule for every company."""

    template: Mapping[str, Any]
    symbols: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", MappingProxyType(dict(self.template)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (Rule, {"template": dict(self.template), "symbols": self.symbols}))

    def matches(self, code: str) -> bool:
        return self.symbols is None or code in self.symbols


_MATCH_KEYS = {"symbols", "all_companies"}


def _rule_symbols(value: Any, where: str, in_file: set[str]) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise UniverseError(f"{where}: symbols must be a non-empty list of TSE codes")
    codes: set[str] = set()
    for item in value:
        # YAML reads 7203 unquoted as a number; a TSE code never starts with 0, so its digits
        # are the code (codes with letters, such as 130A, must be quoted anyway).
        code = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not is_tse_code(code):
            raise UniverseError(f"{where}: {describe(item)} is not a TSE code such as '7203'")
        code = symbol_for_jquants_code(code)  # '72030' is 7203, as the master registers it
        if code in in_file:
            raise UniverseError(
                f"{where}: {code} is in instruments, whose entry wins over every rule;"
                " remove it from the rule or from instruments"
            )
        codes.add(code)
    return frozenset(codes)


def parse_rules(
    data: Any,
    new_equity: Mapping[str, Any],
    in_file: set[str],
    families: Mapping[str, Family] = MappingProxyType({}),
) -> tuple[Rule, ...]:
    """Validate `rules:` eagerly (keys, matches, and each rule's template as an instrument),
    so a typo fails at load naming the rule's index and field, not as bars of the wrong
    base months later. A rule may name a family declared under `families:` (`family: <name>`):
    the companies it matches join that family (a watch-list of minute bars in a weekdays
    family, say) instead of the built-in family of their base."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise UniverseError("rules must be a list of {match: ..., <template fields>}")
    rules = []
    for index, entry in enumerate(data):
        where = f"rules[{index}]"
        if not isinstance(entry, dict):
            raise UniverseError(f"{where}: expected a mapping, got {describe(entry)}")
        _check_keys(entry, _NEW_EQUITY_KEYS | {"match", "family"}, where)
        match = entry.get("match")
        if not isinstance(match, dict) or len(match) != 1:
            raise UniverseError(
                f"{where}: match must be a mapping with one of {sorted(_MATCH_KEYS)}"
            )
        _check_keys(match, _MATCH_KEYS, f"{where}.match")
        symbols: frozenset[str] | None = None
        if "symbols" in match:
            symbols = _rule_symbols(match["symbols"], f"{where}.match.symbols", in_file)
        elif match["all_companies"] is not True:
            raise UniverseError(f"{where}.match.all_companies must be true")
        template = {k: v for k, v in entry.items() if k not in ("match", "family")}
        if "family" in entry:
            template["declared_family"] = _declared_family(entry["family"], families, where)
        try:
            equity_instrument("1301", template={**new_equity, **template})
        except UniverseError as exc:
            raise UniverseError(f"{where}: {str(exc).removeprefix('instrument 1301: ')}") from None
        except TypeError as exc:
            raise UniverseError(f"{where}: {exc}") from None
        rules.append(Rule(template, symbols))
    return tuple(rules)


_INSTRUMENT_KEYS = {
    "symbol",
    "name",
    "kind",
    "calendar",
    "currency",
    "base_timeframe",
    "source",
    "vendors",
    "start_price",
    "tick_size",
    "daily_volume",
    "active",
    "listed",
    "delisted",
    "family",
}
_DEFAULT_KEYS = {"base_timeframe", "source", "active"}
# Companies the master adds (new_equity, rules) carry no listing dates and join the built-in
# family of their base.
_NEW_EQUITY_KEYS = _INSTRUMENT_KEYS - {
    "symbol",
    "name",
    "vendors",
    "start_price",
    "active",
    "listed",
    "delisted",
    "family",
}


def _declared_family(name: Any, families: Mapping[str, Family], where: str) -> Family:
    """The family an instrument or rule names (`family: <name>`), which the file declares."""
    if not isinstance(name, str) or name not in families:
        declared = sorted(families) or "none"
        raise UniverseError(
            f"{where}: family {describe(name)} is not declared in `families:` (declared:"
            f" {declared}); leave it out for the built-in family of the base"
        )
    return families[name]


def _check_keys(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in entry if k not in allowed)
    if unknown:
        raise UniverseError(f"{where}: unknown keys {unknown}; allowed are {sorted(allowed)}")


def _instrument_from_entry(
    entry: Any,
    defaults: Mapping[str, Any],
    index: int,
    families: Mapping[str, Family] = MappingProxyType({}),
) -> Instrument:
    where = f"instruments[{index}]"
    if not isinstance(entry, dict):
        raise UniverseError(f"{where}: expected a mapping, got {describe(entry)}")
    _check_keys(entry, _INSTRUMENT_KEYS, where)
    symbol = entry.get("symbol")
    if isinstance(symbol, int) and not isinstance(symbol, bool):
        raise UniverseError(f'{where}: symbol {symbol} must be quoted in YAML ("{symbol}")')
    try:
        validate_symbol(symbol)
    except InvalidIdentifierError as exc:
        raise UniverseError(f"{where}: {exc}") from None
    where = f"{where} ({symbol})"
    for key in ("kind", "calendar", "currency", "start_price"):
        if key not in entry:
            raise UniverseError(f"{where}: missing required key {key!r}")
    spec = {**defaults, **entry}
    vendors = spec.pop("vendors", None) or {}
    if not isinstance(vendors, dict):
        raise UniverseError(f"{where}: vendors must be a mapping of vendor -> symbol")
    kind = spec["kind"]
    if not isinstance(kind, str) or kind not in InstrumentKind._value2member_map_:
        raise UniverseError(
            f"{where}: kind {describe(kind)} is not one of {[k.value for k in InstrumentKind]}"
        )
    if "tick_size" not in spec:
        spec["tick_size"] = default_tick_size(InstrumentKind(kind), str(spec["currency"]))
    if "family" in spec:
        spec["declared_family"] = _declared_family(spec.pop("family"), families, where)
    try:
        return Instrument(vendor_symbols=vendors, **spec)
    except UniverseError as exc:
        raise UniverseError(f"{where}: {exc}") from None
    except TypeError as exc:  # e.g. wrong value types that dataclass init trips on
        raise UniverseError(f"{where}: {exc}") from None


def parse_universe(data: Any, *, origin: str = "<universe>") -> Universe:
    """Validate an already-parsed universe document (the YAML structure)."""
    try:
        if not isinstance(data, dict):
            raise UniverseError("the document must be a mapping with an 'instruments' list")
        _check_keys(
            data,
            {"version", "defaults", "new_equity", "rules", "instruments", "quality", "families"},
            "top level",
        )
        if data.get("version", 1) != 1:
            raise UniverseError(f"unsupported version {describe(data.get('version'))}")
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise UniverseError("defaults must be a mapping")
        _check_keys(defaults, _DEFAULT_KEYS, "defaults")
        new_equity = {**_NEW_EQUITY_DEFAULTS, **(data.get("new_equity") or {})}
        _check_keys(new_equity, _NEW_EQUITY_KEYS, "new_equity")
        entries = data.get("instruments")
        if not isinstance(entries, list) or not entries:
            raise UniverseError("'instruments' must be a non-empty list")
        try:
            declared = parse_families(data.get("families"))
        except FamilyError as exc:
            raise UniverseError(str(exc)) from None
        by_name = {f.name: f for f in declared}
        instruments = tuple(
            _instrument_from_entry(e, defaults, i, by_name) for i, e in enumerate(entries)
        )
        try:
            quality = parse_quality(data.get("quality"))
        except QualityConfigError as exc:
            raise UniverseError(str(exc)) from None
        equity_instrument("1301", template=new_equity)  # validates the template eagerly
        rules = parse_rules(data.get("rules"), new_equity, {i.symbol for i in instruments}, by_name)
        return Universe(
            instruments=instruments,
            new_equity=MappingProxyType(new_equity),
            quality=quality,
            rules=rules,
            families=declared,
        )
    except UniverseError as exc:
        raise UniverseError(f"{origin}: {exc}") from None


def load_universe(path: str | Path | None = None) -> Universe:
    """Load and validate a universe file (default: the packaged universe.yaml)."""
    p = Path(path) if path is not None else DEFAULT_UNIVERSE_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise UniverseError(f"cannot read universe file {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UniverseError(f"{p}: not valid YAML: {exc}") from None
    return parse_universe(data, origin=str(p))


@lru_cache(maxsize=8)
def _universe_at(path: str) -> Universe:
    return load_universe(path)


def default_universe() -> Universe:
    """The universe file named by MARKET_ASSETS_UNIVERSE (it replaces the packaged one), else
    the packaged universe.yaml; each file is loaded once per process. A user adds symbols or
    markets in a file of their own, never in the project's source; a bad file fails at load,
    naming the file, the entry and the field."""
    return _universe_at(settings.env(settings.UNIVERSE) or str(DEFAULT_UNIVERSE_PATH))
