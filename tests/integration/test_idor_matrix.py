"""The IDOR matrix of docs/security.md: every route and every client frame × every kind of caller.

One parametrized test. `test_every_route_and_frame_has_a_matrix_entry` walks the app's
routes and the protocol's client frame types and fails when one has no row here, so a
new route or frame cannot ship without saying who may use it.

Callers: `owner` (the customer whose thread it is), `other` (another customer),
`operator`, `admin`, `anon` (no token). REST cells are status codes; frame cells are
the reply the caller gets (`error:<code>` or a frame type). A refused cell must also
change nothing: the owner's thread is read back after every mutating refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets

from app.core.config import load_settings
from app.main import create_app
from app.ws.frames import CLIENT_TYPES
from tests.integration.conftest import new_id, token
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROLES = ("owner", "other", "operator", "admin", "anon")
PUBLIC = "public"  # not role-based: anyone on this machine (see test_edge_security for other machines)


def _all(status: int | str) -> dict[str, int | str]:
    return dict.fromkeys(ROLES, status)


def _owned(owner: int | str, staff: int | str | None = None) -> dict[str, int | str]:
    staff = owner if staff is None else staff
    return {"owner": owner, "other": 403, "operator": staff, "admin": staff, "anon": 401}


def _staff(ok: int | str) -> dict[str, int | str]:
    return {"owner": 403, "other": 403, "operator": ok, "admin": ok, "anon": 401}


def _admin(ok: int | str) -> dict[str, int | str]:
    return {"owner": 403, "other": 403, "operator": 403, "admin": ok, "anon": 401}


# REST: "METHOD path" -> caller -> status. `{thread_id}` is the owner's thread.
REST: dict[str, dict[str, int | str]] = {
    "GET /api/health": _all(200),
    "GET /api/health/live": _all(200),  # liveness: no token, no data
    "POST /api/threads": {**_all(200), "anon": 401},
    "GET /api/threads": {**_all(200), "anon": 401},  # each customer sees only their own (checked below)
    "POST /api/threads/import": {**_all(200), "anon": 401},
    "GET /api/threads/{thread_id}": _owned(200),
    "GET /api/threads/{thread_id}/status": _owned(200),
    "GET /api/threads/{thread_id}/usage": _owned(200),
    "POST /api/threads/{thread_id}/retry": _owned(200),
    "POST /api/threads/{thread_id}/undo": _owned(200),
    "DELETE /api/threads/{thread_id}": _owned(204),
    "GET /api/interrupts": _staff(200),
    "GET /api/handoffs": _staff(200),
    "POST /api/threads/{thread_id}/claim": _staff(200),
    "POST /api/threads/{thread_id}/messages": _staff(200),
    "POST /api/threads/{thread_id}/release": _staff(409),  # nobody holds it: not_held, after the role check
    "POST /api/interrupts/{interrupt_id}/decision": _owned(200),
    # an admin gets past the role check to the body's own error (empty body, unknown spec)
    "POST /api/openapi/specs": _admin(400),
    "GET /api/openapi/specs": _admin(200),
    "GET /api/openapi/specs/{spec_id}": _admin(404),
    "PATCH /api/openapi/specs/{spec_id}": _admin(404),
    "PATCH /api/openapi/specs/{spec_id}/endpoints/{operation_id}": _admin(404),
    "GET /api/replay": _staff(200),
    "GET /api/replay/{thread_id}": _owned(200),
    "GET /api/replay/{thread_id}/eval-case": _owned(200),
    "GET /api/analytics/summary": _staff(200),
    # the knowledge base: admins manage it (an admin gets past the role check to the body's own error)
    "POST /api/knowledge/import": _admin(422),
    "POST /api/knowledge/articles": _admin(422),
    "GET /api/knowledge/articles": _admin(200),
    "DELETE /api/knowledge/articles/{article_id}": _admin(404),
    "GET /api/knowledge/search": _staff(200),
    "GET /api/knowledge/gaps": _staff(200),
    # the LangGraph Agent Server API (docs/langgraph-api.md): the same ownership; a body the
    # route cannot use is its own 4xx, after the role check (never 401/403 for the owner)
    "GET /lg/info": _all(200),
    "GET /lg/ok": _all(200),
    "POST /lg/assistants/search": {**_all(200), "anon": 401},
    "POST /lg/assistants/count": {**_all(200), "anon": 401},
    "GET /lg/assistants/{assistant_id}": {**_all(200), "anon": 401},
    "POST /lg/threads": {**_all(200), "anon": 401},
    "POST /lg/threads/search": {**_all(200), "anon": 401},
    "GET /lg/threads/{thread_id}": _owned(200),
    "PATCH /lg/threads/{thread_id}": _owned(200),
    "DELETE /lg/threads/{thread_id}": _owned(204),
    "GET /lg/threads/{thread_id}/state": _owned(200),
    # update_state is refused to everyone (422, docs/langgraph-api.md): it reveals nothing of the thread
    "POST /lg/threads/{thread_id}/state": {**_all(422), "anon": 401},
    "POST /lg/threads/{thread_id}/history": _owned(200),
    "POST /lg/threads/{thread_id}/runs/stream": _owned(200),
    "POST /lg/threads/{thread_id}/runs": _owned(200),
    "POST /lg/threads/{thread_id}/runs/wait": _owned(200),
    "GET /lg/threads/{thread_id}/runs": _owned(200),
    "GET /lg/threads/{thread_id}/runs/{run_id}": _owned(404),
    "GET /lg/threads/{thread_id}/runs/{run_id}/join": _owned(404),
    "GET /lg/threads/{thread_id}/runs/{run_id}/stream": _owned(404),
    "POST /lg/threads/{thread_id}/runs/{run_id}/cancel": _owned(404),
    "POST /lg/runs/stream": {**_all(200), "anon": 401},
    "POST /lg/runs/wait": {**_all(200), "anon": 401},
    # not role-based, no token read
    "GET /openapi.json": _all(PUBLIC),
    "GET /docs": _all(PUBLIC),
    "GET /docs/oauth2-redirect": _all(PUBLIC),
    "GET /redoc": _all(PUBLIC),
    "GET /metrics": _all(PUBLIC),
    "MOUNT /demo-shop": _all(PUBLIC),
    "GET /{path:path}": _all(PUBLIC),
    # the socket itself: anonymous is closed with 4001 before any frame
    "WS /ws": {**_all("connected"), "anon": "close:4001"},
}

# Frames on the owner's (idle) thread: caller -> the reply.
FRAMES: dict[str, dict[str, str]] = {
    "message": {"owner": "message_complete", "other": "error:forbidden", "operator": "message_complete",
                "admin": "message_complete"},
    "interrupt_response": {"owner": "error:no_pending_interrupt", "other": "error:forbidden",
                           "operator": "error:no_pending_interrupt", "admin": "error:no_pending_interrupt"},
    "form_submit": {"owner": "run_start", "other": "error:forbidden", "operator": "run_start", "admin": "run_start"},
    "cancel": {"owner": "error:no_active_run", "other": "error:forbidden", "operator": "error:no_active_run",
               "admin": "error:no_active_run"},
    "subscribe": {"owner": "session_sync", "other": "error:forbidden", "operator": "session_sync",
                  "admin": "session_sync"},
    "unsubscribe": {"owner": "silent", "other": "silent", "operator": "silent", "admin": "silent"},
    "ping": {"owner": "pong", "other": "pong", "operator": "pong", "admin": "pong"},
    "feedback": {"owner": "silent", "other": "error:forbidden", "operator": "silent", "admin": "silent"},
    "claim": {"owner": "error:forbidden", "other": "error:forbidden", "operator": "agent_joined", "admin": "agent_joined"},
    "operator_message": {"owner": "error:forbidden", "other": "error:forbidden", "operator": "human_message",
                         "admin": "human_message"},
    "release": {"owner": "error:forbidden", "other": "error:forbidden", "operator": "error:not_held",
                "admin": "error:not_held"},
}


def app_routes() -> set[str]:
    """Every route of the app as "METHOD path" (mounts as "MOUNT path", sockets as "WS path")."""
    app = create_app(load_settings(), "postgresql://unused@127.0.0.1/unused")
    found: set[str] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI's included router
                walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif type(route).__name__ == "Mount":
                found.add(f"MOUNT {prefix}{route.path}")
            elif "WebSocket" in type(route).__name__:
                found.add(f"WS {prefix}{route.path}")
            else:
                for method in sorted(set(route.methods) - {"HEAD"}):
                    found.add(f"{method} {prefix}{route.path}")

    walk(app.routes, "")
    return found


async def test_every_route_and_frame_has_a_matrix_entry() -> None:
    routes = app_routes()
    assert routes - set(REST) == set(), "add these routes to the IDOR matrix (and docs/security.md)"
    assert set(REST) - routes == set(), "these matrix rows name routes that no longer exist"
    assert set(CLIENT_TYPES) == set(FRAMES), "add the new frame types to the IDOR matrix (and docs/security.md)"
    for row in [*REST.values(), *FRAMES.values()]:
        assert set(row) >= set(ROLES) - {"anon"}


@dataclass
class World:
    server: ServerProcess
    owner: str
    other: str

    def headers(self, role: str) -> dict[str, str]:
        user = {"owner": self.owner, "other": self.other, "operator": "op_idor", "admin": "admin_idor"}.get(role)
        if user is None:
            return {}
        kind = role if role in ("operator", "admin") else "customer"
        return {"Authorization": f"Bearer {token(user, kind)}"}

    def token(self, role: str) -> str | None:
        header = self.headers(role).get("Authorization")
        return header.split(" ", 1)[1] if header else None

    async def conversation(self, question: str = "What is the status of order 1042?") -> tuple[str, list[dict[str, Any]]]:
        c = await WsClient.connect(self.server.ws_url, token(self.owner))
        tid = new_id()
        frames = await c.ask(tid, question)
        await c.close()
        return tid, frames


@pytest.fixture(scope="module")
def world(server: ServerProcess) -> Iterator[World]:
    yield World(server, new_id("owner"), new_id("other"))


async def _rest_call(world: World, key: str, role: str) -> tuple[int | str, str | None, Any]:
    """Make the call as `role` on fresh owner resources: (status, the owner's thread, its messages before)."""
    method, path = key.split(" ", 1)
    base, headers = world.server.base, world.headers(role)
    thread_id = interrupt_id = None
    if "{thread_id}" in path:
        thread_id, _ = await world.conversation()
        path = path.replace("{thread_id}", thread_id)
    if "{interrupt_id}" in path:
        thread_id, frames = await world.conversation("Cancel order 1042")
        interrupt_id = frames[-1]["interrupt_id"]
        path = path.replace("{interrupt_id}", interrupt_id)
    path = path.replace("{spec_id}", "no_such_spec").replace("{operation_id}", "no_such_op")
    path = path.replace("{article_id}", "no_such_article").replace("{run_id}", "no_such_run")
    path = path.replace("{assistant_id}", "support")
    if path == "/api/knowledge/search":
        path += "?q=returns"
    if method == "MOUNT":
        method, path = "GET", path + "/orders/1042"
    if path == "/{path:path}":
        path = "/some/page"
    body: dict[str, Any] | None = None
    if path.startswith("/lg/") and method in ("POST", "PATCH"):
        if path.endswith(("/runs", "/runs/wait", "/runs/stream")):
            body = {"assistant_id": "support",
                    "input": {"messages": [{"role": "user", "content": "What is the status of order 1042?"}]}}
        else:
            body = {"metadata": {"k": "v"}} if method == "PATCH" else {}
    elif path == "/api/threads/import":
        body = {"title": "imported", "messages": [{"role": "user", "content": "hello"}]}
    elif path.endswith("/decision"):
        body = {"approved": False, "reason": "matrix"}
    elif method == "PATCH" and path.endswith("/no_such_op"):
        body = {"enabled": True}
    elif method == "PATCH":
        body = {"credentials": None}
    elif method == "POST" and path == "/api/threads":
        body = {}
    elif path.endswith("/messages"):
        body = {"content": "Hello, this is support."}
    elif path.endswith("/release"):
        body = {"outcome": "back_to_assistant"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        before = None
        if thread_id is not None:
            before = (await client.get(f"/api/threads/{thread_id}", headers=world.headers("owner"))).json()["messages"]
        r = await client.request(method, path, headers=headers, json=body)
    return r.status_code, thread_id, before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(REST))
async def test_rest_matrix(world: World, key: str, role: str) -> None:
    expected = REST[key][role]
    if key == "WS /ws":
        tok = world.token(role)
        url = world.server.ws_url + (f"?token={tok}" if tok else "")
        async with websockets.connect(url, open_timeout=10) as ws:
            try:
                first = await ws.recv()
                got = "connected" if '"connected"' in str(first) else str(first)
            except websockets.ConnectionClosed as exc:
                got = f"close:{exc.rcvd.code if exc.rcvd else None}"
        assert got == expected
        return
    status, thread_id, before = await _rest_call(world, key, role)
    if expected == PUBLIC:
        assert status not in (401, 403), (key, role, status)
        return
    assert status == expected, (key, role, status)
    if isinstance(expected, int) and expected >= 400 and thread_id is not None:
        # a refused call changed nothing: the owner still reads the thread, unchanged in length
        async with httpx.AsyncClient(base_url=world.server.base, timeout=30) as client:
            after = await client.get(f"/api/threads/{thread_id}", headers=world.headers("owner"))
        assert after.status_code == 200 and after.json()["messages"] == before, (key, role, after.text)
    if key == "GET /api/threads" and role == "other":
        owned, _ = await world.conversation()
        async with httpx.AsyncClient(base_url=world.server.base, timeout=30) as client:
            listing = (await client.get("/api/threads?limit=500", headers=world.headers("other"))).json()
        assert owned not in [t["thread_id"] for t in listing["data"]]


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anon"])
@pytest.mark.parametrize("frame_type", sorted(FRAMES))
async def test_frame_matrix(world: World, frame_type: str, role: str) -> None:
    expected = FRAMES[frame_type][role]
    thread_id, frames = await world.conversation()
    frame: dict[str, Any] = {"type": frame_type, "thread_id": thread_id}
    frame.update({
        "message": {"content": "What is the status of order 1042?"},
        "interrupt_response": {"approved": True},
        "form_submit": {"form_id": "no_such_form", "values": {"x": "y"}},
        "feedback": {"message_id": frames[-1]["message_id"], "rating": "up"},
        "operator_message": {"content": "Hello, this is support."},
        "release": {"outcome": "back_to_assistant"},
    }.get(frame_type, {}))
    # what ends the caller's answer: a run's end, a replay's session_sync, or else the pong of a marker ping
    until = {"message": {"message_complete", "run_error", "interrupt"},
             "form_submit": {"message_complete", "run_error", "interrupt"},
             "subscribe": {"session_sync"}}.get(frame_type)
    if frame_type == "ping":
        frame = {"type": "ping"}
    c = await WsClient.connect(world.server.ws_url, world.token(role))
    try:
        await c.send(frame)
        await c.send({"type": "ping"})  # a marker: whatever the frame caused comes before its pong
        replies = []
        while True:
            f = await c.next(timeout=30)
            if until is not None:  # the answer outlives the marker: wait for its end (or a refusal)
                if f["type"] != "pong":
                    replies.append(f)
                if f["type"] in until or f["type"] == "error":
                    break
                continue
            if f["type"] == "pong" and (frame_type != "ping" or replies):
                break
            replies.append(f)
        kinds = [f"error:{f['code']}" if f["type"] == "error" else f["type"] for f in replies]
        if expected == "silent":
            assert kinds == [], kinds
        elif expected == "error:*":
            assert kinds and kinds[0].startswith("error:") and kinds[0] != "error:forbidden", kinds
        elif expected.startswith("error:"):
            assert kinds[:1] == [expected], kinds
        else:
            assert expected in kinds, kinds
    finally:
        await c.close()
    if expected == "error:forbidden":
        async with httpx.AsyncClient(base_url=world.server.base, timeout=30) as client:
            status = (await client.get(f"/api/threads/{thread_id}/status", headers=world.headers("owner"))).json()
        assert status["message_count"] == 2 and status["agent_running"] is False, status
