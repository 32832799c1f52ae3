"""Fixtures for fault tests: a demo shop that outlives the server, helpers to wait and check.

The demo shop runs in its own process (`app.demo.shop:create_shop_app` under uvicorn)
and the server reaches it through `SHOP_API_URL`, so its state (orders, refunds,
the idempotency log) survives a `kill -9` of the server: "no tool ran twice" is
read from the shop itself.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.integration.conftest import SECRET, new_id, token  # noqa: F401  (re-exported for the tests)
from tests.support.pg import free_port
from tests.support.server import REPO, ServerProcess, WsClient

# One customer drives many runs at once in some scenarios (a reader that never reads):
# the per-user run cap is tested on its own (tests/integration/test_user_bounds.py).
FAULT_ENV = {"AUTH_SECRET": SECRET, "RUN_LEASE_S": "2", "SWEEPER_INTERVAL_S": "0.2", "RATE_LIMIT_MESSAGES": "100000",
             "MAX_ACTIVE_RUNS_PER_USER": "100", "INTERRUPT_TTL_S": "600", "LOG_LEVEL": "warning"}


class Shop:
    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "app.demo.shop:create_shop_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: _ok(self.url + "/orders/1001"), 60, "demo shop up")

    def refunds(self, order_id: str) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/refunds", params={"order_id": order_id}, timeout=10).json()["refunds"]

    def order(self, order_id: str) -> dict[str, Any]:
        return httpx.get(f"{self.url}/orders/{order_id}", timeout=10).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(pred: Any, timeout: float, what: str) -> None:
    """Poll a condition (health, a row) with a deadline; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}")


def healthy(server: ServerProcess) -> bool:
    try:
        r = httpx.get(server.base + "/api/health", timeout=2)
        return r.status_code == 200 and r.json().get("database") == "ok"
    except httpx.HTTPError:
        return False


def rss(server: ServerProcess) -> int:
    assert server.proc is not None
    return psutil.Process(server.proc.pid).memory_info().rss


def metric(server: ServerProcess, name: str) -> float:
    for line in httpx.get(server.base + "/metrics", timeout=5).text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)


def thread_events(server: ServerProcess, user: str, thread_id: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.base}/api/replay/{thread_id}", headers={"Authorization": f"Bearer {token(user)}"},
                  timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def assert_whole(frames: list[dict[str, Any]], *, first_seq: int = 1) -> None:
    """Seq contiguous from first_seq, nothing doubled, and the last answer equals its run's tokens."""
    seqs = [f["seq"] for f in frames if "seq" in f]
    assert seqs == list(range(first_seq, first_seq + len(seqs))), f"seq not contiguous: {seqs[:50]}..."
    ends = [f for f in frames if f.get("type") == "message_complete"]
    assert ends, f"no message_complete in {[f['type'] for f in frames][-20:]}"
    end = ends[-1]
    text = "".join(f["content"] for f in frames if f.get("type") == "token" and f.get("run_id") == end["run_id"])
    assert text == end["content"], "the final answer differs from its streamed tokens"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    s = Shop(tmp_path_factory.mktemp("shop") / "shop.log")
    yield s
    s.stop()


async def connect(server: ServerProcess, user: str) -> WsClient:
    return await WsClient.connect(server.ws_url, token(user))
