"""Embedded servers for development and tests: PostgreSQL, Valkey, SeaweedFS, PGlite.

Real servers from PyPI wheels (no downloads at run time), started on free loopback ports with
their data under one state folder: `DevStack` runs the first three together; each server class
can also be used alone (the test fixtures do). PGlite + TimescaleDB lives in `pglite`.
"""

from market_assets.devstack.ports import choose_port, find_free_port, find_free_ports, is_port_free
from market_assets.devstack.postgres import PostgresServer
from market_assets.devstack.process import PortInUseError, ServerStartError
from market_assets.devstack.seaweed import S3Endpoint, SeaweedPorts, SeaweedServer, ensure_bucket
from market_assets.devstack.stack import DevStack, StackBusyError, read_stack_file
from market_assets.devstack.valkey import ValkeyServer

__all__ = [
    "DevStack",
    "PortInUseError",
    "PostgresServer",
    "S3Endpoint",
    "SeaweedPorts",
    "SeaweedServer",
    "ServerStartError",
    "StackBusyError",
    "ValkeyServer",
    "choose_port",
    "ensure_bucket",
    "find_free_port",
    "find_free_ports",
    "is_port_free",
    "read_stack_file",
]
