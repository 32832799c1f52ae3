"""The REST routes over HTTP: roles, parameters, response shapes, error bodies.

The app here mounts the analytics and replay routers with the server's own error
handlers on a real database; the full server is exercised in test_end_to_end.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from app.analytics import replay_routes as replay
from app.analytics import routes as analytics
from app.core.config import Settings
from app.core.security import issue_token
from app.main import _install_error_handlers
from tests.analytics.seed import seed_scenarios

SECRET = "s" * 32


@pytest.fixture
async def client(pool) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(auth_secret=SECRET, model_prices={"demo": {"input_per_1k": 1.0, "output_per_1k": 2.0}})
    app = FastAPI()
    _install_error_handlers(app)
    api = APIRouter(prefix="/api")
    api.include_router(analytics.router)
    api.include_router(replay.router)
    app.include_router(api)
    app.state.services = SimpleNamespace(pool=pool, settings=settings, replay_slots=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def auth(user: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user_id=user, role=role)}"}


OP, ADMIN, CUST = auth("op1", "operator"), auth("boss", "admin"), auth("u2", "customer")


async def test_summary_route(pool, client) -> None:
    await seed_scenarios(pool, datetime.now(UTC))
    r = await client.get("/api/analytics/summary", params={"range": "24h"}, headers=OP)
    assert r.status_code == 200, r.text
    s = r.json()
    for key in ("range", "from", "to", "conversations", "messages", "automated_resolution_rate",
                "escalation_rate", "approvals", "intents", "agents", "tool_error_rate", "ttft_ms",
                "tokens_per_conversation", "cost_per_conversation_usd", "csat", "series"):
        assert key in s, key
    assert s["conversations"] == 9 and s["cost_usd"] == pytest.approx(1.05)
    assert s["approvals"]["refund_order"]["median_decision_s"] == 60.0
    assert set(s["series"][0]) >= {"bucket", "conversations", "messages", "escalations"}

    r = await client.get("/api/analytics/summary", params={"from": "2020-01-01T00:00:00Z",
                                                           "to": "2020-01-08T00:00:00Z"}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["range"] == "custom" and r.json()["bucket"] == "day"

    assert (await client.get("/api/analytics/summary")).status_code == 401
    r = await client.get("/api/analytics/summary", headers=CUST)
    assert r.status_code == 403 and "operator" in r.json()["error"]
    r = await client.get("/api/analytics/summary", params={"range": "1y"}, headers=OP)
    assert r.status_code == 422 and "range" in r.json()["error"]
    r = await client.get("/api/analytics/summary", params={"from": "2020-01-02T00:00:00Z",
                                                           "to": "2020-01-01T00:00:00Z"}, headers=OP)
    assert r.status_code == 400 and "from must be earlier" in r.json()["error"]


async def test_replay_routes(pool, client) -> None:
    await seed_scenarios(pool, datetime.now(UTC))
    r = await client.get("/api/replay", params={"outcome": "assisted"}, headers=OP)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2 and [c["thread_id"] for c in body["data"]] == ["thr_C", "thr_B"]
    assert body["data"][0]["interrupt_outcomes"][0]["outcome"] == "edited"
    r = await client.get("/api/replay", params={"has_interrupt": "true", "intent": "refund", "limit": 2},
                         headers=ADMIN)
    assert r.json()["count"] == 5 and len(r.json()["data"]) == 2 and r.json()["next_cursor"]
    nxt = await client.get("/api/replay", params={"has_interrupt": "true", "intent": "refund", "limit": 2,
                                                  "cursor": r.json()["next_cursor"]}, headers=ADMIN)
    assert [c["thread_id"] for c in nxt.json()["data"]] == ["thr_E", "thr_D"]
    assert (await client.get("/api/replay", headers=CUST)).status_code == 403

    r = await client.get("/api/replay/thr_B", headers=CUST)  # u2 owns thr_B
    assert r.status_code == 200
    events = r.json()["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)) and all("ts" in e for e in events)
    r = await client.get("/api/replay/thr_A", headers=CUST)
    assert r.status_code == 403
    r = await client.get("/api/replay/thr_missing", headers=OP)
    assert r.status_code == 404 and "not found" in r.json()["error"]
    r = await client.get("/api/replay/thr_B", params={"tokens": "false"}, headers=OP)
    assert all(e["type"] != "token" for e in r.json()["events"])
    r = await client.get("/api/replay/bad%20id", headers=OP)
    assert r.status_code == 422
