"""The frontend's wire and REST types are generated from the server's models and are current.

`frontend/src/client/openapi.json` must be exactly what `python -m app.schema_dump` prints
now, and `frontend/src/client/{schema,wire}.ts` exactly what `npm run generate:types`
makes of it: a model changed without regenerating fails here (and in scripts/test).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from app.api.schema import socket_schemas
from app.core.config import Settings
from app.main import create_app
from graphs.events import EVENT_TYPES

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "frontend" / "src" / "client"


def _document() -> dict:
    return create_app(Settings(database_url=None), "postgresql://unused/never-connected").openapi()


def test_checked_in_openapi_json_is_current() -> None:
    current = json.dumps(_document(), indent=2, sort_keys=True) + "\n"
    assert (CLIENT / "openapi.json").read_text() == current, (
        "frontend/src/client/openapi.json is stale: run "
        "`python -m app.schema_dump > frontend/src/client/openapi.json && (cd frontend && npm run generate:types)`")


def test_openapi_carries_the_event_union_and_the_socket_frames() -> None:
    schemas = _document()["components"]["schemas"]
    assert set(schemas["Event"]["discriminator"]["mapping"]) == set(EVENT_TYPES)
    for name in ("ServerReply", "ClientFrame", "ServerFrame", "SessionSync", "MessageFrame", "ErrorFrame"):
        assert name in schemas
    assert set(socket_schemas()) <= set(schemas)
    # the replay route documents its body as the Event union
    timeline = schemas["Timeline"]["properties"]["events"]["items"]
    assert "oneOf" in timeline and len(timeline["oneOf"]) == len(EVENT_TYPES)


def test_generated_typescript_is_current() -> None:
    node = shutil.which("node")
    assert node, "node is needed to check the generated TypeScript (scripts/test installs the frontend first)"
    assert (REPO / "frontend" / "node_modules" / "openapi-typescript").exists(), \
        "frontend/node_modules lacks openapi-typescript: run `npm ci` in frontend/"
    done = subprocess.run([node, "scripts/generate-types.mjs", "--check"], cwd=REPO / "frontend",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_every_rest_route_has_a_response_model() -> None:
    """Each /api operation's success answer is a named model in the document, not a bare object."""
    untyped = []
    for path, ops in _document()["paths"].items():
        for method, op in ops.items():
            if not path.startswith("/api"):
                continue
            for status, response in op["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if "$ref" not in json.dumps(schema):
                    untyped.append(f"{method.upper()} {path} {status}")
    assert not untyped, f"answers without a response model: {untyped}"
