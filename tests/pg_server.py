"""A throwaway PostgreSQL server for tests: initdb in a temporary folder, started on a free
port, stoppable and startable again on the same port (an outage, for real), removed at the end.
Shared by tests/test_postgres.py and tests/test_postgres_outage.py."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NO_SERVER = (
    "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
    ".ci/run should install Debian's postgresql package (.ci/install-postgres)"
)


def _initdb() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prefix() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _as_postgres(*command: str | Path, timeout: float = 120) -> None:
    """Run a server tool as the postgres user (initdb refuses root)."""
    done = subprocess.run(
        [*_prefix(), *map(str, command)], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"


class PgServer:
    """One server's data folder, port and tools; `url` is its `hptui` database."""

    def __init__(self, initdb: Path, base: Path) -> None:
        self.pg_ctl = initdb.parent / "pg_ctl"
        self.base, self.data, self.log = base, base / "data", base / "server.log"
        self.port = _free_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/hptui"
        self.ever_started = False
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        _as_postgres(initdb, "-D", self.data, "-A", "trust", "-U", "postgres",
                     "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self.ever_started = True  # a failed start may still leave a postmaster: stop it later
        _as_postgres(self.pg_ctl, "-D", self.data, "-l", self.log, "-w", "-t", "60",
                     "-o", options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        _as_postgres(self.pg_ctl, "-D", self.data, "-m", mode, "-w", "stop")

    def create_database(self) -> None:
        import psycopg2

        admin = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        try:
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute("CREATE DATABASE hptui")
        finally:
            admin.close()

    def close(self) -> None:
        if self.ever_started:
            subprocess.run(
                [*_prefix(), str(self.pg_ctl), "-D", str(self.data), "-m", "immediate", "-w",
                 "stop"], capture_output=True, timeout=60,
            )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[PgServer]:
    """A started server with an empty `hptui` database; skipped (failed on CI) without the
    server binaries."""
    initdb = _initdb()
    if initdb is None:
        if os.environ.get("CI"):
            pytest.fail(NO_SERVER)
        pytest.skip(NO_SERVER)
    base = Path(tempfile.mkdtemp(prefix="hptui-pg-", dir="/tmp"))
    base.chmod(0o755)
    server: PgServer | None = None
    try:
        server = PgServer(initdb, base)
        server.start()
        server.create_database()
        yield server
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(base, ignore_errors=True)
