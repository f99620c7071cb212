"""Retry and backfill policies shared by the OHLCV assets."""

from __future__ import annotations

from dagster import BackfillPolicy, Backoff, Jitter, RetryPolicy

from market_assets.core.run_plan import MAX_PARTITIONS_PER_RUN

# Stores that are down raise StoreUnavailableError quickly; Dagster retries the step, with
# backoff, instead of the resources looping on their own.
STORE_RETRY = RetryPolicy(
    max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)

BATCHED_BACKFILL = BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)
