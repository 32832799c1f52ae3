"""Play eval cases through the real compiled graph, as the server would.

`run_cases(cases, ...)` builds the graph once (agents.yaml, the configured model,
the tool registry) on an in-memory checkpointer (or Postgres with
`checkpointer_url`) and plays each case on its own thread against its own fresh
demo shop, served in-process through `httpx.ASGITransport` so that every case
starts from the seed data. Events come from `app.conversations.run_stream.stream_events`,
the server's own translator. An approval is answered as the case says; a message
sent while one waits first closes it as superseded (`close_pending_calls`), as
the WebSocket handler does.

Each turn yields a `TurnResult`: what happened (intents, calls, approvals, handoff,
answer) next to what was expected, plus tokens and latency.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from app.conversations.graph_runtime import close_pending_calls
from app.conversations.run_stream import RunProgress, stream_events
from app.demo.shop import create_shop_app
from app.evals.dataset import Approval, Case, Turn
from graphs import ToolRegistry, build_graph
from graphs.agents import AgentsConfig
from graphs.context import RunContext
from graphs.events import dump_event

__all__ = ["CaseRun", "Observed", "TurnResult", "run_cases"]

SHOP_URL = "http://eval-shop"


@dataclass
class Observed:
    intents: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    """Every call made, run or only proposed: {"tool", "args", "agent", "ran"}."""
    approvals: list[dict[str, Any]] = field(default_factory=list)
    """Every interrupt: {"action", "args", "approver", "agent", "decided"}."""
    handoff: bool = False
    answer: str = ""
    answer_agent: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class TurnResult:
    turn: Turn
    observed: Observed
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


@dataclass
class CaseRun:
    case: Case
    turns: list[TurnResult]
    error: str | None = None


@asynccontextmanager
async def _checkpointer(url: str | None) -> AsyncIterator[Any]:
    if not url:
        yield InMemorySaver()
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(url, kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0},
                               min_size=1, max_size=2, open=False)
    await pool.open()
    try:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        yield saver
    finally:
        await pool.close()


async def run_cases(
    cases: list[Case],
    *,
    agents: AgentsConfig,
    model: Any,
    checkpointer_url: str | None = None,
    on_case: Callable[[CaseRun], None] | None = None,
) -> list[CaseRun]:
    """Play every case; a case that raises is recorded with its error, the others still run."""
    async with _checkpointer(checkpointer_url) as saver:
        graph = build_graph(agents, model, checkpointer=saver, tools=ToolRegistry.from_agents(agents))
        runs = []
        for case in cases:
            try:
                run = CaseRun(case, await _play(graph, case))
            except Exception as exc:  # noqa: BLE001 - one broken case must not hide the others
                run = CaseRun(case, [], error=f"{type(exc).__name__}: {exc}")
            runs.append(run)
            if on_case is not None:
                on_case(run)
        return runs


async def _play(graph: Any, case: Case) -> list[TurnResult]:
    thread_id = f"eval-{case.id}-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread_id}}
    results: list[TurnResult] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_shop_app()), base_url=SHOP_URL) as http:
        context = RunContext(user_id=case.user, thread_id=thread_id, http=http, extra={"shop_base_url": SHOP_URL})
        pending: dict[str, Any] | None = None
        for turn in case.turns:
            if pending is not None:  # a new message supersedes the waiting approval, as on the server
                await close_pending_calls(graph, config, "the customer sent a new message instead")
                pending = None
            result = TurnResult(turn, Observed())
            expected = list(turn.approvals or [])
            graph_input: Any = {"messages": [HumanMessage(turn.say)]}
            texts: list[str] = []
            started = time.perf_counter()
            while graph_input is not None:
                progress = RunProgress()
                events = [dump_event(e) async for e in stream_events(
                    graph, graph_input, config=config, context=context, progress=progress)]
                result.input_tokens += progress.input_tokens
                result.output_tokens += progress.output_tokens
                if progress.text:
                    texts.append(progress.text)
                _observe(result.observed, events)
                graph_input = None
                end = events[-1] if events else {}
                if end.get("type") == "interrupt":
                    decision = expected.pop(0) if expected else None
                    graph_input = _answer(end, decision, result.observed)
                    if graph_input is None:
                        pending = end
                elif end.get("type") == "message_complete":
                    result.observed.answer = end["content"]
                    result.observed.answer_agent = end["agent"]
            if not result.observed.answer:
                result.observed.answer = "\n\n".join(texts)
            result.latency_ms = (time.perf_counter() - started) * 1000
            results.append(result)
    return results


def _observe(observed: Observed, events: list[dict[str, Any]]) -> None:
    run_ids: set[str] = set()
    for event in events:
        kind = event["type"]
        if kind == "intent":
            observed.intents.append(event["intent"])
            observed.agents.append(event["agent"])
        elif kind == "tool_call":
            run_ids.add(event["call_id"])
            known = next((c for c in observed.calls if c.get("call_id") == event["call_id"]), None)
            if known is not None:
                known["ran"] = True
                known["args"] = event["args"]
            else:
                observed.calls.append({"call_id": event["call_id"], "tool": event["tool"], "args": event["args"],
                                       "agent": event["agent"], "ran": True})
        elif kind == "interrupt":
            call_id = event["interrupt_id"].removeprefix("intr_")
            observed.approvals.append({"action": event["action"], "args": event["args"], "approver": event["approver"],
                                       "agent": event["agent"], "decided": None})
            if not any(c.get("call_id") == call_id for c in observed.calls):
                observed.calls.append({"call_id": call_id, "tool": event["action"], "args": event["args"],
                                       "agent": event["agent"], "ran": False})
        elif kind == "handoff":
            observed.handoff = True
        elif kind == "run_error":
            observed.errors.append(f"{event['code']}: {event['message']}")


def _answer(interrupt: dict[str, Any], decision: Approval | None, observed: Observed) -> Any:
    """The resume for an interrupt, as the case decides; None leaves it pending."""
    record = observed.approvals[-1]
    if decision is None:  # not expected: reject it, so the case fails on `approvals` and nothing changes
        record["decided"] = "reject (unexpected)"
        return Command(resume={"interrupt_id": interrupt["interrupt_id"], "approved": False,
                               "reason": "the eval case expected no approval here", "decided_by": "eval"})
    record["decided"] = decision.decide
    who = interrupt["approver"]
    if decision.decide == "pending":
        return None
    if decision.decide == "reject":
        return Command(resume={"interrupt_id": interrupt["interrupt_id"], "approved": False,
                               "reason": decision.reason or "rejected by the eval case", "decided_by": who})
    resume: dict[str, Any] = {"interrupt_id": interrupt["interrupt_id"], "approved": True, "decided_by": who}
    if decision.decide == "edit":
        resume["args"] = decision.edit_args
    return Command(resume=resume)
