"""Client frames parse into the typed ClientFrame union, refusals keep the protocol's codes and words."""

from __future__ import annotations

import json

import pytest

from app.core.errors import FrameError
from app.ws.connection import encode
from app.ws.frames import ErrorFrame, MessageFrame, SessionSync, SubscribeFrame, parse_frame


def parse(frame: object) -> object:
    return parse_frame(json.dumps(frame), max_frame_bytes=32 * 1024, max_content_chars=100)


def test_frames_become_their_models() -> None:
    msg = parse({"type": "message", "thread_id": "t1", "content": "hi", "client_msg_id": "c1", "extra": 1})
    assert isinstance(msg, MessageFrame) and (msg.content, msg.client_msg_id) == ("hi", "c1")
    sub = parse({"type": "subscribe", "thread_id": "t1", "after_seq": 4})
    assert isinstance(sub, SubscribeFrame) and sub.after_seq == 4


@pytest.mark.parametrize(("frame", "code", "message", "thread_id"), [
    ({"type": "message", "content": "hi"}, "missing_field", "missing field 'thread_id'", None),
    ({"type": "message", "thread_id": "bad id!", "content": "hi"}, "invalid_thread_id",
     "thread_id must match ^[A-Za-z0-9_-]{1,64}$", None),
    ({"type": "message", "thread_id": "t1", "content": None}, "missing_field", "missing field 'content'", "t1"),
    ({"type": "message", "thread_id": "t1", "content": 5}, "missing_field", "field 'content' must be a string", "t1"),
    ({"type": "message", "thread_id": "t1", "content": "x" * 101, "client_msg_id": 3}, "content_too_long",
     "content too long: 101 characters, the limit is 100", "t1"),
    ({"type": "message", "thread_id": "t1", "content": "  "}, "missing_field", "field 'content' must not be empty", "t1"),
    ({"type": "interrupt_response", "thread_id": "t1", "approved": 1}, "missing_field",
     "field 'approved' must be a boolean", "t1"),
    ({"type": "subscribe", "thread_id": "t1", "after_seq": True}, "missing_field",
     "field 'after_seq' must be an integer", "t1"),
    ({"type": "subscribe", "thread_id": "t1", "after_seq": -1}, "missing_field",
     "field 'after_seq' must be a non-negative integer", "t1"),
    ({"type": "form_submit", "thread_id": "t1", "form_id": "f", "values": []}, "missing_field",
     "field 'values' must be an object", "t1"),
    ({"type": "feedback", "thread_id": "t1", "message_id": "m", "rating": "meh"}, "missing_field",
     "field 'rating' must be 'up' or 'down'", "t1"),
    ({"type": "nope"}, "unknown_type", "Unknown message type 'nope'; expected one of message, interrupt_response, "
     "form_submit, cancel, subscribe, unsubscribe, ping, feedback, claim, operator_message, release", None),
])
def test_refusals_keep_the_protocol_words(frame: object, code: str, message: str, thread_id: str | None) -> None:
    with pytest.raises(FrameError) as err:
        parse(frame)
    assert (err.value.code, err.value.message, err.value.thread_id) == (code, message, thread_id)


def test_replies_encode_as_the_contract_shows() -> None:
    assert json.loads(encode(ErrorFrame(code="x", message="y"))) == {"type": "error", "code": "x", "message": "y"}
    sync = SessionSync(thread_id="t", status="idle", last_seq=3, message_count=1, pending_interrupt=None)
    assert json.loads(encode(sync))["pending_interrupt"] is None
