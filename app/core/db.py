"""Postgres: where the database comes from, the shared pool, migrations, health.

`resolve_database_url()` starts an embedded Postgres (pgserver) in `DATA_DIR/pg` when
`DATABASE_URL` is unset. `open_pool()` builds the one async pool that LangGraph's
`AsyncPostgresSaver` and our own storage share; connections are checked on borrow so
the pool survives Postgres restarts and dropped idle connections.
`apply_migrations()` runs `storage.migrations.MIGRATIONS` under an advisory lock so
two processes starting at once apply each version exactly once.

Behind a transaction-mode pooler (PgBouncer, RDS Proxy, Supavisor; `DATABASE_DIRECT_URL`
set) each statement or transaction may land on a different server connection: the pool
then sends no prepared statements, every lock is transaction-scoped, and what needs one
session throughout (`LISTEN`, the checkpointer's set-up lock) connects to
`session_url()` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from app.core.config import Settings
from app.core.errors import DatabaseUnavailable

# Every connection of the app's pools returns rows as dicts (CONNECTION_KWARGS' row_factory)
Conn: TypeAlias = AsyncConnection[DictRow]
Pool: TypeAlias = AsyncConnectionPool[Conn]

__all__ = [
    "EmbeddedPostgres",
    "apply_migrations",
    "check_database",
    "open_pool",
    "resolve_database_url",
    "session_url",
]

# Every event, checkpoint metadata and batch of event rows goes through JSON: orjson
# writes the same text as the standard library's compact form, several times faster.
set_json_dumps(lambda obj: orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS))
set_json_loads(orjson.loads)

# Arbitrary constant: the advisory-lock key migrations serialise on.
MIGRATION_LOCK_KEY = 0x5A_A6E7
CONNECTION_KWARGS: dict[str, Any] = {
    "autocommit": True,
    "row_factory": dict_row,
    "prepare_threshold": 0,
}


@dataclass
class EmbeddedPostgres:
    """A pgserver instance owned by this process; `stop()` shuts it down."""

    url: str
    server: Any

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()


def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """Return the URL to use and, when we started one, the embedded server."""
    if settings.database_url:
        return settings.database_url, None
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # imported lazily: only the embedded mode needs it

    pgdata = Path(settings.data_dir).resolve() / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare exceptions with its log
        raise DatabaseUnavailable(
            f"could not start the embedded Postgres in {pgdata}: {exc}. "
            "Set DATABASE_URL to use an existing server instead."
        ) from exc
    return server.get_uri(), EmbeddedPostgres(url=server.get_uri(), server=server)


@contextlib.contextmanager
def server_database(settings: Settings) -> Iterator[str]:
    """The server's database for a command (`import-spec`, `kb import`, `eval`): DATABASE_URL, or
    the embedded Postgres in DATA_DIR, shared with a server running on it and stopped after the
    command (raises DatabaseUnavailable when it cannot be started)."""
    url, embedded = resolve_database_url(settings)
    try:
        yield url
    finally:
        if embedded is not None:
            embedded.stop()


@contextlib.asynccontextmanager
async def migrated_pool(url: str, settings: Settings, *, name: str) -> AsyncIterator[Pool]:
    """A command's pool on `url`: reachable (DatabaseUnavailable otherwise), the schema up to date."""
    pool = open_pool(url, settings, name=name)
    try:
        await wait_for_pool(pool, url, settings.db_connect_timeout_s)
        await apply_migrations(pool)
        yield pool
    finally:
        await pool.close()


class CheckAfterIdle:
    """The pool's borrow check: one round trip, but only for a connection not borrowed recently.

    A connection borrowed less than `idle_s` ago was alive then and came back healthy
    (the pool discards broken ones), so it is lent without a check; one that sat
    longer may have been cut (a Postgres restart, an idle timeout in between) and is
    checked, so the pool survives both. A run borrows about ten connections: checking
    each would add ten round trips to every answer.
    """

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._borrowed_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    async def __call__(self, conn: Any) -> None:
        now = time.monotonic()
        last = self._borrowed_at.get(conn)
        self._borrowed_at[conn] = now
        if last is not None and now - last < self.idle_s and not conn.broken and not _has_input(conn):
            return
        await AsyncConnectionPool.check_connection(conn)


