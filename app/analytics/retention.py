"""Retention: `RETENTION_DAYS` prunes old conversations, events and checkpoints.

One pass (`prune_once`), every `RETENTION_INTERVAL_S` (`retention_loop`):

1. Dead threads (no activity since the cutoff, nothing running or waiting) are
   deleted whole: the thread row cascades to its runs, events, interrupts,
   conversation record and feedback; its LangGraph checkpoints go in the same
   transaction.
2. Events older than the cutoff that belong to live threads are deleted; their
   conversation record keeps the totals they contributed.
3. Live threads that began before the cutoff keep only their latest checkpoint
   (LangGraph's own `aprune(strategy="keep_latest")`).

Every statement deletes at most `RETENTION_BATCH_SIZE` threads or events, so no
transaction holds row locks for long and no table is ever locked as a whole. One
replica prunes at a time (a session advisory lock); the others skip the pass.

`delete_thread_data()` removes everything of one thread, for
`DELETE /api/threads/{id}`.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from app.analytics import retention_store
from app.core.db import Pool
from app.core.logging import get_logger

if TYPE_CHECKING:
    from app.container import Services

__all__ = ["RetentionReport", "delete_thread_data", "prune_once", "retention_loop"]

log = get_logger(__name__)

# Arbitrary constant: the advisory-lock key retention passes serialise on.
RETENTION_LOCK_KEY = 0x5A_A6E7 + 6


@dataclass
class RetentionReport:
    threads: int = 0
    events: int = 0
    checkpoint_threads: int = 0
    skipped: bool = False


async def delete_thread_data(pool: Pool, thread_id: str) -> bool:
    """Remove all of a thread: its rows in our tables and its checkpoints.

    Idempotent; returns False when there was nothing left to delete.
    """
    return await retention_store.delete_thread_rows(pool, thread_id)


async def prune_once(
    pool: Pool,
    *,
    retention_days: int,
    batch_size: int = 500,
    now: datetime | None = None,
    checkpointer: Any = None,
) -> RetentionReport:
    """One retention pass; see the module docstring for what it removes."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    report = RetentionReport()
    async with pool.connection() as lock_conn:
        cur = await lock_conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (RETENTION_LOCK_KEY,))
        row = await cur.fetchone()
        if not (row and row["ok"]):
            report.skipped = True
            return report
        try:
            await _prune(pool, cutoff, batch_size, checkpointer, report)
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock(%s)", (RETENTION_LOCK_KEY,))
    return report


async def _prune(
    pool: Pool, cutoff: datetime, batch_size: int, checkpointer: Any, report: RetentionReport
) -> None:
    while True:
        selected, deleted = await retention_store.delete_dead_threads(pool, cutoff=cutoff, limit=batch_size)
        report.threads += deleted
        if deleted == 0 or selected < batch_size:
            break
        await asyncio.sleep(0)

    while True:
        n = await retention_store.delete_old_events(pool, cutoff=cutoff, limit=batch_size)
        report.events += n
        if n < batch_size:
            break
        await asyncio.sleep(0)

    from app.knowledge.store import delete_old_gaps

    await delete_old_gaps(pool, cutoff=cutoff)

    if checkpointer is None:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        checkpointer = AsyncPostgresSaver(pool)
    after = ""
    while True:
        ids = await retention_store.live_threads_with_old_checkpoints(pool, cutoff=cutoff, after=after, limit=batch_size)
        if not ids:
            break
        after = ids[-1]
        try:
            await checkpointer.aprune(ids, strategy="keep_latest")
            report.checkpoint_threads += len(ids)
        except Exception as exc:  # noqa: BLE001 - a run writing meanwhile, a DeltaChannel: try again next pass
            log.warning("retention_checkpoint_prune_failed", error=f"{type(exc).__name__}: {exc}",
                        threads=len(ids))
        if len(ids) < batch_size:
            break


async def retention_loop(services: Services) -> None:
    """Background task: a retention pass now and every `retention_interval_s` after."""
    settings = services.settings
    while True:
        if settings.retention_days is not None:
            try:
                report = await prune_once(
                    services.pool, retention_days=settings.retention_days,
                    batch_size=settings.retention_batch_size,
                    checkpointer=getattr(services, "checkpointer", None),
                )
                if report.threads or report.events or report.checkpoint_threads:
                    log.info("retention_pass", **asdict(report))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next pass tries again; the server keeps serving
                log.error("retention_pass_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(settings.retention_interval_s)
