"""Risk, approver and agent for an imported operation: pure functions, no I/O.

`classify(op)` starts from the HTTP method, raises the level for words in the
operation's id, path, summary and (for unsafe methods) description, for secrets
among its parameters, and for the spec's own `x-risk` / `x-approver` hints. Every
step that changes the outcome leaves a reason, so a reviewer sees why.

Two rules hold whatever the inputs:

- automatic steps only ever *raise* risk and approver. Lowering is a human
  decision, made in review (PATCH) and audited. Hints that try to lower are ignored
  with a reason, and so is an LLM that tries to (`merge_llm`).
- an unsafe method (POST, PUT, PATCH, DELETE) never gets approver `none` by default.

`assign_agent(op, mapping)` picks the specialist agent: an explicit mapping
(`tag:NAME` or `path:/prefix`), else the spec's `x-agent`, else the first tag or
the first path segment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AGENT_RE",
    "APPROVERS",
    "RISKS",
    "SAFE_METHODS",
    "Classification",
    "LLMVerdict",
    "assign_agent",
    "classify",
    "max_approver",
    "max_risk",
    "merge_llm",
]

RISKS = ("low", "medium", "high", "critical")
APPROVERS = ("none", "customer", "operator")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
AGENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

METHOD_BASELINE = {
    "GET": "low",
    "HEAD": "low",
    "OPTIONS": "low",
    "TRACE": "low",
    "POST": "medium",
    "PUT": "medium",
    "PATCH": "medium",
    "DELETE": "high",
}

# Stems and the level they imply. A token matches a stem when it is the stem
# plus one of SUFFIXES, so "deletes", "cancelled", "payments" match but "payload" does not.
ACTION_WORDS: dict[str, tuple[str, ...]] = {
    "critical": (
        "pay",
        "payout",
        "charge",
        "transfer",
        "withdraw",
        "wire",
        "purge",
        "wipe",
        "erase",
        "impersonate",
        "sudo",
    ),
    "high": (
        "delete",
        "remove",
        "removal",
        "destroy",
        "cancel",
        "refund",
        "terminate",
        "revoke",
        "void",
        "suspend",
        "deactivate",
        "disable",
        "close",
        "ban",
        "block",
        "reset",
        "password",
        "credential",
        "unsubscribe",
        "chargeback",
        "invoice",
        "billing",
        "permission",
        "role",
        "grant",
        "admin",
    ),
    # Unsafe methods start at medium, so these only tell a write from a search done with POST.
    "medium": (
        "update",
        "modify",
        "edit",
        "change",
        "create",
        "add",
        "send",
        "email",
        "notify",
        "subscribe",
        "upload",
        "publish",
        "approve",
        "assign",
        "place",
        "replace",
        "write",
        "checkout",
        "book",
        "reserve",
        "exchange",
        "ship",
    ),
}
# Words that, in the name of a GET, say the call does something.
ACTION_VERBS = frozenset(
    {
        "pay",
        "charge",
        "transfer",
        "withdraw",
        "purge",
        "wipe",
        "erase",
        "delete",
        "remove",
        "destroy",
        "cancel",
        "terminate",
        "revoke",
        "void",
        "suspend",
        "deactivate",
        "disable",
        "close",
        "ban",
        "block",
        "reset",
        "unsubscribe",
        "grant",
        "refund",
    }
)
READ_WORDS = (
    "search",
    "query",
    "find",
    "list",
    "lookup",
    "get",
    "filter",
    "validate",
    "check",
    "calculate",
    "estimate",
    "preview",
    "quote",
    "count",
    "describe",
    "fetch",
    "read",
)
SUFFIXES = (
    "",
    "s",
    "es",
    "d",
    "ed",
    "ing",
    "ion",
    "ions",
    "led",
    "ling",
    "lation",
    "lations",
    "ment",
    "ments",
    "al",
    "als",
    "ation",
    "ations",
    "ure",
    "ures",
)
# Short stems take fewer endings: "ban" must not match "band", nor "pay" "payload".
SHORT_SUFFIXES = ("", "s", "ed", "ing", "ned", "ning", "ment", "ments")
# On a read, only words about secrets matter: "Find purchase order" is still a read.
SENSITIVE_READ_WORDS = ("password", "credential", "secret", "token", "ssn", "apikey")
IRREVERSIBLE = re.compile(
    r"cannot be undone|can't be undone|irreversibl|permanent(ly)?\b|not reversible", re.IGNORECASE
)
SECRET_PARAM = re.compile(
    r"(^|[_\-.])(pass(word|wd|phrase)?|pwd|secret|token|api[_\-.]?key|apikey|credentials?|ssn|cvv|cvc|pin|"
    r"card[_\-.]?(number|no)?|iban|account[_\-.]?number)($|[_\-.])",
    re.IGNORECASE,
)


class OperationLike(Protocol):
    operation_id: str
    method: str
    path: str
    summary: str
    description: str
    tags: list[str]
    parameters: list[dict[str, Any]]
    extensions: dict[str, Any]


@dataclass(frozen=True)
class Classification:
    risk: str
    approver: str
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"risk": self.risk, "approver": self.approver, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class LLMVerdict:
    """What a model said about one operation; `merge_llm` decides what counts."""

    risk: str
    approver: str | None = None
    reason: str = ""


def max_risk(*levels: str) -> str:
    return max(levels, key=RISKS.index)


def max_approver(*levels: str) -> str:
    return max(levels, key=APPROVERS.index)


def _tokens(text: str) -> list[str]:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def _match(tokens: Iterable[str], stems: Iterable[str]) -> list[str]:
    found: list[str] = []
    stems = tuple(stems)
    for tok in tokens:
        for stem in stems:
            endings = SHORT_SUFFIXES if len(stem) <= 3 else SUFFIXES
            if tok.startswith(stem) and tok[len(stem) :] in endings and stem not in found:
                found.append(stem)
    return found


def _approver_for(risk: str, unsafe: bool) -> str:
    if risk in ("high", "critical"):
        return "operator"
    if risk == "medium" or unsafe:
        return "customer"
    return "none"


def _hint(op: OperationLike, key: str) -> Any:
    """`x-risk`, or `x-support-agent: {risk: ...}` (the namespaced form wins)."""
    ns = op.extensions.get("x-support-agent")
    if isinstance(ns, Mapping) and key in ns:
        return ns[key]
    return op.extensions.get(f"x-{key}")


def classify(op: OperationLike) -> Classification:
    """Risk, approver and the reasons for them, from the operation alone."""
    method = op.method.upper()
    unsafe = method not in SAFE_METHODS
    risk = METHOD_BASELINE.get(method, "medium")
    reasons = [f"{method} {'changes state' if unsafe else 'only reads'}: baseline {risk}"]

    name_tokens = (
        _tokens(op.operation_id) + _tokens(re.sub(r"\{[^}]*\}", " ", op.path)) + _tokens(op.summary)
    )
    desc_tokens = _tokens(op.description)
    if unsafe:
        for level in ("critical", "high", "medium"):
            words = _match(name_tokens, ACTION_WORDS[level])
            if words and RISKS.index(level) > RISKS.index(risk):
                risk = level
                reasons.append(f"name/summary says {', '.join(words)}: {level}")
            desc_words = [w for w in _match(desc_tokens, ACTION_WORDS[level]) if w not in words]
            if desc_words and level != "medium" and RISKS.index(level) > RISKS.index(risk):
                risk = level
                reasons.append(f"description mentions {', '.join(desc_words)}: {level}")
        if (
            method == "POST"
            and risk == "medium"
            and _match(name_tokens, READ_WORDS)
            and not _match(
                name_tokens,
                ACTION_WORDS["high"] + ACTION_WORDS["critical"] + ACTION_WORDS["medium"],
            )
        ):
            reasons.append(
                "POST that reads like a search or lookup; kept at medium because POST may still change state"
            )
        if IRREVERSIBLE.search(op.description) or IRREVERSIBLE.search(op.summary):
            if RISKS.index(risk) < RISKS.index("high"):
                risk = "high"
            reasons.append("described as irreversible: at least high")
    else:
        # A read whose *name* is a verb of change (GET /orders/1/cancel) may well be one;
        # "list_refunds" names a read of refunds, so names with a read word are left alone.
        id_tokens = _tokens(op.operation_id) + _tokens(re.sub(r"\{[^}]*\}", " ", op.path))
        for level in ("critical", "high"):
            words = [w for w in _match(id_tokens, ACTION_WORDS[level]) if w in ACTION_VERBS]
            if (
                words
                and not _match(id_tokens, READ_WORDS)
                and RISKS.index(level) > RISKS.index(risk)
            ):
                risk = "high" if level == "critical" else "medium"
                reasons.append(
                    f"{method} named like an action ({', '.join(words)}): may change state despite the method; {risk}"
                )
        words = _match(name_tokens, SENSITIVE_READ_WORDS)
        if words and RISKS.index(risk) < RISKS.index("medium"):
            risk = "medium"
            reasons.append(f"reads sensitive data ({', '.join(words)}): medium")

    secrets = [p for p in op.parameters if SECRET_PARAM.search(str(p.get("name", "")))]
    locations: Mapping[str, str] = getattr(op, "arg_locations", None) or {}
    secrets += [
        {"name": a, "in": "body"}
        for a, where in locations.items()
        if where == "body" and SECRET_PARAM.search(a)
    ]
    if secrets:
        names = ", ".join(str(p["name"]) for p in secrets)
        risk = max_risk(risk, "high")
        reasons.append(
            f"takes a secret as an argument ({names}): the model would see and send it; high"
        )
        in_query = [str(p["name"]) for p in secrets if p.get("in") == "query"]
        if in_query:
            reasons.append(
                f"sends {', '.join(in_query)} in the query string, where URLs end up in logs"
            )

    approver = _approver_for(risk, unsafe)
    reasons.append(
        f"approver {approver} for {'an unsafe' if unsafe else 'a safe'} method at risk {risk}"
    )

    hinted_risk = _hint(op, "risk")
    if hinted_risk is not None:
        value = str(hinted_risk).lower()
        if value not in RISKS:
            reasons.append(f"x-risk {hinted_risk!r} ignored: not one of {', '.join(RISKS)}")
        elif RISKS.index(value) > RISKS.index(risk):
            risk = value
            approver = max_approver(approver, _approver_for(risk, unsafe))
            reasons.append(f"x-risk hint in the spec raises risk to {value}")
        elif value != risk:
            reasons.append(
                f"x-risk {value} ignored: hints may only raise risk; an admin can lower it in review"
            )
    hinted_approver = _hint(op, "approver")
    if hinted_approver is not None:
        value = str(hinted_approver).lower()
        if value not in APPROVERS:
            reasons.append(
                f"x-approver {hinted_approver!r} ignored: not one of {', '.join(APPROVERS)}"
            )
        elif APPROVERS.index(value) > APPROVERS.index(approver):
            approver = value
            reasons.append(f"x-approver hint in the spec raises the approver to {value}")
        elif value != approver:
            reasons.append(
                f"x-approver {value} ignored: hints may only raise the approver; an admin can lower it in review"
            )
    return Classification(risk=risk, approver=approver, reasons=tuple(reasons))


def merge_llm(
    base: Classification, verdict: LLMVerdict | None, *, unsafe: bool = True
) -> Classification:
    """Fold an LLM's opinion in: it may raise risk and approver, never lower them."""
    if verdict is None:
        return base
    reasons = list(base.reasons)
    note = f" ({verdict.reason.strip()[:200]})" if verdict.reason.strip() else ""
    risk, approver = base.risk, base.approver
    llm_risk = str(verdict.risk).lower()
    if llm_risk not in RISKS:
        reasons.append(f"LLM answer {verdict.risk!r} ignored: not one of {', '.join(RISKS)}")
        return Classification(risk, approver, tuple(reasons))
    if RISKS.index(llm_risk) > RISKS.index(risk):
        risk = llm_risk
        approver = max_approver(approver, _approver_for(risk, unsafe))
        reasons.append(f"LLM review raises risk to {risk}{note}")
    elif RISKS.index(llm_risk) < RISKS.index(risk):
        reasons.append(
            f"LLM review suggested {llm_risk}; kept {risk} because the LLM may only raise risk{note}"
        )
    else:
        reasons.append(f"LLM review agrees: {risk}{note}")
    if verdict.approver:
        llm_approver = str(verdict.approver).lower()
        if llm_approver in APPROVERS and APPROVERS.index(llm_approver) > APPROVERS.index(approver):
            approver = llm_approver
            reasons.append(f"LLM review raises the approver to {approver}")
    return Classification(risk, approver, tuple(reasons))


