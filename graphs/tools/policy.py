"""Who must approve a tool call, and the question they are asked.

`resolve_approver` turns a spec's approver (a fixed `none`/`customer`/`operator`
or an `operator_if` rule from agents.yaml) into `none`, `customer` or `operator`
for one concrete call. A rule may read a read-only (GET) operation, e.g. the
order's total; when that lookup fails the stricter `operator` is chosen, since an
amount that cannot be checked must not lower the bar.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from graphs.tools.registry import ToolRegistry
from graphs.tools.spec import ToolSpec

__all__ = ["confirm_message", "resolve_approver"]


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
        return string.Formatter().vformat(spec.confirm, (), _Blank({k: v for k, v in args.items()}))
    shown = ", ".join(f"{k}={v}" for k, v in args.items())
    return f"Allow {spec.name.replace('_', ' ')} ({shown})?"
