"""Score one played turn against its expectation.

`check_turn(result)` returns one `Check` per expectation the turn states (a key the
case leaves out is not checked): `intent`, `tools`, `approvals`, `handoff`,
`answer`. Each has pass/fail, a diff (expected vs got) and counts the report adds
up into metrics: intent accuracy, tool-call precision and recall, argument
exactness, approval correctness (action, arguments and who approves), handoff
correctness and answer facts (must / must not contain).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.evals.runner import Observed, TurnResult

__all__ = ["CHECK_NAMES", "Check", "check_turn"]

CHECK_NAMES = ("intent", "tools", "approvals", "handoff", "answer")


@dataclass
class Check:
    name: str
    passed: bool
    diff: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _fmt(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _same_args(expected: dict[str, Any] | None, actual: dict[str, Any]) -> bool:
    if expected is None:
        return True
    return _norm(expected) == _norm(actual)


def _norm(args: dict[str, Any]) -> dict[str, Any]:
    """Numbers as floats (10 == 10.0), everything else as text ("1042" == 1042 is not a number match)."""
    return {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v) for k, v in args.items()}


def check_turn(result: TurnResult) -> list[Check]:
    turn, seen = result.turn, result.observed
    checks: list[Check] = []
    if turn.intents is not None or turn.agents is not None:
        checks.append(_intent(turn.intents, turn.agents, seen))
    if turn.tools is not None:
        checks.append(_tools(turn.tools, seen))
    if turn.approvals is not None:
        checks.append(_approvals(turn.approvals, seen))
    if turn.handoff is not None:
        ok = seen.handoff == turn.handoff
        checks.append(Check("handoff", ok, [] if ok else [f"- handoff {turn.handoff}", f"+ handoff {seen.handoff}"],
                            {"correct": int(ok), "total": 1}))
    if turn.answer_contains or turn.answer_excludes:
        checks.append(_answer(turn.answer_contains, turn.answer_excludes, seen))
    if seen.errors:
        checks.append(Check("run", False, [f"+ run_error {e}" for e in seen.errors]))
    return checks


def _intent(intents: list[str] | None, agents: list[str] | None, seen: Observed) -> Check:
    diff = []
    if intents is not None and intents != seen.intents:
        diff += [f"- intents {_fmt(intents)}", f"+ intents {_fmt(seen.intents)}"]
    if agents is not None and agents != seen.agents:
        diff += [f"- agents {_fmt(agents)}", f"+ agents {_fmt(seen.agents)}"]
    return Check("intent", not diff, diff, {"correct": int(not diff), "total": 1})


def _tools(expected: list[Any], seen: Observed) -> Check:
    unmatched = list(seen.calls)
    named = exact = 0
    diff = []
    for want in expected:
        same = next((c for c in unmatched if c["tool"] == want.tool and _same_args(want.args, c["args"])), None)
        if same is None:
            same = next((c for c in unmatched if c["tool"] == want.tool), None)
            if same is not None:
                diff += [f"- {want.tool} {_fmt(want.args)}", f"+ {same['tool']} {_fmt(same['args'])}"]
            else:
                diff.append(f"- {want.tool} {_fmt(want.args)}  (not called)")
        else:
            exact += 1
        if same is not None:
            named += 1
            unmatched.remove(same)
    diff += [f"+ {c['tool']} {_fmt(c['args'])}  (not expected)" for c in unmatched]
    counts = {"expected": len(expected), "actual": len(seen.calls), "matched": named, "exact": exact}
    return Check("tools", not diff, diff, counts)


def _approvals(expected: list[Any], seen: Observed) -> Check:
    diff = []
    correct = 0
    for index in range(max(len(expected), len(seen.approvals))):
        want = expected[index] if index < len(expected) else None
        got = seen.approvals[index] if index < len(seen.approvals) else None
        if want is not None and got is not None and got["action"] == want.action \
                and _same_args(want.args, got["args"]) and want.approver in (None, got["approver"]):
            correct += 1
            continue
        if want is not None:
            diff.append(f"- approval {want.action} {_fmt(want.args)} by {want.approver or 'anyone'}")
        if got is not None:
            diff.append(f"+ approval {got['action']} {_fmt(got['args'])} by {got['approver']}")
    total = max(len(expected), len(seen.approvals))
    if total == 0:  # none expected, none asked: right
        correct = total = 1
    return Check("approvals", not diff, diff, {"correct": correct, "total": total})


def _answer(must: list[str], must_not: list[str], seen: Observed) -> Check:
    text = seen.answer.lower()
    missing = [f for f in must if f.lower() not in text]
    present = [f for f in must_not if f.lower() in text]
    diff = [f"- answer lacks {_fmt(f)}" for f in missing] + [f"+ answer has {_fmt(f)}" for f in present]
    if diff:
        diff.append(f"  answer: {seen.answer[:400]!r}")
    total = len(must) + len(must_not)
    return Check("answer", not diff, diff, {"correct": total - len(missing) - len(present), "total": total})