def _slug(text: str) -> str:
    return "-".join(_tokens(text))[:64].strip("-")


def assign_agent(op: OperationLike, mapping: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(agent, reason). Order: mapping by tag, mapping by longest path prefix, `x-agent`, tag, path."""
    mapping = mapping or {}
    for tag in op.tags:
        for key in (f"tag:{tag}", f"tag:{_slug(tag)}"):
            if key in mapping:
                return mapping[key], f"tag {tag!r} is mapped to agent {mapping[key]!r}"
    prefixes = sorted(
        (
            k[5:]
            for k in mapping
            if k.startswith("path:")
            and (op.path == k[5:] or op.path.startswith(k[5:].rstrip("/") + "/"))
        ),
        key=len,
        reverse=True,
    )
    if prefixes:
        agent = mapping[f"path:{prefixes[0]}"]
        return agent, f"path prefix {prefixes[0]!r} is mapped to agent {agent!r}"
    hinted = _hint(op, "agent")
    if isinstance(hinted, str) and AGENT_RE.match(hinted):
        return hinted, f"x-agent hint in the spec: {hinted!r}"
    for tag in op.tags:
        if slug := _slug(tag):
            return slug, f"first tag {tag!r}"
    for segment in op.path.split("/"):
        if segment and not segment.startswith("{") and (slug := _slug(segment)):
            return slug, f"first path segment {segment!r}"
    return "general", "no tag or path segment to go by"
