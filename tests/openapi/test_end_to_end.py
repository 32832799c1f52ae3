"""End to end: a support team's own API, imported, reviewed, and called by an agent through the approval gate.

A small "loyalty" API (FastAPI, served by uvicorn in a thread on a loopback port)
publishes its OpenAPI document at `/openapi.json`, with `servers` pointing at
itself, and records every call it receives. The real server (`support-agent
serve`, a subprocess, demo model) is told to trust 127.0.0.1 for spec fetches
(`OPENAPI_FETCH_ALLOW_HOSTS`), and an admin imports the spec by URL.

The story, as a customer on the WebSocket sees it:

1. Import: `GET /loyalty/{customer_id}` is low/none; `POST .../redeem` is not
   `none`. Every operation is disabled until reviewed, so "redeem 200 loyalty
   points" does not reach the API.
2. Review: the admin enables `redeemLoyaltyPoints` for the `order_lookup` agent
   with approver `customer` (the demo model's keyword router sends a message with
   a number to `order_lookup`; see docs/agents.md on how the demo model calls a
   tool the customer names).
3. The same request now stops at an `interrupt` for that action; approving it
   runs the call once (with `Idempotency-Key` = the tool call id), and rejecting
   it never reaches the API.

The tests share one server and one import, and run in file order.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, Field

from app.core.security import issue_token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

SECRET = "openapi-e2e-secret-0123456789abcdef"
ADMIN = {"Authorization": "Bearer " + issue_token(SECRET, user_id="admin_e2e", role="admin")}
REDEEM = "redeemLoyaltyPoints"
BALANCE = "getLoyaltyBalance"
AGENT = "order_lookup"
ASK_REDEEM = "Please redeem 200 loyalty points for customer c42"
SHOP_TOKEN = "shop-token-never-for-loyalty"
LOYALTY_SECRET = "loyalty-api-secret"


def customer_token(user: str) -> str:
    return issue_token(SECRET, user_id=user, role="customer", ttl_s=3600)


def new_id(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- the test API


class RedeemBody(BaseModel):
    points: int = Field(gt=0, description="How many points to redeem.")


@dataclass
class LoyaltyAPI:
    """The test API: its base URL and every call it received (method, path, body, headers)."""

    base: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    def redeems(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["method"] == "POST"]


def loyalty_app(api: LoyaltyAPI) -> FastAPI:
    app = FastAPI(title="Loyalty API", version="1.0.0", servers=[{"url": api.base}])
    balances: dict[str, int] = {}

    @app.get(
        "/loyalty/{customer_id}",
        operation_id=BALANCE,
        summary="Get a customer's loyalty points balance",
    )
    def balance(customer_id: str) -> dict[str, Any]:
        api.calls.append({"method": "GET", "customer_id": customer_id})
        return {"customer_id": customer_id, "points": balances.setdefault(customer_id, 1000)}

    @app.post(
        "/loyalty/{customer_id}/redeem",
        operation_id=REDEEM,
        summary="Redeem loyalty points",
        description="Turns points into a voucher; the points are gone afterwards.",
    )
    def redeem(
        customer_id: str,
        body: RedeemBody,
        idempotency_key: str | None = Header(default=None),
        x_customer_id: str | None = Header(default=None),
        authorization: str | None = Header(default=None),
    ) -> dict[str, Any]:
        api.calls.append(
            {
                "method": "POST",
                "customer_id": customer_id,
                "body": body.model_dump(),
                "idempotency_key": idempotency_key,
                "x_customer_id": x_customer_id,
                "authorization": authorization,
            }
        )
        left = balances.setdefault(customer_id, 1000) - body.points
        if left < 0:
            raise HTTPException(409, f"customer {customer_id} has only {left + body.points} points")
        balances[customer_id] = left
        return {"customer_id": customer_id, "redeemed": body.points, "balance": left}

    return app


@pytest.fixture(scope="module")
def loyalty() -> Iterator[LoyaltyAPI]:
    # The socket listens before uvicorn starts, so a request sent meanwhile waits in the backlog:
    # no readiness polling is needed.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    api = LoyaltyAPI(base=f"http://127.0.0.1:{sock.getsockname()[1]}")
    server = uvicorn.Server(
        uvicorn.Config(loyalty_app(api), log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield api
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def server(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url = pg_cluster.create_database(f"e2e_{uuid.uuid4().hex[:10]}")
    proc = ServerProcess(
        {
            "DATABASE_URL": url,
            "AUTH_SECRET": SECRET,
            "RATE_LIMIT_MESSAGES": "1000",
            "INTERRUPT_TTL_S": "600",
            "OPENAPI_FETCH_ALLOW_HOSTS": json.dumps(["127.0.0.1"]),
            # tool calls obey the same address policy: the test API on loopback must be trusted
            "TOOL_ALLOW_HOSTS": json.dumps(["127.0.0.1"]),
            # the shop's token must never reach the imported API; its own secret must
            "SHOP_API_TOKEN": SHOP_TOKEN,
            "TOOL_SECRET_LOYALTY": LOYALTY_SECRET,
        },
        data_dir=Path(tmp_path_factory.mktemp("openapi-e2e")),
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def admin(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base, headers=ADMIN, timeout=20) as client:
        yield client


@pytest.fixture(scope="module")
async def imported(admin: httpx.AsyncClient, loyalty: LoyaltyAPI) -> dict[str, Any]:
    """The spec as the import answered it (fetched by URL from the test API)."""
    r = await admin.post("/api/openapi/specs", json={"url": f"{loyalty.base}/openapi.json"})
    assert r.status_code == 201, r.text
    assert r.json()["credentials"] is None  # none by default
    # the spec's own credentials: a secret by the name of its variable, and the customer id
    creds = {"env": "TOOL_SECRET_LOYALTY", "customer_id_header": "X-Customer-Id"}
    bad = await admin.patch(f"/api/openapi/specs/{r.json()['spec_id']}", json={"credentials": {"env": "AUTH_SECRET"}})
    assert bad.status_code == 400 and "TOOL_SECRET_" in bad.json()["error"]
    r = await admin.patch(f"/api/openapi/specs/{r.json()['spec_id']}", json={"credentials": creds})
    assert r.status_code == 200, r.text
    assert r.json()["credentials"] == {**creds, "header": "Authorization", "scheme": "Bearer"}
    return r.json()


async def enable_redeem(admin: httpx.AsyncClient, spec_id: str) -> dict[str, Any]:
    r = await admin.patch(
        f"/api/openapi/specs/{spec_id}/endpoints/{REDEEM}",
        json={"enabled": True, "agent": AGENT, "approver": "customer"},
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
async def customer(server: ServerProcess) -> AsyncIterator[WsClient]:
    client = await WsClient.connect(server.ws_url, customer_token(new_id("cust")))
    yield client
    await client.close()


def of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") == kind]


# --------------------------------------------------------------------------- the story


async def test_import_review_then_customer_approves(
    admin: httpx.AsyncClient, imported: dict[str, Any], loyalty: LoyaltyAPI, customer: WsClient
) -> None:
    # 1. imported and classified, nothing enabled
    assert imported["title"] == "Loyalty API" and imported["base_url"] == loyalty.base
    endpoints = {e["operation_id"]: e for e in imported["endpoints"]}
    assert set(endpoints) == {BALANCE, REDEEM}
    get, post = endpoints[BALANCE], endpoints[REDEEM]
    assert (get["method"], get["risk"], get["approver"]) == ("GET", "low", "none")
    assert post["method"] == "POST" and post["approver"] != "none" and post["risk"] != "low"
    assert post["reasons"], "every classification carries its reasons"
    assert post["args_schema"]["required"] == ["customer_id", "points"]
    assert "idempotency_key" not in post["args_schema"]["properties"]  # the server sets it
    assert not any(e["enabled"] for e in endpoints.values())
    assert all(e["needs_review"] for e in endpoints.values())

    # ... so the request does not reach the API: the agent only has the shop's tools
    frames = await customer.ask(new_id(), ASK_REDEEM)
    assert frames[-1]["type"] == "message_complete", frames[-1]
    assert all(f["tool"] != REDEEM for f in of_type(frames, "tool_call"))
    assert not of_type(frames, "interrupt")
    assert loyalty.calls == []

    # 2. the review takes effect on the next run, without a restart
    reviewed = await enable_redeem(admin, imported["spec_id"])
    assert (reviewed["enabled"], reviewed["agent"], reviewed["approver"]) == (True, AGENT, "customer")
    assert reviewed["needs_review"] is False and reviewed["reviewed_by"] == "admin_e2e"
    assert reviewed["history"][-1]["action"] == "review"

    # 3. the agent proposes the call; the gate asks the customer first
    tid = new_id()
    frames = await customer.ask(tid, ASK_REDEEM)
    intent = of_type(frames, "intent")[0]
    assert intent["agent"] == AGENT
    intr = frames[-1]
    assert intr["type"] == "interrupt", frames
    assert (intr["action"], intr["approver"], intr["agent"]) == (REDEEM, "customer", AGENT)
    assert intr["risk"] == post["risk"]
    assert intr["args"] == {"customer_id": "c42", "points": 200}
    assert not of_type(frames, "tool_call") and loyalty.calls == []

    await customer.send(
        {"type": "interrupt_response", "thread_id": tid, "approved": True, "interrupt_id": intr["interrupt_id"]}
    )
    frames = await customer.until_end(tid)
    decided = of_type(frames, "interrupt_decided")[0]
    assert decided["approved"] is True and decided["interrupt_id"] == intr["interrupt_id"]
    call = of_type(frames, "tool_call")[0]
    result = of_type(frames, "tool_result")[0]
    assert (call["tool"], call["args"]) == (REDEEM, {"customer_id": "c42", "points": 200})
    assert result["call_id"] == call["call_id"] and result["ok"] is True, result
    assert json.loads(result["content"]) == {"customer_id": "c42", "redeemed": 200, "balance": 800}
    assert frames[-1]["type"] == "message_complete" and "succeeded" in frames[-1]["content"]

    # exactly one call reached the API, with the arguments the customer approved
    assert len(loyalty.redeems()) == 1
    made = loyalty.redeems()[0]
    assert (made["customer_id"], made["body"]) == ("c42", {"points": 200})
    assert made["idempotency_key"] == call["call_id"]
    assert made["x_customer_id"] and made["x_customer_id"].startswith("cust_")
    assert made["authorization"] == f"Bearer {LOYALTY_SECRET}"  # its own secret, never the shop's token


async def test_customer_rejects_and_the_api_is_never_called(
    admin: httpx.AsyncClient, imported: dict[str, Any], loyalty: LoyaltyAPI, customer: WsClient
) -> None:
    await enable_redeem(admin, imported["spec_id"])  # as reviewed above; repeatable, so this test runs alone too
    before = len(loyalty.calls)
    tid = new_id()
    intr = (await customer.ask(tid, "Redeem loyalty points: points=150, customer_id=c77"))[-1]
    assert intr["type"] == "interrupt" and intr["action"] == REDEEM
    assert intr["args"] == {"customer_id": "c77", "points": 150}

    await customer.send(
        {"type": "interrupt_response", "thread_id": tid, "approved": False, "reason": "not now"}
    )
    frames = await customer.until_end(tid)
    decided = of_type(frames, "interrupt_decided")[0]
    assert decided["approved"] is False and decided["interrupt_id"] == intr["interrupt_id"]
    assert not of_type(frames, "tool_call") and not of_type(frames, "tool_result")
    done = frames[-1]
    assert done["type"] == "message_complete"
    assert "not approved" in done["content"] and "redeem loyalty points was not carried out" in done["content"]
    assert len(loyalty.calls) == before


async def test_customer_edits_the_arguments_of_an_imported_call(
    admin: httpx.AsyncClient, imported: dict[str, Any], loyalty: LoyaltyAPI, customer: WsClient
) -> None:
    await enable_redeem(admin, imported["spec_id"])
    before = len(loyalty.redeems())
    tid = new_id()
    intr = (await customer.ask(tid, "Redeem loyalty points: points=300, customer_id=c99"))[-1]
    assert intr["type"] == "interrupt" and intr["action"] == REDEEM
    await customer.send(
        {"type": "interrupt_response", "thread_id": tid, "approved": True,
         "args": {"customer_id": "c99", "points": 100}}
    )
    first = await customer.next("error", "interrupt_decided", thread_id=tid)
    assert first["type"] == "interrupt_decided", first
    frames = await customer.until_end(tid)
    result = of_type(frames, "tool_result")[0]
    assert result["ok"] is True
    assert loyalty.redeems()[before:] and loyalty.redeems()[-1]["body"] == {"points": 100}


async def test_an_imported_tool_cannot_reach_a_loopback_address_it_was_not_trusted_for(
    admin: httpx.AsyncClient, loyalty: LoyaltyAPI, customer: WsClient
) -> None:
    # The same test API, reached by the name `localhost`: it resolves to loopback, and only the
    # name 127.0.0.1 is in TOOL_ALLOW_HOSTS, so the call is refused before anything is sent.
    port = loyalty.base.rsplit(":", 1)[1]
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Warehouse", "version": "1"},
        "servers": [{"url": f"http://localhost:{port}"}],
        "paths": {"/loyalty/{customer_id}": {"get": {
            "operationId": "fetchWarehouseStock", "summary": "Fetch warehouse stock",
            "parameters": [{"name": "customer_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok"}}}}},
    }
    r = await admin.post("/api/openapi/specs", json=document)
    assert r.status_code == 201, r.text
    r = await admin.patch(f"/api/openapi/specs/{r.json()['spec_id']}/endpoints/fetchWarehouseStock",
                          json={"enabled": True, "agent": AGENT, "approver": "none"})
    assert r.status_code == 200, r.text
    before = len(loyalty.calls)
    frames = await customer.ask(new_id(), "Fetch warehouse stock for customer c1234")
    result = of_type(frames, "tool_result")[0]
    assert of_type(frames, "tool_call")[0]["tool"] == "fetchWarehouseStock"
    assert result["ok"] is False and "loopback" in result["content"] and "TOOL_ALLOW_HOSTS" in result["content"]
    assert len(loyalty.calls) == before  # nothing reached the API
