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
    extra: dict[str, Any] = field(default_factory=dict)
