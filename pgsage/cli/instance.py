"""One `pgsage up` per data directory, and ports that are free before anything starts.

The first `up` holds an exclusive `flock` on `<data-dir>/up.lock` (which names its UI address)
for as long as it runs; the kernel drops the lock when the process ends, however it ends. A
second `up` on the same data directory, or on the UI port of a running pgsage, says where
that one is and leaves with exit 1, touching nothing. A port some other program holds is one
line naming the port and the flag that moves it (exit 2).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from pgsage.cli.errors import FAILURE, USAGE, CliError

LOCK_FILE = "up.lock"


class AlreadyRunning(CliError):
    def __init__(self, url: str) -> None:
        super().__init__(f"pgsage is already running at {url}", FAILURE)


def hold(data_dir: Path, url: str) -> int:
    """The descriptor holding the data directory's lock (close it to let go); raises
    AlreadyRunning, with the holder's address, when another `up` holds it."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 4096).decode(errors="replace").strip()
        os.close(fd)
        raise AlreadyRunning(holder or url) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{url}\n".encode())
    return fd


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port` (or holds it bound)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _pgsage_gateway(url: str) -> bool:
    """Whether a pgsage gateway answers at `url` (its /healthz names a version)."""
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return "version" in json.loads(response.read())
    return False


def check_ports(url: str, ports: dict[str, int]) -> None:
    """Raises AlreadyRunning when a pgsage gateway holds the UI port (`--http-port` comes
    first in `ports`), else CliError (exit 2) for the first port another program holds."""
    for flag, port in ports.items():
        if port == 0 or not port_in_use(port):
            continue
        if flag == "--http-port" and _pgsage_gateway(url):
            raise AlreadyRunning(url)
        raise CliError(
            f"port {port} on 127.0.0.1 is already in use: choose another with "
            f"`pgsage up {flag} N` (or `make run ARGS='{flag} N'`)",
            USAGE,
        )
