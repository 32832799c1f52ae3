"""Issue 19's conversations, as a customer has them, over the real socket against the demo shop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import httpx
import yaml

from tests.integration.conftest import new_id
from tests.support.server import ServerProcess, WsClient


def types(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames]


def order(server: ServerProcess, order_id: str) -> dict[str, Any]:
    return httpx.get(f"{server.base}/demo-shop/orders/{order_id}").json()


def refunds(server: ServerProcess, order_id: str) -> list[dict[str, Any]]:
    return httpx.get(f"{server.base}/demo-shop/refunds", params={"order_id": order_id}).json()["refunds"]


async def approve(customer: WsClient, tid: str, interrupt: dict[str, Any]) -> list[dict[str, Any]]:
    await customer.send({"type": "interrupt_response", "thread_id": tid, "approved": True,
                         "interrupt_id": interrupt["interrupt_id"]})
    return await customer.until_end(tid)


async def test_small_talk_and_an_unknown_order_ask_nobody_to_approve(customer: WsClient) -> None:
    tid = new_id()
    hello = (await customer.ask(tid, "Hi"))[-1]
    assert hello["type"] == "message_complete"
    assert "not sure I understood" not in hello["content"]
    assert "refund" in hello["content"] and "order" in hello["content"]

    frames = await customer.ask(tid, "Refund me order 1999")
    assert "interrupt" not in types(frames)  # nothing to approve: the order does not exist
    assert [f["tool"] for f in frames if f["type"] == "tool_call"] == ["get_order_status"]
    assert frames[-1]["type"] == "message_complete"
    assert "1999" in frames[-1]["content"] and "not found" in frames[-1]["content"]

    bye = (await customer.ask(tid, "thanks, that's all"))[-1]
    assert "welcome" in bye["content"].lower() and "not sure" not in bye["content"]


async def test_cancel_one_order_and_refund_another(server: ServerProcess, customer: WsClient) -> None:
    tid = new_id()
    first = await customer.ask(tid, "Cancel order 1016 and refund 10 EUR of order 1006")
    intents = [(f["intent"], f["agent"]) for f in first if f["type"] == "intent"]
    assert intents == [("order_change", "order_actions"), ("refund", "billing")]
    cancel = first[-1]
    assert cancel["type"] == "interrupt"
    assert (cancel["action"], cancel["args"]) == ("cancel_order", {"order_id": "1016"})
    assert order(server, "1016")["status"] == "processing"

    second = await approve(customer, tid, cancel)
    refund = second[-1]
    assert refund["type"] == "interrupt"  # its own approval, for the right action and order
    assert (refund["action"], refund["args"]) == ("create_refund", {"order_id": "1006", "amount": 10.0})
    assert refund["agent"] == "billing" and refund["approver"] == "customer"
    assert order(server, "1016")["status"] == "cancelled"
    assert refunds(server, "1016") == [] and refunds(server, "1006") == []

    third = await approve(customer, tid, refund)
    done = third[-1]
    assert done["type"] == "message_complete"
    assert "Order 1016 has been cancelled" in done["content"]  # the final answer reports both outcomes
    assert "10.00 EUR for order 1006" in done["content"]
    assert [r["amount"] for r in refunds(server, "1006")] == [10.0]
    assert refunds(server, "1016") == []  # no money movement nobody asked for


async def test_please_cancel_it_cancels_the_order_just_discussed(server: ServerProcess, customer: WsClient) -> None:
    tid = new_id()
    status = (await customer.ask(tid, "What is the status of order 1029?"))[-1]
    assert "1029 is pending" in status["content"]

    frames = await customer.ask(tid, "Please cancel it")
    pending = frames[-1]
    assert pending["type"] == "interrupt"
    assert (pending["action"], pending["args"]) == ("cancel_order", {"order_id": "1029"})
    done = (await approve(customer, tid, pending))[-1]
    assert "Order 1029 has been cancelled" in done["content"]
    assert order(server, "1029")["status"] == "cancelled"


async def test_a_correction_while_an_approval_waits_proposes_the_corrected_order(
    server: ServerProcess, customer: WsClient
) -> None:
    tid = new_id()
    first = (await customer.ask(tid, "Cancel order 1030"))[-1]
    assert first["type"] == "interrupt" and first["args"] == {"order_id": "1030"}

    frames = await customer.ask(tid, "Sorry, I meant order 1037")
    decided = next(f for f in frames if f["type"] == "interrupt_decided")
    assert decided["interrupt_id"] == first["interrupt_id"] and decided["outcome"] == "superseded"
    corrected = frames[-1]
    assert corrected["type"] == "interrupt"
    assert (corrected["action"], corrected["args"]) == ("cancel_order", {"order_id": "1037"})

    done = (await approve(customer, tid, corrected))[-1]
    assert "Order 1037 has been cancelled" in done["content"]
    assert order(server, "1037")["status"] == "cancelled"
    assert order(server, "1030")["status"] == "processing"


async def test_a_replayed_conversation_exports_as_an_eval_case_that_passes(customer: WsClient,
                                                                           server: ServerProcess) -> None:
    from app.evals.dataset import parse_dataset
    from app.evals.report import build_report
    from app.evals.runner import run_cases
    from graphs import load_agents, load_chat_model
    from tests.integration.conftest import token

    tid = new_id()
    pending = (await customer.ask(tid, "Cancel order 1043 and refund 5 EUR of order 1020"))[-1]
    pending = (await approve(customer, tid, pending))[-1]
    await customer.send({"type": "interrupt_response", "thread_id": tid, "approved": False,
                         "interrupt_id": pending["interrupt_id"], "reason": "not now"})
    await customer.until_end(tid)

    r = httpx.get(f"{server.base}/api/replay/{tid}/eval-case", params={"case_id": "exported-compound"},
                  headers={"Authorization": f"Bearer {token('admin-1', 'admin')}"})
    assert r.status_code == 200, r.text
    body = r.json()
    [turn] = body["case"]["turns"]
    assert turn["say"] == "Cancel order 1043 and refund 5 EUR of order 1020"
    assert turn["intents"] == ["order_change", "refund"]
    assert [(a["action"], a["args"], a["decide"]) for a in turn["approvals"]] == [
        ("cancel_order", {"order_id": "1043"}, "approve"),
        ("create_refund", {"order_id": "1020", "amount": 5.0}, "reject"),
    ]
    # the command reads the same conversation from the event log and prints the same case
    cli = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "app.cli", "eval-export", tid, "--id", "exported-compound"],
        check=False, env=server.env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert yaml.safe_load(cli.stdout) == yaml.safe_load(body["yaml"])

    [case] = parse_dataset(yaml.safe_load(body["yaml"]))
    runs = await run_cases([case], agents=load_agents(), model=load_chat_model("demo", demo_token_delay_ms=0))
    report = build_report(runs, model="demo", dataset="export", prices={}, cost_of=lambda *a: 0.0)
    assert report["summary"]["passed"] == 1, report["cases"][0]["failed_checks"]
