"""Load: two backfills over overlapping partitions and a daily run, all at once.

Each run reads a generator with its own seed, so every partition has a different truth per
run and a mix of two runs (some rows from one, some from the other, or S3 from one and the
database from the other) would show. The outcome required: no run fails (no deadlock, no
lost lock), every partition holds exactly one run's rows, the same in S3 and in the database,
no duplicates; partitions only one run touched hold that run's rows. Throughput is recorded,
never asserted.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult, materialize

from market_assets.core.partition_keys import BarPartition
from market_assets.core.run_plan import RunWindow
from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
from market_assets.ohlcv import load as load_module
from market_assets.ohlcv.collect import collect_partitions
from market_assets.ohlcv.load import load_partitions_from_s3
from market_assets.ohlcv.rollups import refresh_rollups
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.generator import GeneratorSource
from resources.sources.resource import BarSourcesResource
from tests.integration.convergence import db_state, expected_state, s3_state, sessions
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(420)]

SYMBOLS = ["USDJPY", "EURUSD", "GBPUSD"]
WEEK = [dt.date(2024, 3, 4) + dt.timedelta(days=i) for i in range(12)]
DAYS = [d for d in WEEK if d.weekday() < 5]  # 4-8 and 11-15 March: FX sessions


@dataclass
class Job:
    name: str
    seed: int
    days: list[dt.date]
    result: ExecuteInProcessResult | None = None
    error: BaseException | None = None
    seconds: float = 0.0
    parts: list[BarPartition] = field(default_factory=list)


def _run(job: Job, s3: S3Resource, db: DbTarget, redis: RedisResource, go: threading.Event) -> None:
    """One run as the daemon would launch it: its own instance, resources and connections."""
    postgres = PostgresResource(url=db.writer_url, schema_name=db.schema, connect_timeout_s=3)
    window = RunWindow(job.days[0], job.days[-1], SYMBOLS[0], SYMBOLS[-1])
    started = time.perf_counter()
    try:
        with DagsterInstance.ephemeral() as instance:  # disposed in this thread (SQLite)
            instance.add_dynamic_partitions("symbols", SYMBOLS)
            go.wait()
            started = time.perf_counter()
            job.result = materialize(
                OHLCV_ASSETS,
                instance=instance,
                resources={
                    "s3": s3,
                    "postgres": postgres,
                    "redis": redis,
                    "sources": BarSourcesResource(generator_seed=job.seed),
                },
                tags=window.range_tags(),
                raise_on_error=False,
            )
    except BaseException as exc:  # reported by the test, not swallowed
        job.error = exc
    finally:
        job.seconds = time.perf_counter() - started
        postgres.close()


def _problems(result: ExecuteInProcessResult) -> list[str]:
    return [
        e.event_specific_data.error.to_string()
        for e in result.all_events
        if e.event_type_value in ("STEP_FAILURE", "STEP_UP_FOR_RETRY")
        and getattr(e.event_specific_data, "error", None) is not None
    ]


def test_overlapping_backfills_and_a_daily_run_converge_without_deadlock(
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
    db: DbTarget,
    record_property,  # type: ignore[no-untyped-def]
) -> None:
    jobs = [
        Job("backfill A", seed=11, days=DAYS[:7]),  # 4-12 March
        Job("backfill B", seed=22, days=DAYS[3:]),  # 7-15 March: overlaps A on 7, 8, 11, 12
        Job("daily run", seed=33, days=[DAYS[5]]),  # 11 March, inside both backfills
    ]
    for job in jobs:
        job.parts = sessions(job.days, SYMBOLS)
    go = threading.Event()
    threads = [
        threading.Thread(target=_run, args=(job, s3_store, db, redis_store, go), name=job.name)
        for job in jobs
    ]
    for t in threads:
        t.start()
    started = time.perf_counter()
    go.set()
    for t in threads:
        t.join(timeout=360)
    wall = time.perf_counter() - started
    assert not any(t.is_alive() for t in threads), "a run hung (deadlock?)"

    for job in jobs:
        assert job.error is None, f"{job.name} raised {job.error!r}"
        assert job.result is not None
        problems = _problems(job.result)
        assert job.result.success and not problems, f"{job.name}: {problems}"

    # Every partition holds exactly one run's rows, identical in S3 and the database.
    writers: dict[BarPartition, list[Job]] = {}
    for job in jobs:
        for part in job.parts:
            writers.setdefault(part, []).append(job)
    winners: dict[str, str] = {}
    for part, candidates in sorted(writers.items(), key=lambda kv: str(kv[0].key)):
        in_s3, in_db = s3_state(s3_store, part), db_state(postgres, part)
        assert in_s3 == in_db, f"{part.key}: S3 and database disagree"
        assert in_db.rows == in_db.distinct_ts, f"{part.key}: duplicate timestamps"
        matches = [
            j.name for j in candidates if expected_state(part, GeneratorSource(j.seed)) == in_db
        ]
        assert len(matches) == 1, f"{part.key}: rows of no single run ({in_db})"
        winners[str(part.key)] = matches[0]
        if len(candidates) == 1:
            assert matches == [candidates[0].name]
    with postgres.connection() as conn:
        (total,) = conn.execute("SELECT count(*) FROM ohlcv_bars").fetchone() or (0,)
    assert total == sum(db_state(postgres, p).rows for p in writers)

    rows_written = sum(
        expected_state(p, GeneratorSource(j.seed)).rows for j in jobs for p in j.parts
    )
    rows_per_s = rows_written / wall
    record_property("load_partitions_written", sum(len(j.parts) for j in jobs))
    record_property("load_rows_written", rows_written)
    record_property("load_wall_seconds", round(wall, 2))
    record_property("load_rows_per_second", round(rows_per_s))
    overlap_winners = {k: v for k, v in winners.items() if len(writers_of(k, writers)) > 1}
    record_property("load_overlap_winners", str(sorted(set(overlap_winners.values()))))
    print(
        f"\nload: {rows_written} rows in {sum(len(j.parts) for j in jobs)} partitions by "
        f"{len(jobs)} concurrent runs in {wall:.1f} s ({rows_per_s:,.0f} rows/s through every "
        f"asset); per run: {', '.join(f'{j.name} {j.seconds:.1f} s' for j in jobs)}"
    )


def writers_of(key: str, writers: dict[BarPartition, list[Job]]) -> list[Job]:
    return next(jobs for part, jobs in writers.items() if str(part.key) == key)


def test_a_load_that_read_s3_before_a_newer_write_never_overwrites_it(
    s3_store: S3Resource,
    postgres: PostgresResource,
    db: DbTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lost update two overlapping runs can produce, forced deterministically.

    Run A's db_bars reads the partition's object from S3 and is paused before it writes; run B
    then writes a newer object and loads it. If A's write could still land after B's, the
    database would keep A's stale rows while S3 holds B's. A partition lock taken before the
    S3 read (and held to the commit) makes B wait for A instead; A's pause is bounded, so with
    the lock A finishes first and B's rows win, as in S3.
    """
    part = BarPartition(DAYS[0], "USDJPY")

    def raw(seed: int) -> None:
        outcomes = collect_partitions(
            [part], BarSourcesResource(generator_seed=seed), s3_store, None
        )
        assert [o.entry.status for o in outcomes] == ["success"]

    raw(seed=1)
    paused, resume = threading.Event(), threading.Event()
    original = load_module.from_arrow

    def slow_reader(table):  # type: ignore[no-untyped-def]
        frame = original(table)
        if threading.current_thread().name == "run A":
            paused.set()
            resume.wait(timeout=5)  # bounded: with the lock, B cannot finish meanwhile
        return frame

    monkeypatch.setattr(load_module, "from_arrow", slow_reader)
    run_a = threading.Thread(
        target=load_partitions_from_s3, args=(s3_store, postgres, [part], "A"), name="run A"
    )
    run_a.start()
    assert paused.wait(timeout=60)
    raw(seed=2)
    load_partitions_from_s3(s3_store, postgres, [part], "B")
    resume.set()
    run_a.join(timeout=60)
    assert not run_a.is_alive()

    newest = expected_state(part, GeneratorSource(2))
    assert s3_state(s3_store, part) == newest
    assert db_state(postgres, part) == newest, "a stale S3 read overwrote a newer load"


def test_concurrent_rollup_refreshes_of_the_same_symbols_do_not_collide(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    """Two runs refreshing the same weeks of the same symbols at once (plain PostgreSQL rollup
    tables: delete the window, insert it again) are serialised per symbol, not left to hit
    the rollups' primary key."""
    parts = [BarPartition(day, "USDJPY") for day in DAYS]
    collect_partitions(parts, BarSourcesResource(), s3_store, None)
    load_partitions_from_s3(s3_store, postgres, parts, None)
    refresh_rollups(postgres, parts)
    errors: list[BaseException] = []
    go = threading.Event()

    def refresh() -> None:
        writer = PostgresResource(url=db.writer_url, schema_name=db.schema)
        go.wait()
        try:
            for _ in range(8):
                refresh_rollups(writer, parts)
        except BaseException as exc:  # reported by the test, not swallowed
            errors.append(exc)
        finally:
            writer.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with db.connect() as conn:
        (dupes,) = conn.execute(
            "SELECT count(*) - count(DISTINCT (symbol, ts)) FROM ohlcv_m5"
        ).fetchone()
    assert dupes == 0
