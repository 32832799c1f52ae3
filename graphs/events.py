"""Event: the one type the whole product speaks.

Graph streaming produces these (via `app/services/run_stream.py`), the event log
stores them, the hub sends them on the wire and replay reads them back: one shape
end to end, as in `../shared/spec/protocol.md`. `thread_id`, `seq`, `run_id` and `ts`
are stamped by the event log when an event is appended; producers leave them unset.

Socket-only replies (`connected`, `error`, `pong`, `replay_*`, `session_sync`,
`rate_limit_warning`) are not events; they live in `app/ws/frames.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "Event",
    "EVENT_ADAPTER",
    "Citation",
    "Handoff",
    "IntentEvent",
    "InterruptDecided",
    "InterruptEvent",
    "InterruptExpired",
    "InterruptWarning",
    "MessageComplete",
    "RunCancelled",
    "RunError",
    "RunStart",
    "Token",
    "ToolCall",
    "ToolResult",
    "Usage",
    "dump_event",
]


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thread_id: str | None = None
    seq: int | None = None
    run_id: str | None = None
    ts: str | None = Field(default=None, description="ISO 8601 UTC; set in the event log, shown by replay.")


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class RunStart(_EventBase):
    type: Literal["run_start"] = "run_start"
    trigger: Literal["message", "form_submit", "resume", "retry"]
    content: str | None = Field(default=None, description="The user's message that started the run, so the "
                                                           "event log alone tells the whole conversation.")
    client_msg_id: str | None = None


class IntentEvent(_EventBase):
    type: Literal["intent"] = "intent"
    intent: str
    confidence: float = Field(ge=0, le=1)
    agent: str


class Token(_EventBase):
    type: Literal["token"] = "token"
    message_id: str
    agent: str
    content: str


class ToolCall(_EventBase):
    type: Literal["tool_call"] = "tool_call"
    call_id: str
    agent: str
    tool: str
    args: dict[str, Any]


class ToolResult(_EventBase):
    type: Literal["tool_result"] = "tool_result"
    call_id: str
    tool: str
    ok: bool
    content: str


class InterruptEvent(_EventBase):
    type: Literal["interrupt"] = "interrupt"
    interrupt_id: str
    agent: str
    action: str
    args: dict[str, Any]
    risk: Literal["low", "medium", "high", "critical"]
    approver: Literal["customer", "operator"]
    message: str
    expires_at: str
    args_schema: dict[str, Any] | None = Field(
        default=None, description="JSON schema of the action's arguments, for editing before approval."
    )


class InterruptDecided(_EventBase):
    type: Literal["interrupt_decided"] = "interrupt_decided"
    interrupt_id: str
    approved: bool
    decided_by: str
    args: dict[str, Any] | None = None
    reason: str | None = None
    outcome: Literal["approved", "edited", "rejected", "superseded"] | None = None


class InterruptExpired(_EventBase):
    type: Literal["interrupt_expired"] = "interrupt_expired"
    interrupt_id: str
    action: str
    message: str


class InterruptWarning(_EventBase):
    """Sent once, shortly before a pending interrupt expires."""

    type: Literal["interrupt_warning"] = "interrupt_warning"
    interrupt_id: str
    expires_at: str
    seconds_left: int


class Handoff(_EventBase):
    type: Literal["handoff"] = "handoff"
    reason: str
    queue: str


class Citation(_EventBase):
    """A source the answer of this run draws on: a knowledge-base article (sent after its search's tool_result)."""

    type: Literal["citation"] = "citation"
    call_id: str
    title: str
    url: str | None = None
    heading: str | None = None


class MessageComplete(_EventBase):
    type: Literal["message_complete"] = "message_complete"
    message_id: str
    agent: str
    content: str
    usage: Usage


class RunCancelled(_EventBase):
    type: Literal["run_cancelled"] = "run_cancelled"


class RunError(_EventBase):
    type: Literal["run_error"] = "run_error"
    code: str
    message: str


Event = Annotated[
    Union[
        RunStart,
        IntentEvent,
        Token,
        ToolCall,
        ToolResult,
        InterruptEvent,
        InterruptDecided,
        InterruptExpired,
        InterruptWarning,
        Handoff,
        Citation,
        MessageComplete,
        RunCancelled,
        RunError,
    ],
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

# Events that end a run: exactly one per run.
RUN_END_TYPES = frozenset({"message_complete", "interrupt", "run_cancelled", "run_error"})


def dump_event(event: BaseModel) -> dict[str, Any]:
    """The event as plain JSON data, without unset stamps."""
    return event.model_dump(mode="json", exclude_none=True)
