"""Free TCP ports on the loopback interface.

The dev stack starts real servers on ports chosen at run time, so several checkouts (or a test
session next to a running `market-assets dev`) never collide on fixed numbers. A port that was
used on the previous run is preferred so URLs stay stable across restarts; it is given up only
when someone else has taken it in the meantime.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

LOOPBACK = "127.0.0.1"


def is_port_free(port: int, host: str = LOOPBACK) -> bool:
    """True when a server could listen on ``host:port`` right now.

    SO_REUSEADDR is set like the servers themselves do, so a port whose last connections from
    our own stopped server linger in TIME_WAIT still counts as free (otherwise every restart
    would move to a new port). A socket bound or listening there by anyone else makes it busy.
    """
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_ports(count: int, host: str = LOOPBACK, exclude: Iterable[int] = ()) -> list[int]:
    """``count`` distinct ports the kernel considers free, none of them in ``exclude``.

    All sockets are held open until every port is chosen, so the kernel cannot hand out the
    same ephemeral port twice within one call. The ports are released before returning: a
    server must bind them soon after (a small race with other programs that callers handle by
    retrying on "address in use").
    """
    excluded = set(exclude)
    sockets: list[socket.socket] = []
    ports: list[int] = []
    try:
        attempts = 0
        while len(ports) < count:
            attempts += 1
            if attempts > count + 200:
                raise OSError(f"could not find {count} free ports on {host}")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
            if port not in excluded and port not in ports:
                ports.append(port)
    finally:
        for sock in sockets:
            sock.close()
    return ports


def find_free_port(host: str = LOOPBACK, exclude: Iterable[int] = ()) -> int:
    """One free port (see `find_free_ports`)."""
    return find_free_ports(1, host, exclude)[0]


def choose_port(preferred: int | None, host: str = LOOPBACK, exclude: Iterable[int] = ()) -> int:
    """``preferred`` when it is set, free and not excluded; otherwise a fresh free port."""
    excluded = set(exclude)
    if preferred and preferred not in excluded and is_port_free(preferred, host):
        return preferred
    return find_free_port(host, excluded)
