"""Start-up, health and configuration of `support-agent serve`, as an operator meets them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.pg import PgCluster, free_port
from tests.support.server import REPO, ServerProcess

CLI = [str(Path(sys.executable).parent / "support-agent")]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env={**os.environ, **(env or {})}, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_embedded_postgres_by_default(tmp_path: Path) -> None:
    """Without DATABASE_URL the server starts its own Postgres in DATA_DIR/pg and stops it on exit."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    server = ServerProcess(data_dir=tmp_path)
    server.env = {**env, **{k: v for k, v in server.env.items() if k != "DATABASE_URL"}}
    server.env.pop("DATABASE_URL", None)
    with server:
        r = httpx.get(server.base + "/api/health")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "ok" and body["database"] == "ok" and body["version"]
        assert (tmp_path / "pg" / "PG_VERSION").exists()
    assert server.proc is not None and server.proc.returncode == 0


def test_external_postgres_and_health_follows_outage(tmp_path: Path) -> None:
    """With DATABASE_URL: health is 503 naming the database while Postgres is down, 200 once back (live: always 200)."""
    cluster = PgCluster(tmp_path / "pg").init()
    cluster.start()
    try:
        with ServerProcess({"DATABASE_URL": cluster.url}, data_dir=tmp_path / "data") as server:
            assert httpx.get(server.base + "/api/health").json()["database"] == "ok"
            cluster.stop()
            r = httpx.get(server.base + "/api/health", timeout=10)
            assert r.status_code == 503
            assert "database" in r.json() and r.json()["database"] != "ok"
            live = httpx.get(server.base + "/api/health/live", timeout=10)
            assert live.status_code == 200, "liveness ignores Postgres: an outage must not restart every replica"
            cluster.start()
            deadline = time.monotonic() + 30
            while True:
                r = httpx.get(server.base + "/api/health", timeout=10)
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
            assert r.status_code == 200, r.text
    finally:
        cluster.destroy()


def test_two_processes_migrate_one_database_at_once(pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"mig_{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "DATABASE_URL": url}
    procs = [subprocess.Popen([*CLI, "migrate"], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    import psycopg

    with psycopg.connect(url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(len(versions))) and versions


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SESSION_TTL_S": "soon"}, "SESSION_TTL_S"),
        ({"RATE_LIMIT_MESSAGES": "0"}, "RATE_LIMIT_MESSAGES"),
        ({"LLM_PROVIDER": "skynet"}, "LLM_PROVIDER"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"AUTH_SECRET": "short"}, "AUTH_SECRET"),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(env: dict[str, str], names: str) -> None:
    r = run_cli("serve", "--port", str(free_port()), "--no-frontend-build", env=env)
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert names in lines[0] and "Traceback" not in r.stderr


def test_unreachable_database_is_one_line_and_exit_2() -> None:
    r = run_cli("serve", "--port", str(free_port()), "--no-frontend-build",
                env={"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing", "DB_CONNECT_TIMEOUT_S": "2"})
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Postgres" in lines[0] and "Traceback" not in r.stderr


def test_refuses_public_address_without_auth_secret() -> None:
    r = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--no-frontend-build")
    assert r.returncode == 2 and "AUTH_SECRET" in r.stderr


def test_token_command_prints_a_verifiable_jwt() -> None:
    import jwt

    secret = "token-command-secret-0123456789"
    r = run_cli("token", "--user", "carol", "--role", "operator", "--ttl", "60", env={"AUTH_SECRET": secret})
    assert r.returncode == 0, r.stderr
    claims = jwt.decode(r.stdout.strip(), secret, algorithms=["HS256"])
    assert claims["sub"] == "carol" and claims["role"] == "operator" and claims["exp"] - time.time() <= 61


def test_sigterm_closes_sockets_with_1001(pg_cluster: PgCluster, tmp_path: Path) -> None:
    import asyncio

    import websockets

    url = pg_cluster.create_database(f"sig_{uuid.uuid4().hex[:8]}")
    server = ServerProcess({"DATABASE_URL": url}, data_dir=tmp_path).start()

    async def scenario() -> int | None:
        ws = await websockets.connect(server.ws_url)
        await ws.recv()
        server.proc.terminate()  # type: ignore[union-attr]
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 20)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None

    code = asyncio.run(scenario())
    assert code == 1001
    assert server.proc is not None and server.proc.wait(30) == 0
