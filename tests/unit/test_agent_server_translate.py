"""The Agent Server API's translation of our events and approvals, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from app.agent_server.errors import Unsupported
from app.agent_server.hitl import parse_resume, to_interrupt
from app.agent_server.translate import Translator

INTERRUPT = {"type": "interrupt", "thread_id": "t1", "seq": 7, "run_id": "run_1", "interrupt_id": "intr_c1",
             "agent": "orders", "action": "cancel_order", "args": {"order_id": "1022"}, "risk": "high",
             "approver": "customer", "message": "Cancel order 1022?", "expires_at": "2026-01-01T00:00:00Z",
             "args_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}}}


def test_interrupt_is_a_hitl_request_with_our_fields() -> None:
    intr = to_interrupt(INTERRUPT)
    assert intr["id"] == "intr_c1"
    value = intr["value"]
    assert value["action_requests"] == [{"name": "cancel_order", "args": {"order_id": "1022"},
                                         "description": "Cancel order 1022?"}]
    assert value["review_configs"] == [{"action_name": "cancel_order", "allowed_decisions": ["approve", "edit", "reject"],
                                        "args_schema": INTERRUPT["args_schema"]}]
    assert (value["risk"], value["approver"], value["expires_at"]) == ("high", "customer", "2026-01-01T00:00:00Z")


@pytest.mark.parametrize(("command", "expected"), [
    ({"resume": {"decisions": [{"type": "approve"}]}}, (True, None, None)),
    ({"resume": {"decisions": [{"type": "reject", "message": "no"}]}}, (False, None, "no")),
    ({"resume": {"decisions": [{"type": "edit", "edited_action": {"name": "cancel_order", "args": {"order_id": "9"}}}]}},
     (True, {"order_id": "9"}, None)),
    ({"goto": "__end__"}, (False, None, "the reviewer ended the run")),
])
def test_decisions(command: dict[str, Any], expected: tuple[Any, ...]) -> None:
    d = parse_resume(command)
    assert (d.approved, d.args, d.reason) == expected


@pytest.mark.parametrize(("command", "field"), [
    ({"resume": True}, "command.resume.decisions"),
    ({"resume": {"decisions": []}}, "command.resume.decisions"),
    ({"resume": {"decisions": [{"type": "respond", "message": "x"}]}}, "command.resume.decisions[0].type"),
    ({"resume": {"decisions": [{"type": "edit"}]}}, "command.resume.decisions[0].edited_action"),
    ({"resume": {"decisions": [{"type": "edit", "edited_action": {"name": "create_refund", "args": {}}}]}},
     "command.resume.decisions[0].edited_action.name"),
    ({"update": {"messages": []}}, "command"),
])
def test_bad_decisions_name_the_field(command: dict[str, Any], field: str) -> None:
    with pytest.raises(Unsupported) as err:
        parse_resume(command, "cancel_order")
    assert err.value.field == field and err.value.http_status == 422


async def _values() -> dict[str, Any]:
    return {"messages": [{"type": "human", "content": "hi", "id": "h1"}]}


async def test_tokens_in_both_message_modes_and_errors() -> None:
    t = Translator(modes=["messages-tuple", "messages", "values"], values_of=_values, graph_id="support")
    parts: list[tuple[str, Any]] = []
    for i, delta in enumerate(["Hel", "lo", "!"]):
        parts += await t.parts({"type": "token", "seq": i, "message_id": "m1", "agent": "faq", "content": delta,
                                "run_id": "run_1", "thread_id": "t1"})
    tuples = [d for e, d in parts if e == "messages"]
    assert "".join(c["content"] for c, _ in tuples) == "Hello!" and {c["id"] for c, _ in tuples} == {"m1"}
    assert tuples[0][0]["type"] == "AIMessageChunk" and tuples[0][1]["langgraph_node"] == "faq"
    assert [e for e, _ in parts].count("messages/metadata") == 1
    assert [d[0]["content"] for e, d in parts if e == "messages/partial"] == ["Hel", "Hello", "Hello!"]
    assert await t.parts({"type": "run_error", "code": "timeout", "message": "too slow"}) == [
        ("error", {"error": "timeout", "message": "too slow"})]
    interrupted = await t.parts(INTERRUPT)
    assert interrupted == [("values", {**await _values(), "__interrupt__": [to_interrupt(INTERRUPT)]})]
    # the input as the run began, even when the checkpoint does not hold it yet
    start = await t.parts({"type": "run_start", "content": "again", "run_id": "run_2"})
    assert [m["content"] for m in start[0][1]["messages"]] == ["hi", "again"]
