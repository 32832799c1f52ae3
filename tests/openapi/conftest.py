"""Fixtures for the OpenAPI import tests: the real-world specs in tests/fixtures/openapi, a migrated
database, settings, and a tiny real HTTP server on loopback for fetch tests."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.core.config import Settings
from app.core.db import apply_migrations

REPO = Path(__file__).resolve().parents[2]
# Real-world specs, kept in the repository with their licence (see its README).
FIXTURES = REPO / "tests" / "fixtures" / "openapi"

Handler = Callable[[BaseHTTPRequestHandler], None]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url=None)


POOL_KWARGS = {
    "autocommit": True,
    "row_factory": dict_row,
    "prepare_threshold": 0,
}  # as app.core.db


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    # Multi-statement migrations cannot be prepared (psycopg 3.3 with prepare_threshold=0),
    # so they run on an unprepared pool; the tests then use the server's pool settings.
    async with AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=1,
        open=False,
        kwargs={**POOL_KWARGS, "prepare_threshold": None},
    ) as migrator:
        await apply_migrations(migrator)
    p = AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False, kwargs=POOL_KWARGS)
    await p.open(wait=True)
    try:
        yield p
    finally:
        await p.close()


class LocalServer:
    """A real HTTP server on 127.0.0.1; `routes` maps a path to a handler function."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        routes = self.routes

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                handler = routes.get(self.path.split("?")[0])
                if handler is None:
                    self.send_error(404)
                    return
                handler(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    server = LocalServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
