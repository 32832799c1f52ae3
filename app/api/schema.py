"""The OpenAPI document, with the WebSocket's types in it too.

FastAPI documents the REST routes from their response models. The socket is not a
route, so its types are added here under `components.schemas`: `Event` (every
`graphs.events` model), `ServerReply` (the socket-only replies), `ServerFrame`
(either: anything the server sends on the socket) and `ClientFrame`. The frontend's
TypeScript types are generated from this document (`python -m app.schema_dump`,
then `npm run generate:types`), so the wire has one definition.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import Field, TypeAdapter

from app.ws.frames import ClientFrame, ServerReply
from graphs.events import RUN_END_TYPES, Event

__all__ = ["install_openapi", "socket_schemas"]

ServerFrame = Annotated[Event | ServerReply, Field(description="Anything the server sends on the socket.")]
REF = "#/components/schemas/{model}"


def socket_schemas() -> dict[str, Any]:
    """`components.schemas` entries for the socket's unions and every model they use."""
    out: dict[str, Any] = {}
    for name, kind in (("Event", Event), ("ServerReply", ServerReply), ("ClientFrame", ClientFrame),
                       ("ServerFrame", ServerFrame)):
        schema = TypeAdapter(kind).json_schema(ref_template=REF, mode="validation")
        for def_name, definition in schema.pop("$defs", {}).items():
            # Frames leave out only fields that are None: one with another default (`type`, a count
            # of 0) is always there, so it is required in what a client receives.
            always = [k for k, p in definition.get("properties", {}).items() if p.get("default") is not None]
            required = definition.setdefault("required", [])
            required[:0] = [k for k in always if k not in required]
            out[def_name] = definition
        out[name] = schema
    out["Event"]["x-run-end-types"] = sorted(RUN_END_TYPES)  # exactly one of these ends every run
    return out


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` the routes' document plus the socket's schemas."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in socket_schemas().items():
            # A model a route also uses (the events of a replay) is there already, in its serialization
            # form; the socket's (validation) form is the truer one, since unset fields are left out on the
            # wire. Another model of the same name would be a different shape under one name: refused.
            old = schemas.get(name)
            if old is not None and set(old.get("properties", {})) != set(schema.get("properties", {})):
                raise RuntimeError(f"two different schemas are both called {name!r} in the OpenAPI document; "
                                   "rename one of the models")
            schemas[name] = schema
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
