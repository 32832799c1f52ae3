"""The demo model calls a tool the customer names: imported operations work offline.

The rule (docs/agents.md, "Models") is generic: the tool's name or the first
sentence of its description, arguments only from its schema. The demo shop's own
tools keep their intent rules.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from app.integrations.openapi.catalog import _tool_description
from graphs.models.demo import DemoChatModel
from graphs.prompts import TRANSFER_TOOL

CUSTOMER_ID = {"type": "string"}


def tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required,
                           "additionalProperties": False},
        },
    }


REDEEM = tool(
    "redeemLoyaltyPoints",
    _tool_description({"summary": "Redeem loyalty points", "description": "Turns points into a voucher.",
                       "method": "POST", "path": "/loyalty/{customer_id}/redeem"}),
    {"customer_id": CUSTOMER_ID, "points": {"type": "integer", "exclusiveMinimum": 0},
     "note": {"type": "string"}},
    ["customer_id", "points"],
)
BALANCE = tool(
    "getLoyaltyBalance",
    _tool_description({"summary": "Get a customer's loyalty points balance", "description": "Reads only.",
                       "method": "GET", "path": "/loyalty/{customer_id}"}),
    {"customer_id": CUSTOMER_ID},
    ["customer_id"],
)
SET_TIER = tool(
    "set_loyalty_tier",
    "Set the tier",
    {"customer_id": CUSTOMER_ID, "tier": {"type": "string", "enum": ["silver", "gold"]},
     "vip": {"type": "boolean"}},
    ["customer_id", "tier"],
)
SHOP = tool("get_order_status", "Look up an order.", {"order_id": {"type": "string"}}, ["order_id"])


def decide(text: str, *tools: dict[str, Any]) -> AIMessage:
    model = DemoChatModel(token_delay_ms=0).bind_tools([*tools, TRANSFER_TOOL])
    answer = model.invoke([SystemMessage("You are a specialist."), HumanMessage(text)])
    assert isinstance(answer, AIMessage)
    return answer


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("Please redeem 200 loyalty points for customer c42", "redeemLoyaltyPoints",
         {"customer_id": "c42", "points": 200}),
        ("redeem_loyalty_points customer_id=abc points=5 note: thanks", "redeemLoyaltyPoints",
         {"customer_id": "abc", "points": 5, "note": "thanks"}),
        ("Redeem loyalty points for customer id 77, 30 points.", "redeemLoyaltyPoints",
         {"customer_id": "77", "points": 30}),
        # by the first sentence of the description, the read verb optional
        ("What's the loyalty points balance of customer c42?", "getLoyaltyBalance", {"customer_id": "c42"}),
        ("loyalty balance for customerId: xyz", "getLoyaltyBalance", {"customer_id": "xyz"}),
        ("Set loyalty tier to GOLD: tier gold, customer c9, vip=yes", "set_loyalty_tier",
         {"customer_id": "c9", "tier": "gold", "vip": True}),
    ],
)
def test_a_named_tool_is_called_with_arguments_from_the_message(text: str, name: str, args: dict[str, Any]) -> None:
    answer = decide(text, SHOP, BALANCE, REDEEM, SET_TIER)
    assert [(c["name"], c["args"]) for c in answer.tool_calls] == [(name, args)]


def test_a_missing_required_argument_is_asked_for_by_name() -> None:
    answer = decide("I want to redeem loyalty points", REDEEM)
    assert answer.tool_calls == []
    assert "customer_id" in answer.content and "points" in answer.content


def test_unknown_values_are_not_made_up() -> None:
    answer = decide("set loyalty tier platinum for customer c9", SET_TIER)
    assert answer.tool_calls == [] and "tier" in answer.content


def test_demo_shop_tools_keep_their_rules() -> None:
    answer = decide("What is the status of order 1042?", SHOP, REDEEM)
    assert [(c["name"], c["args"]) for c in answer.tool_calls] == [("get_order_status", {"order_id": "1042"})]


def test_an_unbound_tool_is_never_called() -> None:
    answer = decide("Please redeem 200 loyalty points for customer c42", SHOP)
    assert all(c["name"] != "redeemLoyaltyPoints" for c in answer.tool_calls)
