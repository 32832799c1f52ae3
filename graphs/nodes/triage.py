"""The entry node: the guardrail and the router in one step.

A customer's message first goes through the guardrail's patterns (free). When they
let it through, the guardrail model's second opinion and the router's classification
run at the same time, as parallel input guardrails do (OpenAI's Agents SDK runs them
that way): a real model answers both in one round trip instead of two, and the
graph takes one superstep instead of two. The router's intent events are held back
until the guardrail has allowed the message, so a refused message shows only its
`blocked` intent; what the router spent on it is the price of the saved round trip.

Where the run goes from here:
- refused: END, with the guardrail's refusal;
- the thread already waits for a person: escalation;
- a specialist is on top of the dialog stack (it asked the customer something): that
  specialist, without classifying again;
- otherwise wherever the router sends it (a specialist, one clarifying question,
  small talk, escalation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from graphs.context import RunContext
from graphs.events import Event
from graphs.nodes.common import Node, emit
from graphs.nodes.guardrail import ALLOW, Screen, refusal
from graphs.state import SupportState

__all__ = ["make_triage"]

Router = Callable[[SupportState, Runtime[RunContext]], Awaitable[Command[Any]]]


def make_triage(screen: Screen, router: Router, specialists: Collection[str]) -> Node[Command[Any]]:
    async def triage(state: SupportState, runtime: Runtime[RunContext]) -> Command[Any]:
        verdict, confidence = screen.patterns(state)
        if verdict != ALLOW:
            return Command(goto=END, update=refusal(runtime, verdict, confidence))
        target = _target(state, specialists)
        held: list[Event] = []
        if target is not None:
            verdict, confidence = await screen.second_opinion(state)
            routed: Command[Any] = Command(goto=target)
        else:
            quiet = runtime.override(stream_writer=held.append)
            (verdict, confidence), routed = await asyncio.gather(screen.second_opinion(state), router(state, quiet))
        if verdict != ALLOW:
            return Command(goto=END, update=refusal(runtime, verdict, confidence))
        for event in held:
            emit(runtime, event)
        return routed

    return triage


def _target(state: SupportState, specialists: Collection[str]) -> str | None:
    """Where the message goes without the router, if anywhere."""
    if state.get("handoff"):
        return "escalation"
    stack = state.get("dialog_stack") or []
    if stack and stack[-1] in specialists:
        return str(stack[-1])
    return None
