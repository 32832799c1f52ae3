"""A human takes over (issue 14), over real sockets, two replicas on one Postgres.

The customer hands off, an operator claims and writes, the customer's messages go to
the people without a run or a model call, a second operator is refused, the thread goes
back to the assistant with the people's turns in the model's context.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.security import issue_token
from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOTICE_S = 3


def staff(user: str, name: str, role: str = "operator") -> str:
    return issue_token(SECRET, user_id=user, role=role, name=name)  # type: ignore[arg-type]


def auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


@pytest.fixture(scope="module")
def replicas(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = pg_cluster.create_database(f"tko_{uuid.uuid4().hex[:8]}")
    env = {"DATABASE_URL": url, "AUTH_SECRET": SECRET, "RATE_LIMIT_MESSAGES": "1000",
           "HANDOFF_WAIT_NOTICE_S": str(NOTICE_S)}
    one = ServerProcess(env, data_dir=Path(tmp_path_factory.mktemp("k1"))).start()
    two = ServerProcess(env, data_dir=Path(tmp_path_factory.mktemp("k2"))).start()
    yield one, two
    one.stop()
    two.stop()


async def hand_off(client: WsClient, tid: str) -> list[dict[str, Any]]:
    frames = await client.ask(tid, "I want to talk to a human")
    assert any(f["type"] == "handoff" for f in frames), frames
    assert frames[-1]["type"] == "message_complete"
    return frames


def usage(server: ServerProcess, tok: str, tid: str) -> dict[str, Any]:
    return httpx.get(f"{server.base}/api/threads/{tid}/usage", headers=auth(tok)).json()


def runs_started(server: ServerProcess) -> float:
    text = httpx.get(server.base + "/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(("support_agent_runs_started_total{", "runs_started_total{")))


async def test_takeover_from_handoff_to_the_assistant_answering_again(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, _ = replicas
    cust_tok = token(new_id("cust"))
    olga_tok, piotr_tok = staff(new_id("olga"), "Olga"), staff(new_id("piotr"), "Piotr")
    cust = await WsClient.connect(one.ws_url, cust_tok)
    olga = await WsClient.connect(one.ws_url, olga_tok)
    piotr = await WsClient.connect(one.ws_url, piotr_tok)
    tid = new_id()
    await hand_off(cust, tid)

    queue = httpx.get(one.base + "/api/handoffs?status=waiting", headers=auth(olga_tok)).json()
    item = next(i for i in queue["data"] if i["thread_id"] == tid)
    assert item["status"] == "waiting" and item["reason"] == "the customer asked for a human" and item["holder"] is None
    assert httpx.get(one.base + "/api/handoffs", headers=auth(cust_tok)).status_code == 403

    await cust.send({"type": "subscribe", "thread_id": tid})
    assert (await cust.next("session_sync", thread_id=tid))["status"] == "handoff"

    # claim by frame: the customer sees who joined
    await olga.send({"type": "claim", "thread_id": tid})
    joined = await cust.next("agent_joined", thread_id=tid)
    assert joined["name"] == "Olga" and joined["seq"] > 0
    assert (await olga.next("agent_joined", thread_id=tid))["seq"] == joined["seq"]
    held = httpx.get(one.base + "/api/handoffs?status=held", headers=auth(piotr_tok)).json()
    assert next(i for i in held["data"] if i["thread_id"] == tid)["holder"]["name"] == "Olga"

    await olga.send({"type": "operator_message", "thread_id": tid, "content": "Hi, I'm Olga. Let me look at that."})
    said = await cust.next("human_message", thread_id=tid)
    assert said["name"] == "Olga" and said["content"] == "Hi, I'm Olga. Let me look at that." and said["seq"] > joined["seq"]

    # the customer writes: the people get it, the assistant stays silent, no model is called
    before_usage, before_runs = usage(one, cust_tok, tid), runs_started(one)
    await cust.send({"type": "message", "thread_id": tid, "content": "Thanks! It is about order 1042.",
                     "client_msg_id": "c-1"})
    mine = await cust.next("customer_message", "run_start", "error", thread_id=tid)
    assert mine["type"] == "customer_message" and mine["client_msg_id"] == "c-1"
    theirs = await olga.next("customer_message", thread_id=tid)
    assert theirs["content"] == "Thanks! It is about order 1042." and theirs["seq"] == mine["seq"]
    assert usage(one, cust_tok, tid) == before_usage
    assert runs_started(one) == before_runs

    # one holder at a time
    await piotr.send({"type": "claim", "thread_id": tid})
    refused = await piotr.next("error", thread_id=tid)
    assert refused["code"] == "claimed" and "Olga" in refused["message"]
    r = httpx.post(f"{one.base}/api/threads/{tid}/claim", headers=auth(piotr_tok))
    assert r.status_code == 409 and "Olga" in r.json()["error"]
    await piotr.send({"type": "release", "thread_id": tid, "outcome": "resolved"})
    assert (await piotr.next("error", thread_id=tid))["code"] == "forbidden"

    # a customer may not act as staff, and nothing changes
    for frame in ({"type": "operator_message", "thread_id": tid, "content": "I am staff now"},
                  {"type": "claim", "thread_id": tid},
                  {"type": "release", "thread_id": tid, "outcome": "resolved"}):
        await cust.send(frame)
        assert (await cust.next("error", thread_id=tid))["code"] == "forbidden"

    # back to the assistant: it answers the next message
    await olga.send({"type": "release", "thread_id": tid, "outcome": "back_to_assistant"})
    left = await cust.next("agent_left", thread_id=tid)
    assert left["outcome"] == "back_to_assistant"
    assert not [i for i in httpx.get(one.base + "/api/handoffs?status=open", headers=auth(olga_tok)).json()["data"]
                if i["thread_id"] == tid]
    frames = await cust.ask(tid, "What is the status of order 1042?")
    assert frames[0]["type"] == "run_start" and frames[-1]["type"] == "message_complete"
    assert "1042" in frames[-1]["content"]

    transcript = httpx.get(f"{one.base}/api/threads/{tid}", headers=auth(cust_tok)).json()["messages"]
    assert {"role": "assistant", "content": "Hi, I'm Olga. Let me look at that.", "agent": "Olga"} in transcript
    assert {"role": "user", "content": "Thanks! It is about order 1042.", "agent": None} in transcript

    replay = httpx.get(f"{one.base}/api/replay/{tid}", headers=auth(olga_tok)).json()["events"]
    seqs = [e["seq"] for e in replay]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    kinds = [e["type"] for e in replay]
    assert kinds.index("agent_joined") < kinds.index("human_message") < kinds.index("customer_message") \
        < kinds.index("agent_left") < len(kinds) - 1 - kinds[::-1].index("run_start")
    for c in (cust, olga, piotr):
        await c.close()


async def test_the_model_sees_the_human_turns(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    """Two takeovers differing only in the length of the person's reply: the next answer's
    prompt grows by exactly those words (for each model call that reads the history)."""
    one, _ = replicas
    extra = "please " * 40

    async def answer_after(reply: str) -> int:
        cust_tok, op_tok = token(new_id("cust")), staff(new_id("op"), "Olga")
        tid = new_id()
        cust = await WsClient.connect(one.ws_url, cust_tok)
        await hand_off(cust, tid)
        assert httpx.post(f"{one.base}/api/threads/{tid}/messages", headers=auth(op_tok),
                          json={"content": reply}).status_code == 200
        await cust.next("human_message", thread_id=tid)
        r = httpx.post(f"{one.base}/api/threads/{tid}/release", headers=auth(op_tok),
                       json={"outcome": "back_to_assistant"})
        assert r.status_code == 200, r.text
        done = (await cust.ask(tid, "What is the status of order 1042?"))[-1]
        await cust.close()
        assert done["type"] == "message_complete"
        return int(done["usage"]["input_tokens"])

    short = await answer_after("I checked with the warehouse.")
    long = await answer_after("I checked with the warehouse. " + extra)
    assert long - short >= 40 and (long - short) % 40 == 0, (short, long)


async def test_claim_on_one_replica_customer_on_the_other(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = replicas
    cust_tok, op_tok = token(new_id("cust")), staff(new_id("olga"), "Olga")
    cust = await WsClient.connect(two.ws_url, cust_tok)
    op = await WsClient.connect(one.ws_url, op_tok)
    tid = new_id()
    await hand_off(cust, tid)

    r = httpx.post(f"{one.base}/api/threads/{tid}/claim", headers=auth(op_tok))
    assert r.status_code == 200 and r.json()["holder"]["name"] == "Olga"
    assert (await cust.next("agent_joined", thread_id=tid))["name"] == "Olga"
    second = httpx.post(f"{two.base}/api/threads/{tid}/claim", headers=auth(staff(new_id("p"), "Piotr")))
    assert second.status_code == 409 and second.json()["code"] == "claimed"

    await op.send({"type": "subscribe", "thread_id": tid})
    await op.next("session_sync", thread_id=tid)
    await op.send({"type": "operator_message", "thread_id": tid, "content": "Olga here, from the other replica."})
    assert (await cust.next("human_message", thread_id=tid))["content"] == "Olga here, from the other replica."

    # mid-takeover the customer drops; the operator writes twice; a reconnect to the other replica loses nothing
    last = max(f["seq"] for f in cust.frames if f.get("thread_id") == tid and "seq" in f)
    await cust.close()
    for text in ("Are you still there?", "I have refunded the shipping."):
        await op.send({"type": "operator_message", "thread_id": tid, "content": text})
        while (await op.next("human_message", thread_id=tid))["content"] != text:
            pass
    back = await WsClient.connect(one.ws_url, cust_tok)
    await back.send({"type": "subscribe", "thread_id": tid, "after_seq": last})
    start = await back.next("replay_start", thread_id=tid)
    replayed = [await back.next(thread_id=tid) for _ in range(start["count"])]
    assert [f["content"] for f in replayed if f["type"] == "human_message"] == \
        ["Are you still there?", "I have refunded the shipping."]
    assert [f["seq"] for f in replayed] == list(range(last + 1, last + 1 + start["count"]))
    await back.next("replay_end", thread_id=tid)
    assert (await back.next("session_sync", thread_id=tid))["status"] == "handoff"

    # the customer, now on replica one, writes; the operator's socket gets it
    await back.send({"type": "message", "thread_id": tid, "content": "Thank you!"})
    assert (await op.next("customer_message", thread_id=tid))["content"] == "Thank you!"
    r = httpx.post(f"{two.base}/api/threads/{tid}/release", headers=auth(op_tok), json={"outcome": "resolved"})
    assert r.status_code == 200
    assert (await back.next("agent_left", thread_id=tid))["outcome"] == "resolved"
    await back.close()
    await op.close()


async def test_nobody_claims_in_time_the_customer_is_told(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = replicas
    cust_tok = token(new_id("cust"))
    cust = await WsClient.connect(one.ws_url, cust_tok)
    tid = new_id()
    await hand_off(cust, tid)
    await cust.send({"type": "message", "thread_id": tid, "content": "Hello? Anyone?"})
    await cust.next("customer_message", thread_id=tid)
    notice = await cust.next("handoff_notice", thread_id=tid, timeout=NOTICE_S + 15)
    assert "busy" in notice["message"] and "kept" in notice["message"] and notice["waited_s"] >= NOTICE_S
    events = httpx.get(f"{two.base}/api/replay/{tid}", headers=auth(staff("admin1", "Ada", "admin"))).json()["events"]
    assert [e["type"] for e in events].count("handoff_notice") == 1, "one notice, whichever replica sent it"
    item = next(i for i in httpx.get(one.base + "/api/handoffs", headers=auth(staff("op9", "Op"))).json()["data"]
                if i["thread_id"] == tid)
    assert item["last_customer_message"] == "Hello? Anyone?" and item["customer_messages"] == 1
    await cust.close()


async def test_a_pending_approval_stays_decidable_by_staff_during_a_takeover(
        replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, _ = replicas
    cust_tok, op_tok = token(new_id("cust")), staff(new_id("olga"), "Olga")
    cust = await WsClient.connect(one.ws_url, cust_tok)
    tid = new_id()
    asked = (await cust.ask(tid, "Cancel order 1042"))[-1]
    assert asked["type"] == "interrupt"
    assert httpx.post(f"{one.base}/api/threads/{tid}/claim", headers=auth(op_tok)).status_code == 200
    await cust.next("agent_joined", thread_id=tid)
    # the customer's words go to the person; they do not supersede the approval
    await cust.send({"type": "message", "thread_id": tid, "content": "Actually, can you check with me first?"})
    assert (await cust.next("customer_message", "interrupt_decided", thread_id=tid))["type"] == "customer_message"
    status = httpx.get(f"{one.base}/api/threads/{tid}/status", headers=auth(op_tok)).json()
    assert status["pending_interrupt"]["interrupt_id"] == asked["interrupt_id"]
    await cust.send({"type": "subscribe", "thread_id": tid})
    sync = await cust.next("session_sync", thread_id=tid)
    assert sync["status"] == "handoff" and sync["pending_interrupt"]["interrupt_id"] == asked["interrupt_id"]
    r = httpx.post(f"{one.base}/api/interrupts/{asked['interrupt_id']}/decision", headers=auth(op_tok),
                   json={"approved": False, "reason": "the customer wants to talk first"})
    assert r.status_code == 200, r.text
    done = await cust.until_end(tid)
    assert done[-1]["type"] == "message_complete"
    await cust.send({"type": "subscribe", "thread_id": tid})
    assert (await cust.next("session_sync", thread_id=tid))["status"] == "handoff", "still with the person"
    await cust.send({"type": "message", "thread_id": tid, "content": "ok"})
    assert (await cust.next("customer_message", "run_start", thread_id=tid))["type"] == "customer_message"
    await cust.close()


async def test_analytics_count_takeovers_by_outcome_and_operator(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, _ = replicas
    ana_id = new_id("ana")
    ana_tok = staff(ana_id, "Ana")
    before = httpx.get(one.base + "/api/analytics/summary?range=24h", headers=auth(ana_tok)).json()["handoffs"]
    for outcome, replies in (("resolved", 2), ("back_to_assistant", 1)):
        cust = await WsClient.connect(one.ws_url, token(new_id("cust")))
        tid = new_id()
        await hand_off(cust, tid)
        for i in range(replies):
            r = httpx.post(f"{one.base}/api/threads/{tid}/messages", headers=auth(ana_tok),
                           json={"content": f"reply {i} to jane@example.com"})
            assert r.status_code == 200, r.text
        assert httpx.post(f"{one.base}/api/threads/{tid}/release", headers=auth(ana_tok),
                          json={"outcome": outcome}).status_code == 200
        await cust.close()
    after = httpx.get(one.base + "/api/analytics/summary?range=24h", headers=auth(ana_tok)).json()["handoffs"]
    assert after["handoffs"] == before["handoffs"] + 2
    assert after["resolved_by_human"] == before["resolved_by_human"] + 1
    assert after["handed_back"] == before["handed_back"] + 1
    assert after["first_reply_s"]["count"] == before["first_reply_s"]["count"] + 2
    assert after["first_reply_s"]["p50"] is not None and after["first_reply_s"]["p90"] >= after["first_reply_s"]["p50"]
    mine = next(o for o in after["operators"] if o["user_id"] == ana_id)
    assert mine == {"user_id": ana_id, "name": "Ana", "conversations": 2, "messages": 3, "resolved": 1,
                    "handed_back": 1}

    # replay shows the person's turns with their name, the customer's e-mail masked for an operator
    events = httpx.get(f"{one.base}/api/replay/{tid}", headers=auth(ana_tok)).json()["events"]
    said = [e for e in events if e["type"] == "human_message"]
    assert said and said[0]["name"] == "Ana" and "jane@example.com" not in said[0]["content"]


async def test_terminal_operator_lists_claims_talks_and_releases(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    import asyncio
    import os
    import sys

    from tests.support.server import REPO

    one, _ = replicas
    cust = await WsClient.connect(one.ws_url, token(new_id("cust")))
    tid = new_id()
    await hand_off(cust, tid)
    await cust.send({"type": "message", "thread_id": tid, "content": "It is about order 1042"})
    await cust.next("customer_message", thread_id=tid)

    exe = Path(sys.executable).parent / "support-agent"
    script = f"/queue\n/claim {tid}\nHello from the terminal\n/release back\n/quit\n"
    proc = await asyncio.create_subprocess_exec(
        str(exe), "chat", "--operator", "--server", one.base, "--token", staff(new_id("term"), "Tess"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=REPO, env=os.environ)
    out, err = await asyncio.wait_for(proc.communicate(script.encode()), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert tid in text and "the customer asked for a human" in text  # the queue
    assert "customer> It is about order 1042" in text  # the conversation so far
    assert "you> Hello from the terminal" in text
    assert (await cust.next("agent_joined", thread_id=tid))["name"] == "Tess"
    assert (await cust.next("human_message", thread_id=tid))["content"] == "Hello from the terminal"
    assert (await cust.next("agent_left", thread_id=tid))["outcome"] == "back_to_assistant"
    await cust.close()


async def test_concurrent_claims_on_two_replicas_one_holder(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    import asyncio

    one, two = replicas
    cust = await WsClient.connect(one.ws_url, token(new_id("cust")))
    threads = [new_id() for _ in range(4)]
    for tid in threads:
        await hand_off(cust, tid)
    a_tok, b_tok = staff(new_id("a"), "Ann"), staff(new_id("b"), "Ben")
    async with httpx.AsyncClient(timeout=20) as http:
        for tid in threads:
            ra, rb = await asyncio.gather(http.post(f"{one.base}/api/threads/{tid}/claim", headers=auth(a_tok)),
                                          http.post(f"{two.base}/api/threads/{tid}/claim", headers=auth(b_tok)))
            assert sorted([ra.status_code, rb.status_code]) == [200, 409], (ra.text, rb.text)
            winner = "Ann" if ra.status_code == 200 else "Ben"
            events = (await http.get(f"{two.base}/api/replay/{tid}", headers=auth(a_tok))).json()["events"]
            joined = [e for e in events if e["type"] == "agent_joined"]
            assert [e["name"] for e in joined] == [winner], "one agent_joined, by the one holder"
    await cust.close()


async def test_bad_takeover_requests_are_refused_and_change_nothing(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, _ = replicas
    cust_tok, op_tok = token(new_id("cust")), staff(new_id("op"), "Olga")
    cust = await WsClient.connect(one.ws_url, cust_tok)
    tid = new_id()
    await cust.ask(tid, "What is the status of order 1042?")
    r = httpx.post(f"{one.base}/api/threads/{tid}/release", headers=auth(op_tok), json={"outcome": "resolved"})
    assert r.status_code == 409 and r.json()["code"] == "not_held" and "nothing to release" in r.json()["error"]
    assert httpx.post(f"{one.base}/api/threads/{tid}/claim", headers=auth(cust_tok)).status_code == 403
    assert httpx.post(f"{one.base}/api/threads/nope_{tid}/claim", headers=auth(op_tok)).status_code == 404
    r = httpx.post(f"{one.base}/api/threads/{tid}/messages", headers=auth(op_tok), json={"content": ""})
    assert r.status_code == 422 and "content" in r.json()["error"]
    r = httpx.post(f"{one.base}/api/threads/{tid}/release", headers=auth(op_tok), json={"outcome": "later"})
    assert r.status_code == 422 and "outcome" in r.json()["error"]
    op = await WsClient.connect(one.ws_url, op_tok)
    await op.send({"type": "release", "thread_id": tid, "outcome": "later"})
    err = await op.next("error", thread_id=tid)
    assert err["code"] == "missing_field" and "outcome" in err["message"]
    await op.send({"type": "operator_message", "thread_id": tid})
    assert (await op.next("error", thread_id=tid))["code"] == "missing_field"
    # nothing changed: the assistant still answers the customer
    assert (await cust.ask(tid, "What is the status of order 1042?"))[-1]["type"] == "message_complete"
    assert not [i for i in httpx.get(one.base + "/api/handoffs?status=open", headers=auth(op_tok)).json()["data"]
                if i["thread_id"] == tid]
    await op.close()
    await cust.close()


async def test_released_with_an_approval_pending_the_turns_join_with_the_next_message(
        replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, _ = replicas
    cust_tok, op_tok = token(new_id("cust")), staff(new_id("olga"), "Olga")
    cust = await WsClient.connect(one.ws_url, cust_tok)
    tid = new_id()
    asked = (await cust.ask(tid, "Cancel order 1042"))[-1]
    assert asked["type"] == "interrupt"
    assert httpx.post(f"{one.base}/api/threads/{tid}/messages", headers=auth(op_tok),
                      json={"content": "Let me check that cancellation with you first."}).status_code == 200
    assert httpx.post(f"{one.base}/api/threads/{tid}/release", headers=auth(op_tok),
                      json={"outcome": "back_to_assistant"}).status_code == 200
    await cust.next("agent_left", thread_id=tid)
    frames = await cust.ask(tid, "What is the status of order 1042?")
    decided = next(f for f in frames if f["type"] == "interrupt_decided")
    assert decided["interrupt_id"] == asked["interrupt_id"] and decided["outcome"] == "superseded"
    assert frames[-1]["type"] == "message_complete" and "1042" in frames[-1]["content"]
    transcript = httpx.get(f"{one.base}/api/threads/{tid}", headers=auth(cust_tok)).json()["messages"]
    said = [m["content"] for m in transcript]
    assert said.index("Let me check that cancellation with you first.") < said.index("What is the status of order 1042?")
    await cust.close()
