"""The contenders of `python -m bench run`: ours and the three LangGraph-API servers, started alike.

Each contender is started by `start(name, procs=..., delay_ms=...)`, a context manager
that yields a `Running` (its protocol, URL and root pid) and stops it afterwards:

- `ours`: `support-agent serve` (`--workers N` for N processes), over WebSockets;
- `before`: the same from another checkout (`--before PATH`, e.g. a `git worktree` of an
  earlier commit), one process: the round's before and after in one invocation;
- `agent-server`: LangGraph's production Agent Server, stock `langgraph-api` on the MIT
  Postgres + Redis runtime `langgraph-runtime-pg` (`LANGGRAPH_RUNTIME_EDITION=pg`), under
  uvicorn (`--workers N`), with a throwaway `redis-server` of its own;
- `aegra`: `aegra-api` under uvicorn (`--workers N`), its pools raised (below);
- `dev`: `langgraph dev` (in-memory runtime, one process only).

Every server gets a fresh database on the one Postgres cluster of the invocation, the
same graph and demo model (`bench/peer/graph.py` for the peers) and the same demo shop.
The peers run from their own venvs under bench/ (gitignored), created on first use with
pinned versions (`VENVS`); nothing else is fetched at run time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PEER_DIR = BENCH / "peer"

_GRAPH_LIBS = ["langgraph==1.2.24", "langchain-core==1.7.7", "langchain==1.4.10", "jsonschema", "pyyaml", "httpx"]
VENVS: dict[str, tuple[Path, list[str]]] = {
    "dev": (BENCH / ".peer-venv", ["langgraph-cli[inmem]==0.4.40", "langgraph-api==0.16.7", *_GRAPH_LIBS]),
    # langgraph-runtime-pg 0.11.1.post1 pins langgraph-api==0.11.1
    "agent-server": (BENCH / ".peer-api", ["langgraph-api==0.11.1", "langgraph-runtime-pg==0.11.1.post1",
                                           *_GRAPH_LIBS]),
    "aegra": (BENCH / ".peer-aegra", ["aegra-api==0.6.0", "sqlalchemy[asyncio]==2.1.9", *_GRAPH_LIBS]),
}
VERSION_OF = {"dev": ["langgraph-api", "langgraph-cli", "langgraph-runtime-inmem"],
              "agent-server": ["langgraph-api", "langgraph-runtime-pg", "redis"],
              "aegra": ["aegra-api", "sqlalchemy"]}
# the pools of every server on the one Postgres: ours' default (DB_POOL_MAX) is 20; the Agent
# Server's runtime defaults to 20 + 20 overflow; aegra's default is 2 (SQLAlchemy) + 6 (LangGraph),
# which queues every run behind 2 connections, so it is raised to the Agent Server's.
AEGRA_POOLS = {"SQLALCHEMY_POOL_SIZE": "20", "SQLALCHEMY_MAX_OVERFLOW": "20", "LANGGRAPH_MIN_POOL_SIZE": "2",
               "LANGGRAPH_MAX_POOL_SIZE": "40"}
OFFLINE = {"LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1",
           "LANGGRAPH_NO_VERSION_CHECK": "1", "LANGSMITH_API_KEY": "", "LANGGRAPH_CLOUD_LICENSE_KEY": "",
           "OTEL_SDK_DISABLED": "true"}


@dataclass
class Running:
    name: str
    kind: str  # "ws" (ours) or "sse" (the LangGraph API servers)
    url: str
    pid: int
    procs: int


def ensure_venv(name: str) -> Path:
    """The peer's venv, created with its pinned packages on first use; returns its bin/ folder."""
    path, packages = VENVS[name]
    marker = path / ".installed"
    if not marker.exists():
        print(f"[bench] creating {path.name} (pip install {' '.join(packages)}) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages], check=True)
        marker.write_text("\n".join(packages))
    return path / "bin"


def versions(name: str) -> dict[str, str]:
    if name in ("ours", "before"):
        import importlib.metadata as m

        code = REPO if name == "ours" else Path(os.environ["BENCH_BEFORE"])
        commit = subprocess.run(["git", "-C", str(code), "log", "-1", "--format=%h %cI"], capture_output=True,
                                text=True, check=False).stdout.strip()
        return {"commit": commit, **{p: m.version(p) for p in ("langgraph", "langchain-core", "uvicorn", "psycopg")}}
    py = VENVS[name][0] / "bin" / "python"
    pkgs = [*VERSION_OF[name], "langgraph", "langchain-core", "uvicorn"]
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            f"{pkgs!r}}}))")
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=False)
    import json

    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-300:]}


