"""The demo shop shared by the worker processes of `support-agent serve --workers N`.

The shop keeps its orders in process memory, so N workers each mounting their own
would be N different shops: a cancel done through one would be invisible through
another. With several workers the parent runs the shop once, in a process of its own
(`SharedShop`), the tools of every worker call it there, and each worker mounts
`ShopPassThrough` at /demo-shop so browsers and scripts keep reaching that one shop at
the usual address. The shop process serves the shop under the same /demo-shop path
(`create_mounted_shop_app`), so the pass-through forwards paths unchanged.

`python -m app.demo.shared FD` is the shop process: it serves on the listening
socket it inherits as file descriptor FD.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.websockets import WebSocketClose

from app.demo.shop import create_shop_app

__all__ = ["SHOP_PATH", "SharedShop", "SharedShopError", "ShopPassThrough", "create_mounted_shop_app"]

SHOP_PATH = "/demo-shop"

# Per-hop headers (RFC 9110 7.6.1), plus the ones recomputed or added again on the way back.
_REQUEST_DROP = {b"connection", b"keep-alive", b"proxy-authorization", b"te", b"trailer", b"transfer-encoding",
                 b"upgrade", b"host", b"content-length"}
_RESPONSE_DROP = {b"connection", b"keep-alive", b"proxy-authenticate", b"trailer", b"transfer-encoding", b"upgrade",
                  b"content-length", b"content-encoding", b"date", b"server"}


class SharedShopError(Exception):
    """The shop process could not be started."""


def create_mounted_shop_app() -> Starlette:
    """The shop process's app: one shop, at the path the server would mount it on."""
    return Starlette(routes=[Mount(SHOP_PATH, app=create_shop_app())])


class SharedShop:
    """The demo shop in a process of its own on a loopback port; `url` is its base URL."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url

    @classmethod
    def start(cls, timeout_s: float = 30.0) -> SharedShop:
        """Start the shop and wait until it answers, or raise SharedShopError saying why."""
        # Bound here and inherited, so no other program can take the port between choosing and listening.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            port = sock.getsockname()[1]
            # Its own session: a Ctrl+C in the terminal must not stop the shop while the workers
            # still finish their runs; the parent stops it after them.
            proc = subprocess.Popen([sys.executable, "-m", "app.demo.shared", str(sock.fileno())],
                                    pass_fds=[sock.fileno()], start_new_session=True)
        except OSError as exc:
            raise SharedShopError(f"could not start the demo shop process ({exc}); "
                                  "set SHOP_API_URL to a shop you run yourself, or use one worker") from None
        finally:
            sock.close()
        shop = cls(proc, f"http://127.0.0.1:{port}{SHOP_PATH}")
        try:
            shop._wait_until_answering(timeout_s)
        except BaseException:
            shop.stop()
            raise
        return shop

    def _wait_until_answering(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SharedShopError(f"the demo shop process exited with code {self.proc.returncode} before answering "
                                      f"at {self.url} (its output is above); set SHOP_API_URL to a shop you run "
                                      "yourself, or use one worker")
            try:
                r = httpx.get(self.url + "/openapi.json", timeout=1)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
        raise SharedShopError(f"the demo shop process did not answer at {self.url} within {timeout_s:g}s ({last}); "
                              "set SHOP_API_URL to a shop you run yourself, or use one worker")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ShopPassThrough:
    """ASGI app a worker mounts at /demo-shop: every request goes, path and all, to the shared shop.

    `aclose()` releases its HTTP connections; mounted apps get no lifespan of their own,
    so the app that mounts it calls it on shutdown.
    """

    def __init__(self, shop_url: str, timeout_s: float = 10.0) -> None:
        self.shop_url = shop_url.rstrip("/")
        self._origin = httpx.URL(self.shop_url).copy_with(raw_path=b"/")
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # the shop has no WebSockets
            await WebSocketClose()(scope, receive, send)
            return
        path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        url = self._origin.copy_with(raw_path=path + (b"?" + query if query else b""))
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _REQUEST_DROP]
        try:
            upstream = await self._client.request(scope["method"], url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            answer = JSONResponse({"error": f"the demo shop at {self.shop_url} did not answer "
                                            f"({type(exc).__name__}: {exc})"}, status_code=502)
            await answer(scope, receive, send)
            return
        content = upstream.content
        out = [(k, v) for k, v in upstream.headers.raw if k.lower() not in _RESPONSE_DROP]
        out.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": upstream.status_code, "headers": out})
        await send({"type": "http.response.body", "body": content})

    async def aclose(self) -> None:
        await self._client.aclose()


def _serve(fd: int) -> None:
    import uvicorn

    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(create_mounted_shop_app(), lifespan="off", log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
