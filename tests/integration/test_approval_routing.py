"""Approval routing follows the arguments that will run (docs/security.md, "Approvals").

A customer who may approve a small refund must not be able to approve a bigger one
by editing the arguments, nor point an approved call at another order. The edited
call's approver is worked out again (with the same order-total lookup the original
call needed) over the WebSocket and over REST; a customer-approved call never runs
when its edited arguments need an operator.
"""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import new_id, token
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _refunds(server: ServerProcess, order_id: str) -> list[dict]:
    return httpx.get(f"{server.base}/demo-shop/refunds", params={"order_id": order_id}).json()["refunds"]


def _pending(server: ServerProcess, user: str, tid: str) -> dict | None:
    r = httpx.get(f"{server.base}/api/threads/{tid}/status", headers={"Authorization": f"Bearer {token(user)}"})
    assert r.status_code == 200, r.text
    return r.json()["pending_interrupt"]


async def test_customer_cannot_widen_a_small_refund_into_a_full_one(server: ServerProcess) -> None:
    user = new_id("cust")
    customer = await WsClient.connect(server.ws_url, token(user))
    tid = new_id()
    intr = (await customer.ask(tid, "Please refund 20 EUR of order 1017"))[-1]
    assert intr["type"] == "interrupt" and intr["approver"] == "customer"
    assert intr["args"] == {"order_id": "1017", "amount": 20.0}

    # dropping the amount makes it a refund of the whole order (129.90): an operator's call
    await customer.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                         "interrupt_id": intr["interrupt_id"], "args": {"order_id": "1017"}})
    err = await customer.next("error")
    assert err["code"] == "forbidden" and "operator" in err["message"], err
    assert _refunds(server, "1017") == [], "nothing was refunded on the customer's word"
    assert _pending(server, user, tid)["interrupt_id"] == intr["interrupt_id"], "the request still waits"

    # a bigger amount named outright needs an operator too
    await customer.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                         "args": {"order_id": "1017", "amount": 120}})
    err = await customer.next("error")
    assert err["code"] == "forbidden" and "operator" in err["message"], err

    # an operator may approve the edited call: the whole order is refunded on the operator's word
    op = {"Authorization": f"Bearer {token('olga', 'operator')}"}
    r = httpx.post(f"{server.base}/api/interrupts/{intr['interrupt_id']}/decision",
                   json={"approved": True, "args": {"order_id": "1017"}}, headers=op)
    assert r.status_code == 200, r.text
    frames = await customer.until_end(tid)
    assert frames[-1]["type"] == "message_complete", frames[-1]
    [refund] = _refunds(server, "1017")
    assert refund["amount"] == 129.90
    await customer.close()


async def test_rest_decision_by_a_customer_follows_the_edited_args(server: ServerProcess) -> None:
    user = new_id("cust")
    customer = await WsClient.connect(server.ws_url, token(user))
    tid = new_id()
    intr = (await customer.ask(tid, "Please refund 20 EUR of order 1005"))[-1]
    assert intr["approver"] == "customer"
    me = {"Authorization": f"Bearer {token(user)}"}
    url = f"{server.base}/api/interrupts/{intr['interrupt_id']}/decision"
    r = httpx.post(url, json={"approved": True, "args": {"order_id": "1005", "amount": 101}}, headers=me)
    assert r.status_code == 403 and "operator" in r.json()["error"], r.text
    assert _refunds(server, "1005") == []
    # a smaller amount stays the customer's to approve
    r = httpx.post(url, json={"approved": True, "args": {"order_id": "1005", "amount": 10}}, headers=me)
    assert r.status_code == 200, r.text
    frames = await customer.until_end(tid)
    assert frames[-1]["type"] == "message_complete", frames[-1]
    assert [x["amount"] for x in _refunds(server, "1005")] == [10]
    await customer.close()


async def test_customer_cannot_point_an_approval_at_another_order(server: ServerProcess) -> None:
    user = new_id("cust")
    customer = await WsClient.connect(server.ws_url, token(user))
    tid = new_id()
    intr = (await customer.ask(tid, "Cancel order 1033"))[-1]
    assert intr["action"] == "cancel_order" and intr["approver"] == "customer"
    await customer.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                         "args": {"order_id": "1042"}})
    err = await customer.next("error")
    assert err["code"] == "forbidden" and "order_id" in err["message"], err
    assert httpx.get(f"{server.base}/demo-shop/orders/1042").json()["status"] != "cancelled"
    # an edit the schema refuses is refused as such, and changes nothing either
    await customer.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                         "args": {"order_id": "1033", "surprise": 1}})
    err = await customer.next("error")
    assert err["code"] == "missing_field" and "surprise" in err["message"], err
    assert _pending(server, user, tid)["interrupt_id"] == intr["interrupt_id"]
    # staff may correct which order a call targets
    op = {"Authorization": f"Bearer {token('olga', 'operator')}"}
    r = httpx.post(f"{server.base}/api/interrupts/{intr['interrupt_id']}/decision",
                   json={"approved": True, "args": {"order_id": "1042"}}, headers=op)
    assert r.status_code == 200, r.text
    frames = await customer.until_end(tid)
    assert frames[-1]["type"] == "message_complete"
    assert httpx.get(f"{server.base}/demo-shop/orders/1042").json()["status"] == "cancelled"
    assert httpx.get(f"{server.base}/demo-shop/orders/1033").json()["status"] != "cancelled"
    await customer.close()
