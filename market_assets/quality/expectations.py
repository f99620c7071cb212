"""The great-expectations suite of the raw bars: one validation per batch, results kept in S3.

Why great-expectations beside the pandera contract: its validation result is a documented,
self-describing JSON (each expectation, its kwargs, counts and failing rows) that can be kept
and read without this code, so every batch's result is stored under
`quality/expectations/raw_bars/<first>_<last>/<time>-<run>.json` in the bucket, with a summary
row in data_quality_metrics pointing at it.

Cost, and why it is shaped this way:
- `import great_expectations` takes 5-9 s here (scipy, altair, its expectation registry), so it
  is imported inside `validate_bars`, never when the definitions load.
- The whole batch (all partitions of a run) is one pandas DataFrame validated once: ~1.5 s for
  ~600k rows (about 1000 partitions) with this suite, against seconds *per partition* if each
  partition were its own validation.
- Failures are attributed back to partitions through GE's `unexpected_index_list` (positions
  in the batch frame -> its symbol and session_date); table-level failures (a missing column)
  count against every partition of the batch.
- The stored JSON keeps the first `KEPT_UNEXPECTED` unexpected values and indexes of each
  expectation (a wholly bad batch would otherwise store every row twice); the counts are exact.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from market_assets.core.bars import BAR_COLUMNS, PRICE_COLUMNS
from market_assets.core.partition_keys import BarPartition
from market_assets.core.universe import BASE_TIMEFRAMES
from resources.errors import StoreUnavailableError
from resources.s3 import S3Resource

SUITE_NAME = "raw_bars"
EXPECTATIONS_PREFIX = "quality/expectations/raw_bars"
KEPT_UNEXPECTED = 20
# A bound no real price or volume reaches: GE's "between" has no "finite", and inf must fail.
FINITE_BOUND = 1e15
_TRUNCATED_KEYS = (
    "unexpected_list",
    "unexpected_index_list",
    "partial_unexpected_list",
    "partial_unexpected_index_list",
    "partial_unexpected_counts",
)


@dataclass
class SuiteResult:
    success: bool
    evaluated: int
    failed_expectations: list[str]
    failing: dict[BarPartition, dict[str, int]] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def _suite(gx: Any) -> Any:
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=SUITE_NAME)
    add = suite.add_expectation
    add(gxe.ExpectTableColumnsToMatchSet(column_set=list(BAR_COLUMNS), exact_match=True))
    for column in BAR_COLUMNS:
        add(gxe.ExpectColumnValuesToNotBeNull(column=column))
    add(gxe.ExpectColumnValuesToMatchRegex(column="symbol", regex=r"^[A-Z0-9][A-Z0-9._-]{0,31}$"))
    bases = [str(tf) for tf in BASE_TIMEFRAMES]
    add(gxe.ExpectColumnValuesToBeInSet(column="timeframe", value_set=bases))
    for column in (*PRICE_COLUMNS, "volume", "adj_factor"):
        add(gxe.ExpectColumnValuesToBeOfType(column=column, type_="float64"))
    for column in (*PRICE_COLUMNS, "adj_factor"):
        add(
            gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=0, max_value=FINITE_BOUND, strict_min=True
            )
        )
    add(gxe.ExpectColumnValuesToBeBetween(column="volume", min_value=0, max_value=FINITE_BOUND))
    for body in ("open", "close"):
        add(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="high", column_B=body, or_equal=True
            )
        )
        add(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=body, column_B="low", or_equal=True
            )
        )
    add(gxe.ExpectCompoundColumnsToBeUnique(column_list=["symbol", "timeframe", "ts"]))
    return suite


def _context(gx: Any) -> Any:
    """An in-memory context: nothing written to disk, no progress bars, no analytics."""
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )


def _label(result: dict[str, Any]) -> str:
    config = result["expectation_config"]
    kwargs = config.get("kwargs", {})
    target = kwargs.get("column") or (
        f"{kwargs['column_A']}>={kwargs['column_B']}" if "column_A" in kwargs else None
    )
    target = target or ",".join(kwargs.get("column_list", [])) or "table"
    return f"{config['type']}({target})"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, pd.Timestamp | dt.date | dt.datetime):
        return value.isoformat()
    return value


def validate_bars(frame: pd.DataFrame, parts: list[BarPartition]) -> SuiteResult:
    """Validate a batch of raw bars (all partitions of a run) with the suite, once."""
    import great_expectations as gx

    frame = frame.reset_index(drop=True)  # positions == GE's unexpected indexes
    context = _context(gx)
    batch_def = (
        context.data_sources.add_pandas("bars")
        .add_dataframe_asset(SUITE_NAME)
        .add_batch_definition_whole_dataframe("batch")
    )
    suite = context.suites.add(_suite(gx))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=SUITE_NAME, data=batch_def, suite=suite)
    )
    result = validation.run(
        batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"}
    )
    document = result.to_json_dict()
    failing: dict[BarPartition, Counter[str]] = {}
    failed: list[str] = []
    lines: list[str] = []
    symbols = frame["symbol"].astype(str).to_numpy() if "symbol" in frame else None
    days = frame["session_date"].to_numpy() if "session_date" in frame else None
    for item in document["results"]:
        if item["success"]:
            continue
        label = _label(item)
        failed.append(label)
        details = item.get("result") or {}
        indexes = details.get("unexpected_index_list")
        raised = (item.get("exception_info") or {}).get("raised_exception")
        if indexes and symbols is not None and days is not None:
            pos = np.asarray([int(i) for i in indexes], dtype=np.int64)
            counts = Counter(zip(symbols[pos], days[pos], strict=True))
            for (symbol, day), n in counts.items():
                failing.setdefault(BarPartition(day, str(symbol)), Counter())[label] += n
            first = int(pos[0])
            lines.append(
                f"{label}: {details.get('unexpected_count', len(pos))} rows"
                f" (first {symbols[first]} {frame['ts'].iloc[first]})"
            )
        else:  # a table-level expectation, or one that raised: the whole batch is suspect
            for part in parts:
                failing.setdefault(part, Counter())[label] += 1
            observed = details.get("observed_value")
            reason = "raised an exception" if raised else f"observed {observed!r}"[:200]
            lines.append(f"{label}: {reason}")
        for key in _TRUNCATED_KEYS:
            if isinstance(details.get(key), list) and len(details[key]) > KEPT_UNEXPECTED:
                details[key] = details[key][:KEPT_UNEXPECTED]
                details["truncated_to"] = KEPT_UNEXPECTED
    stats = document.get("statistics", {})
    return SuiteResult(
        success=bool(document["success"]),
        evaluated=int(stats.get("evaluated_expectations", len(document["results"]))),
        failed_expectations=failed,
        failing={p: dict(c) for p, c in failing.items()},
        document=_jsonable(document),
        lines=lines,
    )


def result_key(parts: list[BarPartition], run_id: str | None, now: dt.datetime) -> str:
    days = sorted({p.session_date for p in parts})
    span = f"{days[0]}_{days[-1]}" if days else "empty"
    run = "".join(c for c in (run_id or "adhoc") if c.isalnum() or c == "-")[:36] or "adhoc"
    return f"{EXPECTATIONS_PREFIX}/{span}/{now:%Y%m%dT%H%M%S}-{run}.json"


def store_result(s3: S3Resource, key: str, document: dict[str, Any]) -> int:
    """One PUT of the result JSON (S3Resource writes Parquet; this is the only JSON object)."""
    body = json.dumps(document, separators=(",", ":"), default=str).encode()
    try:
        s3.client().put_object(
            Bucket=s3.bucket, Key=s3.full_key(key), Body=body, ContentType="application/json"
        )
    except (BotoCoreError, ClientError) as exc:
        raise StoreUnavailableError("S3", s3.address, exc) from exc
    return len(body)


def read_result(s3: S3Resource, key: str) -> dict[str, Any]:
    try:
        body = s3.client().get_object(Bucket=s3.bucket, Key=s3.full_key(key))["Body"].read()
    except (BotoCoreError, ClientError) as exc:
        raise StoreUnavailableError("S3", s3.address, exc) from exc
    return json.loads(body)
