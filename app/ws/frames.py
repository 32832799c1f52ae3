"""Client frames and socket-only replies, as pydantic models; parse one raw frame.

`ClientFrame` is the union of what a client may send, discriminated on `type`;
`parse_frame(raw, ...)` returns one of its members or raises `FrameError` with the
protocol's code and words (docs/protocol.md, "Errors"). The replies that go to one
socket only and are not events (`connected`, `error`, `pong`, `replay_start`,
`replay_end`, `session_sync`, `rate_limit_warning`) are models here too; the
events themselves are `graphs.events`. Nothing here touches the database: a
rejected frame changes nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)
from pydantic_core import PydanticCustomError

from app.analytics.feedback import MAX_COMMENT_CHARS as FEEDBACK_COMMENT_CHARS
from app.core.errors import FrameError
from graphs.events import THREAD_ID_PATTERN, THREAD_ID_RE, InterruptEvent

__all__ = [
    "CLIENT_TYPES",
    "RELEASE_OUTCOMES",
    "ClaimFrame",
    "ClientFrame",
    "Connected",
    "ErrorFrame",
    "OperatorMessageFrame",
    "Pong",
    "RateLimitWarning",
    "ReleaseFrame",
    "ReplayEnd",
    "ReplayStart",
    "ServerReply",
    "SessionSync",
    "error_frame",
    "parse_frame",
]

RELEASE_OUTCOMES = ("back_to_assistant", "resolved")


# ---- client frames -----------------------------------------------------------


class _Frame(BaseModel):
    # strict: "1" is not an integer and 1 is not a boolean; unknown fields are ignored
    model_config = ConfigDict(strict=True, extra="ignore")


class _ThreadFrame(_Frame):
    thread_id: str = Field(pattern=THREAD_ID_PATTERN)


def _too_long(value: str | None, info: ValidationInfo, what: str) -> None:
    limit = (info.context or {}).get("max_content_chars")
    if value is not None and limit is not None and len(value) > limit:
        raise PydanticCustomError("content_too_long", what, {"size": len(value), "limit": limit})


class _ContentFrame(_ThreadFrame):
    content: str
    client_msg_id: str | None = None

    @field_validator("content")
    @classmethod
    def _content(cls, value: str, info: ValidationInfo) -> str:
        limit = (info.context or {}).get("max_content_chars")
        if limit is not None and len(value) > limit:
            raise PydanticCustomError("content_too_long",
                                      f"content too long: {len(value)} characters, the limit is {limit}")
        if not value.strip():
            raise PydanticCustomError("missing_field", "field 'content' must not be empty")
        return value


class MessageFrame(_ContentFrame):
    type: Literal["message"]


class InterruptResponseFrame(_ThreadFrame):
    type: Literal["interrupt_response"]
    approved: bool
    interrupt_id: str | None = None
    args: dict[str, Any] | None = None
    reason: str | None = None

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None, info: ValidationInfo) -> str | None:
        _too_long(value, info, "reason too long")
        return value


class FormSubmitFrame(_ThreadFrame):
    type: Literal["form_submit"]
    form_id: str
    values: dict[str, Any]

    @field_validator("values")
    @classmethod
    def _values(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        _too_long(json.dumps(value), info, "form values too long")
        return value


class CancelFrame(_ThreadFrame):
    type: Literal["cancel"]


class SubscribeFrame(_ThreadFrame):
    type: Literal["subscribe"]
    after_seq: int | None = None

    @field_validator("after_seq")
    @classmethod
    def _after_seq(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise PydanticCustomError("missing_field", "field 'after_seq' must be a non-negative integer")
        return value


class UnsubscribeFrame(_ThreadFrame):
    type: Literal["unsubscribe"]


class PingFrame(_Frame):
    type: Literal["ping"]


class FeedbackFrame(_ThreadFrame):
    type: Literal["feedback"]
    message_id: str
    rating: str = Field(json_schema_extra={"enum": ["up", "down"]})
    comment: str | None = None
    score: Any = Field(default=None, description="1 to 5 (CSAT); checked by the feedback service.")

    @field_validator("rating")
    @classmethod
    def _rating(cls, value: str) -> str:
        if value not in ("up", "down"):
            raise PydanticCustomError("missing_field", "field 'rating' must be 'up' or 'down'")
        return value

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str | None) -> str | None:
        if value is not None and len(value) > FEEDBACK_COMMENT_CHARS:
            raise PydanticCustomError("content_too_long",
                                      f"comment too long: the limit is {FEEDBACK_COMMENT_CHARS} characters")
        return value


class ClaimFrame(_ThreadFrame):
    """Staff: take the thread over from the assistant (or from the queue)."""

    type: Literal["claim"]


class OperatorMessageFrame(_ContentFrame):
    """Staff: write to the customer as a person (claims an unheld thread first)."""

    type: Literal["operator_message"]


class ReleaseFrame(_ThreadFrame):
    """The holder (or an admin): give the thread back to the assistant, or close it as resolved."""

    type: Literal["release"]
    outcome: str = Field(json_schema_extra={"enum": list(RELEASE_OUTCOMES)})

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, value: str) -> str:
        if value not in RELEASE_OUTCOMES:
            raise PydanticCustomError("missing_field", f"field 'outcome' must be one of {', '.join(RELEASE_OUTCOMES)}")
        return value


ClientFrame = Annotated[
    MessageFrame | InterruptResponseFrame | FormSubmitFrame | CancelFrame | SubscribeFrame | UnsubscribeFrame | PingFrame | FeedbackFrame | ClaimFrame | OperatorMessageFrame | ReleaseFrame,
    Field(discriminator="type"),
]
CLIENT_FRAME_ADAPTER: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
CLIENT_TYPES: tuple[str, ...] = tuple(get_args(m.model_fields["type"].annotation)[0]
                                      for m in get_args(get_args(ClientFrame)[0]))

_WORDS = {"string_type": "a string", "bool_type": "a boolean", "int_type": "an integer", "dict_type": "an object",
          "model_type": "an object"}


def _tid(data: dict[str, Any]) -> str | None:
    t = data.get("thread_id")
    return t if isinstance(t, str) and THREAD_ID_RE.match(t) else None


def _frame_error(exc: ValidationError, data: dict[str, Any]) -> FrameError:
    """The protocol's error for the first problem pydantic found (fields are checked in order)."""
    err = exc.errors(include_url=False)[0]
    name = str(err["loc"][1]) if len(err["loc"]) > 1 else str(err["loc"][0])
    kind = err["type"]
    thread_id = _tid(data)
    if name == "thread_id" and kind == "string_pattern_mismatch":
        return FrameError("invalid_thread_id", f"thread_id must match {THREAD_ID_PATTERN}")
    if kind in ("content_too_long", "missing_field"):
        return FrameError(kind, err["msg"], thread_id=thread_id)
    if kind == "missing" or err.get("input", ...) is None:
        return FrameError("missing_field", f"missing field '{name}'", thread_id=thread_id)
    return FrameError("missing_field", f"field '{name}' must be {_WORDS.get(kind, 'of another kind')}",
                      thread_id=thread_id)


