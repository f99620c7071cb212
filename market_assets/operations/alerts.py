"""Failures worth a human's attention: recorded in data_collection_log, posted to a webhook.

Open-source Dagster has no alerting of its own; the run-failure and freshness sensors share
this one path so that both kinds of alert look the same to whoever reads them. The webhook is
optional (MARKET_ASSETS_ALERT_WEBHOOK); a webhook that is down is logged, never fatal, since
the failure is already in the database.
"""

import json
import logging
import urllib.request

from market_assets.core.settings import ALERT_WEBHOOK, env
from market_assets.ohlcv.collection_log import CollectionEntry, write_collection_log
from resources.errors import redact_url
from resources.postgres import PostgresResource

MAX_ERROR_CHARS = 2000
MAX_ALERT_CHARS = 300


def record_failure(
    postgres: PostgresResource, asset: str, partition_key: str, error: str, run_id: str | None
) -> None:
    entry = CollectionEntry(
        asset=asset,
        partition_key=partition_key,
        symbol="",
        session_date=None,  # type: ignore[arg-type]
        source="dagster",
        status="failed",
        error=error[:MAX_ERROR_CHARS],
        run_id=run_id,
    )
    with postgres.transaction() as conn:
        write_collection_log(conn, [entry])


def post_alert(text: str, log: logging.Logger | logging.LoggerAdapter) -> bool:
    """POST {"text": ...} to the webhook when one is configured; True when it was accepted."""
    url = env(ALERT_WEBHOOK)
    if not url:
        return False
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except OSError as exc:
        log.warning(f"alert webhook {redact_url(url)} failed: {exc}")
        return False
    return True
