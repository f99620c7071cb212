"""A rewrite never destroys the previous object: S3 bucket versioning, proven on SeaweedFS.

The bucket the fixtures and the dev stack create is versioned; rewriting a partition's object
makes the new bytes current for every reader that names no version (GET, LIST, pyarrow),
and the previous version stays readable by its id. Deleting leaves a delete marker, not a hole
in the history.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pyarrow as pa
import pytest

from market_assets.core.storage_layout import raw_object_key
from market_assets.devstack.seaweed import S3Endpoint, ensure_bucket
from resources.s3 import S3Resource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

KEY = raw_object_key("D1", dt.date(2024, 3, 11), "7203")


def _fresh(s3_server: S3Endpoint, **kwargs: object) -> S3Resource:
    return S3Resource(
        bucket=f"v-{uuid.uuid4().hex[:12]}",
        endpoint_url=s3_server.endpoint_url,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
        region=s3_server.region,
        **kwargs,
    )


def test_a_new_bucket_is_created_versioned(s3_server: S3Endpoint) -> None:
    store = _fresh(s3_server)
    store.ensure_bucket()
    assert store.versioning_status() == "Enabled"
    store.ensure_bucket()  # idempotent
    assert store.versioning_status() == "Enabled"

    unversioned = _fresh(s3_server, versioning=False)
    unversioned.ensure_bucket()
    assert unversioned.versioning_status() == "Off"
    unversioned.ensure_bucket()
    unversioned.model_copy(update={"versioning": True}).ensure_bucket()  # an existing bucket
    assert unversioned.versioning_status() == "Enabled"


def test_the_dev_stack_bucket_is_versioned(s3_server: S3Endpoint) -> None:
    name = ensure_bucket(s3_server, f"dev-{uuid.uuid4().hex[:12]}")
    assert s3_server.client().get_bucket_versioning(Bucket=name)["Status"] == "Enabled"


def test_rewriting_a_partition_keeps_the_previous_version_readable(s3_store: S3Resource) -> None:
    assert s3_store.versioning_status() == "Enabled"  # the fixtures' bucket
    s3_store.write_parquet(KEY, pa.table({"close": [3505.0]}), {"rev": "1"})
    s3_store.write_parquet(KEY, pa.table({"close": [3506.0, 3507.0]}), {"rev": "2"})

    assert s3_store.read_parquet(KEY).column("close").to_pylist() == [3506.0, 3507.0]
    assert [o.key for o in s3_store.list_objects(KEY)] == [KEY]  # readers see one object
    latest, previous = s3_store.object_versions(KEY)
    assert latest.is_latest and not previous.is_latest
    assert latest.version_id != previous.version_id
    old = s3_store.read_parquet(KEY, version_id=previous.version_id)
    assert old.column("close").to_pylist() == [3505.0]
    assert old.schema.metadata[b"rev"] == b"1"

    assert s3_store.delete_prefix(KEY.rsplit("/", 1)[0]) == 1
    assert not s3_store.exists(KEY) and list(s3_store.list_objects(KEY)) == []
    versions = s3_store.object_versions(KEY)
    assert {v.version_id for v in versions} == {latest.version_id, previous.version_id}
    restored = s3_store.read_parquet(KEY, version_id=latest.version_id)
    assert restored.column("close").to_pylist() == [3506.0, 3507.0]


def test_an_unknown_version_is_a_missing_object(s3_store: S3Resource) -> None:
    s3_store.write_parquet(KEY, pa.table({"close": [1.0]}))
    with pytest.raises(FileNotFoundError):
        s3_store.read_parquet(KEY, version_id="0000000000000000ffffffffffffffff")
