"""Event: the one type the whole product speaks.

Graph streaming produces these (via `app/conversations/run_stream.py`), the event log
stores them, the hub sends them on the wire and replay reads them back: one shape
end to end, as in `../shared/spec/protocol.md`. `thread_id`, `seq`, `run_id` and `ts`
are stamped by the event log when an event is appended; producers leave them unset.

Socket-only replies (`connected`, `error`, `pong`, `replay_*`, `session_sync`,
`rate_limit_warning`) are not events; they live in `app/ws/frames.py`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "RUN_END_TYPES",
    "THREAD_ID_PATTERN",
    "THREAD_ID_RE",
    "AgentJoined",
    "AgentLeft",
    "Citation",
    "CustomerMessage",
    "Event",
    "Handoff",
    "HandoffNotice",
    "HumanMessageEvent",
    "ImportedTurn",
    "IntentEvent",
    "InterruptDecided",
    "InterruptEvent",
    "InterruptExpired",
    "InterruptWarning",
    "MessageComplete",
    "RunCancelled",
    "RunError",
    "RunStart",
    "ThreadImported",
    "Token",
    "ToolCall",
    "ToolResult",
    "Usage",
    "dump_event",
    "encode_event",
    "expired_event",
    "iso_z",
]


# What a thread id may be, everywhere: frames, REST paths, the graph's checkpoints.
THREAD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
THREAD_ID_RE = re.compile(THREAD_ID_PATTERN)


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thread_id: str | None = None
    seq: int | None = None
    run_id: str | None = None
    ts: str | None = Field(default=None, description="ISO 8601 UTC; set in the event log, shown by replay.")
    _wire: bytes | None = PrivateAttr(default=None)  # the encoded form, once it is final (see encode_event)


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class RunStart(_EventBase):
    type: Literal["run_start"] = "run_start"
    trigger: Literal["message", "form_submit", "resume", "retry"]
    content: str | None = Field(default=None, description="The user's message that started the run, so the "
                                                           "event log alone tells the whole conversation.")
    client_msg_id: str | None = None
    form_id: str | None = Field(default=None, description="The submitted form (trigger form_submit).")
    values: dict[str, Any] | None = Field(default=None, description="The form's submitted values (trigger form_submit).")


class ImportedTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str
    agent: str | None = None


class ThreadImported(_EventBase):
    """What `POST /api/threads/import` put into a new thread, and who imported it."""

    type: Literal["thread_imported"] = "thread_imported"
    imported_by: str
    messages: list[ImportedTurn]


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
    call_id: str | None = Field(
        default=None, description="The tool call this approval holds: its `tool_call` and `tool_result` carry the "
                                  "same id once it runs.",
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


class CustomerMessage(_EventBase):
    """A customer's message while people have the thread: no run, the humans read it."""

    type: Literal["customer_message"] = "customer_message"
    message_id: str
    content: str
    client_msg_id: str | None = None


class AgentJoined(_EventBase):
    """A person (operator or admin) now holds the thread."""

    type: Literal["agent_joined"] = "agent_joined"
    user_id: str
    name: str


class HumanMessageEvent(_EventBase):
    """A person's reply to the customer (not the assistant's)."""

    type: Literal["human_message"] = "human_message"
    message_id: str
    user_id: str
    name: str
    content: str


class AgentLeft(_EventBase):
    """The person let go of the thread: back to the assistant, or resolved."""

    type: Literal["agent_left"] = "agent_left"
    user_id: str
    outcome: Literal["back_to_assistant", "resolved"]


class HandoffNotice(_EventBase):
    """Nobody has claimed a waiting thread in time: the customer is told so (added by this server)."""

    type: Literal["handoff_notice"] = "handoff_notice"
    message: str
    waited_s: int


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
    RunStart | ThreadImported | IntentEvent | Token | ToolCall | ToolResult | InterruptEvent | InterruptDecided | InterruptExpired | InterruptWarning | Handoff | CustomerMessage | AgentJoined | HumanMessageEvent | AgentLeft | HandoffNotice | Citation | MessageComplete | RunCancelled | RunError,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_MODELS: tuple[type[_EventBase], ...] = get_args(get_args(Event)[0])
# Every event type, in the order above (the frontend's list is generated from the same union).
EVENT_TYPES: tuple[str, ...] = tuple(m.model_fields["type"].default for m in EVENT_MODELS)

# Events that end a run: exactly one per run.
RUN_END_TYPES = frozenset({"message_complete", "interrupt", "run_cancelled", "run_error"})
RunEnd = MessageComplete | InterruptEvent | RunCancelled | RunError


def dump_event(event: BaseModel) -> dict[str, Any]:
    """The event as plain JSON data, without unset stamps."""
    return event.model_dump(mode="json", exclude_none=True)


def encode_event(event: _EventBase) -> bytes:
    """The wire form of an event: compact JSON without unset fields, the bytes stored and sent.

    Encoded once: the event log stores these very bytes and the hub sends them, so a
    stamped event must not change afterwards (`app.conversations.event_log.stamp` resets it).
    """
    private = event.__pydantic_private__  # read and written directly: pydantic's attribute hooks cost more
    wire = private.get("_wire")  # type: ignore[union-attr]
    if wire is None:
        wire = private["_wire"] = event.__pydantic_serializer__.to_json(event, exclude_none=True)  # type: ignore[index]
    return wire


def iso_z(value: datetime, timespec: str = "auto") -> str:
    """A datetime as the wire writes it: ISO 8601 in UTC with a `Z`; a naive one is taken to be UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def expired_event(interrupt_id: str, action: str) -> InterruptExpired:
    """The one `interrupt_expired` of an approval that ran out: what the sweeper stores and a late decision gets."""
    return InterruptExpired(
        interrupt_id=interrupt_id, action=action,
        message=f"The request to {action.replace('_', ' ')} expired before anyone approved it, so nothing was "
                "done. Ask again to try again.")