def _has_input(conn: Any) -> bool:
    """Whether the server sent something to a connection sitting idle in the pool.

    An idle connection is sent nothing, except when its backend goes away: Postgres
    shutting down or restarting writes "terminating connection" and closes the
    socket. Seeing that costs no round trip, so even a connection borrowed a moment
    ago is checked (and replaced) instead of failing its borrower's first query.
    """
    try:
        return bool(select.select([conn.fileno()], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        return True


def behind_pooler(settings: Settings) -> bool:
    """True when DATABASE_URL goes through a transaction-mode pooler (DATABASE_DIRECT_URL names the server)."""
    return bool(settings.database_direct_url) and settings.database_direct_url != settings.database_url


def session_url(settings: Settings, url: str) -> str:
    """Where to open a connection that must stay one session (LISTEN, session advisory locks)."""
    return settings.database_direct_url or url


def open_pool(url: str, settings: Settings, *, name: str = "support-agent") -> Pool:
    kwargs: dict[str, Any] = {**CONNECTION_KWARGS, "connect_timeout": max(1, int(settings.db_connect_timeout_s))}
    if behind_pooler(settings):
        # a statement prepared on one server connection does not exist on the next one
        # the pooler hands out ("prepared statement _pg3_0 does not exist")
        kwargs["prepare_threshold"] = None
    return AsyncConnectionPool(
        conninfo=url,
        connection_class=Conn,
        min_size=settings.db_pool_min,
        max_size=max(settings.db_pool_max, settings.db_pool_min),
        kwargs=kwargs,
        check=CheckAfterIdle(settings.db_check_idle_s),
        open=False,
        name=name,
        timeout=settings.db_connect_timeout_s,
        # A failed background connect is given up at once rather than retried with a growing
        # backoff (up to minutes): a borrower that finds the pool empty grows it again, so the
        # pool reconnects as soon as Postgres answers. Health reports the outage meanwhile.
        reconnect_timeout=0,
    )


async def wait_for_pool(pool: AsyncConnectionPool, url: str, timeout_s: float) -> None:
    """Open the pool and prove one connection works, or raise DatabaseUnavailable."""
    await pool.open(wait=False)
    try:
        async with asyncio.timeout(timeout_s):
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - however the first connection fails, the database is unavailable
        await pool.close()
        raise DatabaseUnavailable(
            f"could not connect to Postgres at {redact(url)} within {timeout_s:g}s ({type(exc).__name__}: {exc}). "
            "Check DATABASE_URL and that the server is running."
        ) from None


async def wait_for_database(url: str, timeout_s: float) -> None:
    """Connect once (retrying until `timeout_s`), or raise DatabaseUnavailable saying why."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: Exception | None = None
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        try:
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=max(1, int(left)))
            await conn.close()
            return
        except psycopg.Error as exc:
            last = exc
            await asyncio.sleep(min(0.25, max(0.0, left)))
    reason = str(last).strip().splitlines()[0] if last else "timed out"
    raise DatabaseUnavailable(
        f"could not connect to Postgres at {redact(url)} within {timeout_s:g}s ({reason}). "
        "Check DATABASE_URL and that the server is running."
    )


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable DATABASE_URL>"
    host = info.get("host", "localhost")
    port = info.get("port", "5432")
    return f"{info.get('user', '')}@{host}:{port}/{info.get('dbname', '')}"


async def apply_migrations(pool: AsyncConnectionPool) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call."""
    from app.core.migrations import MIGRATIONS

    applied: list[int] = []
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT coalesce(max(version), -1) AS v FROM schema_migrations")
        row = await cur.fetchone()
        current = row["v"] if row else -1
        for version, statement in enumerate(MIGRATIONS):
            if version <= current:
                continue
            await conn.execute(statement, prepare=False)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied


async def setup_checkpointer(pool: AsyncConnectionPool, direct_url: str | None = None) -> Any:
    """LangGraph's Postgres checkpointer on our pool, its own tables created once.

    The set-up holds a session advisory lock across many statements, so it runs on its
    own connection to `direct_url` (`session_url()`; default: the pool's own URL): through
    a transaction-mode pooler the lock and its unlock could land on different server sessions.
    """
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
    url = direct_url or pool.conninfo
    assert isinstance(url, str), "the pool's conninfo is a URL here (open_pool)"
    async with await psycopg.AsyncConnection.connect(url, **CONNECTION_KWARGS) as conn:
        # LangGraph's setup() is not safe when two processes run it at once, and it
        # creates indexes CONCURRENTLY, so a session lock rather than a transaction.
        # Taken by short attempts: waiting inside pg_advisory_lock() keeps a transaction
        # open, which the holder's CREATE INDEX CONCURRENTLY waits for (a deadlock when
        # two processes start on a fresh database at once).
        while True:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS locked", (MIGRATION_LOCK_KEY + 1,))
            row = await cur.fetchone()
            if row and row["locked"]:
                break
            await asyncio.sleep(0.05)
        try:
            await AsyncPostgresSaver(conn).setup()  # type: ignore[arg-type]
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY + 1,))
    return saver


async def check_database(pool: AsyncConnectionPool, timeout_s: float = 2.0) -> str | None:
    """None when Postgres answers; otherwise why not, in a few words."""
    try:
        async with asyncio.timeout(timeout_s):
            async with pool.connection(timeout=timeout_s) as conn:
                await conn.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure is the health answer, in words
        return f"{type(exc).__name__}: {str(exc).strip()[:200] or 'no answer'}"
