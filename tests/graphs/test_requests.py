"""Issue 19 in the graph: several requests per message, facts before approvals (also for a model that
skips the lookup), small talk, references and corrections."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from app.demo.shop import ShopState
from graphs import build_graph
from graphs.models.demo import DemoChatModel, _call, _order_ids
from tests.demo.server import ServedApp
from tests.graphs.conftest import Conversation, answer, of_type


class HastyModel(DemoChatModel):
    """A model that proposes a cancellation straight away, without looking the order up first."""

    def _specialist(self, messages: list[BaseMessage], said: str, names: list[str], tools: list[dict[str, Any]]):  # type: ignore[override]
        turn = messages[max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage)):]
        proposed = any(isinstance(m, AIMessage) and any(c["name"] == "cancel_order" for c in m.tool_calls) for m in turn)
        if "cancel" in said.lower() and "cancel_order" in names and not proposed:
            return "", [_call("cancel_order", {"order_id": oid}) for oid in _order_ids(said)]
        return super()._specialist(messages, said, names, tools)


async def test_a_model_that_skips_the_lookup_gets_the_facts_first(checkpointer: Any, shop_server: ServedApp,
                                                                  shop: ShopState) -> None:
    graph = build_graph(model=HastyModel(token_delay_ms=0), checkpointer=checkpointer)
    conv = Conversation(graph, shop_server.url)

    events = await conv.say("Cancel order 1042")
    # the graph made the read the model skipped, then let the model propose again
    assert [c["tool"] for c in of_type(events, "tool_call")] == ["get_order_status"]
    assert events[-1]["type"] == "interrupt" and events[-1]["args"] == {"order_id": "1042"}

    conv2 = Conversation(graph, shop_server.url)
    events = await conv2.say("Cancel order 1999")
    assert of_type(events, "interrupt") == []  # no such order: nobody is asked to approve anything
    assert "1999 not found" in answer(events) and "Nothing was changed" in answer(events)
    assert shop.writes == []


async def test_compound_message_each_request_to_its_agent_in_order(conv: Conversation, shop: ShopState) -> None:
    first = await conv.say("Cancel order 1016 and refund 10 EUR of order 1006")
    assert [(e["intent"], e["agent"]) for e in of_type(first, "intent")] == [("order_change", "order_actions"),
                                                                              ("refund", "billing")]
    state = await conv.state()
    assert [(r["agent"], r["text"]) for r in state["requests"]] == [
        ("order_actions", "Cancel order 1016"), ("billing", "refund 10 EUR of order 1006")]
    assert state["dialog_stack"][-2:] == ["billing", "order_actions"]  # the first request's agent on top
    assert (first[-1]["action"], first[-1]["args"]) == ("cancel_order", {"order_id": "1016"})

    second = await conv.decide(False)
    assert (second[-1]["action"], second[-1]["args"]) == ("create_refund", {"order_id": "1006", "amount": 10.0})
    third = await conv.decide(True)
    text = answer(third)
    assert "Order 1016 remains active" in text and "10.00 EUR for order 1006" in text  # every outcome
    assert shop.orders["1016"]["status"] == "processing"
    assert [r["order_id"] for r in shop.refunds] == ["1006"]
    assert (await conv.state())["dialog_stack"][-1] == "billing"


async def test_a_compound_follow_up_goes_back_to_the_router(conv: Conversation, shop: ShopState) -> None:
    await conv.say("Refund order 1005")
    await conv.decide(False)
    events = await conv.say("Cancel order 1016 and refund 10 EUR of order 1006")
    # billing was in charge, but it never substitutes a refund for the cancellation: it hands back
    assert [e["agent"] for e in of_type(events, "intent")] == ["order_actions", "billing"]
    assert (events[-1]["action"], events[-1]["args"]) == ("cancel_order", {"order_id": "1016"})


async def test_small_talk_is_answered_naturally(conv: Conversation) -> None:
    for said, words in (("Hi", "What can I do for you?"), ("thanks, that's all", "welcome"),
                        ("what is 2+2", "outside what I can help with")):
        events = await conv.say(said)
        assert of_type(events, "intent")[0]["intent"] == "small_talk"
        assert words in answer(events) and "not sure I understood" not in answer(events)
        assert of_type(events, "tool_call") == []
    assert (await conv.state())["clarify_misses"] == 0


async def test_the_other_one_and_a_correction_resolve_against_the_conversation(conv: Conversation) -> None:
    await conv.say("What is the status of order 1036?")
    await conv.say("And order 1043?")
    events = await conv.say("Please cancel the other one")
    assert events[-1]["args"] == {"order_id": "1036"}
    await conv.decide(False)
    events = await conv.say("Sorry, I meant order 1043")
    assert (events[-1]["action"], events[-1]["args"]) == ("cancel_order", {"order_id": "1043"})


class MisroutingModel(DemoChatModel):
    """A router that sends both requests of a compound message to order_actions first."""

    def _route(self, said: str, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> dict[str, Any]:
        decision = super()._route(said, messages, tools)
        if len(decision.get("requests") or []) == 2:
            decision["requests"] = [{**r, "intent": "order_change"} for r in decision["requests"]]
            decision["intent"] = "order_change"
        return decision


async def test_a_misrouted_request_is_handed_back_and_rerouted_alone(checkpointer: Any, shop_server: ServedApp) -> None:
    graph = build_graph(model=MisroutingModel(token_delay_ms=0), checkpointer=checkpointer)
    conv = Conversation(graph, shop_server.url)
    first = await conv.say("Cancel order 1016 and refund 10 EUR of order 1006")
    assert (first[-1]["action"], first[-1]["args"]) == ("cancel_order", {"order_id": "1016"})
    second = await conv.decide(True)
    # order_actions cannot refund: it hands that span back; the router classifies the span alone
    assert of_type(second, "intent")[-1] == {**of_type(second, "intent")[-1], "intent": "refund", "agent": "billing"}
    assert (second[-1]["action"], second[-1]["args"]) == ("create_refund", {"order_id": "1006", "amount": 10.0})
    text = answer(await conv.decide(True))
    assert "Order 1016 has been cancelled" in text and "10.00 EUR for order 1006" in text
