"""The read chain Redis -> database -> S3, as one reader over the three stores.

Redis holds the latest N bars per symbol and timeframe, so "the latest bars" and any window
inside the snapshot come from memory. Anything older, or a cache miss, goes to the database
(which then refills the snapshot for latest-bar reads); when the database has no rows for the
window (retention trimmed it) or is down, base-timeframe bars come from S3, the system of
record. Every answer says which layer gave it, and the reader keeps hit statistics.

A store that fails is skipped, never silently: the reader logs a warning naming it and why
(the address, never credentials), counts it in `skipped_<store>`, and when no store could
answer at all (every store tried failed, none said "no rows") raises `ReadUnavailableError`
instead of returning an empty frame that would read as "no data".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from market_assets.core.bars import from_arrow
from market_assets.core.calendars import sessions_in_range
from market_assets.core.identifiers import validate_symbol
from market_assets.core.storage_layout import object_key_for
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import default_universe
from market_assets.ohlcv.bar_reads import READ_COLUMNS, base_of, read_bars, relation_for
from market_assets.ohlcv.raw_objects import existing_keys
from market_assets.ohlcv.snapshots import DEFAULT_BARS, decode, publish_snapshot
from resources.cache_keys import snapshot_key
from resources.errors import StoreUnavailableError
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource

Layer = Literal["redis", "postgres", "s3", "none"]
Store = Literal["redis", "postgres", "s3"]
STORES: tuple[Store, ...] = ("redis", "postgres", "s3")

log = logging.getLogger(__name__)


class ReadUnavailableError(StoreUnavailableError):
    """No store could answer a read: each one tried failed (as opposed to having no rows)."""

    def __init__(self, what: str, failures: list[tuple[Store, str]]) -> None:
        self.what = what
        self.failures = list(failures)
        reasons = "; ".join(f"{store}: {reason}" for store, reason in failures)
        RuntimeError.__init__(self, f"cannot read {what}, every store failed: {reasons}")
        self.store = ", ".join(store for store, _ in failures)
        self.address = "-"
        self.cause = reasons


@dataclass
class ReadStats:
    answered: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # failed stores, by name
    redis_lookups: int = 0
    redis_hits: int = 0

    @property
    def redis_hit_rate(self) -> float:
        return self.redis_hits / self.redis_lookups if self.redis_lookups else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            **{f"answered_by_{k}": v for k, v in sorted(self.answered.items())},
            **{f"skipped_{store}": self.skipped[store] for store in STORES},
            "redis_lookups": self.redis_lookups,
            "redis_hits": self.redis_hits,
            "redis_hit_rate": round(self.redis_hit_rate, 4),
        }


@dataclass
class BarReader:
    """The three stores a read may touch; build with `BarReader.from_env()` outside Dagster."""

    postgres: PostgresResource | None
    redis: RedisResource | None
    s3: S3Resource | None
    snapshot_bars: int = DEFAULT_BARS
    stats: ReadStats = field(default_factory=ReadStats)
    # Per read: the stores that failed, and whether an authoritative store (the database or
    # S3) answered, even with no rows. A Redis miss is not an answer: it is a cache.
    _failures: list[tuple[Store, str]] = field(default_factory=list, init=False, repr=False)
    _answered: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_env(cls) -> BarReader:
        from market_assets.composition import postgres_resource, redis_resource, s3_resource

        return cls(
            postgres=postgres_resource("reader", live=True),
            redis=redis_resource(live=True),
            s3=s3_resource(live=True),
        )

    def close(self) -> None:
        for store in (self.postgres, self.redis):
            if store is not None:
                store.close()

    # -- the chain ------------------------------------------------------------------------
    def get(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        last_n: int | None = None,
    ) -> pd.DataFrame:
        symbol, tf = validate_symbol(symbol), Timeframe.parse(timeframe)
        base = base_of(symbol)
        relation_for(symbol, base, tf)  # a timeframe finer than the base: ValueError, no store
        start, end = as_utc(start), as_utc(end)
        self._failures, self._answered = [], False
        frame = self._from_redis(symbol, tf, start, end, last_n)
        if frame is not None:
            return self._answer(frame, "redis")
        frame = self._from_postgres(symbol, tf, start, end, last_n)
        if frame is not None and not frame.empty:
            return self._answer(frame, "postgres")
        from_s3 = self._from_s3(symbol, tf, start, end, last_n)
        if from_s3 is not None and not from_s3.empty:
            return self._answer(from_s3, "s3")
        if self._failures and not self._answered:
            raise ReadUnavailableError(f"{symbol} {tf}", self._failures)
        return self._answer(frame if frame is not None else _empty(), "none")

    @property
    def skipped(self) -> list[tuple[Store, str]]:
        """The stores the last read skipped because they failed, with why."""
        return list(self._failures)

    def _skip(self, store: Store, reason: BaseException | str) -> None:
        """Record a store that failed: logged (no secrets: errors name addresses), counted."""
        text = " ".join(str(reason).split()) or type(reason).__name__
        log.warning("read: skipping %s: %s", store, text)
        self.stats.skipped[store] += 1
        self._failures.append((store, text))

    def _answer(self, frame: pd.DataFrame, layer: Layer) -> pd.DataFrame:
        self.stats.answered[layer] += 1
        frame.attrs["layer"] = layer
        return frame

    def _from_redis(
        self,
        symbol: str,
        tf: Timeframe,
        start: dt.datetime | None,
        end: dt.datetime | None,
        last_n: int | None,
    ) -> pd.DataFrame | None:
        if self.redis is None or (start is None and last_n is None):
            return None  # "all history" is not what a snapshot holds
        self.stats.redis_lookups += 1
        try:
            payload = self.redis.get_snapshot(snapshot_key(symbol, str(tf), self.redis.key_prefix))
        except StoreUnavailableError as exc:
            self._skip("redis", exc)
            return None
        if payload is None:
            return None
        if start is None and end is None:
            # "The latest N": slice inside the decoder, before a frame is built.
            window = decode(payload, last_n)
            complete = last_n is not None and len(window) == last_n
            if not complete:
                return None
            self.stats.redis_hits += 1
            return window
        snap = decode(payload)
        if snap.empty:
            return None
        window = _window(snap, start, end, last_n)
        complete = (start is not None and start >= snap.index[0]) or (
            start is None and last_n is not None and len(window) == last_n
        )
        if not complete:
            return None
        self.stats.redis_hits += 1
        return window

    def _from_postgres(
        self,
        symbol: str,
        tf: Timeframe,
        start: dt.datetime | None,
        end: dt.datetime | None,
        last_n: int | None,
    ) -> pd.DataFrame | None:
        if self.postgres is None:
            return None
        try:
            with self.postgres.connection() as conn:
                # Autocommit: a read is one SELECT, so BEGIN and ROLLBACK would double its
                # round trips; the pool gets the connection back as it lent it.
                conn.autocommit = True
                try:
                    frame = read_bars(conn, symbol, tf, start, end, last_n)
                    latest = (
                        read_bars(conn, symbol, tf, last_n=self.snapshot_bars)
                        if start is None and end is None and last_n and self.redis is not None
                        else None
                    )
                finally:
                    if not conn.closed:
                        conn.autocommit = False
        except StoreUnavailableError as exc:
            self._skip("postgres", exc)
            return None
        self._answered = True
        if latest is not None and not latest.empty:
            self._refill(symbol, tf, latest)
        return frame

    def _refill(self, symbol: str, tf: Timeframe, latest: pd.DataFrame) -> None:
        assert self.redis is not None
        try:
            calendar = default_universe().resolve(symbol).calendar
            publish_snapshot(self.redis, symbol, str(tf), latest, calendar)
        except (StoreUnavailableError, LookupError):
            pass  # a cache that cannot be filled is a slower read, not a failed one

    def _from_s3(
        self,
        symbol: str,
        tf: Timeframe,
        start: dt.datetime | None,
        end: dt.datetime | None,
        last_n: int | None,
    ) -> pd.DataFrame | None:
        if self.s3 is None or start is None:
            return None
        try:
            inst = default_universe().resolve(symbol)
        except LookupError:
            return None
        if tf is not inst.base_timeframe:
            return None  # S3 keeps the base timeframe only
        stop = end or dt.datetime.now(dt.UTC)
        days = sessions_in_range(inst.calendar, start.date(), stop.date() + dt.timedelta(days=1))
        wanted = {object_key_for(inst.family, str(tf), d, symbol) for d in days}
        try:
            present = existing_keys(self.s3, wanted)
            if not present:
                self._answered = True  # S3 answered: no object for the window
                return None
            bars = from_arrow(self.s3.read_many(present))
        except StoreUnavailableError as exc:
            self._skip("s3", exc)
            return None
        except FileNotFoundError as exc:  # an object gone since the LIST
            self._skip("s3", f"object gone while reading: {exc}")
            return None
        self._answered = True
        frame = bars.set_index("ts").sort_index()[READ_COLUMNS[1:]]
        return _window(frame, start, end, last_n)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("start/end must be timezone-aware (bars are labelled in UTC)")
    return value.astimezone(dt.UTC)


def _window(
    frame: pd.DataFrame, start: dt.datetime | None, end: dt.datetime | None, last_n: int | None
) -> pd.DataFrame:
    out = frame
    if start is not None:
        out = out[out.index >= pd.Timestamp(start)]
    if end is not None:
        out = out[out.index < pd.Timestamp(end)]
    if last_n is not None:
        out = out.iloc[-last_n:] if last_n > 0 else out.iloc[:0]
    return out


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in READ_COLUMNS[1:]})
    frame.index = pd.DatetimeIndex([], tz="UTC", name="ts")
    return frame
