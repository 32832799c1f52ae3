"""The LangGraph Agent Server API, driven by the real `langgraph-sdk` against the real server.

Every test talks to `support-agent serve` over HTTP through `get_client(url=.../lg)`,
exactly as a LangGraph user's code would; the WebSocket and /api are used only to
look at the same thread from our own surface.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

STATUS_Q = "What is the status of order 1042?"


@pytest.fixture(scope="module")
def lg_server(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = pg_cluster.create_database(f"lg_{uuid.uuid4().hex[:10]}")
    proc = ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "RATE_LIMIT_MESSAGES": "1000",
                          "INTERRUPT_TTL_S": "600", "DEMO_TOKEN_DELAY_MS": "2", "LG_HEARTBEAT_S": "0.5",
                          # the widget's (and an agent-chat-ui's) origin, allowed by name: no "*" by default
                          "CORS_ALLOW_ORIGINS": '["http://chat.example"]'},
                         data_dir=Path(tmp_path_factory.mktemp("lg")))
    proc.start()
    yield proc
    proc.stop()


def client(server: ServerProcess, user: str, role: str = "customer") -> Any:
    return get_client(url=server.base + "/lg", api_key=token(user, role))


async def parts(stream: Any) -> list[Any]:
    return [p async for p in stream]


def replay(server: ServerProcess, tid: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.base}/api/replay/{tid}", headers={"Authorization": f"Bearer {token('adm', 'admin')}"})
    assert r.status_code == 200, r.text
    return r.json()["events"]


async def test_info_and_assistants(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    info = httpx.get(lg_server.base + "/lg/info").json()
    assert "version" in info
    found = await c.assistants.search()
    assert [a["graph_id"] for a in found] == ["support"]
    by_name = await c.assistants.get("support")
    assert by_name["assistant_id"] == found[0]["assistant_id"]
    assert (await c.assistants.get(found[0]["assistant_id"]))["graph_id"] == "support"
    assert await c.assistants.search(graph_id="other") == []


async def test_stream_a_status_question_in_each_mode(lg_server: ServerProcess) -> None:
    user = new_id("u")
    c = client(lg_server, user)
    thread = await c.threads.create(metadata={"topic": "orders"})
    tid = thread["thread_id"]
    assert thread["status"] == "idle" and thread["metadata"] == {"topic": "orders"}
    assert await c.threads.get_history(tid) == [] and (await c.threads.get_state(tid))["values"] == {}
    got = await parts(c.runs.stream(tid, "support", input={"messages": [{"type": "human", "content": STATUS_Q}]},
                                    stream_mode=["values", "updates", "messages-tuple", "messages", "custom"]))
    events = [p.event for p in got]
    assert events[0] == "metadata" and got[0].data["run_id"].startswith("run_")
    assert "error" not in events
    final = [p for p in got if p.event == "values"][-1].data
    answer = final["messages"][-1]
    assert answer["type"] == "ai" and "1042" in answer["content"]
    assert [m["content"] for m in final["messages"] if m["type"] == "human"] == [STATUS_Q]
    first_values = next(p.data for p in got if p.event == "values")
    assert first_values["messages"][-1]["type"] == "human" and first_values["messages"][-1]["content"] == STATUS_Q
    # messages-tuple: chunks of one id whose deltas concatenate to the answer
    tuples = [p.data for p in got if p.event == "messages"]
    assert tuples and {chunk["id"] for chunk, _ in tuples} == {answer["id"]}
    assert "".join(chunk["content"] for chunk, _ in tuples) == answer["content"]
    assert all(meta["langgraph_node"] for _, meta in tuples)
    # messages: metadata once, growing partials, then the complete message
    partials = [p.data[0]["content"] for p in got if p.event == "messages/partial"]
    assert partials[-1] == answer["content"] and all(b.startswith(a) for a, b in itertools.pairwise(partials))
    assert [p.data[0]["content"] for p in got if p.event == "messages/complete"] == [answer["content"]]
    assert events.index("messages/metadata") < events.index("messages/partial")
    # updates and custom: the router's choice and the tool the agent called
    updates = [p.data for p in got if p.event == "updates"]
    assert {"router"} <= {k for u in updates for k in u}
    custom = [p.data["type"] for p in got if p.event == "custom"]
    assert "intent" in custom and "tool_call" in custom and "tool_result" in custom
    # every frame carries the seq of the event it came from, in order
    ids = [int(p.id) for p in got]
    assert ids == sorted(ids)

    # one mode at a time gives the same answer
    for mode in ("values", "messages-tuple", "updates"):
        only = await parts(c.runs.stream(tid, "support", input={"messages": [{"type": "human", "content": STATUS_Q}]},
                                         stream_mode=mode))
        assert {p.event for p in only} == {"metadata", "messages" if mode == "messages-tuple" else mode}

    t = await c.threads.get(tid)
    assert t["status"] == "idle" and t["metadata"]["graph_id"] == "support"
    assert t["metadata"]["assistant_id"] == (await c.assistants.get("support"))["assistant_id"]
    assert t["values"]["messages"][-1]["content"] == answer["content"] or t["values"]["messages"][-1]["type"] == "ai"
    found = await c.threads.search(metadata={"graph_id": "support"})
    assert tid in [x["thread_id"] for x in found]
    assert [x["thread_id"] for x in await c.threads.search(metadata={"topic": "orders"})] == [tid]
    updated = await c.threads.update(tid, metadata={"rating": 5})
    assert updated["metadata"]["topic"] == "orders" and updated["metadata"]["rating"] == 5
    await c.threads.delete(tid)
    with pytest.raises(NotFoundError):
        await c.threads.get(tid)


async def test_thread_history_newest_first(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid = (await c.threads.create())["thread_id"]
    # a turn of model calls and reads is checkpointed once, at its end (app/conversations/run_stream.py)
    for question in (STATUS_Q, "And order 1033?", "And order 1017?", "And order 1005?"):
        await c.runs.wait(tid, "support", input={"messages": [{"role": "user", "content": question}]})
    state = await c.threads.get_state(tid)
    history = await c.threads.get_history(tid, limit=50)
    assert len(history) == 4
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    ids = [h["checkpoint"]["checkpoint_id"] for h in history]
    assert ids == sorted(ids, reverse=True) and len(ids) > 2
    for newer, older in itertools.pairwise(history):
        assert newer["parent_checkpoint"]["checkpoint_id"] == older["checkpoint"]["checkpoint_id"]
    assert history[0]["values"]["messages"][-1]["type"] == "ai"
    older = await c.threads.get_history(tid, limit=2, before=ids[1])
    assert [h["checkpoint"]["checkpoint_id"] for h in older] == ids[2:4]


def shop_order(server: ServerProcess, order_id: str) -> dict[str, Any]:
    return httpx.get(f"{server.base}/demo-shop/orders/{order_id}").json()


def tool_results(server: ServerProcess, tid: str, tool: str) -> list[dict[str, Any]]:
    return [e for e in replay(server, tid) if e["type"] == "tool_result" and e["tool"] == tool]


async def _interrupted(c: Any, question: str) -> tuple[str, dict[str, Any]]:
    tid = (await c.threads.create())["thread_id"]
    got = await parts(c.runs.stream(tid, "support", input={"messages": [{"type": "human", "content": question}]},
                                    stream_mode=["values", "updates"]))
    interrupts = [p.data["__interrupt__"] for p in got if p.event == "values" and "__interrupt__" in p.data]
    assert len(interrupts) == 1, [p.event for p in got]
    return tid, interrupts[0][0]


async def test_approval_flow_approve(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid, intr = await _interrupted(c, "Cancel order 1022")
    request = intr["value"]
    assert request["action_requests"] == [{"name": "cancel_order", "args": {"order_id": "1022"},
                                           "description": request["action_requests"][0]["description"]}]
    assert request["review_configs"][0]["action_name"] == "cancel_order"
    assert set(request["review_configs"][0]["allowed_decisions"]) == {"approve", "edit", "reject"}
    assert request["risk"] == "high" and request["approver"] == "customer" and request["expires_at"].endswith("Z")
    # after the run: threads.get, get_state and history[0] all show it
    thread = await c.threads.get(tid)
    assert thread["status"] == "interrupted" and list(thread["interrupts"].values()) == [[intr]]
    state = await c.threads.get_state(tid)
    assert [i["id"] for t in state["tasks"] for i in t["interrupts"]] == [intr["id"]]
    assert (await c.threads.get_history(tid, limit=1))[0]["tasks"] == state["tasks"]
    assert shop_order(lg_server, "1022")["status"] != "cancelled"

    got = await parts(c.runs.stream(tid, "support", command={"resume": {"decisions": [{"type": "approve"}]}},
                                    stream_mode=["values", "custom"]))
    decided = [p.data for p in got if p.event == "custom" and p.data["type"] == "interrupt_decided"]
    assert decided and decided[0]["outcome"] == "approved" and decided[0]["decided_by"]
    assert "cancel" in [p for p in got if p.event == "values"][-1].data["messages"][-1]["content"].lower()
    assert shop_order(lg_server, "1022")["status"] == "cancelled"
    assert len(tool_results(lg_server, tid, "cancel_order")) == 1
    assert (await c.threads.get(tid))["status"] == "idle"
    # the same decision again: nothing is pending, nothing runs twice
    with pytest.raises(ConflictError):
        await parts(c.runs.stream(tid, "support", command={"resume": {"decisions": [{"type": "approve"}]}}))
    assert len(tool_results(lg_server, tid, "cancel_order")) == 1


async def test_approval_flow_reject_and_goto_end(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid, _ = await _interrupted(c, "Cancel order 1042")
    before = shop_order(lg_server, "1042")["status"]
    values = await c.runs.wait(tid, "support", command={"resume": {"decisions": [
        {"type": "reject", "message": "changed my mind"}]}})
    assert "remains active" in values["messages"][-1]["content"].lower()
    assert shop_order(lg_server, "1042")["status"] == before and tool_results(lg_server, tid, "cancel_order") == []
    decided = [e for e in replay(lg_server, tid) if e["type"] == "interrupt_decided"]
    assert decided[-1]["outcome"] == "rejected" and decided[-1]["reason"] == "changed my mind"

    tid2, _ = await _interrupted(c, "Cancel order 1042")
    await c.runs.wait(tid2, "support", command={"goto": "__end__"})
    assert tool_results(lg_server, tid2, "cancel_order") == []
    assert [e for e in replay(lg_server, tid2) if e["type"] == "interrupt_decided"][-1]["approved"] is False


async def test_approval_flow_edit(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid, _ = await _interrupted(c, "Change the shipping address of order 1033 to 5 Main St")
    with pytest.raises(UnprocessableEntityError) as bad:
        await c.runs.create(tid, "support", command={"resume": {"decisions": [
            {"type": "edit", "edited_action": {"name": "create_refund", "args": {}}}]}})
    assert "edited_action.name" in str(bad.value)
    # a customer may edit what the call does, not which order it acts on (docs/security.md, item 1)
    retarget = {"type": "edit", "edited_action": {"name": "update_shipping_address",
                                                  "args": {"order_id": "1034", "address": "5 Main St"}}}
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await c.runs.wait(tid, "support", command={"resume": {"decisions": [retarget]}})
    assert refused.value.response.status_code == 403 and "order_id" in refused.value.response.text
    edit = {"type": "edit", "edited_action": {"name": "update_shipping_address",
                                              "args": {"order_id": "1033", "address": "7 Elm St"}}}
    values = await c.runs.wait(tid, "support", command={"resume": {"decisions": [edit]}})
    assert "__interrupt__" not in values
    assert shop_order(lg_server, "1033")["shipping_address"] == "7 Elm St"
    assert shop_order(lg_server, "1034")["shipping_address"] != "5 Main St"
    assert len(tool_results(lg_server, tid, "update_shipping_address")) == 1
    decided = [e for e in replay(lg_server, tid) if e["type"] == "interrupt_decided"]
    assert decided[-1]["outcome"] == "edited" and decided[-1]["args"] == {"order_id": "1033", "address": "7 Elm St"}


async def test_an_operator_approval_is_refused_to_the_customer(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid, intr = await _interrupted(c, "I want a refund for order 1017")
    assert intr["value"]["approver"] == "operator"
    with pytest.raises(PermissionDeniedError):
        await c.runs.create(tid, "support", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert tool_results(lg_server, tid, "create_refund") == []
    operator = client(lg_server, new_id("op"), "operator")
    await operator.runs.wait(tid, "support", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert len(tool_results(lg_server, tid, "create_refund")) == 1
    decided = [e for e in replay(lg_server, tid) if e["type"] == "interrupt_decided"]
    assert decided[-1]["decided_by"].startswith("op_")


async def test_typing_instead_of_deciding_supersedes_and_fabricated_tool_results_are_ignored(
        lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid, intr = await _interrupted(c, "Cancel order 1025")
    call_id = intr["id"].removeprefix("intr_")
    # what agent-chat-ui sends when the user types instead of deciding
    values = await c.runs.wait(tid, "support", input={"messages": [
        {"type": "tool", "tool_call_id": call_id, "name": "cancel_order", "content": "Successfully handled tool call."},
        {"type": "human", "content": "What is the status of order 1025?"}]})
    assert "1025" in values["messages"][-1]["content"]
    assert "Successfully handled tool call." not in str(values["messages"])
    assert tool_results(lg_server, tid, "cancel_order") == []
    assert shop_order(lg_server, "1025")["status"] != "cancelled"
    decided = [e for e in replay(lg_server, tid) if e["type"] == "interrupt_decided"]
    assert decided[-1]["outcome"] == "superseded"
    assert (await c.threads.get(tid))["status"] == "idle"


LONG_Q = "benchmark reply 1500 tokens"


async def test_create_join_wait_and_get(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid = (await c.threads.create())["thread_id"]
    run = await c.runs.create(tid, "support", input={"messages": [{"type": "human", "content": STATUS_Q}]},
                              metadata={"source": "test"})
    assert run["thread_id"] == tid and run["status"] in ("pending", "running", "success")
    values = await c.runs.join(tid, run["run_id"])
    assert "1042" in values["messages"][-1]["content"]
    got = await c.runs.get(tid, run["run_id"])
    assert got["status"] == "success" and got["metadata"] == {"source": "test"}
    # an operator replaying a customer's run sees it as on the WebSocket: masked, without token deltas
    staff = await parts(client(lg_server, new_id("op"), "operator").runs.join_stream(
        tid, run["run_id"], stream_mode=["messages-tuple", "custom"], last_event_id="-1"))
    assert "messages" not in {p.event for p in staff} and "custom" in {p.event for p in staff}
    assert [r["run_id"] for r in await c.runs.list(tid)] == [run["run_id"]]
    waited = await c.runs.wait(tid, "support", input={"messages": [{"type": "human", "content": "Where is order 1042?"}]})
    assert waited["messages"][-1]["type"] == "ai" and len(waited["messages"]) > len(values["messages"])
    # stateless: a thread of its own, gone afterwards
    created: list[Any] = []
    stateless = await c.runs.wait(None, "support", input={"messages": [{"type": "human", "content": STATUS_Q}]},
                                  on_run_created=created.append)
    assert "1042" in stateless["messages"][-1]["content"]
    with pytest.raises(NotFoundError):
        await c.threads.get(created[0]["thread_id"])
    kept = await c.runs.wait(None, "support", input={"messages": [{"type": "human", "content": STATUS_Q}]},
                             on_completion="keep", on_run_created=created.append)
    assert (await c.threads.get(created[1]["thread_id"]))["values"]["messages"][-1] == kept["messages"][-1]


async def test_cancel_a_running_run(lg_server: ServerProcess) -> None:
    user = new_id("u")
    c = client(lg_server, user)
    tid = (await c.threads.create())["thread_id"]
    run = await c.runs.create(tid, "support", input={"messages": [{"type": "human", "content": LONG_Q}]})
    await _first_token(c, tid, run["run_id"])  # it is really answering
    r = httpx.post(f"{lg_server.base}/lg/threads/{tid}/runs/{run['run_id']}/cancel?action=interrupt",
                   headers={"x-api-key": token(user)})
    assert r.status_code == 202, r.text
    await c.runs.join(tid, run["run_id"])
    assert (await c.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    assert (await c.threads.get(tid))["status"] == "idle"
    assert any(e["type"] == "run_cancelled" for e in replay(lg_server, tid))


async def _first_token(c: Any, tid: str, run_id: str) -> None:
    stream = c.runs.join_stream(tid, run_id, stream_mode="messages-tuple")
    async for part in stream:
        if part.event == "messages":
            break
    await stream.aclose()


async def test_cancel_with_rollback_removes_the_turn(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid = (await c.threads.create())["thread_id"]
    await c.runs.wait(tid, "support", input={"messages": [{"type": "human", "content": STATUS_Q}]})
    run = await c.runs.create(tid, "support", input={"messages": [{"type": "human", "content": LONG_Q}]})
    await _first_token(c, tid, run["run_id"])
    cancelled = await c.runs.cancel(tid, run["run_id"], action="rollback", wait=True)
    assert cancelled["status"] == "interrupted"
    messages = (await c.threads.get(tid))["values"]["messages"]
    assert [m["content"] for m in messages if m["type"] == "human"] == [STATUS_Q]


async def test_a_stream_with_on_disconnect_cancel_cancels_its_run(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid = (await c.threads.create())["thread_id"]
    stream = c.runs.stream(tid, "support", input={"messages": [{"type": "human", "content": LONG_Q}]},
                           stream_mode="messages-tuple", on_disconnect="cancel")
    async for part in stream:
        if part.event == "messages":
            break
    await stream.aclose()
    [run] = await c.runs.list(tid)
    await c.runs.join(tid, run["run_id"])
    assert (await c.runs.get(tid, run["run_id"]))["status"] == "interrupted"


async def test_second_run_conflicts_unless_interrupt(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid = (await c.threads.create())["thread_id"]
    first = await c.runs.create(tid, "support", input={"messages": [{"type": "human", "content": LONG_Q}]})
    with pytest.raises(ConflictError):
        await c.runs.create(tid, "support", input={"messages": [{"type": "human", "content": STATUS_Q}]})
    second = await c.runs.create(tid, "support", input={"messages": [{"type": "human", "content": STATUS_Q}]},
                                 multitask_strategy="interrupt")
    values = await c.runs.join(tid, second["run_id"])
    assert "1042" in values["messages"][-1]["content"]
    assert (await c.runs.get(tid, first["run_id"]))["status"] == "interrupted", [
        {k: e.get(k) for k in ("seq", "type", "run_id", "trigger", "code", "message")} for e in replay(lg_server, tid)
        if e["type"] != "token"]


async def test_auth_ownership_and_unsupported_options(lg_server: ServerProcess) -> None:
    owner, other = client(lg_server, new_id("u")), client(lg_server, new_id("u"))
    tid = (await owner.threads.create())["thread_id"]
    with pytest.raises(PermissionDeniedError):
        await other.threads.get(tid)
    with pytest.raises(PermissionDeniedError):
        await other.threads.get_state(tid)
    with pytest.raises(PermissionDeniedError):
        await parts(other.runs.stream(tid, "support", input={"messages": [{"type": "human", "content": "hi"}]}))
    assert tid not in [t["thread_id"] for t in await other.threads.search(limit=100)]
    staff = client(lg_server, new_id("op"), "operator")
    assert (await staff.threads.get(tid))["thread_id"] == tid
    # the token as Authorization: Bearer works as x-api-key does; none or a bad one is 401
    bearer = get_client(url=lg_server.base + "/lg", api_key=None,
                        headers={"Authorization": f"Bearer {token('bearer-user')}"})
    assert (await bearer.threads.create())["thread_id"]
    with pytest.raises(AuthenticationError):
        await get_client(url=lg_server.base + "/lg", api_key=None).threads.search()
    with pytest.raises(AuthenticationError):
        await get_client(url=lg_server.base + "/lg", api_key="junk").threads.search()
    # unsupported options: 422 naming the field, and nothing started
    for kwargs, field in [({"interrupt_before": ["tools"]}, "interrupt_before"),
                          ({"stream_mode": "debug"}, "stream_mode"),
                          ({"multitask_strategy": "enqueue"}, "multitask_strategy"),
                          ({"webhook": "https://example.com/hook"}, "webhook"),
                          ({"context": {"model": "x"}}, "context"),
                          ({"config": {"recursion_limit": 5}}, "config.recursion_limit"),
                          ({"config": {"configurable": {"model": "x"}}}, "config.configurable.model"),
                          ({"checkpoint_id": "1f0"}, "checkpoint_id")]:
        with pytest.raises(UnprocessableEntityError) as err:
            await owner.runs.create(tid, "support", input={"messages": [{"type": "human", "content": "hi"}]},
                                    **kwargs)
        assert field in str(err.value), (field, str(err.value))
    assert await owner.runs.list(tid) == []
    with pytest.raises(UnprocessableEntityError) as err:
        await owner.threads.create(metadata={"note": "x" * 20_000})
    assert "metadata" in str(err.value) and "LG_METADATA_MAX_BYTES" in str(err.value)
    with pytest.raises(UnprocessableEntityError):
        await owner.threads.update_state(tid, {"messages": []})


def _run_events(server: ServerProcess, tid: str, first_seq: int) -> list[dict[str, Any]]:
    return [e for e in replay(server, tid) if e["seq"] >= first_seq]


async def test_join_with_last_event_id_after_a_dropped_connection(lg_server: ServerProcess) -> None:
    c = client(lg_server, new_id("u"))
    tid = (await c.threads.create())["thread_id"]
    run = await c.runs.create(tid, "support", input={"messages": [{"type": "human", "content": LONG_Q}]},
                              stream_resumable=True)
    before: list[Any] = []
    stream = c.runs.join_stream(tid, run["run_id"], stream_mode="messages-tuple", last_event_id="-1")
    async for part in stream:
        before.append(part)
        if sum(p.event == "messages" for p in before) == 5:
            break
    await stream.aclose()  # the connection drops mid-answer
    after = await parts(c.runs.join_stream(tid, run["run_id"], stream_mode="messages-tuple",
                                           last_event_id=before[-1].id))
    chunks = [p for p in before + after if p.event == "messages"]
    ids = [int(p.id) for p in chunks]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)  # nothing doubled
    values = await c.runs.join(tid, run["run_id"])
    assert "".join(p.data[0]["content"] for p in chunks) == values["messages"][-1]["content"]  # nothing lost
    tokens = [e["seq"] for e in _run_events(lg_server, tid, ids[0]) if e["type"] == "token"]
    assert ids == tokens
    # a finished run replays and closes; -1 replays it all
    again = await parts(c.runs.join_stream(tid, run["run_id"], stream_mode="messages-tuple", last_event_id="-1"))
    assert [int(p.id) for p in again if p.event == "messages"] == ids


async def test_same_thread_from_both_surfaces(lg_server: ServerProcess) -> None:
    user = new_id("u")
    c = client(lg_server, user)
    tid = (await c.threads.create())["thread_id"]
    ws = await WsClient.connect(lg_server.ws_url, token(user))
    try:
        await ws.send({"type": "subscribe", "thread_id": tid, "after_seq": 0})
        await ws.next("session_sync", thread_id=tid)
        got = await parts(c.runs.stream(tid, "support", input={"messages": [{"type": "human", "content": STATUS_Q}]},
                                        stream_mode=["messages-tuple", "custom"]))
        ws_events = [f for f in await ws.until_end(tid) if "seq" in f]
    finally:
        await ws.close()
    by_seq = {e["seq"]: e for e in ws_events}
    assert ws_events[0]["type"] == "run_start"
    for p in got[1:]:
        ev = by_seq[int(p.id)]
        if p.event == "messages":
            assert ev["type"] == "token" and p.data[0]["content"] == ev["content"]
        else:
            assert p.data == {k: v for k, v in ev.items() if k not in ("thread_id", "seq", "run_id", "ts")}
    streamed = {int(p.id) for p in got[1:]}
    assert streamed == {e["seq"] for e in ws_events if e["type"] in ("token", "intent", "tool_call", "tool_result")}
    # and the WebSocket's thread is the Agent Server API's thread
    assert (await c.threads.get(tid))["values"]["messages"][-1]["content"] == ws_events[-1]["content"]


@pytest.mark.parametrize("stop", ["kill", "sigterm"])
async def test_join_stream_survives_a_server_restart(pg_cluster: PgCluster, tmp_path: Path, stop: str) -> None:
    from tests.support.pg import free_port

    env = {"DATABASE_URL": pg_cluster.create_database(f"lgr_{uuid.uuid4().hex[:10]}"), "AUTH_SECRET": SECRET,
           "DEMO_TOKEN_DELAY_MS": "3", "RUN_LEASE_S": "1", "LG_HEARTBEAT_S": "0.5", "SHUTDOWN_GRACE_S": "0.2"}
    port = free_port()
    first = ServerProcess(env, data_dir=tmp_path, port=port).start()
    second = ServerProcess(env, data_dir=tmp_path, port=port)
    try:
        user = new_id("u")
        c = client(first, user)
        tid = (await c.threads.create())["thread_id"]
        run = await c.runs.create(tid, "support", input={"messages": [{"type": "human", "content": LONG_Q}]},
                                  stream_resumable=True)
        got: list[Any] = []
        restarting: asyncio.Task[Any] | None = None
        # one join; the SDK reconnects with Last-Event-ID by itself when the server goes away
        async for part in c.runs.join_stream(tid, run["run_id"], stream_mode=["messages-tuple", "custom"],
                                             last_event_id="-1"):
            got.append(part)
            if restarting is None and sum(p.event == "messages" for p in got) == 5:
                if stop == "kill":
                    first.kill()
                else:  # a graceful stop ends the open stream too, instead of waiting for the run
                    started = asyncio.get_running_loop().time()
                    await asyncio.to_thread(first.stop)
                    assert asyncio.get_running_loop().time() - started < 8
                restarting = asyncio.create_task(asyncio.to_thread(second.start))
        assert restarting is not None
        await restarting
        ids = [int(p.id) for p in got if p.event in ("messages", "custom")]
        events = _run_events(second, tid, min(ids))
        shown = [e["seq"] for e in events if e["type"] in ("token", "intent", "tool_call", "tool_result", "handoff")]
        assert ids == shown  # every event exactly once, across the restart
        assert events[-1]["type"] == "message_complete"
        assert [e["trigger"] for e in events if e["type"] == "run_start"] == ["resume"]  # the recovered run
        # to the client the run it started went on (in the recovery run) and succeeded
        assert (await client(second, user).runs.get(tid, run["run_id"]))["status"] == "success"
    finally:
        first.stop()
        second.stop()


async def test_wire_format_headers_ids_and_cors(lg_server: ServerProcess) -> None:
    user = new_id("u")
    headers = {"x-api-key": token(user), "Origin": "http://chat.example"}
    tid = httpx.post(lg_server.base + "/lg/threads", json={}, headers=headers).json()["thread_id"]
    body = {"assistant_id": "support", "input": {"messages": [{"type": "human", "content": STATUS_Q}]},
            "stream_mode": ["values", "messages-tuple"], "stream_resumable": True}
    with httpx.stream("POST", f"{lg_server.base}/lg/threads/{tid}/runs/stream", json=body, headers=headers,
                      timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        run_path = r.headers["content-location"]
        assert r.headers["location"] == run_path + "/stream" and run_path.startswith(f"/threads/{tid}/runs/run_")
        exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
        assert {"location", "content-location"} <= exposed
        text = r.read().decode()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert blocks[0].startswith("event: metadata\n")
    assert all("\nid: " in b for b in blocks if b.startswith("event:"))
    preflight = httpx.options(f"{lg_server.base}/lg/threads/search", headers={
        "Origin": "http://chat.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key,content-type,last-event-id"})
    assert preflight.status_code == 200


async def test_heartbeats_while_nothing_happens(pg_cluster: PgCluster, tmp_path: Path) -> None:
    env = {"DATABASE_URL": pg_cluster.create_database(f"lgh_{uuid.uuid4().hex[:10]}"), "AUTH_SECRET": SECRET,
           "DEMO_TOKEN_DELAY_MS": "400", "LG_HEARTBEAT_S": "0.1"}
    with ServerProcess(env, data_dir=tmp_path) as srv:
        headers = {"x-api-key": token(new_id("u"))}
        body = {"assistant_id": "support", "stream_mode": "messages-tuple",
                "input": {"messages": [{"type": "human", "content": "benchmark reply 4 tokens"}]}}
        with httpx.stream("POST", f"{srv.base}/lg/runs/stream", json=body, headers=headers, timeout=30) as r:
            lines = list(r.iter_lines())
    heartbeats = [i for i, line in enumerate(lines) if line == ": heartbeat"]
    tokens = [i for i, line in enumerate(lines) if line == "event: messages"]
    assert len(tokens) >= 3 and heartbeats
    assert any(tokens[0] < h < tokens[-1] for h in heartbeats)  # between the slow tokens, not only before them


async def test_an_expired_approval_cannot_be_approved(pg_cluster: PgCluster, tmp_path: Path) -> None:
    env = {"DATABASE_URL": pg_cluster.create_database(f"lgt_{uuid.uuid4().hex[:10]}"), "AUTH_SECRET": SECRET,
           "INTERRUPT_TTL_S": "1", "INTERRUPT_WARNING_S": "0"}
    with ServerProcess(env, data_dir=tmp_path) as srv:
        c = client(srv, new_id("u"))
        tid, _ = await _interrupted(c, "Cancel order 1030")
        deadline = asyncio.get_running_loop().time() + 20
        while (await c.threads.get(tid))["status"] != "idle":  # the sweeper expires it and resumes the run
            assert asyncio.get_running_loop().time() < deadline, "the approval did not expire"
            await asyncio.sleep(0.1)
        assert [e["type"] for e in replay(srv, tid)].count("interrupt_expired") == 1
        with pytest.raises(ConflictError):
            await c.runs.create(tid, "support", command={"resume": {"decisions": [{"type": "approve"}]}})
        assert tool_results(srv, tid, "cancel_order") == []
        assert shop_order(srv, "1030")["status"] != "cancelled"


async def test_join_on_another_replica(pg_cluster: PgCluster, tmp_path: Path) -> None:
    env = {"DATABASE_URL": pg_cluster.create_database(f"lgp_{uuid.uuid4().hex[:10]}"), "AUTH_SECRET": SECRET,
           "DEMO_TOKEN_DELAY_MS": "3"}
    with ServerProcess(env, data_dir=tmp_path / "a") as a, ServerProcess(env, data_dir=tmp_path / "b") as b:
        user = new_id("u")
        on_a, on_b = client(a, user), client(b, user)
        tid = (await on_a.threads.create())["thread_id"]
        run = await on_a.runs.create(tid, "support", input={"messages": [{"type": "human", "content": LONG_Q}]})
        seen: list[Any] = []
        stream = on_b.runs.join_stream(tid, run["run_id"], stream_mode="messages-tuple", last_event_id="-1")
        async for part in stream:  # part replayed from the log, part live from replica a by NOTIFY
            seen.append(part)
            if sum(p.event == "messages" for p in seen) == 3:
                break
        await stream.aclose()
        rest = await parts(on_b.runs.join_stream(tid, run["run_id"], stream_mode="messages-tuple",
                                                 last_event_id=seen[-1].id))
        chunks = [p for p in seen + rest if p.event == "messages"]
        final = (await on_b.runs.join(tid, run["run_id"]))["messages"][-1]["content"]
        assert "".join(p.data[0]["content"] for p in chunks) == final
        assert [int(p.id) for p in chunks] == [e["seq"] for e in _run_events(b, tid, 0) if e["type"] == "token"]
