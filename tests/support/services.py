"""Throwaway PgBouncer (transaction mode) and redis-server processes for tests.

Both are the Debian packages (`.ci/run` installs them; `scripts/test` says so when
they are missing), started on a free loopback port in a temporary folder and
stopped by the fixture that made them. As root they run as the same unprivileged
user as the Postgres cluster (`tests.support.pg.SYSTEM_USER`): PgBouncer refuses root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.pg import SYSTEM_USER, PgCluster, free_port

__all__ = ["PgBouncer", "RedisServer"]

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:g}s: {log.read_text(errors='replace')[-2000:]}")


def _require(binary: str, package: str) -> None:
    if not Path(binary).is_file():
        raise RuntimeError(f"{binary} is missing: install the Debian package ({package}); .ci/run does")


class PgBouncer:
    """PgBouncer in transaction mode in front of `cluster`: every database, user `postgres`, no password."""

    def __init__(self, cluster: PgCluster, *, pool_size: int = 20) -> None:
        _require(PGBOUNCER, "apt-get install pgbouncer")
        self.cluster = cluster
        self.root = Path(tempfile.mkdtemp(prefix="sa-pgb-"))
        os.chmod(self.root, 0o777)
        self.port = free_port()
        self.log = self.root / "pgbouncer.log"
        self.ini = self.root / "pgbouncer.ini"
        self.ini.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={cluster.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            "auth_type = trust\nadmin_users = postgres\n"
            f"auth_file = {self.root / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\nmax_client_conn = 2000\n"
            # LangGraph and psycopg set these at connect; PgBouncer must let them through
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.log}\npidfile = {self.root / 'pgbouncer.pid'}\n"
        )
        (self.root / "users.txt").write_text('"postgres" ""\n')
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def transactions(self, dbname: str) -> int:
        """Transactions PgBouncer has pooled for `dbname` so far (its admin console's SHOW STATS)."""
        out = subprocess.run([str(self.cluster.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", "pgbouncer", "-A", "-F", "\t", "-c", "SHOW STATS"],
                             check=True, capture_output=True, text=True).stdout.splitlines()
        header = out[0].split("\t")
        for line in out[1:]:
            row = dict(zip(header, line.split("\t"), strict=False))
            if row.get("database") == dbname:
                return int(row["total_xact_count"])
        return 0

    def start(self) -> PgBouncer:
        self.log.touch()
        os.chmod(self.log, 0o666)
        cmd = [PGBOUNCER, str(self.ini)]
        if os.geteuid() == 0:
            PgCluster._ensure_user()
            for f in self.root.iterdir():
                os.chmod(f, 0o666)
            cmd = ["runuser", "-u", SYSTEM_USER, "--", *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, self.log, "pgbouncer")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A redis-server with no persistence; `restart()` keeps its port (a Redis restart mid-run)."""

    def __init__(self) -> None:
        _require(REDIS_SERVER, "apt-get install redis-server")
        self.root = Path(tempfile.mkdtemp(prefix="sa-redis-"))
        self.port = free_port()
        self.log = self.root / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.log.touch()
        _wait_port(self.port, self.proc, self.log, "redis-server")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)
