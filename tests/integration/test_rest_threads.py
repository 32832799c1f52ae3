"""The /api/threads endpoints and the inbox, through the real server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.integration.conftest import new_id, token
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")


def auth(user: str, role: str = "customer") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, role)}"}


async def _conversation(server: ServerProcess, user: str, *questions: str) -> str:
    c = await WsClient.connect(server.ws_url, token(user))
    tid = new_id()
    for q in questions:
        await c.ask(tid, q)
    await c.close()
    return tid


async def test_rest_needs_a_token(server: ServerProcess) -> None:
    assert httpx.get(server.base + "/api/threads").status_code == 401
    assert httpx.get(server.base + "/api/threads", headers={"Authorization": "Bearer junk"}).status_code == 401
    assert httpx.get(server.base + "/api/health").status_code == 200


async def test_create_list_transcript_status_usage(server: ServerProcess) -> None:
    user = new_id("rest")
    created = httpx.post(server.base + "/api/threads", headers=auth(user)).json()
    assert created["thread_id"]
    tid = await _conversation(server, user, "What is the status of order 1042?")
    listing = httpx.get(server.base + "/api/threads", headers=auth(user)).json()
    assert [t["thread_id"] for t in listing["data"]][:2] == [tid, created["thread_id"]]
    other = httpx.get(server.base + "/api/threads", headers=auth(new_id("other"))).json()
    assert tid not in [t["thread_id"] for t in other["data"]]
    staff = httpx.get(server.base + "/api/threads?limit=500", headers=auth("op", "operator")).json()
    assert tid in [t["thread_id"] for t in staff["data"]]

    t = httpx.get(f"{server.base}/api/threads/{tid}", headers=auth(user)).json()
    assert set(t) >= {"thread_id", "title", "status", "messages", "created_at", "updated_at"}
    assert [m["role"] for m in t["messages"]] == ["user", "assistant"]
    assert t["messages"][1]["agent"] == "order_lookup" and "1042" in t["messages"][1]["content"]

    s = httpx.get(f"{server.base}/api/threads/{tid}/status", headers=auth(user)).json()
    assert s["status"] == "idle" and s["agent_running"] is False and s["message_count"] == 2
    assert s["pending_interrupt"] is None and s["model"]

    u = httpx.get(f"{server.base}/api/threads/{tid}/usage", headers=auth(user)).json()
    assert u["input_tokens"] > 0 and u["output_tokens"] > 0
    assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"] and u["estimated_cost_usd"] >= 0


async def test_unknown_thread_is_404(server: ServerProcess) -> None:
    r = httpx.get(f"{server.base}/api/threads/nope_{new_id()}", headers=auth("x"))
    assert r.status_code == 404 and "not found" in r.json()["error"]


async def test_retry_and_undo(server: ServerProcess) -> None:
    user = new_id("retry")
    tid = await _conversation(server, user, "What is the status of order 1042?", "What is the status of order 1033?")
    r = httpx.post(f"{server.base}/api/threads/{tid}/retry", headers=auth(user)).json()
    assert r["ok"] is True and r["last_user_text"] == "What is the status of order 1033?" and r["removed_count"] == 2
    msgs = httpx.get(f"{server.base}/api/threads/{tid}", headers=auth(user)).json()["messages"]
    assert next(m["content"][:10] for m in msgs) == "What is th" and len(msgs) == 2
    u = httpx.post(f"{server.base}/api/threads/{tid}/undo", headers=auth(user)).json()
    assert u["ok"] is True and u["removed_count"] == 2 and "1042" in u["removed_preview"]
    assert httpx.get(f"{server.base}/api/threads/{tid}", headers=auth(user)).json()["messages"] == []
    nothing = httpx.post(f"{server.base}/api/threads/{tid}/undo", headers=auth(user))
    assert nothing.status_code == 400 and "nothing to undo" in nothing.json()["error"]
    none = httpx.post(f"{server.base}/api/threads/{tid}/retry", headers=auth(user))
    assert none.status_code == 400 and "no previous message" in none.json()["error"]


async def test_retry_then_message_is_a_retry_run(server: ServerProcess) -> None:
    user = new_id("retryrun")
    tid = await _conversation(server, user, "What is the status of order 1042?")
    r = httpx.post(f"{server.base}/api/threads/{tid}/retry", headers=auth(user)).json()
    c = await WsClient.connect(server.ws_url, token(user))
    frames = await c.ask(tid, r["last_user_text"])
    assert frames[0]["type"] == "run_start" and frames[0]["trigger"] == "retry"
    await c.close()


async def test_concurrent_retries_leave_a_prefix(server: ServerProcess) -> None:
    user = new_id("conc")
    qs = [f"What is the status of order {n}?" for n in (1001, 1002, 1003, 1004)]
    tid = await _conversation(server, user, *qs)
    before = httpx.get(f"{server.base}/api/threads/{tid}", headers=auth(user)).json()["messages"]

    async with httpx.AsyncClient(base_url=server.base, headers=auth(user), timeout=30) as client:
        results = await asyncio.gather(*(client.post(f"/api/threads/{tid}/{op}") for op in
                                         ("retry", "undo", "retry", "undo", "retry", "undo")))
    assert all(r.status_code in (200, 400) for r in results), [r.text for r in results]
    after = httpx.get(f"{server.base}/api/threads/{tid}", headers=auth(user)).json()["messages"]
    assert after == before[: len(after)], "the transcript is a prefix of what it was"
    removed = sum(r.json().get("removed_count", 0) for r in results if r.status_code == 200)
    assert len(before) - len(after) == removed, "every removal is accounted for once"


async def test_import_and_delete(server: ServerProcess) -> None:
    user = new_id("imp")
    body = {"title": "Imported chat", "messages": [{"role": "user", "content": "Hello"},
                                                  {"role": "assistant", "content": "Hi! How can I help?"}]}
    # assistant turns only from staff (docs/security.md): a customer's would put words in the assistant's mouth
    assert httpx.post(f"{server.base}/api/threads/import", json=body, headers=auth(user)).status_code == 403
    r = httpx.post(f"{server.base}/api/threads/import", json=body, headers=auth(user, "operator"))
    assert r.status_code == 200, r.text
    thread = r.json()["thread"]
    assert r.json()["ok"] is True and thread["thread_id"] and thread["title"] == "Imported chat"
    assert [m["content"] for m in thread["messages"]] == ["Hello", "Hi! How can I help?"]
    bad = httpx.post(f"{server.base}/api/threads/import", json={"title": "x", "messages": [{"role": "wizard",
                                                                                              "content": "x"}]},
                     headers=auth(user))
    assert bad.status_code in (400, 422) and "role" in bad.json()["error"]
    tid = thread["thread_id"]
    c = await WsClient.connect(server.ws_url, token(user))
    assert (await c.ask(tid, "What is the status of order 1042?"))[-1]["type"] == "message_complete"
    await c.close()
    assert httpx.delete(f"{server.base}/api/threads/{tid}", headers=auth(new_id("stranger"))).status_code == 403
    assert httpx.delete(f"{server.base}/api/threads/{tid}", headers=auth(user)).status_code == 204
    assert httpx.get(f"{server.base}/api/threads/{tid}", headers=auth(user)).status_code == 404
    replay = httpx.get(f"{server.base}/api/replay/{tid}", headers=auth("adm", "admin"))
    assert replay.status_code == 404


async def test_decision_rest_validates_body(server: ServerProcess) -> None:
    r = httpx.post(f"{server.base}/api/interrupts/intr_x/decision", json={"approve": True}, headers=auth("o", "operator"))
    assert r.status_code == 422 and "approved" in r.json()["error"]
    r = httpx.post(f"{server.base}/api/interrupts/intr_x/decision", json={"approved": True}, headers=auth("o", "operator"))
    assert r.status_code == 409 and "no pending" in r.json()["error"]


async def test_metrics_expose_runs_and_sockets(server: ServerProcess) -> None:
    await _conversation(server, new_id("met"), "What is the status of order 1042?")
    text = httpx.get(server.base + "/metrics").text
    for name in ("support_agent_runs_started_total", "support_agent_run_seconds", "support_agent_active_sockets",
                 "support_agent_events_sent_total", "support_agent_interrupts_total"):
        assert name in text