def _stop_group(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def _popen(cmd: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    out = open(log, "ab")  # closed in the finally below
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        _stop_group(proc)
        out.close()


def _peer_env(shop: str, delay_ms: int, extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **OFFLINE, "PYTHONPATH": str(REPO), "DEMO_TOKEN_DELAY_MS": str(delay_ms),
            "SHOP_API_URL": shop, "LOG_LEVEL": "WARNING", **extra}


@contextlib.contextmanager
def start(name: str, *, pg: Any, shop: str, workdir: Path, procs: int, delay_ms: int) -> Iterator[Running]:
    from bench.__main__ import wait_http  # the one readiness poll
    from tests.support.pg import free_port
    from tests.support.server import ServerProcess

    db = pg.create_database(f"{name.replace('-', '_')}_{procs}_{uuid.uuid4().hex[:6]}")
    tag = f"{name}-{procs}p-{delay_ms}ms"
    log = workdir / f"{tag}.log"
    if name in ("ours", "before"):
        # PYTHONPATH: the `support-agent` script of a shared venv would import the app it was installed from;
        # "before" is the same server from another checkout (`python -m bench run --before PATH`)
        code = str(REPO) if name == "ours" else os.environ["BENCH_BEFORE"]
        env = {"PYTHONPATH": code, "DATABASE_URL": db, "DEMO_TOKEN_DELAY_MS": str(delay_ms),
               "RATE_LIMIT_MESSAGES": "1000000000",
               "INTERRUPT_TTL_S": "3600", "SHOP_API_URL": shop, "LOG_LEVEL": "warning", "SWEEPER_INTERVAL_S": "1"}
        args = ("--workers", str(procs)) if procs > 1 else ()
        with ServerProcess(env, data_dir=workdir / tag, args=args) as server:
            assert server.proc
            yield Running(name, "ws", server.ws_url, server.proc.pid, procs)
        return

    binp = ensure_venv(name)
    if procs > 1 and name in ("aegra", "agent-server"):
        # both migrate their schema on start-up: once, alone, before N workers race to do it
        with start(name, pg=_SameDb(db), shop=shop, workdir=workdir, procs=1, delay_ms=delay_ms):
            pass
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workers = ["--workers", str(procs)] if procs > 1 else []
    uvicorn = [str(binp / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
               "--log-level", "warning", *workers]
    with contextlib.ExitStack() as stack:
        if name == "agent-server":
            rport = free_port()
            redis = stack.enter_context(_popen(
                [shutil.which("redis-server") or "redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"], env=dict(os.environ), cwd=workdir, log=workdir / f"{tag}-redis.log"))
            wait_tcp(rport, redis)
            env = _peer_env(shop, delay_ms, {
                "LANGGRAPH_RUNTIME_EDITION": "pg", "DATABASE_URI": db, "REDIS_URI": f"redis://127.0.0.1:{rport}",
                "LANGSERVE_GRAPHS": '{"support": "%s:graph"}' % (PEER_DIR / "graph.py"),
                "N_JOBS_PER_WORKER": os.environ.get("BENCH_PEER_JOBS", "10"),
                "MIGRATIONS_PATH": str(workdir / "lg-migrations")})
            proc = stack.enter_context(_popen([*uvicorn, "langgraph_api.server:app"], env=env, cwd=PEER_DIR, log=log))
            health = base + "/ok"
        elif name == "aegra":
            env = _peer_env(shop, delay_ms, {"DATABASE_URL": db, "AEGRA_CONFIG": str(PEER_DIR / "aegra.json"),
                                             **AEGRA_POOLS})
            proc = stack.enter_context(_popen([*uvicorn, "aegra_api.main:app"], env=env, cwd=PEER_DIR, log=log))
            health = base + "/health"
        elif name == "dev":
            if procs != 1:
                raise ValueError("langgraph dev runs one process only")
            state = PEER_DIR / ".langgraph_api"  # the dev server's pickled threads: start empty
            shutil.rmtree(state, ignore_errors=True)
            stack.callback(shutil.rmtree, state, True)
            env = _peer_env(shop, delay_ms, {})
            proc = stack.enter_context(_popen(
                [str(binp / "langgraph"), "dev", "--no-browser", "--no-reload", "--port", str(port), "--host",
                 "127.0.0.1", "--n-jobs-per-worker", os.environ.get("BENCH_PEER_JOBS", "10"), "--config",
                 "langgraph.json", "--server-log-level", "WARNING"], env=env, cwd=PEER_DIR, log=log))
            health = base + "/ok"
        else:
            raise ValueError(f"unknown contender {name!r}")
        try:
            wait_http(health, timeout=180, proc=proc)
            if procs > 1 and name in ("aegra", "agent-server") and proc.poll() is not None:
                raise RuntimeError(f"exited with {proc.returncode}")
        except RuntimeError as exc:
            raise RuntimeError(f"{tag} did not start: {exc}\n{log.read_text()[-2000:]}") from exc
        yield Running(name, "sse", base, proc.pid, procs)


class _SameDb:
    """A stand-in cluster whose `create_database` hands back one existing database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def create_database(self, name: str) -> str:
        return self.url


def wait_tcp(port: int, proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"port {port}: process exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} not open within {timeout}s")
