"""`support-agent chat` against the real server: streams, approvals, transcript."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.conftest import new_id, token
from tests.support.server import REPO, ServerProcess


def test_chat_streams_answers_and_asks_for_approval(server: ServerProcess) -> None:
    user = new_id("cli")
    thread = new_id()
    script = "What is the status of order 1042?\nCancel order 1050\ny\n/quit\n"
    exe = Path(sys.executable).parent / "support-agent"
    r = subprocess.run([str(exe), "chat", "--server", server.base, "--thread", thread, "--token", token(user)],
                       input=script, capture_output=True, text=True, timeout=60, cwd=REPO, env=os.environ)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Order 1042 is shipped" in out
    assert "[tool get_order_status" in out
    assert "approval needed" in out and "Cancel order 1050" in out
    assert "has been cancelled" in out
    assert httpx.get(f"{server.base}/demo-shop/orders/1050").json()["status"] == "cancelled"
    transcript = httpx.get(f"{server.base}/api/threads/{thread}",
                           headers={"Authorization": f"Bearer {token(user)}"}).json()
    assert [m["role"] for m in transcript["messages"]] == ["user", "assistant", "user", "assistant"]


def test_chat_without_token_explains_sign_in(server: ServerProcess) -> None:
    exe = Path(sys.executable).parent / "support-agent"
    r = subprocess.run([str(exe), "chat", "--server", server.base], input="/quit\n", capture_output=True,
                       text=True, timeout=30, cwd=REPO, env={k: v for k, v in os.environ.items()
                                                            if k != "SUPPORT_AGENT_TOKEN"})
    assert r.returncode != 0 and "not signed in" in (r.stderr + r.stdout)
