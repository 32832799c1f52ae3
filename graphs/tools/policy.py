"""Who must approve a tool call, and the question they are asked.

`resolve_approver` turns a spec's approver (a fixed `none`/`customer`/`operator`
or an `operator_if` rule from agents.yaml) into `none`, `customer` or `operator`
for one concrete call. A rule may read a read-only (GET) operation, e.g. the
order's total; when that lookup fails the stricter `operator` is chosen, since an
amount that cannot be checked must not lower the bar.

An approver may edit the arguments before approving. `edit_refusal` says why an
edit may not run on that approver's word: a customer may not change an
identifying argument (which order, which account: `identifying_args`) unless the
tool's `customer_may_edit` allows it, and the edited call's approver, worked out
again from the edited arguments (lookups included), must not outrank the person
deciding. The server refuses such a decision; the tool node checks again before
it calls the tool, so a lower approver's word never runs a call that needs a higher one.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from graphs.tools.registry import ToolRegistry
from graphs.tools.spec import ToolSpec

__all__ = ["APPROVER_RANK", "confirm_message", "edit_refusal", "identifying_args", "resolve_approver"]

APPROVER_RANK = {"none": 0, "customer": 1, "operator": 2}
"""Who outranks whom: an operator may approve what a customer may, never the other way round."""


async def resolve_approver(
    spec: ToolSpec, args: Mapping[str, Any], *, registry: ToolRegistry, context: Any, call_id: str
) -> str:
    approver = spec.approver
    if isinstance(approver, str):
        return approver
    cond = approver["operator_if"]
    otherwise = approver.get("otherwise", "customer")
    amount = _number(args.get(cond["amount_arg"])) if "amount_arg" in cond else None
    if amount is None and "lookup" in cond:
        lookup = cond["lookup"]
        lookup_args = {param: args.get(arg) for param, arg in (lookup.get("args") or {}).items()}
        outcome = await registry.call(lookup["operation"], lookup_args, call_id=f"{call_id}-lookup", context=context)
        if not outcome.ok or not isinstance(outcome.data, Mapping):
            return "operator"
        amount = _number(outcome.data.get(lookup["field"]))
    if amount is None:
        return "operator"
    return "operator" if amount > float(cond["amount_over"]) else otherwise


_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_ID_LAST_WORDS = frozenset({"id", "ids", "uuid", "guid", "number", "no", "num", "ref", "reference", "key", "iban"})
_ID_FIRST_WORDS = frozenset({"account", "customer", "user", "owner", "tenant", "order", "org", "organization"})


def identifying_args(spec: ToolSpec) -> frozenset[str]:
    """The arguments that pick which resource a call acts on, which a customer may not change.

    Path parameters (`/orders/{order_id}`), and arguments named like an id (`order_id`,
    `customerId`, `account_number`, `iban`) or after an owner (`account`, `customer_email`),
    less those the tool's `customer_may_edit` names.
    """
    found = {name for name, where in spec.arg_locations.items() if where == "path"}
    for name in spec.args_schema.get("properties", {}):
        words = [w.lower() for w in _WORDS.findall(name)]
        if words and (words[-1] in _ID_LAST_WORDS or words[0] in _ID_FIRST_WORDS):
            found.add(name)
    return frozenset(found - spec.customer_editable)


async def edit_refusal(
    spec: ToolSpec, original: Mapping[str, Any], edited: Mapping[str, Any], *, decided_as: str,
    registry: ToolRegistry, context: Any, call_id: str,
) -> str | None:
    """Why `edited` may not run on the word of a `decided_as` approver, or None when it may.

    The caller has validated `edited` against the tool's schema first.
    """
    if decided_as != "operator":
        changed = sorted(a for a in identifying_args(spec) if original.get(a) != edited.get(a))
        if changed:
            return (f"a customer may not change {', '.join(changed)} of {spec.name} (which order or account the "
                    "call acts on); approve it as proposed, reject it and ask again, or ask an operator")
    needed = await resolve_approver(spec, edited, registry=registry, context=context, call_id=call_id)
    if APPROVER_RANK.get(needed, APPROVER_RANK["operator"]) > APPROVER_RANK.get(decided_as, 0):
        who = {"operator": "an operator", "customer": "the customer"}.get(needed, needed)
        return (f"{spec.name} with the edited arguments must be approved by {who}, not by a {decided_as}; "
                f"approve it as proposed, reject it, or ask {who} to approve the change")
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class _Blank(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "?"


def confirm_message(spec: ToolSpec, args: Mapping[str, Any]) -> str:
    """The plain-words question for the approver, e.g. "Cancel order 1042? This cannot be undone."."""
    if spec.confirm:
        return string.Formatter().vformat(spec.confirm, (), _Blank(dict(args.items())))
    shown = ", ".join(f"{k}={v}" for k, v in args.items())
    return f"Allow {spec.name.replace('_', ' ')} ({shown})?"
