"""Find the dev stack another process runs on a state folder, and the environment to use it.

`market-assets dev` (or `stack-run`) keeps the stores' URLs in its own environment only; a
second terminal has none of them. This module rebuilds them from what the running stack left
in its state folder, read-only, so any number of commands may do it at once:

    <state>/roles.json              role passwords (devstack/secrets.py)
    <state>/servers/stack.json      ports, superuser password, S3 keys (devstack/stack.py)
    <state>/servers/stack.lock      flock held by the owner while it runs; holds its pid
    <state>/dagster_home/           the Dagster instance of the stack (cli/dev.py)

A stack counts as running only when the lock file names a live pid *and* its lock is held
(a crashed owner leaves its pid behind but the kernel drops the lock). Each caller gets the
database role it needs and nothing more: reads the reader, pipeline commands the writer,
`db` commands the owner; `stack-run` (a command inside the stack) gets everything `dev` sets.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Literal

from market_assets.core import settings as s
from market_assets.db import bootstrap
from market_assets.devstack.process import process_is_alive
from market_assets.devstack.stack import LOCK_FILE, read_stack_file

StackRole = Literal["reader", "writer", "owner", "all"]

SERVERS_DIR = "servers"  # stack_environment() runs the DevStack in <state>/servers
ROLES_FILE = "roles.json"
MARKET_DB = "market"
DAGSTER_DB = "dagster"

#: Variables that name a store: when one is set, the environment is configured by hand and no
#: running stack is looked for.
STORE_URL_VARIABLES = (
    s.PG_URL,
    s.PG_READER_URL,
    s.PG_OWNER_URL,
    s.PG_ADMIN_URL,
    s.REDIS_URL,
    s.S3_ENDPOINT,
)

#: Variables given together or not at all: access keys meant for AWS would fail on SeaweedFS.
S3_GROUP = (s.S3_ENDPOINT, s.S3_ACCESS_KEY, s.S3_SECRET_KEY)


class StackDiscoveryError(RuntimeError):
    """A stack runs on the folder but its state files cannot be read (still starting?)."""


def stack_owner_pid(state_dir: Path | str) -> int | None:
    """The pid of the process running a stack on ``state_dir``, or None when none runs.

    Read-only: the lock is probed with a shared, non-blocking flock released at once, which
    never disturbs the owner's exclusive lock (and only happens when its pid is alive).
    """
    path = Path(state_dir) / SERVERS_DIR / LOCK_FILE
    try:
        handle = path.open("r")
    except OSError:
        return None
    with handle:
        try:
            pid = int(handle.read().strip() or "0")
        except ValueError:
            return None
        if pid <= 0 or not process_is_alive(pid):
            return None
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return pid  # held: the owner is running
        except OSError:
            return None
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None  # a crashed owner's pid, reused by an unrelated process


def running_stack_environment(
    state_dir: Path | str, role: StackRole = "reader"
) -> dict[str, str] | None:
    """The variables that reach the stack running on ``state_dir`` as ``role``, or None.

    ``reader``: the reader URL, Redis, S3. ``writer``: the writer URL, the Dagster instance
    (DAGSTER_HOME, DAGSTER_PG_URL), Redis, S3. ``owner``: the owner URL, Redis, S3. ``all``:
    what `market-assets dev` exports (every role, the superuser URL included).
    """
    state = Path(state_dir).expanduser().resolve()
    if stack_owner_pid(state) is None:
        return None
    stack = read_stack_file(state / SERVERS_DIR)
    roles = _read_roles(state / ROLES_FILE)
    try:
        assert stack is not None and roles is not None
        admin = str(stack["urls"]["pg_admin"])
        redis_url = str(stack["urls"]["redis"])
        s3_url = str(stack["urls"]["s3"])
        s3 = stack["s3"]
        access_key, secret_key = str(s3["access_key"]), str(s3["secret_key"])
        region = str(s3.get("region") or "")
    except (AssertionError, KeyError, TypeError):
        raise StackDiscoveryError(
            f"a dev stack runs on {state} but its state files are incomplete (still starting?); "
            "try again in a moment"
        ) from None

    def as_role(user: str, database: str = MARKET_DB) -> str:
        return bootstrap.with_credentials(admin, user, roles[user], database=database)

    urls = {
        s.PG_READER_URL: as_role(bootstrap.READER),
        s.PG_URL: as_role(bootstrap.WRITER),
        s.PG_OWNER_URL: as_role(bootstrap.OWNER),
        s.PG_ADMIN_URL: bootstrap.with_credentials(
            admin, "postgres", _password(admin), database=MARKET_DB
        ),
    }
    variables: dict[str, str] = {
        s.REDIS_URL: redis_url,
        s.S3_ENDPOINT: s3_url,
        s.S3_ACCESS_KEY: access_key,
        s.S3_SECRET_KEY: secret_key,
        s.RETENTION_M1: "off",  # as `dev` sets it for the embedded database
    }
    if region:
        variables[s.S3_REGION] = region
    dagster = {
        s.DAGSTER_PG_URL: as_role(bootstrap.DAGSTER, DAGSTER_DB).replace(
            "postgresql://", "postgresql+psycopg2://", 1
        ),
        s.DAGSTER_HOME: str(state / "dagster_home"),
    }
    if role == "reader":
        variables[s.PG_READER_URL] = urls[s.PG_READER_URL]
    elif role == "writer":
        variables[s.PG_URL] = urls[s.PG_URL]
        variables.update(dagster)
    elif role == "owner":
        variables[s.PG_OWNER_URL] = urls[s.PG_OWNER_URL]
    elif role == "all":
        variables.update(urls)
        variables.update(dagster)
    else:
        raise ValueError(f"unknown role {role!r}")
    return variables


def _read_roles(path: Path) -> dict[str, str] | None:
    """roles.json as {role name: password}, or None when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    names = {
        "owner": bootstrap.OWNER,
        "writer": bootstrap.WRITER,
        "reader": bootstrap.READER,
        "dagster": bootstrap.DAGSTER,
    }
    with contextlib.suppress(KeyError):
        return {names[key]: str(data[key]) for key in names}
    return None


def _password(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).password or "")


def configured_by_hand(environ: Mapping[str, str] | None = None) -> bool:
    """True when a store URL is set: the environment names its servers, use those."""
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in STORE_URL_VARIABLES)


def apply_running_stack(
    state_dir: Path | str, role: StackRole, environ: MutableMapping[str, str] | None = None
) -> dict[str, str] | None:
    """Fill ``environ`` (default os.environ) from the stack running on ``state_dir``.

    Nothing happens when a store URL is already set or no stack runs. Otherwise only unset
    variables are filled, except that the S3 endpoint and its keys are set together (keys in
    the shell for AWS would be refused by SeaweedFS). Returns the variables found, or None.
    """
    env = os.environ if environ is None else environ
    if configured_by_hand(env):
        return None
    found = running_stack_environment(state_dir, role)
    if found is None:
        return None
    for name, value in found.items():
        if name in S3_GROUP or not env.get(name):
            env[name] = value
    return found