def parse_frame(raw: str | bytes, *, max_frame_bytes: int, max_content_chars: int) -> ClientFrame:
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_frame_bytes:
        raise FrameError("frame_too_large", f"frame too large: {size} bytes, the limit is {max_frame_bytes}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise FrameError("invalid_json", "Invalid JSON: every frame must be one JSON object") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_json", "Invalid JSON: the frame must be a JSON object, not "
                                         f"{type(data).__name__}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise FrameError("missing_field", "missing field 'type'")
    if kind not in CLIENT_TYPES:
        raise FrameError("unknown_type", f"Unknown message type {kind[:64]!r}; expected one of {', '.join(CLIENT_TYPES)}")
    try:
        return CLIENT_FRAME_ADAPTER.validate_python(data, context={"max_content_chars": max_content_chars})
    except ValidationError as exc:
        raise _frame_error(exc, data) from None


# ---- replies to one socket ---------------------------------------------------


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Connected(_Reply):
    type: Literal["connected"] = "connected"
    connection_id: str
    user_id: str
    role: Literal["customer", "operator", "admin"]
    heartbeat_interval_s: float


class Pong(_Reply):
    type: Literal["pong"] = "pong"


class ErrorFrame(_Reply):
    type: Literal["error"] = "error"
    code: str
    message: str
    thread_id: str | None = None
    retry_after_s: float | None = Field(default=None, description="With `rate_limited`: when to try again.")


class ReplayStart(_Reply):
    type: Literal["replay_start"] = "replay_start"
    thread_id: str
    count: int = Field(description="How many events follow before replay_end.")


class ReplayEnd(_Reply):
    type: Literal["replay_end"] = "replay_end"
    thread_id: str


class SessionSync(_Reply):
    type: Literal["session_sync"] = "session_sync"
    thread_id: str
    status: str = Field(description="idle, running, interrupted or handoff.")
    last_seq: int
    message_count: int
    pending_interrupt: InterruptEvent | None

    @model_serializer(mode="wrap")
    def _keep_null_interrupt(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        data.setdefault("pending_interrupt", None)  # the contract sends null, not nothing
        return data


class RateLimitWarning(_Reply):
    type: Literal["rate_limit_warning"] = "rate_limit_warning"
    usage_percent: float
    remaining: int


ServerReply = Annotated[
    Connected | Pong | ErrorFrame | ReplayStart | ReplayEnd | SessionSync | RateLimitWarning,
    Field(discriminator="type"),
]


def error_frame(code: str, message: str, *, thread_id: str | None = None, **extra: Any) -> ErrorFrame:
    return ErrorFrame(code=code, message=message, thread_id=thread_id, **extra)


def encode_reply(reply: BaseModel) -> str:
    return orjson.dumps(reply.model_dump(mode="json", exclude_none=True)).decode()
