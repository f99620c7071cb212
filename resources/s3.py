"""S3 (SeaweedFS locally, AWS in production): Parquet objects, one per partition.

The bucket is versioned (`ensure_bucket` turns S3 versioning on, and fails when the server
cannot): a rewritten partition or a restated vendor file becomes the new current version and
the previous bytes stay readable by version id (`object_versions`, `read_parquet(...,
version_id=)`), while every reader that names no version (LIST, GET, pyarrow) keeps seeing
the latest only. Storage of old versions is bounded by the bucket's lifecycle rule for
noncurrent versions (README, "Object versions"), not here.

Writes go through boto3 as one PUT of a fully serialised file (atomic for readers; see
`write_parquet`), because pyarrow's output streams have no abort: closing one after an error
completes the upload with whatever was written. Reads go through pyarrow's filesystem and
datasets, which fetch many objects in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from resources.errors import StoreUnavailableError

# What S3 answers a conditional PUT whose condition failed: 412 PreconditionFailed, or 409
# ConditionalRequestConflict when AWS sees two conditional writes of one key at once.
_CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


class ConcurrentWriteError(RuntimeError):
    """Other writers kept replacing an object during a read-modify-write: retry the run."""

    retryable = True


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


@dataclass(frozen=True)
class ObjectVersion:
    """One stored version of a key; `is_latest` is the one readers see."""

    key: str
    version_id: str
    is_latest: bool
    size: int
    etag: str
    last_modified: Any


@dataclass(frozen=True)
class ParquetObject:
    """One object to write: its key, its rows, and key/value metadata for the file footer."""

    key: str
    table: pa.Table
    metadata: dict[str, str] | None = None


class S3Resource(ConfigurableResource):
    """One bucket (and optional key prefix) of an S3-compatible store."""

    bucket: str
    endpoint_url: str | None = Field(default=None, description="None means AWS itself.")
    access_key_id: str | None = Field(default=None, description="EnvVar; None: AWS chain.")
    secret_access_key: str | None = Field(default=None, description="EnvVar.")
    region: str = "us-east-1"
    prefix: str = Field(default="", description="Key prefix for every object (tests, tenants).")
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    request_timeout_s: float = Field(default=60.0, gt=0)
    compression: str = "zstd"
    upload_threads: int = Field(
        default=8, ge=1, le=64, description="Parallel PUTs, GETs and LISTs per batch."
    )
    versioning: bool = Field(
        default=True,
        description="ensure_bucket turns on S3 versioning: a rewrite keeps the old version.",
    )

    _fs: pafs.S3FileSystem | None = PrivateAttr(default=None)
    _client: Any = PrivateAttr(default=None)
    _conflicts: int = PrivateAttr(default=0)

    @property
    def conflicts(self) -> int:
        """Conditional PUTs of `update_parquet` refused because another writer came first."""
        return self._conflicts

    @property
    def address(self) -> str:
        if not self.endpoint_url:
            return f"s3://{self.bucket} ({self.region})"
        parts = urlsplit(self.endpoint_url)
        return f"{parts.netloc or self.endpoint_url}/{self.bucket}"

    def full_key(self, key: str) -> str:
        key = key.lstrip("/")
        if ".." in key.split("/"):
            raise ValueError(f"object key may not contain '..': {key[:80]!r}")
        return f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key

    def filesystem(self) -> pafs.S3FileSystem:
        if self._fs is None:
            kwargs: dict[str, Any] = {
                "region": self.region,
                "connect_timeout": self.connect_timeout_s,
                "request_timeout": self.request_timeout_s,
                # Retries belong to Dagster's retry policies.
                "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=1),
            }
            if self.access_key_id:
                kwargs["access_key"] = self.access_key_id
                kwargs["secret_key"] = self.secret_access_key
            if self.endpoint_url:
                parts = urlsplit(self.endpoint_url)
                kwargs["endpoint_override"] = parts.netloc
                kwargs["scheme"] = parts.scheme or "http"
            self._fs = pafs.S3FileSystem(**kwargs)
        return self._fs

    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                region_name=self.region,
                config=Config(
                    connect_timeout=self.connect_timeout_s,
                    read_timeout=self.request_timeout_s,
                    retries={"max_attempts": 1, "mode": "standard"},
                    s3={"addressing_style": "path"},
                ),
            )
        return self._client

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError("S3", self.address, exc)

    def health(self) -> dict[str, Any]:
        try:
            self.client().head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc) from exc
        return {"store": "S3", "address": self.address, "bucket": self.bucket}

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists and, with `versioning`, turn versioning on
        (an existing unversioned bucket too: versions start with the next write)."""
        try:
            self.client().head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise self._unavailable(exc) from exc
            self.client().create_bucket(Bucket=self.bucket)
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc
        if self.versioning:
            self.enable_versioning()

    def versioning_status(self) -> str:
        """'Enabled', 'Suspended', or 'Off' (never enabled)."""
        try:
            answer = self.client().get_bucket_versioning(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc) from exc
        return str(answer.get("Status") or "Off")

    def enable_versioning(self) -> None:
        """Turn bucket versioning on; a server that accepts the call but does not keep it
        fails here, not later when a restated file has already replaced the old bytes."""
        if self.versioning_status() == "Enabled":
            return
        try:
            self.client().put_bucket_versioning(
                Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc) from exc
        status = self.versioning_status()
        if status != "Enabled":
            raise RuntimeError(
                f"S3 at {self.address} did not enable versioning (status {status}): restated "
                "files would destroy the previous objects; use a server with versioning or "
                "set versioning=False knowingly"
            )

    def object_versions(self, key: str) -> list[ObjectVersion]:
        """Every stored version of exactly `key`, newest first (delete markers left out)."""
        full = self.full_key(key)
        found: list[ObjectVersion] = []
        try:
            paginator = self.client().get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for v in page.get("Versions", []):
                    if v["Key"] != full:
                        continue
                    found.append(
                        ObjectVersion(
                            key=key,
                            version_id=str(v["VersionId"]),
                            is_latest=bool(v.get("IsLatest")),
                            size=int(v["Size"]),
                            etag=str(v.get("ETag", "")).strip('"'),
                            last_modified=v.get("LastModified"),
                        )
                    )
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc) from exc
        return sorted(found, key=lambda v: (not v.is_latest, _newest_first(v.last_modified)))

    def read_bytes(self, key: str, version_id: str | None = None) -> bytes:
        """The object's bytes (the latest version, or `version_id`)."""
        return self._get_body(key, version_id)

    # -- Parquet ---------------------------------------------------------------------------
    def write_parquet(
        self, key: str, table: pa.Table, metadata: dict[str, str] | None = None
    ) -> ObjectInfo:
        """Write one Parquet object; readers see the old object or the complete new one.

        The file is serialised in memory first (a partition is kilobytes to a few megabytes)
        and sent in a single PUT, which S3 applies atomically; a failure while serialising
        never reaches the store, and a failed upload leaves the previous object in place.
        """
        body = self._serialise(table, metadata)
        try:
            self.client().put_object(
                Bucket=self.bucket,
                Key=self.full_key(key),
                Body=body,
                ContentType="application/vnd.apache.parquet",
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc) from exc
        return ObjectInfo(key=key, size=len(body))

    def update_parquet(
        self,
        key: str,
        merge: Callable[[pa.Table | None], pa.Table],
        metadata: dict[str, str] | Callable[[pa.Table], dict[str, str]] | None = None,
        *,
        max_attempts: int = 8,
    ) -> ObjectInfo:
        """Read-modify-write of one object that holds more than one session, without losing
        a concurrent writer's rows: optimistic concurrency on the object's ETag.

        `merge` gets the current table (None when the object does not exist) and returns the
        new one (`metadata`, when a function, is computed from that table); the PUT is
        conditional (`If-Match: <etag read>`, or `If-None-Match: *` for a new object), so
        when another run replaced the object in between, S3 answers 412 and this reads the
        new version and merges again, up to `max_attempts` times; then a
        ConcurrentWriteError (retryable: the run's retry policy takes it). Why not a lock: a
        conditional PUT needs no lock table and no lease, and a crashed writer leaves nothing
        to clean up; SeaweedFS and AWS S3 both apply the condition atomically.
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        for _attempt in range(max_attempts):
            body, etag = self._get_with_etag(key)
            current = None if body is None else self._parse(key, body, None)
            merged = merge(current)
            meta = metadata(merged) if callable(metadata) else metadata
            data = self._serialise(merged, meta)
            condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
            try:
                self.client().put_object(
                    Bucket=self.bucket,
                    Key=self.full_key(key),
                    Body=data,
                    ContentType="application/vnd.apache.parquet",
                    **condition,
                )
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in _CONFLICT_CODES or status in (409, 412):
                    self._conflicts += 1
                    continue
                raise self._unavailable(exc) from exc
            except BotoCoreError as exc:
                raise self._unavailable(exc) from exc
            return ObjectInfo(key=key, size=len(data))
        raise ConcurrentWriteError(
            f"{key}: another writer replaced the object {max_attempts} times in a row"
        )

    def _get_with_etag(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            response = self.client().get_object(Bucket=self.bucket, Key=self.full_key(key))
            return response["Body"].read(), str(response["ETag"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None, None
            raise self._unavailable(exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc

    def _serialise(self, table: pa.Table, metadata: dict[str, str] | None) -> bytes:
        """The whole Parquet file in memory, `metadata` added to the footer."""
        if metadata:
            schema_meta = dict(table.schema.metadata or {})
            schema_meta.update({k.encode(): v.encode() for k, v in metadata.items()})
            table = table.replace_schema_metadata(schema_meta)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=self.compression)
        return sink.getvalue().to_pybytes()

    def write_parquet_many(self, objects: Sequence[ParquetObject]) -> list[ObjectInfo]:
        """Write several objects (each atomically, as `write_parquet`), `upload_threads` at a
        time; returns their infos in the order given.

        Why threads: a batch writes one small object per partition, and each PUT is a round
        trip the process spends waiting (700 sequential PUTs were 10 s of a 65 s backfill
        run); Parquet serialisation releases the GIL too. boto3 clients are thread-safe.
        All uploads are attempted; the first failure is raised after the others finished,
        so a failed batch leaves no upload running behind it.
        """
        if len(objects) <= 1 or self.upload_threads == 1:
            return [self.write_parquet(o.key, o.table, o.metadata) for o in objects]
        self.client()  # created once, before the threads share it
        with ThreadPoolExecutor(
            max_workers=min(self.upload_threads, len(objects)), thread_name_prefix="s3-put"
        ) as pool:
            futures = [pool.submit(self.write_parquet, o.key, o.table, o.metadata) for o in objects]
            wait(futures)
        return [f.result() for f in futures]

    def read_parquet(
        self, key: str, columns: list[str] | None = None, *, version_id: str | None = None
    ) -> pa.Table:
        """One object in one GET: a consistent version even while a concurrent run replaces
        it (see `read_many`); `version_id` reads an earlier version (`object_versions`). A
        missing key raises FileNotFoundError."""
        return self._parse(key, self._get_body(key, version_id), columns)

    def read_many(self, keys: list[str], columns: list[str] | None = None) -> pa.Table:
        """Several objects as one table (`read_each`, concatenated)."""
        tables = self.read_each(keys, columns)
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def read_each(self, keys: list[str], columns: list[str] | None = None) -> list[pa.Table]:
        """Each object as its own table (with its own metadata), in the order of `keys`; each
        fetched whole in one GET, `upload_threads` GETs at a time.

        Why not a pyarrow dataset over the keys: Arrow takes each object's size from a HEAD,
        then reads the footer and the column chunks with ranged GETs. When a concurrent run
        replaces the object in between (overlapping backfills, a daily run during a
        backfill), those ranges come from two versions and the read fails with "Couldn't
        deserialize thrift". One GET per object returns one version, as S3 promises; the
        objects are one partition each (tens to hundreds of KB), so whole-object GETs cost no
        more than the ranged ones.
        """
        if not keys:
            raise ValueError("read_many needs at least one key")
        if len(keys) == 1 or self.upload_threads == 1:
            bodies = [self._get_body(k) for k in keys]
        else:
            self.client()  # created once, before the threads share it
            with ThreadPoolExecutor(
                max_workers=min(self.upload_threads, len(keys)), thread_name_prefix="s3-get"
            ) as pool:
                bodies = list(pool.map(self._get_body, keys))
        return [self._parse(k, b, columns) for k, b in zip(keys, bodies, strict=True)]

    def _get_body(self, key: str, version_id: str | None = None) -> bytes:
        extra = {"VersionId": version_id} if version_id else {}
        try:
            response = self.client().get_object(Bucket=self.bucket, Key=self.full_key(key), **extra)
            return response["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound", "NoSuchVersion"):
                raise FileNotFoundError(key) from exc
            raise self._unavailable(exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc

    @staticmethod
    def _parse(key: str, body: bytes, columns: list[str] | None) -> pa.Table:
        """The object's bytes as a table; bytes that are not Parquet name their key."""
        try:
            return pq.read_table(pa.BufferReader(body), columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"s3 object {key} is not a readable Parquet file: {exc}") from exc

    # -- listing and deleting --------------------------------------------------------------
    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        full = self.full_key(prefix)
        strip = len(self.full_key("")) if self.prefix.strip("/") else 0
        try:
            paginator = self.client().get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for obj in page.get("Contents", []):
                    yield ObjectInfo(key=obj["Key"][strip:], size=int(obj["Size"]))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc) from exc

    def list_many(self, prefixes: Sequence[str]) -> list[ObjectInfo]:
        """Every object under each of `prefixes`, `upload_threads` LISTs at a time.

        Why threads: finding a batch's objects takes one LIST per session date, and 100
        sequential LISTs were 1.4 s of a 1,000-partition batch spent waiting on round trips.
        """
        if len(prefixes) <= 1 or self.upload_threads == 1:
            return [o for prefix in prefixes for o in self.list_objects(prefix)]
        self.client()  # created once, before the threads share it
        with ThreadPoolExecutor(
            max_workers=min(self.upload_threads, len(prefixes)), thread_name_prefix="s3-list"
        ) as pool:
            listed = pool.map(lambda prefix: list(self.list_objects(prefix)), prefixes)
            return [o for objects in listed for o in objects]

    def exists(self, key: str) -> bool:
        try:
            self.client().head_object(Bucket=self.bucket, Key=self.full_key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._unavailable(exc) from exc
        except (BotoCoreError, EndpointConnectionError) as exc:
            raise self._unavailable(exc) from exc

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (a partition); returns how many went."""
        return self.delete_keys([o.key for o in self.list_objects(prefix)])

    def delete_keys(self, keys: Sequence[str]) -> int:
        """Delete these objects, 1,000 per request (S3's limit); returns how many were asked.
        With versioning on, each gets a delete marker and its versions stay restorable."""
        keys = list(keys)
        deleted = 0
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            try:
                self.client().delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self.full_key(k)} for k in chunk], "Quiet": True},
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._unavailable(exc) from exc
            deleted += len(chunk)
        return deleted


def _newest_first(when: Any) -> float:
    """Sort key putting later `LastModified` first (None last)."""
    return -when.timestamp() if hasattr(when, "timestamp") else float("inf")
