"""Operators read customers' conversations with personal data masked, everywhere they read them.

A customer asks to change a shipping address and gives a phone number and an email in
the same message. An operator then reads the thread list (titles), the transcript, the
thread status, the approval inbox, and subscribes to the thread on a socket (a replay
from seq 0, then the live run once the customer approves): the phone, the email and the
address appear nowhere, and no token delta reaches the operator (a number split across
deltas could not be masked; the answer arrives whole and masked in `message_complete`).
The customer and an admin see everything unmasked.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.integration.conftest import new_id, token
from tests.support.server import ServerProcess, WsClient

ADDRESS = "12 Baker Street"
PHONE = "+1 (415) 555-0134"
EMAIL = "jane.doe@example.com"
ASK = f"Change the shipping address of order 1033 to {ADDRESS}. Call me on {PHONE} or write to {EMAIL}"
SECRETS = (ADDRESS, "Baker", "555-0134", EMAIL)


def leaks(value: Any) -> list[str]:
    text = json.dumps(value, ensure_ascii=False)
    return [s for s in SECRETS if s in text]


async def test_operators_never_see_customer_pii(server: ServerProcess) -> None:
    cust_id = new_id("cust")
    op_headers = {"Authorization": f"Bearer {token(new_id('op'), 'operator')}"}
    admin_headers = {"Authorization": f"Bearer {token(new_id('adm'), 'admin')}"}
    cust_headers = {"Authorization": f"Bearer {token(cust_id)}"}
    customer = await WsClient.connect(server.ws_url, token(cust_id))
    operator = await WsClient.connect(server.ws_url, token(new_id("op"), "operator"))
    try:
        tid = new_id()
        frames = await customer.ask(tid, ASK)
        intr = frames[-1]
        assert intr["type"] == "interrupt" and intr["action"] == "update_shipping_address", frames
        assert ADDRESS in intr["args"]["address"]  # the customer sees their own data

        async with httpx.AsyncClient(base_url=server.base, timeout=20) as http:
            listing = (await http.get("/api/threads", headers=op_headers, params={"limit": 500})).json()
            mine = [t for t in listing["data"] if t["thread_id"] == tid]
            assert mine and not leaks(mine), mine
            transcript = (await http.get(f"/api/threads/{tid}", headers=op_headers)).json()
            assert transcript["messages"] and not leaks(transcript), transcript
            status = (await http.get(f"/api/threads/{tid}/status", headers=op_headers)).json()
            assert status["pending_interrupt"]["args"]["address"] == "[address]"
            assert not leaks(status), status
            inbox = (await http.get("/api/interrupts", headers=op_headers, params={"limit": 500})).json()
            item = next(i for i in inbox["data"] if i["interrupt_id"] == intr["interrupt_id"])
            assert item["args"]["address"] == "[address]" and not leaks(item), item
            assert item["user_id"] == cust_id and item["action"] == "update_shipping_address"

            # the owner and an admin read it unmasked
            own = (await http.get(f"/api/threads/{tid}", headers=cust_headers)).json()
            assert ADDRESS in json.dumps(own) and EMAIL in json.dumps(own)
            admin_view = (await http.get(f"/api/threads/{tid}", headers=admin_headers)).json()
            assert EMAIL in json.dumps(admin_view)

        # the operator subscribes from the start: a masked replay without token deltas
        await operator.send({"type": "subscribe", "thread_id": tid, "after_seq": 0})
        sync = await operator.next("session_sync", thread_id=tid)
        replayed = [f for f in operator.frames if f.get("thread_id") == tid]
        assert any(f["type"] == "interrupt" for f in replayed)
        assert not [f for f in replayed if f["type"] == "token"]
        assert not leaks(replayed), leaks(replayed)
        assert sync["pending_interrupt"]["args"]["address"] == "[address]"

        # live: the customer approves; the operator follows the run masked, the customer unmasked
        seen = len(operator.frames)
        await customer.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                             "interrupt_id": intr["interrupt_id"]})
        own_frames = await customer.until_end(tid)
        assert own_frames[-1]["type"] == "message_complete", own_frames
        assert any(f["type"] == "token" for f in own_frames)
        assert ADDRESS in json.dumps([f for f in own_frames if f["type"] == "tool_call"])
        await operator.next("message_complete", thread_id=tid)
        live = [f for f in operator.frames[seen:] if f.get("thread_id") == tid]
        types = [f["type"] for f in live]
        assert "tool_call" in types and "tool_result" in types and "token" not in types, types
        assert not leaks(live), leaks(live)
        call = next(f for f in live if f["type"] == "tool_call")
        assert call["args"]["address"] == "[address]" and call["args"]["order_id"] == "1033"
    finally:
        await customer.close()
        await operator.close()
