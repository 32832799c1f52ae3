"""Replay: listings with every filter and paging, the timeline, masking per role, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.analytics.replay import list_conversations
from app.core.errors import BadRequest, Forbidden, NotFound
from app.core.pii import mask_text
from app.core.security import Principal
from graphs.events import EVENT_ADAPTER
from tests.analytics.seed import ThreadScript, seed_scenarios, timeline

ADMIN = Principal("boss", "admin")
OPERATOR = Principal("op1", "operator")
PRICES = {"demo": {"input_per_1k": 1.0, "output_per_1k": 2.0}}


async def _ids(pool, principal=ADMIN, **filters) -> list[str]:
    page = await list_conversations(pool, principal, prices=PRICES, **filters)
    return [r["thread_id"] for r in page["data"]]


async def test_list_filters_and_record_fields(pool) -> None:
    now = datetime.now(UTC)
    await seed_scenarios(pool, now)

    page = await list_conversations(pool, ADMIN, prices=PRICES)
    assert page["count"] == 10
    assert [r["thread_id"] for r in page["data"]] == [f"thr_{k}" for k in "IHGFEDCBAJ"]  # newest first

    b = next(r for r in page["data"] if r["thread_id"] == "thr_B")
    assert b["user_id"] == "u2" and b["title"] == "Refund"
    assert b["resolution"] == "assisted" and b["status"] == "answered"
    assert b["intents"] == ["refund"] and b["agents"] == ["billing"] and b["tools"] == ["refund_order"]
    assert (b["messages"], b["user_messages"], b["agent_messages"], b["runs"]) == (2, 1, 1, 2)
    assert b["interrupts"] == 1
    [outcome] = b["interrupt_outcomes"]
    assert outcome["action"] == "refund_order" and outcome["outcome"] == "approved"
    assert outcome["decided_by"] == "op1"
    decided = datetime.fromisoformat(outcome["decided_at"]) - datetime.fromisoformat(outcome["created_at"])
    assert decided == timedelta(seconds=30)
    assert (b["input_tokens"], b["output_tokens"]) == (150, 30)
    assert b["cost_usd"] == pytest.approx(0.21)
    assert b["feedback"] == {"up": 0, "down": 1}
    assert b["ended_at"] is not None and b["handoff"] is None
    f = next(r for r in page["data"] if r["thread_id"] == "thr_F")
    assert f["handoff"]["queue"] == "support" and f["resolution"] == "escalated"
    i = next(r for r in page["data"] if r["thread_id"] == "thr_I")
    assert i["resolution"] == "open" and i["ended_at"] is None
    assert i["interrupt_outcomes"][0]["outcome"] == "pending"

    assert await _ids(pool, intent="order_status") == ["thr_H", "thr_G", "thr_A", "thr_J"]
    assert await _ids(pool, agent="handoff") == ["thr_F"]
    assert await _ids(pool, resolution="assisted") == ["thr_C", "thr_B"]
    assert await _ids(pool, resolution="abandoned") == ["thr_G", "thr_E"]
    assert await _ids(pool, has_interrupt=True) == ["thr_I", "thr_H", "thr_E", "thr_D", "thr_C", "thr_B"]
    assert await _ids(pool, has_interrupt=False) == ["thr_G", "thr_F", "thr_A", "thr_J"]
    assert await _ids(pool, start=now - timedelta(days=2)) == [f"thr_{k}" for k in "IHGFEDCBA"]
    assert await _ids(pool, end=now - timedelta(days=1)) == ["thr_J"]
    assert await _ids(pool, user_id="u1") == ["thr_A", "thr_J"]
    assert await _ids(pool, intent="refund", has_interrupt=True, resolution="open") == ["thr_I"]
    filtered = await list_conversations(pool, ADMIN, prices=PRICES, intent="refund")
    assert filtered["count"] == 5


async def test_paging_by_offset_and_cursor(pool) -> None:
    await seed_scenarios(pool, datetime.now(UTC))
    first = await list_conversations(pool, ADMIN, prices=PRICES, limit=4)
    assert first["count"] == 10 and len(first["data"]) == 4 and first["next_cursor"]
    second = await list_conversations(pool, ADMIN, prices=PRICES, limit=4, offset=4)
    by_cursor = await list_conversations(pool, ADMIN, prices=PRICES, limit=4, cursor=first["next_cursor"])
    assert [r["thread_id"] for r in by_cursor["data"]] == [r["thread_id"] for r in second["data"]]
    third = await list_conversations(pool, ADMIN, prices=PRICES, limit=4, cursor=by_cursor["next_cursor"])
    assert [r["thread_id"] for r in third["data"]] == ["thr_A", "thr_J"] and third["next_cursor"] is None
    with pytest.raises(BadRequest, match="cursor"):
        await list_conversations(pool, ADMIN, prices=PRICES, cursor="not-a-cursor")
    with pytest.raises(BadRequest, match="resolution"):
        await list_conversations(pool, ADMIN, prices=PRICES, resolution="solved")
    with pytest.raises(Forbidden):
        await list_conversations(pool, Principal("u1", "customer"), prices=PRICES)


async def test_timeline_is_the_event_log_in_seq_order(pool) -> None:
    threads = await seed_scenarios(pool, datetime.now(UTC))
    b = threads["B"]
    out = await timeline(pool, ADMIN, "thr_B")
    assert out["thread_id"] == "thr_B"
    events = out["events"]
    assert events == b.events  # byte for byte what was logged (and sent live)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["ts"] for e in events)
    types = [e["type"] for e in events]
    assert types[:4] == ["run_start", "intent", "interrupt", "interrupt_decided"]
    assert types[4:7] == ["run_start", "tool_call", "tool_result"] and types[-1] == "message_complete"
    assert events[1]["confidence"] == 0.88 and events[1]["agent"] == "billing"
    assert events[3]["decided_by"] == "op1" and events[3]["outcome"] == "approved"
    for e in events:
        EVENT_ADAPTER.validate_python(e)

    without_tokens = await timeline(pool, ADMIN, "thr_B", tokens=False)
    assert [e["type"] for e in without_tokens["events"]] == [t for t in types if t != "token"]


async def test_masking_and_access_by_role(pool) -> None:
    now = datetime.now(UTC)
    s = await ThreadScript(pool, "thr_pii", "cust1", now - timedelta(hours=1),
                           title="I am jane@example.com").create()
    await s.run(ttft_ms=100)
    await s.intent("refund", "billing")
    await s.tool("billing", "find_customer", {"email": "jane.doe@example.com", "phone": "+1 (415) 555-0134"},
                 content='{"card": "4242 4242 4242 4242", "order_id": "1001"}')
    await s.answer("billing", "I emailed jane.doe@example.com and texted 415-555-0134 about order 1001.", 10, 5)

    raw = (await timeline(pool, ADMIN, "thr_pii"))["events"]
    assert raw == s.events
    masked = (await timeline(pool, OPERATOR, "thr_pii"))["events"]
    assert len(masked) == len(raw)
    text = repr(masked)
    for secret in ("jane.doe@example.com", "555-0134", "4242 4242 4242 4242"):
        assert secret not in text
    call = next(e for e in masked if e["type"] == "tool_call")
    assert call["args"] == {"email": "[email]", "phone": "[phone]"}
    result = next(e for e in masked if e["type"] == "tool_result")
    assert result["content"] == '{"card": "[card ••••4242]", "order_id": "1001"}'
    done = next(e for e in masked if e["type"] == "message_complete")
    assert done["content"] == "I emailed [email] and texted [phone] about order 1001."
    for before, after in zip(raw, masked, strict=False):  # ids, times and enums are untouched
        for key in ("type", "seq", "thread_id", "run_id", "ts", "message_id", "call_id", "agent", "tool"):
            assert before.get(key) == after.get(key)
        EVENT_ADAPTER.validate_python(after)

    # the owner sees its own data; another customer sees nothing; unknown is 404
    assert (await timeline(pool, Principal("cust1", "customer"), "thr_pii"))["events"] == raw
    with pytest.raises(Forbidden):
        await timeline(pool, Principal("cust2", "customer"), "thr_pii")
    with pytest.raises(NotFound):
        await timeline(pool, ADMIN, "thr_nope")

    listed_op = (await list_conversations(pool, OPERATOR, prices=PRICES))["data"][0]
    assert listed_op["title"] == "I am [email]"
    listed_admin = (await list_conversations(pool, ADMIN, prices=PRICES))["data"][0]
    assert listed_admin["title"] == "I am jane@example.com"


def test_mask_text_cases() -> None:
    assert mask_text("write to a.b+c@mail.example.co.uk") == "write to [email]"
    assert mask_text("call +44 20 7946 0958 or (415) 555-0134") == "call [phone] or [phone]"
    assert mask_text("card 4000-0566-5566-5556") == "card [card ••••5556]"
    # not personal data: order numbers, amounts, dates, times, non-Luhn digit runs
    for keep in ("order 1001", "total $1,299.00", "on 2024-05-01T10:00:00Z", "at 12:30",
                 "tracking 1Z999AA10123456784", "id 5551234", "ref 1234567812345678"):
        assert mask_text(keep) == keep
