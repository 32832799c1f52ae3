"""Services: the long-lived objects one server process owns, opened by the lifespan.

The pool, the checkpointer, the compiled graph, the shared HTTP client, the hub,
the event writer and the run manager, plus the few graph-facing helpers the run
manager needs (run context, resuming, keeping a cancelled answer, recovery).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from app.conversations import thread_store
from app.core.config import Settings
from app.core.db import Pool
from app.core.logging import get_logger

if TYPE_CHECKING:  # the types only: these modules import the container back
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.graph.state import CompiledStateGraph

    from app.conversations.event_log import EventWriter
    from app.conversations.runs import ActiveRun, RunManager
    from app.knowledge.service import KnowledgeService
    from app.ws.hub import Hub
    from graphs.agents import AgentsConfig
    from graphs.context import RunContext
    from graphs.tools import ToolRegistry

__all__ = ["Services"]

log = get_logger(__name__)


@dataclass(eq=False)
class Services:
    settings: Settings
    pool: Pool
    database_url: str
    # None until the lifespan (`app.main.open_services`) has opened them, in this order
    checkpointer: AsyncPostgresSaver | None = None
    graph: CompiledStateGraph[Any, Any, Any, Any] | None = None
    http: httpx.AsyncClient | None = None
    hub: Hub | None = None
    writer: EventWriter | None = None
    runs: RunManager | None = None
    tools: ToolRegistry | None = None
    agents: AgentsConfig | None = None
    knowledge: KnowledgeService | None = None
    shop_base_url: str | None = None
    model_name: str = ""
    origin: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    sweeper_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    replay_slots: asyncio.Semaphore | None = None  # REPLAY_CONCURRENCY: event-log pages read at once
    _run_tools: ToolRegistry | None = None  # the registry runs use, built from the reviewed imports; None = rebuild
    _run_tools_generation: int = 0
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    _announcing: set[asyncio.Task[Any]] = field(default_factory=set)
    shutting_down: bool = False

    async def begin_shutdown(self) -> None:
        """Refuse new sockets, let active runs reach their end, close sockets with 1001."""
        if self.shutting_down:
            return
        self.shutting_down = True
        if self.runs is not None:
            await self.runs.shutdown(self.settings.shutdown_grace_s)
        if self.writer is not None:
            await self.writer.flush()
        if self.hub is not None:
            await asyncio.gather(*(c.aclose(1001, "server shutting down") for c in list(self.hub.connections.values())),
                                 return_exceptions=True)

    # graph-facing helpers used by the run manager
    async def run_context(self, run: ActiveRun) -> RunContext:
        return self.tool_context(owner_id=run.owner_id, thread_id=run.thread_id, run_id=run.run_id,
                                 tools=await self.current_tools(), guard=lambda: self.runs.hold_lease(run))

    def tool_context(self, *, owner_id: str, thread_id: str, tools: ToolRegistry | None, run_id: str = "",
                     guard: Callable[[], Awaitable[None]] | None = None) -> RunContext:
        """The RunContext tools are called with on the thread owner's behalf (runs, and checks outside a run)."""
        from graphs.context import RunContext

        return RunContext(user_id=owner_id, role="customer", thread_id=thread_id, run_id=run_id,
                          interrupt_ttl_s=self.settings.interrupt_ttl_s, http=self.http, tools=tools, guard=guard,
                          extra={"shop_base_url": self.shop_base_url})

    async def current_tools(self) -> ToolRegistry | None:
        """The tools for the next run: the config's, plus reviewed OpenAPI imports.

        Built once and kept until `tools_changed()`: called here right after an import
        or review, and by the hub when Postgres announces a change made elsewhere (the
        `sa_tools` trigger; another replica, `support-agent import-spec`) or when its
        listening connection comes back (a change may have been missed meanwhile).
        """
        if self._run_tools is not None:
            return self._run_tools
        from app.integrations.openapi.catalog import run_tool_registry

        generation = self._run_tools_generation
        try:
            tools = await run_tool_registry(self)
        except Exception as exc:  # noqa: BLE001 - imported tools are optional: the built-in ones still serve
            log.warning("imported_tools_unavailable", error=str(exc))
            return self.tools
        if generation == self._run_tools_generation:  # not changed again while it was read
            self._run_tools = tools
        return tools

    def tools_changed(self, *, announce: bool = True) -> None:
        """Rebuild the tools before the next run; `announce`: tell the other replicas too (the Redis bus).

        Without Redis the `sa_tools` trigger NOTIFYs them at commit, so there is nothing to send.
        """
        self._run_tools = None
        self._run_tools_generation += 1
        if announce and self.hub is not None and self.hub.bus is not None:
            task = asyncio.create_task(self.hub.announce_tools_changed())
            self._announcing.add(task)
            task.add_done_callback(self._announcing.discard)

    def validate_tool_args(self, tool: str, args: dict[str, Any]) -> str | None:
        from graphs.tools import validate_tool_args

        return validate_tool_args(tool, args, self.tools)

    async def graph_input(self, graph_input: Any, config: dict[str, Any], context: Any) -> Any:
        from app.conversations.graph_runtime import graph_input_for

        return await graph_input_for(self, graph_input, config, context)

    async def recover_orphans(self) -> None:
        """Runs whose owner died (lease lapsed): continue them from the last checkpoint."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(thread_store.ORPHANED_RUNS, {"limit": 20})
            rows = await cur.fetchall()
        from app.conversations.graph_runtime import Recovery
        from app.core.errors import AppError

        for row in rows:
            if row["active_run_id"] in self.runs.runs:
                continue
            try:
                await self.runs.start(principal=None, thread_id=row["thread_id"], trigger="resume",
                                      graph_input=Recovery(row["active_run_id"]), check_session=False)
                log.info("run_recovered", thread_id=row["thread_id"], orphaned_run_id=row["active_run_id"])
            except AppError:
                continue
