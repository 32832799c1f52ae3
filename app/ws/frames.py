"""Client frames and socket-only replies: parse and validate one raw frame.

`parse_frame(raw, settings)` returns a typed client frame or raises `FrameError`
with the protocol's code. Nothing here touches the database: a rejected frame
changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.analytics.feedback import MAX_COMMENT_CHARS as FEEDBACK_COMMENT_CHARS
from app.core.errors import FrameError

__all__ = ["ClientFrame", "parse_frame"]

THREAD_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CLIENT_TYPES = ("message", "interrupt_response", "form_submit", "cancel", "subscribe", "unsubscribe", "ping",
                "feedback", "claim", "operator_message", "release")
RELEASE_OUTCOMES = ("back_to_assistant", "resolved")


@dataclass(frozen=True)
class ClientFrame:
    type: str
    data: dict[str, Any]

    @property
    def thread_id(self) -> str:
        return self.data["thread_id"]  # type: ignore[no-any-return]


def _require(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None:
        if optional:
            return None
        raise FrameError("missing_field", f"missing field '{name}'", thread_id=_tid(data))
    if isinstance(value, bool) and kind in (int, (int,)):
        raise FrameError("missing_field", f"field '{name}' must be an integer", thread_id=_tid(data))
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        words = {"str": "a string", "bool": "a boolean", "int": "an integer", "dict": "an object"}
        raise FrameError("missing_field", f"field '{name}' must be {words.get(names, names)}", thread_id=_tid(data))
    return value


def _tid(data: dict[str, Any]) -> str | None:
    t = data.get("thread_id")
    return t if isinstance(t, str) and THREAD_ID_RE.match(t) else None


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
    if kind == "ping":
        return ClientFrame(kind, data)
    thread_id = _require(data, "thread_id", str)
    if not THREAD_ID_RE.match(thread_id):
        raise FrameError("invalid_thread_id", "thread_id must match ^[A-Za-z0-9_-]{1,64}$")
    if kind in ("message", "operator_message"):
        content = _require(data, "content", str)
        if len(content) > max_content_chars:
            raise FrameError("content_too_long", f"content too long: {len(content)} characters, the limit is "
                                                 f"{max_content_chars}", thread_id=thread_id)
        if not content.strip():
            raise FrameError("missing_field", "field 'content' must not be empty", thread_id=thread_id)
        _require(data, "client_msg_id", str, optional=True)
    elif kind == "release":
        outcome = _require(data, "outcome", str)
        if outcome not in RELEASE_OUTCOMES:
            raise FrameError("missing_field", f"field 'outcome' must be one of {', '.join(RELEASE_OUTCOMES)}",
                             thread_id=thread_id)
    elif kind == "interrupt_response":
        _require(data, "approved", bool)
        _require(data, "interrupt_id", str, optional=True)
        _require(data, "args", dict, optional=True)
        reason = _require(data, "reason", str, optional=True)
        if reason is not None and len(reason) > max_content_chars:
            raise FrameError("content_too_long", "reason too long", thread_id=thread_id)
    elif kind == "form_submit":
        _require(data, "form_id", str)
        values = _require(data, "values", dict)
        if len(json.dumps(values)) > max_content_chars:
            raise FrameError("content_too_long", "form values too long", thread_id=thread_id)
    elif kind == "subscribe":
        after = _require(data, "after_seq", int, optional=True)
        if after is not None and after < 0:
            raise FrameError("missing_field", "field 'after_seq' must be a non-negative integer", thread_id=thread_id)
    elif kind == "feedback":
        _require(data, "message_id", str)
        rating = _require(data, "rating", str)
        if rating not in ("up", "down"):
            raise FrameError("missing_field", "field 'rating' must be 'up' or 'down'", thread_id=thread_id)
        comment = _require(data, "comment", str, optional=True)
        if comment is not None and len(comment) > FEEDBACK_COMMENT_CHARS:
            raise FrameError("content_too_long", f"comment too long: the limit is {FEEDBACK_COMMENT_CHARS} characters",
                             thread_id=thread_id)
    return ClientFrame(kind, data)


def error_frame(code: str, message: str, *, thread_id: str | None = None, **extra: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if thread_id is not None:
        frame["thread_id"] = thread_id
    frame.update(extra)
    return frame
