"""Risk assessment and the approval gate.

`assess_calls` looks at an AI message's tool calls and works out, per call, the
risk, the approver (evaluating agents.yaml rules, which may read the order through
a GET operation) and the question to ask. The specialist that made the calls writes
them as `pending_actions` in the same step, each with a
fresh random `interrupt_id`: checkpointed with the state, so a re-run of the gate
raises the same id, and unique everywhere even when a model server numbers its
tool calls `call_0`, `call_1`, ... in every reply (an id made from the call id alone
would let one thread's interrupt overwrite another's).

`approval_gate` is its own node, the gate before any write, and only calls
`interrupt()`: one interrupt per call that needs an approver (a write nobody has to
approve passes through), one after another, in the order the model made them.
On resume the node runs again from the top; answered interrupts return their
stored decisions, so nothing here may have side effects. Decisions go to the tool
node in `decisions`.

The interrupt payload is the protocol's `interrupt` event (without stamps) plus
LangChain's human-in-the-loop request (`action_requests`, `review_configs`), so
LangGraph clients (agent-chat-ui, Agent Inbox) render Approve / Edit / Reject. The
resume value is `ApprovalResponse` or a HITL response (`{"decisions": [...]}`);
anything else raises (a ValueError naming the problem) before LangGraph stores it,
so the interrupt stays pending.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NotRequired

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, ConfigDict, model_validator
from typing_extensions import TypedDict

from graphs.context import RunContext
from graphs.events import InterruptEvent, iso_z
from graphs.nodes.common import call_id, context_of
from graphs.state import SupportState
from graphs.tools.openapi import schema_error
from graphs.tools.policy import confirm_message, resolve_approver
from graphs.tools.registry import ToolRegistry

__all__ = [
    "ApprovalRequest",
    "ApprovalResponse",
    "ApprovalResumeError",
    "approval_gate",
    "assess_calls",
    "from_hitl_response",
    "hitl_request",
    "interrupt_id_for",
    "needs_gate",
    "parse_decision",
]


# The `interrupt()` payload: the protocol's `interrupt` event as plain JSON (it is
# checkpointed), without the fields the event log stamps.
ApprovalRequest = dict[str, Any]
_REQUEST_FIELDS = frozenset(InterruptEvent.model_fields) - {"type", "thread_id", "seq", "run_id", "ts"}


class ApprovalResponse(TypedDict):
    """What `Command(resume=...)` must carry for an approval."""

    approved: bool
    interrupt_id: NotRequired[str]
    args: NotRequired[dict[str, Any]]
    """Edited arguments (approve only); they replace the proposed ones entirely."""
    reason: NotRequired[str]
    outcome: NotRequired[Literal["approved", "edited", "rejected", "expired", "superseded"]]
    decided_by: NotRequired[str]
    decided_as: NotRequired[Literal["customer", "operator"]]
    """The role of the person who decided (the server sets it); absent: the interrupt's own approver.
    The tool node re-checks edited arguments against it before running the call."""


class ApprovalResumeError(ValueError):
    """A resume value that is not an `ApprovalResponse` for the pending interrupt.

    `field` names the part of a HITL response at fault (e.g. `decisions[0].type`)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


_RESPONSE_KEYS = frozenset(ApprovalResponse.__annotations__)


def hitl_request(request: ApprovalRequest) -> dict[str, Any]:
    """LangChain's `HITLRequest` for one approval (what agent-chat-ui and Agent Inbox render)."""
    review: dict[str, Any] = {"action_name": request["action"], "allowed_decisions": ["approve", "edit", "reject"]}
    if request.get("args_schema"):
        review["args_schema"] = request["args_schema"]
    return {
        "action_requests": [{"name": request["action"], "args": request.get("args") or {},
                             "description": request.get("message", "")}],
        "review_configs": [review],
    }


