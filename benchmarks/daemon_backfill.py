"""A backfill the way a user launches it: the UI's mutation, the daemon, queued runs.

Project path (what is timed): on a `market-assets dev` stack (benchmarks/devsession.py:
dagster-postgres storage, QueuedRunCoordinator with the `dagster/backfill` limit of
dagster.yaml, `dagster dev` with its daemon, run workers as subprocesses), the
`launchPartitionBackfill` mutation that the UI's "Materialize all..." dialog sends for a date
range x symbol subset over the four OHLCV assets: `assetSelection` of the four assets and
`partitionNames` with every `YYYY-MM-DD|SYMBOL` key of the selection (the dialog explodes its
per-dimension selection into keys; `fromFailure: false`, no tags). The clock runs from the
mutation to the backfill's COMPLETED_SUCCESS (the daemon's own end timestamp), polled every
second through the instance.

Reported besides: the runs Dagster made of it (1.13 fixes the dimension with fewer selected
values, so one run per symbol here), per run the phases of benchmarks/run_timeline.py (queue
wait, start cost, setup, steps, teardown), the planning time (backfill created -> first run
created: the backfill daemon ticks every 30 s), the event-log rows written for the runs, by
type, and the bars stored.

Peer (baseline), in the same invocation and on the same servers, before `dagster dev` starts:
the in-process path of benchmarks/backfill.py (`batched_backfill`: `materialize()` over ranges
of <= 1,000 partitions, ephemeral instance, console WARNING) into a fresh schema. The target
compares the two: daemon time / in-process time <= 1.5. The daemon's runs keep Dagster's
default DEBUG console logging, as runs launched from the UI do.

Sizes: 10 symbols x 365 days (2024), as the in-process backfill target; smoke 2 x 5.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from dagster import DagsterEventType, DagsterInstance, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
)
from psycopg import sql

from benchmarks import BenchResult, Target, ratio, spread
from benchmarks.backfill import LAST_DAY, backfill_symbols, batched_backfill
from benchmarks.devsession import DagsterDev, DevServers, dev_servers
from benchmarks.run_timeline import Mark, RunTimeline, max_overlap
from market_assets.core import settings as s
from market_assets.operations.daemon_backfill import partition_names
from resources.postgres import conninfo_for

NAME = "daemon_backfill"
TARGET_SECONDS = 180.0
TARGET_RATIO = 1.5  # daemon time / in-process time, at most
ASSETS = ("raw_bars", "db_bars", "bar_rollups", "bar_snapshots")
POLL_S = 1.0
DONE = {BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED}
FAILED = {
    BulkActionStatus.FAILED,
    BulkActionStatus.FAILING,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.CANCELED,
    BulkActionStatus.CANCELING,
}
TIMELINE_EVENTS = {
    DagsterEventType.RUN_ENQUEUED,
    DagsterEventType.RUN_DEQUEUED,
    DagsterEventType.RUN_STARTING,
    DagsterEventType.RUN_START,
    DagsterEventType.RUN_SUCCESS,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
}

# The UI's mutation (ui-core instance/backfill/BackfillUtils.tsx), errors by their interface.
LAUNCH_BACKFILL_MUTATION = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""


@dataclass(frozen=True)
class Size:
    symbols: int
    days: int
    timeout_s: float


SIZES: dict[bool, Size] = {
    True: Size(symbols=2, days=5, timeout_s=600.0),
    False: Size(symbols=10, days=365, timeout_s=3600.0),
}


#: `SYMBOLSxDAYS` (e.g. 10x91) overrides the full size: a measurement between smoke and full.
SIZE_VARIABLE = "MARKET_ASSETS_BENCH_DAEMON_SIZE"


def chosen_size(smoke: bool) -> Size:
    """The size of this run: smoke, full, or full overridden by SIZE_VARIABLE."""
    size = SIZES[smoke]
    given = os.environ.get(SIZE_VARIABLE, "").strip()
    if smoke or not given:
        return size
    try:
        symbols, days = (int(part) for part in given.lower().split("x"))
    except ValueError:
        raise ValueError(f"{SIZE_VARIABLE} must look like 10x91, got {given!r}") from None
    if not (1 <= symbols <= 100 and 1 <= days <= 366):
        raise ValueError(f"{SIZE_VARIABLE}: 1-100 symbols x 1-366 days, got {given!r}")
    return Size(symbols=symbols, days=days, timeout_s=size.timeout_s)


def backfill_params(names: Sequence[str]) -> dict[str, Any]:
    """What the dialog sends for a selection of assets that share one partitioning."""
    return {
        "tags": [],
        "assetSelection": [{"path": [asset]} for asset in ASSETS],
        "partitionNames": list(names),
        "fromFailure": False,
    }


def launch(dev: DagsterDev, names: Sequence[str]) -> str:
    data = dev.graphql(LAUNCH_BACKFILL_MUTATION, {"backfillParams": backfill_params(names)})
    result = data["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"launchPartitionBackfill: {result}")
    return str(result["backfillId"])


def wait_for_backfill(
    instance: DagsterInstance, backfill_id: str, timeout: float, dev: DagsterDev
) -> tuple[PartitionBackfill, float]:
    """Poll the instance until the backfill is done; the backfill and when it was seen done."""
    deadline = time.monotonic() + timeout
    while True:
        backfill = instance.get_backfill(backfill_id)
        if backfill is None:
            raise RuntimeError(f"backfill {backfill_id} is not in the instance")
        if backfill.status in DONE:
            return backfill, time.time()
        if backfill.status in FAILED:
            raise RuntimeError(f"backfill {backfill_id} {backfill.status.value}\n{dev.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfill {backfill_id} not done after {timeout:.0f} s")
        time.sleep(POLL_S)


def _epoch(value: dt.datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


def _marks(instance: DagsterInstance, run_id: str) -> list[Mark]:
    return [
        Mark(entry.dagster_event_type.name, entry.timestamp, entry.step_key)
        for entry in instance.all_logs(run_id, of_type=TIMELINE_EVENTS)
        if entry.dagster_event_type is not None
    ]


@dataclass
class RunEvents:
    """Event-log rows of one run by DagsterEventType name (the table keeps the legacy values,
    e.g. PIPELINE_START), and the time span over which each type was written."""

    counts: Counter[str]
    spans: dict[str, float]


def run_events(db_url: str, run_ids: Sequence[str]) -> dict[str, RunEvents]:
    """Counted in the instance's database (one query for every run)."""
    out = {run_id: RunEvents(Counter(), {}) for run_id in run_ids}
    with psycopg.connect(conninfo_for(db_url)) as conn:
        rows = conn.execute(
            "SELECT run_id, coalesce(dagster_event_type, 'log message'), count(*),"
            " extract(epoch FROM max(timestamp) - min(timestamp))"
            " FROM event_logs WHERE run_id = ANY(%s) GROUP BY 1, 2",
            (list(run_ids),),
        ).fetchall()
    for run_id, kind, count, span in rows:
        name = _event_name(kind)
        out[run_id].counts[name] = int(count)
        out[run_id].spans[name] = float(span or 0.0)
    return out


