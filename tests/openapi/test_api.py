"""The /api/openapi/specs routes over HTTP.

`routes_client` mounts this router on a FastAPI app with the server's own error
handlers (`app.main._install_error_handlers`) and auth dependency, over a real
Postgres: it exercises the handlers, roles, status codes and error bodies without
the rest of the server. `test_through_the_real_server` runs `support-agent serve`
and skips until the lead has included the router in `app/api/main.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from psycopg_pool import AsyncConnectionPool

from app.container import Services
from app.core.config import Settings
from app.core.security import issue_token
from app.integrations.openapi import routes as openapi_specs
from tests.openapi.conftest import LocalServer, fixture_bytes

SECRET = "s" * 32
ADMIN = {"Authorization": "Bearer " + issue_token(SECRET, user_id="alice", role="admin")}
OPERATOR = {"Authorization": "Bearer " + issue_token(SECRET, user_id="bob", role="operator")}
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
async def routes_client(pool: AsyncConnectionPool) -> AsyncIterator[httpx.AsyncClient]:
    from app.main import _install_error_handlers

    app = FastAPI()
    _install_error_handlers(app)
    api = APIRouter(prefix="/api")
    api.include_router(openapi_specs.router)
    app.include_router(api)
    settings = Settings(database_url=None, auth_secret=SECRET, openapi_max_bytes=2 * 1024 * 1024)
    app.state.services = Services(settings=settings, pool=pool, database_url="")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


async def test_import_list_get_review(routes_client: httpx.AsyncClient) -> None:
    c = routes_client
    r = await c.post(
        "/api/openapi/specs",
        content=fixture_bytes("swagger-petstore-3.0.yaml"),
        headers={**ADMIN, **YAML},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    spec_id = body["spec_id"]
    assert len(body["endpoints"]) == 19 and body["import"]["created"]
    ep = next(e for e in body["endpoints"] if e["operation_id"] == "deletePet")
    for key in (
        "operation_id",
        "method",
        "path",
        "risk",
        "approver",
        "agent",
        "enabled",
        "reasons",
        "needs_review",
        "summary",
        "history",
    ):
        assert key in ep
    assert (ep["risk"], ep["approver"], ep["enabled"]) == ("high", "operator", False)

    again = await c.post(
        "/api/openapi/specs",
        content=fixture_bytes("swagger-petstore-3.0.yaml"),
        headers={**ADMIN, **YAML},
    )
    assert again.status_code == 200 and again.json()["import"]["unchanged"]

    listing = (await c.get("/api/openapi/specs", headers=ADMIN)).json()
    assert listing["count"] == 1 and listing["data"][0]["spec_id"] == spec_id

    r = await c.patch(
        f"/api/openapi/specs/{spec_id}/endpoints/deletePet",
        json={"enabled": True, "risk": "critical"},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is True and r.json()["risk"] == "critical"
    detail = (await c.get(f"/api/openapi/specs/{spec_id}", headers=ADMIN)).json()
    ep = next(e for e in detail["endpoints"] if e["operation_id"] == "deletePet")
    assert ep["history"][-1]["actor"] == "alice"
    assert ep["history"][-1]["changes"]["risk"] == {"old": "high", "new": "critical"}


async def test_json_body_and_query_name(routes_client: httpx.AsyncClient) -> None:
    import json

    import yaml

    doc = yaml.safe_load(fixture_bytes("petstore-expanded-3.0.yaml"))
    r = await routes_client.post(
        "/api/openapi/specs?name=pets",
        content=json.dumps(doc),
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert r.status_code == 201 and r.json()["name"] == "pets"


async def test_roles(routes_client: httpx.AsyncClient) -> None:
    c = routes_client
    assert (await c.get("/api/openapi/specs")).status_code == 401
    r = await c.get("/api/openapi/specs", headers=OPERATOR)
    assert r.status_code == 403 and "admin" in r.json()["error"]
    r = await c.post(
        "/api/openapi/specs",
        content=fixture_bytes("petstore-expanded-3.0.yaml"),
        headers={**OPERATOR, **YAML},
    )
    assert r.status_code == 403
    r = await c.patch("/api/openapi/specs/x/endpoints/y", json={"enabled": True}, headers=OPERATOR)
    assert r.status_code == 403


async def test_errors_name_the_problem(routes_client: httpx.AsyncClient) -> None:
    c = routes_client
    spec_id = (
        await c.post(
            "/api/openapi/specs",
            content=fixture_bytes("petstore-expanded-3.0.yaml"),
            headers={**ADMIN, **YAML},
        )
    ).json()["spec_id"]
    url = f"/api/openapi/specs/{spec_id}/endpoints/deletePet"
    for payload, word in (
        ({"risk": "extreme"}, "risk"),
        ({"approver": 3}, "approver"),
        ({"enabled": "yes"}, "enabled"),
        ({"agent": "No Way"}, "agent"),
        ({"colour": "red"}, "colour"),
    ):
        r = await c.patch(url, json=payload, headers=ADMIN)
        assert r.status_code == 400 and word in r.json()["error"], (payload, r.text)
    r = await c.patch(
        url, content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "JSON object" in r.json()["error"]
    r = await c.get("/api/openapi/specs/nope", headers=ADMIN)
    assert r.status_code == 404 and "not found" in r.json()["error"]
    r = await c.patch(
        f"/api/openapi/specs/{spec_id}/endpoints/nope", json={"enabled": True}, headers=ADMIN
    )
    assert r.status_code == 404 and "not found" in r.json()["error"]
    r = await c.post("/api/openapi/specs", content=b"", headers={**ADMIN, **YAML})
    assert r.status_code == 400 and "empty" in r.json()["error"]
    r = await c.post(
        "/api/openapi/specs",
        content=b"openapi: 3.0.0\n" + b"#" * (3 * 1024 * 1024),
        headers={**ADMIN, **YAML},
    )
    assert r.status_code == 400 and "over the limit" in r.json()["error"]
    bomb = b'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n".encode()
        for i in range(8)
    )
    r = await c.post("/api/openapi/specs", content=bomb, headers={**ADMIN, **YAML})
    assert r.status_code == 400 and "alias bomb" in r.json()["error"]


async def test_url_import_is_refused_for_loopback(
    routes_client: httpx.AsyncClient, local_server: LocalServer
) -> None:
    r = await routes_client.post(
        "/api/openapi/specs", json={"url": local_server.url("/spec.yaml")}, headers=ADMIN
    )
    assert r.status_code == 400 and "loopback" in r.json()["error"]
    r = await routes_client.post(
        "/api/openapi/specs", json={"url": "https://x.example", "colour": 1}, headers=ADMIN
    )
    assert r.status_code == 400 and "colour" in r.json()["error"]


async def test_through_the_real_server(
    pool: AsyncConnectionPool, database_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from tests.support.server import ServerProcess

    # `pool` has migrated the database already (see conftest), so the server starts on a current schema.

    env = {"DATABASE_URL": database_url, "AUTH_SECRET": SECRET, "DEMO_MODE": "false"}
    server = ServerProcess(env, data_dir=tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as c:
            probe = await c.get("/api/openapi/specs", headers=ADMIN)
            assert probe.status_code == 200, probe.text
            r = await c.post(
                "/api/openapi/specs",
                content=fixture_bytes("petstore-expanded-3.0.yaml"),
                headers={**ADMIN, **YAML},
            )
            assert r.status_code == 201, r.text
            spec_id = r.json()["spec_id"]
            r = await c.patch(
                f"/api/openapi/specs/{spec_id}/endpoints/deletePet",
                json={"enabled": True},
                headers=ADMIN,
            )
            assert r.status_code == 200 and r.json()["enabled"] is True
            r = await c.patch(
                f"/api/openapi/specs/{spec_id}/endpoints/deletePet",
                json={"risk": "bad"},
                headers=ADMIN,
            )
            assert r.status_code in (400, 422) and "risk" in r.json()["error"]
            assert (await c.get("/api/openapi/specs", headers=OPERATOR)).status_code == 403
    finally:
        server.stop()
