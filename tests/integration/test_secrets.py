"""Credentials reach resources through EnvVar and never appear in run config or the event log."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterInstance, EnvVar, materialize

from market_assets.core.partition_keys import partition_key
from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource
from tests.plugins.stores import TEST_PASSWORDS, DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_no_secret_in_run_config_or_event_log(
    db: DbTarget,
    s3_server,  # type: ignore[no-untyped-def]
    s3_bucket: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T_PG_URL", db.writer_url)
    monkeypatch.setenv("T_S3_KEY", s3_server.access_key)
    monkeypatch.setenv("T_S3_SECRET", s3_server.secret_key)
    secrets = [TEST_PASSWORDS.writer, s3_server.secret_key]
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", ["USDJPY"])
    day = dt.date(2024, 3, 12)
    result = materialize(
        OHLCV_ASSETS,
        instance=instance,
        resources={
            "postgres": PostgresResource(url=EnvVar("T_PG_URL"), schema_name=db.schema),
            "s3": S3Resource(
                bucket=s3_bucket,
                endpoint_url=s3_server.endpoint_url,
                access_key_id=EnvVar("T_S3_KEY"),
                secret_access_key=EnvVar("T_S3_SECRET"),
                prefix="secrets-test",
            ),
            "redis": RedisResource(url=redis_url, key_prefix="secrets-test:"),
            "sources": BarSourcesResource(),
        },
        partition_key=partition_key(day, "USDJPY"),
    )
    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    haystack = [repr(run.run_config), repr(run.tags)]
    haystack += [repr(record) for record in instance.all_logs(result.run_id)]
    text = "\n".join(haystack)
    assert len(haystack) > 20
    for secret in secrets:
        assert secret not in text