def from_hitl_response(value: Any, action: str | None) -> dict[str, Any]:
    """LangChain's `HITLResponse` (`{"decisions": [one decision]}`) as an `ApprovalResponse`.

    approve -> approved; edit -> approved with the edited args (same action only);
    reject -> not approved, its message the reason. `action`: the pending action's name.
    """
    decisions = value.get("decisions") if isinstance(value, dict) else None
    if not isinstance(decisions, list):
        raise ApprovalResumeError('must be {"decisions": [{"type": "approve" | "edit" | "reject", ...}]}', "decisions")
    if len(decisions) != 1:
        raise ApprovalResumeError(f"each approval asks about one action, so send exactly one decision "
                                  f"(got {len(decisions)})", "decisions")
    d = decisions[0]
    kind = d.get("type") if isinstance(d, dict) else None
    if kind == "approve":
        return {"approved": True}
    if kind == "reject":
        message = d.get("message")
        if message is not None and not isinstance(message, str):
            raise ApprovalResumeError("must be a string", "decisions[0].message")
        return {"approved": False, **({"reason": message} if message else {})}
    if kind == "edit":
        edited = d.get("edited_action")
        if not isinstance(edited, dict) or not isinstance(edited.get("args"), dict):
            raise ApprovalResumeError('must be {"name": <the action>, "args": {...}}', "decisions[0].edited_action")
        if action is not None and edited.get("name") not in (None, action):
            raise ApprovalResumeError(f"the pending action is {action!r}; an edit may change its args, not the action",
                                      "decisions[0].edited_action.name")
        return {"approved": True, "args": edited["args"]}
    raise ApprovalResumeError(f"{kind!r} is not supported; use 'approve', 'edit' or 'reject'", "decisions[0].type")


def interrupt_id_for(call_id: str) -> str:
    """The id of an interrupt raised before ids were minted in `assess` (a checkpoint from an older version)."""
    return f"intr_{call_id}"


def new_interrupt_id() -> str:
    return f"intr_{uuid.uuid4().hex}"


async def assess_calls(ai: AIMessage, registry: ToolRegistry, ctx: RunContext, agent: str) -> list[dict[str, Any]]:
    """The `pending_actions` of an AI message's tool calls: per call its risk, approver and question."""
    pending = []
    for call in ai.tool_calls:
        tool = registry.get(call["name"])
        if tool is None:  # a tool the model made up: the tool node answers with an error
            pending.append({"call_id": call["id"], "tool": call["name"], "args": call["args"], "approver": "none",
                            "reads_only": True})
            continue
        spec = tool.spec
        approver = await resolve_approver(spec, call["args"], registry=registry, context=ctx, call_id=call_id(call))
        pending.append(
            {
                "call_id": call["id"],
                "interrupt_id": new_interrupt_id(),
                "tool": spec.name,
                "args": dict(call["args"]),
                "agent": ai.name or spec.agent or agent,
                "risk": spec.risk,
                "approver": approver,
                "message": confirm_message(spec, call["args"]),
                "args_schema": spec.args_schema,
                "reads_only": spec.reads_only,
            }
        )
    return pending


def needs_gate(state: SupportState) -> bool:
    """Whether the pending calls go through the approval gate: one needs an approver, or one writes.

    A write that needs nobody's approval still passes the gate (which then asks nothing):
    a run checkpoints before the gate (`app.conversations.run_stream`), so a write never
    runs from a state that was not stored first.
    """
    return any(action["approver"] != "none" or not action.get("reads_only", False)
               for action in state.get("pending_actions") or [])


