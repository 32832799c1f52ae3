"""agents.yaml: the loader's checks and messages, and adding an agent by configuration alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from graphs import build_graph, load_agents, load_chat_model
from graphs.agents import DEFAULT_AGENTS_PATH, AgentConfigError
from graphs.tools import ToolRegistry
from tests.graphs.conftest import Conversation, answer, of_type

SHOP_SPEC = DEFAULT_AGENTS_PATH.parent / "demo_shop.yaml"


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _base() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULT_AGENTS_PATH.read_text())
    data["openapi"] = str(SHOP_SPEC)
    return data


def test_the_packaged_file_loads() -> None:
    config = load_agents()
    assert config.names == ["order_lookup", "order_actions", "billing", "faq"]
    assert config.intent_agents == {"order_status": "order_lookup", "order_change": "order_actions",
                                    "refund": "billing", "faq": "faq"}
    assert config.confidence_threshold == 0.6 and config.escalation_queue == "support"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["agents"][1]["tools"][1].update(risk="hgih"), r"agent 'order_actions': key `tools\[cancel_order\].risk` must be one of low, medium, high, critical, got 'hgih'"),
        (lambda d: d["agents"][0].update(name="Order Lookup"), r"agents\[0\]: key `name` must match"),
        (lambda d: d["agents"][0].update(intents=["faq"]), r"agent 'faq': key `intents`: 'faq' already belongs to agent 'order_lookup'"),
        (lambda d: d["agents"][0].pop("description"), r"agent 'order_lookup': key `description`"),
        (lambda d: d["agents"][0].update(tool=[]), r"agent 'order_lookup': unknown key\(s\) \['tool'\]"),
        (lambda d: d["agents"][2]["tools"][1].update(approver="boss"), r"agent 'billing': key `tools\[create_refund\].approver` must be one of none, customer, operator"),
        (lambda d: d["agents"][2]["tools"][1]["approver"]["operator_if"].update(amount_over="lots"), r"amount_over must be a number"),
        (lambda d: d["agents"][0]["tools"][0].update(operation="get_order"), r"agent 'order_lookup': key `tools\[get_order\].operation`: no operation with that operationId"),
        (lambda d: d["agents"][0].update(name="router"), r"'router' is a built-in node"),
        (lambda d: d["agents"][0]["tools"][0].update(risk="high"), r"risk/approver differ from"),
        (lambda d: d["agents"][2]["tools"][1]["approver"]["operator_if"]["lookup"].update(operation="cancel_order"), r"must be a GET operation"),
        (lambda d: d["agents"][1]["tools"][2].update(customer_may_edit=["order"]), r"key `tools\[update_shipping_address\].customer_may_edit`: update_shipping_address has no argument\(s\) \['order'\]"),
        (lambda d: d["agents"][1]["tools"][2].update(customer_may_edit="order_id"), r"customer_may_edit` must be a list of argument names"),
    ],
)
def test_errors_name_file_agent_and_key(tmp_path: Path, mutate: Any, message: str) -> None:
    data = _base()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(AgentConfigError, match=message) as info:
        ToolRegistry.from_agents(load_agents(path))
    assert str(path) in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match="file not found"):
        load_agents(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("agents: [")
    with pytest.raises(AgentConfigError, match="not valid YAML"):
        load_agents(tmp_path / "bad.yaml")
    with pytest.raises(AgentConfigError, match="non-empty list"):
        load_agents(_write(tmp_path, {"agents": []}))


async def test_a_new_agent_is_a_config_change(tmp_path: Path, checkpointer: Any, shop_server: Any) -> None:
    data = _base()
    data["agents"].append({
        "name": "accounts",
        "description": "Looks up customer accounts.",
        "intents": ["account_lookup"],
        "examples": ["Who is customer cust_03?", "Show me the account of customer cust_01"],
        "system_prompt": "You look up customer accounts.",
        "tools": [{"operation": "get_customer", "risk": "low", "approver": "none"}],
    })
    config = load_agents(_write(tmp_path, data))
    graph = build_graph(config, load_chat_model("demo", demo_token_delay_ms=0), checkpointer=checkpointer)
    conv = Conversation(graph, shop_server.url)

    events = await conv.say("Who is customer cust_03?")

    assert of_type(events, "intent")[0]["agent"] == "accounts"
    [call] = of_type(events, "tool_call")
    assert (call["tool"], call["args"]) == ("get_customer", {"customer_id": "cust_03"})
    assert "Chloe Martin" in answer(events)


def test_customer_may_edit_frees_an_identifying_argument(tmp_path: Path) -> None:
    from graphs.tools.policy import identifying_args

    data = _base()
    assert identifying_args(ToolRegistry.from_agents(load_agents(_write(tmp_path, data))).spec("update_shipping_address")) == {"order_id"}
    data["agents"][1]["tools"][2]["customer_may_edit"] = ["order_id"]
    spec = ToolRegistry.from_agents(load_agents(_write(tmp_path, data))).spec("update_shipping_address")
    assert spec.customer_editable == {"order_id"} and identifying_args(spec) == set()
