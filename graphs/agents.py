"""Agents as data: `AgentSpec`, `AgentsConfig` and `load_agents(path)`.

`openapi_specs/agents.yaml` names each specialist, its intents, example
utterances, system prompt and the OpenAPI operations it may call, each with a
`risk` and an `approver`. `load_agents` reads and checks it; every error names the
file, the agent and the key, and says what was expected.

An approver is `none`, `customer`, `operator`, or a rule (plain data, evaluated by
`graphs.tools.policy`):

    approver:
      operator_if:
        amount_over: 100
        amount_arg: amount                 # optional: the call's own amount argument
        lookup: {operation: get_order_status, args: {order_id: order_id}, field: total}
      otherwise: customer
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "APPROVERS",
    "BUILTIN_INTENTS",
    "DEFAULT_AGENTS_PATH",
    "RESERVED_NODE_NAMES",
    "RISKS",
    "TOOL_KINDS",
    "AgentConfigError",
    "AgentSpec",
    "AgentsConfig",
    "ToolPolicy",
    "load_agents",
    "parse_agents",
]

DEFAULT_AGENTS_PATH = Path(__file__).resolve().parent.parent / "openapi_specs" / "agents.yaml"
RISKS = ("low", "medium", "high", "critical")
APPROVERS = ("none", "customer", "operator")
TOOL_KINDS = ("openapi", "knowledge")
"""What a tool is: an OpenAPI operation, or the built-in knowledge-base search."""
BUILTIN_INTENTS = ("escalation", "blocked", "unclear")
"""Intents the graph handles itself: a human handoff, a guardrail refusal, a clarifying question."""
RESERVED_NODE_NAMES = frozenset(
    {"triage", "guardrail", "router", "assess", "approval", "tools", "leave_agent", "escalation", "__start__", "__end__"}
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class AgentConfigError(ValueError):
    """agents.yaml (or the data given instead) is malformed; the message names file, agent and key."""


@dataclass(frozen=True, kw_only=True)
class ToolPolicy:
    """One OpenAPI operation an agent may call, and who must approve a call first."""

    operation: str
    risk: str = "low"
    approver: str | dict[str, Any] = "none"
    confirm: str | None = None
    """Question shown to the approver, with `{arg}` placeholders, e.g. "Cancel order {order_id}?"."""
    verify: dict[str, Any] | None = None
    """Facts before approvals: {operation: <read operationId>, args: {read param: this call's arg}}. A call is
    proposed only after that read succeeded in the same turn; the graph makes the read first otherwise."""
    customer_may_edit: tuple[str, ...] = ()
    """Identifying arguments (which order, which account) a customer may still change when approving;
    by default a customer may change none of them (see `graphs.tools.policy.identifying_args`)."""
    kind: str = "openapi"
    """`openapi`: an operation of the OpenAPI document; `knowledge`: the built-in knowledge-base search,
    whose search function the server hands the registry (graphs.tools.knowledge)."""


@dataclass(frozen=True, kw_only=True)
class AgentSpec:
    name: str
    description: str
    intents: tuple[str, ...]
    examples: tuple[str, ...] = ()
    system_prompt: str = ""
    tools: tuple[ToolPolicy, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AgentsConfig:
    agents: tuple[AgentSpec, ...]
    openapi_path: Path | None = None
    """The OpenAPI document whose operations the agents call (None: tools come from elsewhere)."""
    confidence_threshold: float = 0.6
    escalation_queue: str = "support"
    source: str = "<data>"
    intent_agents: dict[str, str] = field(default_factory=dict)
    """intent -> agent name, derived from the agents' `intents`."""

    def agent(self, name: str) -> AgentSpec:
        for spec in self.agents:
            if spec.name == name:
                return spec
        raise KeyError(f"no agent named {name!r} in {self.source}; known: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.agents]


def load_agents(path: str | Path | None = None) -> AgentsConfig:
    """Read and check an agents file (default: `openapi_specs/agents.yaml`)."""
    path = Path(path) if path is not None else DEFAULT_AGENTS_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AgentConfigError(f"{path}: file not found; pass the path of an agents.yaml") from None
    except yaml.YAMLError as exc:
        raise AgentConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_agents(raw, source=str(path), base_dir=path.parent)


def parse_agents(raw: Any, *, source: str = "<data>", base_dir: Path | None = None) -> AgentsConfig:
    """Check already-parsed agents data (the shape of agents.yaml)."""
    if not isinstance(raw, Mapping):
        raise AgentConfigError(f"{source}: expected a mapping with an `agents` list at the top, got {type(raw).__name__}")
    agents_raw = raw.get("agents")
    if not isinstance(agents_raw, list) or not agents_raw:
        raise AgentConfigError(f"{source}: key `agents` must be a non-empty list of agents")

    openapi_path = None
    if raw.get("openapi") is not None:
        if not isinstance(raw["openapi"], str):
            raise AgentConfigError(f"{source}: key `openapi` must be a file path, got {raw['openapi']!r}")
        openapi_path = (base_dir or Path.cwd()) / raw["openapi"]
        if not openapi_path.is_file():
            raise AgentConfigError(f"{source}: key `openapi`: {openapi_path} does not exist")

    router = _mapping(raw.get("router", {}), source, "router")
    threshold = router.get("confidence_threshold", 0.6)
    if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise AgentConfigError(f"{source}: key `router.confidence_threshold` must be a number in 0..1, got {threshold!r}")
    escalation = _mapping(raw.get("escalation", {}), source, "escalation")
    queue = escalation.get("queue", "support")
    if not isinstance(queue, str) or not queue:
        raise AgentConfigError(f"{source}: key `escalation.queue` must be a non-empty string, got {queue!r}")

    agents: list[AgentSpec] = []
    intent_agents: dict[str, str] = {}
    for index, item in enumerate(agents_raw):
        agent = _parse_agent(item, source, index)
        if agent.name in {a.name for a in agents}:
            raise AgentConfigError(f"{source}: agent {agent.name!r}: key `name`: defined twice")
        for intent in agent.intents:
            if intent in intent_agents:
                raise AgentConfigError(
                    f"{source}: agent {agent.name!r}: key `intents`: {intent!r} already belongs to "
                    f"agent {intent_agents[intent]!r}; an intent routes to exactly one agent"
                )
            intent_agents[intent] = agent.name
        agents.append(agent)

    # One policy per operation: the registry holds one tool per name.
    policies: dict[str, tuple[str, ToolPolicy]] = {}
    for agent in agents:
        for tool in agent.tools:
            seen = policies.get(tool.operation)
            if seen and ((seen[1].risk, seen[1].approver, set(seen[1].customer_may_edit))
                         != (tool.risk, tool.approver, set(tool.customer_may_edit))):
                raise AgentConfigError(
                    f"{source}: agent {agent.name!r}: tool {tool.operation!r}: risk/approver differ from "
                    f"agent {seen[0]!r}'s (customer_may_edit included); an operation has one policy, so make them the same"
                )
            policies.setdefault(tool.operation, (agent.name, tool))

    return AgentsConfig(
        agents=tuple(agents),
        openapi_path=openapi_path,
        confidence_threshold=float(threshold),
        escalation_queue=queue,
        source=source,
        intent_agents=intent_agents,
    )


def _mapping(value: Any, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AgentConfigError(f"{source}: key `{key}` must be a mapping, got {value!r}")
    return value


def _parse_agent(item: Any, source: str, index: int) -> AgentSpec:
    where = f"{source}: agents[{index}]"
    if not isinstance(item, Mapping):
        raise AgentConfigError(f"{where}: expected a mapping with name, description, intents, got {item!r}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise AgentConfigError(f"{where}: key `name` must match {_NAME.pattern} (lower_snake_case), got {name!r}")
    where = f"{source}: agent {name!r}"
    if name in RESERVED_NODE_NAMES:
        raise AgentConfigError(f"{where}: key `name`: {name!r} is a built-in node; choose another name")
    known = {"name", "description", "intents", "examples", "system_prompt", "tools"}
    unknown = set(item) - known
    if unknown:
        raise AgentConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(known)}")
    description = item.get("description")
    if not isinstance(description, str) or not description.strip():
        raise AgentConfigError(f"{where}: key `description` must be a non-empty string (the router reads it)")
    intents = item.get("intents")
    if not isinstance(intents, list) or not intents or not all(isinstance(i, str) and _NAME.match(i) for i in intents):
        raise AgentConfigError(f"{where}: key `intents` must be a non-empty list of lower_snake_case names, got {intents!r}")
    for intent in intents:
        if intent in BUILTIN_INTENTS:
            raise AgentConfigError(f"{where}: key `intents`: {intent!r} is handled by the graph itself")
    examples = item.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise AgentConfigError(f"{where}: key `examples` must be a list of strings, got {examples!r}")
    prompt = item.get("system_prompt", "")
    if not isinstance(prompt, str):
        raise AgentConfigError(f"{where}: key `system_prompt` must be a string")
    tools_raw = item.get("tools", [])
    if not isinstance(tools_raw, list):
        raise AgentConfigError(f"{where}: key `tools` must be a list, got {tools_raw!r}")
    tools = tuple(_parse_tool(t, where, i) for i, t in enumerate(tools_raw))
    ops = [t.operation for t in tools]
    if len(ops) != len(set(ops)):
        raise AgentConfigError(f"{where}: key `tools` lists an operation twice: {ops}")
    return AgentSpec(
        name=name,
        description=description.strip(),
        intents=tuple(intents),
        examples=tuple(examples),
        system_prompt=prompt.strip(),
        tools=tools,
    )


def _parse_tool(item: Any, where: str, index: int) -> ToolPolicy:
    key = f"tools[{index}]"
    if isinstance(item, str):
        item = {"operation": item}
    if not isinstance(item, Mapping):
        raise AgentConfigError(f"{where}: key `{key}` must be an operation id or a mapping, got {item!r}")
    operation = item.get("operation")
    if not isinstance(operation, str) or not operation:
        raise AgentConfigError(f"{where}: key `{key}.operation` must be an OpenAPI operationId, got {operation!r}")
    key = f"tools[{operation}]"
    unknown = set(item) - {"operation", "risk", "approver", "confirm", "verify", "customer_may_edit", "kind"}
    if unknown:
        raise AgentConfigError(f"{where}: key `{key}`: unknown key(s) {sorted(unknown)}; "
                               "allowed: operation, risk, approver, confirm, verify, customer_may_edit, kind")
    kind = item.get("kind", "openapi")
    if kind not in TOOL_KINDS:
        raise AgentConfigError(f"{where}: key `{key}.kind` must be one of {', '.join(TOOL_KINDS)}, got {kind!r}")
    risk = item.get("risk", "low")
    if risk not in RISKS:
        raise AgentConfigError(f"{where}: key `{key}.risk` must be one of {', '.join(RISKS)}, got {risk!r}")
    approver = item.get("approver", "none")
    check_approver(approver, f"{where}: key `{key}.approver`")
    confirm = item.get("confirm")
    if confirm is not None and not isinstance(confirm, str):
        raise AgentConfigError(f"{where}: key `{key}.confirm` must be a string, got {confirm!r}")
    verify = item.get("verify")
    if verify is not None and (
        not isinstance(verify, Mapping)
        or not isinstance(verify.get("operation"), str)
        or not isinstance(verify.get("args"), Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in verify["args"].items())
    ):
        raise AgentConfigError(
            f"{where}: key `{key}.verify` must be {{operation: <read operationId>, args: {{param: arg}}}}, got {verify!r}"
        )
    may_edit = item.get("customer_may_edit", [])
    if not isinstance(may_edit, list) or not all(isinstance(a, str) and a for a in may_edit):
        raise AgentConfigError(f"{where}: key `{key}.customer_may_edit` must be a list of argument names, got {may_edit!r}")
    return ToolPolicy(operation=operation, risk=risk, approver=approver, confirm=confirm,
                      verify={"operation": verify["operation"], "args": dict(verify["args"])} if verify else None,
                      customer_may_edit=tuple(may_edit), kind=kind)


def check_approver(approver: Any, where: str) -> None:
    """Raise `AgentConfigError` unless `approver` is a known approver or a well-formed rule."""
    if isinstance(approver, str):
        if approver not in APPROVERS:
            raise AgentConfigError(f"{where} must be one of {', '.join(APPROVERS)} or a rule, got {approver!r}")
        return
    if not isinstance(approver, Mapping) or set(approver) - {"operator_if", "otherwise"} or "operator_if" not in approver:
        raise AgentConfigError(
            f"{where}: a rule is a mapping with `operator_if` (and optional `otherwise`), got {approver!r}"
        )
    otherwise = approver.get("otherwise", "customer")
    if otherwise not in APPROVERS:
        raise AgentConfigError(f"{where}.otherwise must be one of {', '.join(APPROVERS)}, got {otherwise!r}")
    cond = approver["operator_if"]
    if not isinstance(cond, Mapping) or "amount_over" not in cond:
        raise AgentConfigError(f"{where}.operator_if must be a mapping with `amount_over`, got {cond!r}")
    unknown = set(cond) - {"amount_over", "amount_arg", "lookup"}
    if unknown:
        raise AgentConfigError(f"{where}.operator_if: unknown key(s) {sorted(unknown)}; allowed: amount_over, amount_arg, lookup")
    if not isinstance(cond["amount_over"], (int, float)):
        raise AgentConfigError(f"{where}.operator_if.amount_over must be a number, got {cond['amount_over']!r}")
    if "amount_arg" in cond and not isinstance(cond["amount_arg"], str):
        raise AgentConfigError(f"{where}.operator_if.amount_arg must be an argument name, got {cond['amount_arg']!r}")
    if "lookup" not in cond and "amount_arg" not in cond:
        raise AgentConfigError(f"{where}.operator_if needs `amount_arg`, `lookup` or both to find the amount")
    lookup = cond.get("lookup")
    if lookup is not None and (
        not isinstance(lookup, Mapping)
        or not isinstance(lookup.get("operation"), str)
        or not isinstance(lookup.get("field"), str)
        or not isinstance(lookup.get("args", {}), Mapping)
    ):
        raise AgentConfigError(
            f"{where}.operator_if.lookup must be {{operation: <GET operationId>, args: {{param: arg}}, field: <name>}}, got {lookup!r}"
        )