def _event_name(value: str) -> str:
    try:
        return DagsterEventType(value).name
    except ValueError:
        return value


def stored_bars(admin_url: str) -> int:
    """Bars the daemon's runs stored in the dev stack's `market` schema."""
    schema = s.StoreSettings.from_env().pg_schema
    with psycopg.connect(conninfo_for(admin_url)) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.ohlcv_bars").format(sql.Identifier(schema))
        ).fetchone()
    return int(row[0]) if row else 0


def backfill_figures(
    instance: DagsterInstance,
    backfill: PartitionBackfill,
    launched_at: float,
    done_seen_at: float,
    db_url: str,
) -> dict[str, Any]:
    """Every figure of the daemon path, relative to the mutation's start (`launched_at`)."""
    records = instance.get_run_records(RunsFilter(tags={BACKFILL_ID_TAG: backfill.backfill_id}))
    records = sorted(records, key=lambda r: r.create_timestamp)
    if not records:
        raise RuntimeError(f"backfill {backfill.backfill_id} launched no run")
    timelines = [
        RunTimeline.from_marks(
            r.dagster_run.run_id,
            _epoch(r.create_timestamp),
            _marks(instance, r.dagster_run.run_id),
            r.start_time,
            r.end_time,
        )
        for r in records
    ]
    events = run_events(db_url, [t.run_id for t in timelines])
    ended = backfill.backfill_end_timestamp or done_seen_at
    per_run = []
    for record, line in zip(records, timelines, strict=True):
        row = line.as_dict(launched_at)
        tags = record.dagster_run.tags
        row["partition_range"] = [
            tags.get(ASSET_PARTITION_RANGE_START_TAG),
            tags.get(ASSET_PARTITION_RANGE_END_TAG),
        ]
        mine = events[line.run_id]
        row["partitions"] = mine.counts.get("ASSET_MATERIALIZATION", 0) // len(ASSETS)
        row["events"] = sum(mine.counts.values())
        row["planned_events_span_s"] = mine.spans.get("ASSET_MATERIALIZATION_PLANNED")
        per_run.append(row)
    steps: Counter[str] = Counter()
    for line in timelines:
        steps.update(line.steps)
    by_type: Counter[str] = Counter()
    for mine in events.values():
        by_type.update(mine.counts)
    spans = [(t.started, t.ended) for t in timelines if t.started and t.ended]
    run_seconds = sum(end - start for start, end in spans)
    last_end = max(end for _, end in spans)
    first_start = min(start for start, _ in spans)

    def phase(name: str) -> dict[str, float]:
        return spread([v for v in (getattr(t, name) for t in timelines) if v is not None])

    return {
        "seconds": ended - launched_at,
        "seconds_to_last_run_end": last_end - launched_at,
        "completion_lag_s": ended - last_end,
        "planning_s": timelines[0].created - backfill.backfill_timestamp,
        "launch_mutation_s": backfill.backfill_timestamp - launched_at,
        "submission_span_s": timelines[-1].created - timelines[0].created,
        "runs": len(timelines),
        "max_concurrent_runs": max_overlap(spans),
        "run_seconds_total": run_seconds,
        "effective_parallelism": ratio(run_seconds, last_end - first_start),
        "launch_to_start_s": phase("launch_to_start_s"),
        "enqueue_s": phase("enqueue_s"),
        "queued_s": phase("queued_s"),
        "start_cost_s": phase("start_cost_s"),
        "setup_s": phase("setup_s"),
        "teardown_s": phase("teardown_s"),
        "run_duration_s": phase("duration_s"),
        "step_seconds": dict(steps),
        "step_seconds_per_run": {k: v / len(timelines) for k, v in steps.items()},
        "events": sum(by_type.values()),
        "events_by_type": dict(by_type.most_common()),
        "per_run": per_run,
    }