async def approval_gate(state: SupportState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ttl = context_of(runtime).interrupt_ttl_s
    decisions: dict[str, dict[str, Any]] = {}
    for action in state.get("pending_actions") or []:
        if action["approver"] == "none":
            continue
        request: ApprovalRequest = InterruptEvent(
            interrupt_id=action.get("interrupt_id") or interrupt_id_for(action["call_id"]),
            agent=action["agent"],
            action=action["tool"],
            args=action["args"],
            risk=action["risk"],
            approver=action["approver"],
            message=action["message"],
            expires_at=iso_z(datetime.now(UTC) + timedelta(seconds=ttl)),
            args_schema=action["args_schema"],
            call_id=action["call_id"],
        ).model_dump(include=set(_REQUEST_FIELDS))
        # the value carries LangChain's HITL request alongside our fields, so LangGraph clients render it
        answer = interrupt({**request, **hitl_request(request)}, response_schema=_response_model(request))
        decisions[action["call_id"]] = parse_decision(answer.model_dump(exclude_none=True), request)
    return {"decisions": decisions}


def _response_model(request: ApprovalRequest) -> type[BaseModel]:
    """The resume schema for one interrupt.

    LangGraph validates a resume value against it before storing anything, so a bad
    value raises (a pydantic `ValidationError`, a ValueError, carrying the
    `ApprovalResumeError` text) and leaves the interrupt pending and answerable,
    instead of being replayed on every later resume.
    """
    iid = request["interrupt_id"]

    class ApprovalResponseModel(BaseModel):
        model_config = ConfigDict(extra="forbid", title="ApprovalResponse")

        approved: bool
        interrupt_id: Literal[iid] | None = None  # type: ignore[valid-type]
        args: dict[str, Any] | None = None
        reason: str | None = None
        outcome: Literal["approved", "edited", "rejected", "expired", "superseded"] | None = None
        decided_by: str | None = None
        decided_as: Literal["customer", "operator"] | None = None

        @model_validator(mode="before")
        @classmethod
        def _known_shape(cls, value: Any) -> Any:
            if isinstance(value, dict) and "decisions" in value:  # a HITLResponse (agent-chat-ui, Agent Inbox)
                value = from_hitl_response(value, request["action"])
            parse_decision(value, request)
            return value

    return ApprovalResponseModel


def parse_decision(answer: Any, request: ApprovalRequest) -> dict[str, Any]:
    """The stored decision {"outcome", "args", "reason", "decided_as"} for a resume value, or ApprovalResumeError.

    Edited arguments that do not fit the tool's schema reject the call (the server
    validates them before resuming, with `validate_tool_args`, so this is a backstop).
    """
    iid = request["interrupt_id"]
    if not isinstance(answer, dict) or not isinstance(answer.get("approved"), bool):
        raise ApprovalResumeError(
            f"resuming interrupt {iid} needs {{'approved': bool, 'interrupt_id'?, 'args'?, 'reason'?, 'outcome'?}}, "
            f"got {answer!r}"
        )
    unknown = set(answer) - _RESPONSE_KEYS
    if unknown:
        raise ApprovalResumeError(f"resuming interrupt {iid}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_RESPONSE_KEYS)}")
    if answer.get("interrupt_id") not in (None, iid):
        raise ApprovalResumeError(
            f"the resume value is for interrupt {answer['interrupt_id']!r} but the pending interrupt is {iid!r}"
        )
    reason = answer.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ApprovalResumeError(f"resuming interrupt {iid}: `reason` must be a string, got {reason!r}")
    outcome = answer.get("outcome")
    decided_as = answer.get("decided_as") or request["approver"]
    if decided_as not in ("customer", "operator"):
        raise ApprovalResumeError(f"resuming interrupt {iid}: `decided_as` must be 'customer' or 'operator', got {decided_as!r}")
    original = request["args"]
    if not answer["approved"]:
        if outcome not in (None, "rejected", "expired", "superseded"):
            raise ApprovalResumeError(f"resuming interrupt {iid}: approved=false cannot have outcome {outcome!r}")
        return {"outcome": outcome or "rejected", "args": original, "reason": reason, "decided_as": decided_as}
    if outcome not in (None, "approved", "edited"):
        raise ApprovalResumeError(f"resuming interrupt {iid}: approved=true cannot have outcome {outcome!r}")
    edited = answer.get("args")
    if edited is None or edited == original:
        return {"outcome": "approved", "args": original, "reason": reason, "decided_as": decided_as}
    problem = schema_error(request["args_schema"], edited, request["action"])
    if problem:
        return {"outcome": "rejected", "args": original, "reason": f"the edited arguments were invalid: {problem}",
                "decided_as": decided_as}
    return {"outcome": "edited", "args": edited, "reason": reason, "decided_as": decided_as}
