"""A private PostgreSQL server of our own, to crash and restart under a running Kith.

The shared server on port 5432 serves everyone's tests, so the outage tests never touch it:
they ``initdb`` a cluster in a temporary directory with Debian's binaries and run it on a free
port. PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
user and every command runs through ``runuser``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.test_up import free_port

BINARIES = Path(os.environ.get("KITH_PG_BINARIES", "/usr/lib/postgresql/15/bin"))
# Set in CI: a fault test that cannot set up its outage fails instead of being skipped.
REQUIRED = os.environ.get("KITH_REQUIRE_FAULTS") == "1"


def missing() -> str | None:
    """Why a private server cannot be started here, or None when it can."""
    if not (BINARIES / "initdb").exists() or not (BINARIES / "pg_ctl").exists():
        return f"no PostgreSQL binaries in {BINARIES} (set KITH_PG_BINARIES)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


@dataclass
class PostgresServer:
    """One cluster on 127.0.0.1:``port``; ``crash`` is ``pg_ctl stop -m immediate``."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kith-pg-")))
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str, check: bool = True) -> int:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=60, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.returncode

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, user="postgres")
        self._run(
            str(BINARIES / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start and wait until it accepts connections (after crash recovery, if any)."""
        if self.running():
            return
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        log = str(self.directory / "server.log")
        self._run(str(BINARIES / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log,
                  "-w", "-t", "30", "start")  # fmt: skip

    def running(self) -> bool:
        return self._run(str(BINARIES / "pg_ctl"), "-D", str(self.data), "status", check=False) == 0

    def crash(self) -> None:
        """Stop at once, without a checkpoint: what is not in the WAL on disk is gone."""
        self._run(str(BINARIES / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def remove(self) -> None:
        """Stop (if running) and delete the cluster."""
        with suppress(RuntimeError):
            self.crash()
        shutil.rmtree(self.directory, ignore_errors=True)
