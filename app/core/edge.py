"""The edge: what every request, WebSocket upgrade and start-up passes before the app.

`EdgeGuard` is a pure ASGI middleware, the outermost layer `create_app` installs, so
it holds whoever launches the app (`support-agent serve`, `uvicorn app.main:...`,
gunicorn). It owns:

- local mode (no AUTH_SECRET, everyone is the admin) stays on this machine: the peer
  must be a loopback address (403), the Host a loopback name (421, against DNS
  rebinding), and an Origin this machine's (a loopback host, any port), the
  server's own, or one in CORS_ALLOW_ORIGINS (403);
  a refused WebSocket is accepted and closed with 4003. ALLOW_INSECURE_REMOTE lifts
  the peer and Host checks, never the Origin one.
- start-up in local mode refuses an empty, wildcard or other non-loopback bind
  address. ASGI does not tell an app where it listens, so the address comes from
  uvicorn's own `Config`, found on the call stack of the lifespan startup (uvicorn's
  lifespan task is running it), and, for launchers that bind before start-up
  (gunicorn, `--fd`, `serve --workers`), from the listening sockets this process
  already holds.
- /metrics and /demo-shop answer 404 to callers not on this machine unless
  METRICS_PUBLIC / DEMO_SHOP_PUBLIC say otherwise.
- REST bodies: at most MAX_BODY_BYTES (OPENAPI_MAX_BYTES for a spec import), else
  413; a body on a JSON endpoint must say `application/json`, else 415.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

import orjson

from app.core.config import Settings
from app.core.logging import get_logger

__all__ = ["CLOSE_FORBIDDEN", "EdgeGuard", "bind_problem", "is_loopback_host"]

log = get_logger(__name__)

CLOSE_FORBIDDEN = 4003
SPEC_IMPORT_PATH = "/api/openapi/specs"
SPEC_CONTENT_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
                      "application/vnd.oai.openapi", "application/vnd.oai.openapi+json")
# a knowledge-base article is uploaded as the document itself; none of these types is one a
# cross-site form can send without a CORS preflight (text/plain is refused here too)
ARTICLE_UPLOAD_PATH = "/api/knowledge/articles"
ARTICLE_CONTENT_TYPES = ("text/markdown", "text/html", "application/pdf", "application/octet-stream")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")

Scope = dict[str, Any]


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback_host(host: str) -> bool:
    """`localhost`, `*.localhost` (RFC 6761: always this machine) or a loopback IP; never "" or a wildcard."""
    host = host.strip().rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def _listening_addresses() -> list[str]:
    """The addresses of the inet sockets this process already listens on (launchers that bind first)."""
    try:
        import psutil

        conns = psutil.Process().net_connections(kind="inet")
    except Exception:  # noqa: BLE001 - no psutil, or no permission: the uvicorn config check still runs
        return []
    return [c.laddr.ip for c in conns if c.status == "LISTEN" and c.laddr]


def _uvicorn_config_on_stack() -> Any:
    """The `uvicorn.Config` of the server running this lifespan, if uvicorn runs it."""
    try:
        from uvicorn import Config
    except ImportError:
        return None
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        config = getattr(owner, "config", None)
        if isinstance(config, Config):
            return config
        frame = frame.f_back  # type: ignore[assignment]
    return None


def bind_problem(settings: Settings, uvicorn_config: Any = None) -> str | None:
    """Why local mode must not start on this bind address, or None."""
    if settings.auth_enabled or settings.allow_insecure_remote:
        return None
    hosts: list[str] = []
    if uvicorn_config is not None and not getattr(uvicorn_config, "uds", None):
        fd = getattr(uvicorn_config, "fd", None)
        if fd is not None:
            try:
                with socket.socket(fileno=socket.dup(fd)) as sock:
                    hosts.append(str(sock.getsockname()[0]))
            except OSError:
                pass
        elif getattr(uvicorn_config, "host", None) is not None:
            hosts.append(str(uvicorn_config.host))
    hosts += _listening_addresses()
    for host in hosts:
        if not is_loopback_host(host):
            shown = repr(host) if host in ("", "0.0.0.0", "::") else host
            return (f"refusing to listen on {shown} without AUTH_SECRET: anyone who can reach it would act as the "
                    "local admin. Listen on 127.0.0.1, set AUTH_SECRET, or ALLOW_INSECURE_REMOTE=true if you "
                    "really mean it")
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _peer_is_local(scope: Scope) -> bool:
    client = scope.get("client")
    if client is None:
        return True  # a Unix socket: the file's permissions decide who reaches it
    ip = _ip(str(client[0]))
    return ip is not None and ip.is_loopback


class EdgeGuard:
    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.origins = {o.rstrip("/").lower() for o in settings.cors_allow_origins}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            problem = bind_problem(self.settings, _uvicorn_config_on_stack())
            if problem is not None:
                await receive()  # lifespan.startup
                log.error("startup_refused", reason=problem)
                await send({"type": "lifespan.startup.failed", "message": problem})
                return
            await self.app(scope, receive, send)
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            status, code, message = refusal
            await self._refuse(scope, receive, send, status, code, message)
            return
        if kind == "http" and scope["method"] in BODY_METHODS and scope["path"].startswith("/api/"):
            await self._bounded(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        path = scope["path"]
        local_peer = _peer_is_local(scope)
        if not self.settings.auth_enabled:
            host = _header(scope, b"host") or ""
            if not self.settings.allow_insecure_remote:
                if not local_peer:
                    return 403, "forbidden", ("local mode (no AUTH_SECRET) serves only this machine; set AUTH_SECRET "
                                              "to let other machines in with tokens")
                if not is_loopback_host(_host_name(host)):
                    return 421, "misdirected_request", (f"local mode answers only to localhost or a loopback "
                                                        f"address, not Host {host!r}; open http://127.0.0.1 instead")
            origin = _header(scope, b"origin")
            if origin is not None and not self._own_origin(origin, host):
                return 403, "forbidden", (f"origin {origin!r} may not call this local-mode server; list it in "
                                          "CORS_ALLOW_ORIGINS to allow it")
        if not local_peer:
            if path.startswith("/metrics") and not self.settings.metrics_public:
                return 404, "not_found", f"{path} not found"
            if path.startswith("/demo-shop") and not self.settings.demo_shop_public:
                return 404, "not_found", f"{path} not found"
        return None

    def _own_origin(self, origin: str, host: str) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https"):
            return False  # "null" (a sandboxed frame, a file:// page) and the like
        # a page served from this machine, any port: every local process may reach the server anyway
        return is_loopback_host(parts.hostname or "") or (bool(host) and parts.netloc == host.lower())

    async def _refuse(self, scope: Scope, receive: Any, send: Any, status: int, code: str, message: str) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN, "reason": message[:120]})
            return
        await _send_json(send, status, {"error": message, "code": code})

    async def _bounded(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope["path"].rstrip("/")
        is_spec_import = path == SPEC_IMPORT_PATH
        is_upload = path == ARTICLE_UPLOAD_PATH
        if is_spec_import:
            limit, limit_name, allowed = self.settings.openapi_max_bytes, "OPENAPI_MAX_BYTES", SPEC_CONTENT_TYPES
        elif is_upload:
            limit, limit_name, allowed = (self.settings.kb_max_document_bytes, "KB_MAX_DOCUMENT_BYTES",
                                          ARTICLE_CONTENT_TYPES)
        else:
            limit, limit_name, allowed = self.settings.max_body_bytes, "MAX_BODY_BYTES", ("application/json",)
        declared = _header(scope, b"content-length")
        has_body = (declared not in (None, "0")) or _header(scope, b"transfer-encoding") is not None
        if has_body:
            content_type = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
            json_route = not (is_spec_import or is_upload)
            if content_type not in allowed and not (content_type.endswith("+json") and json_route):
                await _send_json(send, 415, {
                    "error": f"this endpoint takes {' or '.join(allowed)}, not {content_type or 'no Content-Type'}; "
                             f"send the body with Content-Type: {allowed[0]}" + ("" if json_route else " (or another of those)"),
                    "code": "unsupported_media_type"})
                return
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, _too_large(limit, limit_name, int(declared)))
            return
        # read the whole (bounded) body first, so an oversized one is refused before any route runs
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await _send_json(send, 413, _too_large(limit, limit_name, None))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int, name: str, size: int | None) -> dict[str, str]:
    said = f"the body is {size:,} bytes" if size is not None else "the body is"
    return {"error": f"{said} over the limit of {limit:,} bytes ({name}); nothing was done", "code": "payload_too_large"}


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})
