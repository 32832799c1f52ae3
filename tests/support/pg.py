"""A throwaway Postgres cluster for tests, on a loopback TCP port.

Uses the binaries in `SUPPORT_AGENT_TEST_PG_BIN` (CI points it at Debian's
PostgreSQL 15, installed by `.ci/run`) or else the ones pgserver ships, so a fresh
machine with only Python can run the suite. Postgres refuses to run as root, so
as root the cluster runs as a dedicated system user. `stop()`/`start()` let tests
take the database away under a running server.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PgCluster", "free_port"]

SYSTEM_USER = "pgserver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path:
    env = os.environ.get("SUPPORT_AGENT_TEST_PG_BIN")
    if env:
        return Path(env)
    import pgserver._commands as commands

    return Path(commands.POSTGRES_BIN_PATH)


class PgCluster:
    def __init__(self, root: Path | None = None) -> None:
        self.bin = _pg_bin()
        self.root = Path(root or tempfile.mkdtemp(prefix="sa-pg-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            self._ensure_user()
            os.chmod(self.root, 0o777)
            # let the unprivileged user reach the binaries and the data folder
            for p in [self.root, *self.root.parents]:
                with contextlib.suppress(PermissionError):
                    os.chmod(p, os.stat(p).st_mode | 0o011)

    @staticmethod
    def _ensure_user() -> None:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "-s", "/bin/bash", SYSTEM_USER], check=True, capture_output=True)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", SYSTEM_USER, "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=self.root)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> PgCluster:
        self._run("initdb", "-A", "trust", "-U", "postgres", "-D", str(self.data), "--no-sync")
        return self

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
