"""A fake OpenAI-compatible chat-completions server for tests (served over a real socket).

POST /v1/chat/completions answers like a real server: SSE chunks when `stream` is
true (text deltas, tool-call deltas with arguments split across chunks, a usage
chunk when `stream_options.include_usage`), a JSON completion otherwise. What to
say is decided by the demo model's logic applied to the request's messages and
tools, so the whole graph works against it. Every request body is kept in
`requests`. `fixed_call_ids=True` numbers the tool calls of every reply from
`call_0`, as some OpenAI-compatible servers do, so call ids repeat across replies
and threads.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from langchain_openai.chat_models.base import _convert_dict_to_message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from graphs.models.demo import DemoChatModel, count_tokens

__all__ = ["create_fake_openai_app"]


def create_fake_openai_app(*, fixed_call_ids: bool = False) -> Starlette:
    brain = DemoChatModel(token_delay_ms=0)
    requests: list[dict[str, Any]] = []

    async def completions(request: Request) -> Any:
        body = await request.json()
        requests.append(body)
        messages = [_convert_dict_to_message(m) for m in body["messages"]]
        text, calls = brain._decide(messages, body.get("tools") or [])
        if fixed_call_ids:
            calls = [{**c, "id": f"call_{i}"} for i, c in enumerate(calls)]
        prompt_tokens = sum(count_tokens(str(m.get("content") or "")) for m in body["messages"])
        completion_tokens = count_tokens(text) + sum(1 + count_tokens(json.dumps(c["args"])) for c in calls)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        finish = "tool_calls" if calls else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                message["tool_calls"] = [
                    {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["args"])}}
                    for c in calls
                ]
            return JSONResponse({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage,
            })
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(_sse(body["model"], text, calls, finish, usage if include_usage else None),
                                 media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    app.state.requests = requests
    return app


async def _sse(model: str, text: str, calls: list[dict[str, Any]], finish: str, usage: dict[str, int] | None) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for piece in re.findall(r"\S+\s*", text):
        yield chunk({"content": piece})
    for index, call in enumerate(calls):
        arguments = json.dumps(call["args"])
        half = len(arguments) // 2
        yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["name"], "arguments": arguments[:half]}}]})
        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]})
    yield chunk({}, finish)
    if usage is not None:
        payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [], "usage": usage}
        yield f"data: {json.dumps(payload)}\n\n"
    yield "data: [DONE]\n\n"