class _Clock:
    """Wall time of the benchmark's own phases (stack start, peer, UI start, ..., stops)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = now - self._last
        self._last = now


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """A run in this process may leave SIGTERM ignored (see market_assets/cli/dev.py); the
    stop-everything path of `python -m benchmarks` relies on its handler, so it is put back."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, handler)


def _peer(servers: DevServers, symbols: list[str], first: dt.date, days: int) -> Any:
    with _sigterm_kept():
        return batched_backfill(servers.bench_stack(), symbols, first, days)


def run(stack: Any, smoke: bool) -> BenchResult:
    """`stack` is unused: this benchmark runs on the dev stack it starts (see module doc)."""
    del stack
    size = chosen_size(smoke)
    started = time.perf_counter()
    symbols = backfill_symbols(size.symbols)
    first = LAST_DAY - dt.timedelta(days=size.days - 1)
    # Every key of the range x symbols, date-major, as the dialog explodes them (and as
    # `market-assets backfill` submits them).
    names = partition_names(first, LAST_DAY, symbols)
    clock = _Clock()
    with dev_servers(symbols) as servers:
        clock.mark("stack_start_s")
        peer = _peer(servers, symbols, first, size.days)
        clock.mark("peer_s")
        with servers.dagster_dev() as dev, DagsterInstance.get() as instance:
            clock.mark("dagster_dev_start_s")
            launched_at = time.time()
            backfill_id = launch(dev, names)
            backfill, seen = wait_for_backfill(instance, backfill_id, size.timeout_s, dev)
            clock.mark("backfill_s")
            daemon = backfill_figures(instance, backfill, launched_at, seen, servers.dagster_db_url)
        clock.mark("dagster_dev_stop_s")
        daemon["rows"] = stored_bars(servers.market_admin_url)
    clock.mark("stack_stop_s")
    if daemon["rows"] != peer.rows:
        raise RuntimeError(f"the daemon stored {daemon['rows']} bars, in-process {peer.rows}")

    slower = ratio(daemon["seconds"], peer.seconds)
    result = BenchResult(
        benchmark=NAME,
        mode="smoke" if smoke else "full",
        repeats=1,
        params={
            "symbols": symbols,
            "days": size.days,
            "first_date": str(first),
            "last_date": str(LAST_DAY),
            "partitions": len(names),
            "assets": list(ASSETS),
            "request": "launchPartitionBackfill {assetSelection, partitionNames, fromFailure}",
            "backfill_id": backfill_id,
            "leftover_processes": servers.leftovers,
        },
    )
    result.metrics = {**daemon, "partitions": len(names)}
    result.metrics["benchmark_phases_s"] = clock.phases
    result.metrics["daemon_over_in_process"] = slower
    result.baseline = {
        "method": "in-process materialize() over ranges of <= 1,000 partitions "
        "(benchmarks/backfill.py), ephemeral instance, same servers, fresh schema",
        "seconds": peer.seconds,
        "runs": peer.runs,
        "rows": peer.rows,
        "step_seconds": peer.step_seconds,
    }
    result.ratios = {"in_process_vs_daemon_speed": ratio(peer.seconds, daemon["seconds"])}
    result.targets = [
        Target(
            f"daemon backfill {len(symbols)} symbols x {size.days} days",
            daemon["seconds"],
            "<=",
            TARGET_SECONDS,
            "s",
        ),
        Target("daemon time / in-process time", slower, "<=", TARGET_RATIO, "x"),
    ]
    result.notes = [
        "one backfill, measured once: minutes per run",
        "seconds: launchPartitionBackfill sent -> backfill COMPLETED_SUCCESS (daemon's end "
        "timestamp); completion_lag_s is the daemon noticing the last run's end",
        "ratios.in_process_vs_daemon_speed is in-process time / daemon time (bigger is "
        "better); the target is its inverse, metrics.daemon_over_in_process",
        "the daemon's runs log at DEBUG to the instance (UI default); the peer at WARNING "
        "on an ephemeral instance",
        "runs on its own embedded dev stack even when MARKET_ASSETS_BENCH_* name servers",
    ]
    if smoke:
        result.notes.append(
            "smoke: the daemon's 30 s backfill tick dominates planning_s and completion_lag_s"
        )
    result.elapsed_s = time.perf_counter() - started
    return result
