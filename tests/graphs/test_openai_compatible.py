"""The openai_compatible provider against a local fake OpenAI server over a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from graphs import build_graph, load_chat_model
from graphs.models import ModelConfigError
from tests.demo.server import ServedApp
from tests.graphs.conftest import Conversation, answer, of_type
from tests.graphs.fake_openai import create_fake_openai_app


@pytest.fixture
def fake_openai() -> Iterator[ServedApp]:
    with ServedApp(create_fake_openai_app()) as served:
        yield served


def _model(fake_openai: ServedApp) -> Any:
    return load_chat_model("openai_compatible", "fake-model", base_url=f"{fake_openai.url}/v1")


async def test_streams_text_and_reports_usage(fake_openai: ServedApp) -> None:
    model = _model(fake_openai)
    assert isinstance(model, ChatOpenAI)

    chunks = [c async for c in model.astream([HumanMessage("benchmark reply 12 tokens")])]

    text_chunks = [c.content for c in chunks if c.content]
    assert len(text_chunks) == 12
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert total.usage_metadata["output_tokens"] == 12 and total.usage_metadata["input_tokens"] == 4
    [request] = fake_openai.app.state.requests
    assert request["model"] == "fake-model" and request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}


async def test_streamed_tool_calls_are_assembled(fake_openai: ServedApp) -> None:
    tool = {"type": "function", "function": {"name": "get_order_status", "description": "Look up an order",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}
    model = _model(fake_openai).bind_tools([tool])

    chunks = [c async for c in model.astream([HumanMessage("What is the status of order 1042?")])]
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c

    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("get_order_status", {"order_id": "1042"})]


async def test_one_graph_turn_with_approval(fake_openai: ServedApp, checkpointer: Any, shop_server: ServedApp) -> None:
    graph = build_graph(model=_model(fake_openai), checkpointer=checkpointer)
    conv = Conversation(graph, shop_server.url)

    status = await conv.say("What is the status of order 1042?")
    assert of_type(status, "intent")[0]["agent"] == "order_lookup"
    assert "1042 is shipped" in answer(status)
    assert len(of_type(status, "token")) > 3
    assert status[-1]["usage"]["input_tokens"] > 0 and status[-1]["usage"]["output_tokens"] > 0

    pending = (await conv.say("Cancel order 1042"))[-1]
    assert pending["type"] == "interrupt" and pending["action"] == "cancel_order"
    done = await conv.decide(True)
    assert "cancelled" in answer(done)
    assert shop_server.app.state.shop.orders["1042"]["status"] == "cancelled"

    requests = fake_openai.app.state.requests
    assert all(r["model"] == "fake-model" for r in requests)
    router_calls = [r for r in requests if any(t["function"]["name"] == "RouteDecision" for t in r.get("tools", []))]
    assert router_calls and all(r.get("tool_choice") not in (None, "auto") for r in router_calls)


def test_missing_settings_name_the_variable() -> None:
    with pytest.raises(ModelConfigError, match="LLM_BASE_URL"):
        load_chat_model("openai_compatible", "m")
    with pytest.raises(ModelConfigError, match="LLM_MODEL"):
        load_chat_model("openai_compatible", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ModelConfigError, match="unknown LLM_PROVIDER"):
        load_chat_model("mystery")
