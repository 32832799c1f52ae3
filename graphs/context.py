"""RunContext: what the server hands every run, read by nodes through `Runtime`.

Per-run facts (who the user is, which thread and run) and shared clients live
here, never in the checkpointed state. The customer's identity reaches tools only
from this context, never from the model's arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunContext"]


@dataclass(kw_only=True)
class RunContext:
    user_id: str = "local"
    """The authenticated user on whose behalf the run acts."""
    role: str = "customer"
    """customer | operator | admin"""
    thread_id: str = ""
    run_id: str = ""
    interrupt_ttl_s: int = 1800
    """How long an approval waits before it expires."""
    http: Any = None
    """A shared `httpx.AsyncClient` for tool calls (None: tools open their own)."""
    tools: Any = None
    """The callable tools for this run (a `graphs.tools.ToolRegistry`); None: the graph's defaults.
    Read per run so that a reviewed OpenAPI import takes effect without a restart."""
    guard: Callable[[], Awaitable[None]] | None = None
    """Awaited before every tool call (`ToolRegistry.call`); it raises to stop the run before the call.
    The server's checks that the run still holds its thread's lease, so a run another process has
    taken over never calls a tool again, not even before its next lease renewal."""
    settle: Callable[[Callable[[Any], None]], Awaitable[None]] | None = None
    """Awaited by the tool node after each call, with the run's stream writer: returns once every
    event the run has emitted so far is stored (None: nothing to wait for). A step's checkpoint is
    written when its node returns, so the server's event log never lags a checkpoint behind: a run
    taken over after a crash never goes on past a tool result its log does not show."""
    extra: dict[str, Any] = field(default_factory=dict)
