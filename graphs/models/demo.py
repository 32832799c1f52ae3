"""DemoChatModel: a deterministic chat model that plays every role of the graph offline.

It is a real `BaseChatModel`: `bind_tools`, `with_structured_output` (through tool
calling), token-by-token `_stream`/`_astream`, real `tool_calls`, and
`usage_metadata` on every message (a token is a whitespace-delimited piece). It
decides by reading the conversation, like a model would:

- bound with the router's `RouteDecision` tool: classifies the last human message
  by keywords (escalation, faq, refund, order_change, order_status) and otherwise by
  word overlap with the example utterances listed in the router prompt;
- bound with `GuardrailVerdict`: answers with `graphs.screening.screen`;
- bound as a specialist: if the last tool calls have results, it words an answer
  from them (order status, cancelled / "remains active" on rejection, not found,
  the help-center article...); otherwise it calls the tool the request needs when
  that tool is bound (one call per order number), calls `transfer_to_router` when
  it is not, or asks for a missing order number or address.

Any other bound tool (an imported OpenAPI operation, a tool of an agent added by
configuration) is called when the customer names it, see `_named_tool_call`:
every word of its name (`redeemLoyaltyPoints`, `redeem_loyalty_points` ->
redeem loyalty points; a leading get/list/fetch/read/show/find/retrieve is
optional), or every content word of its description's first sentence, appears in
the message. The most specific match wins. Its arguments come only from its
schema: `key value`, `key=value` or `key: value` (the key with `_` or spaces, and
its stem for an `_id` argument: `customer c42`), `N key` ("200 points") and, for required numbers,
the message's bare numbers in order; optional arguments only from `key=value` /
`key: value`. When a required argument is missing it asks for it by name.

Benchmarks: a message containing "benchmark reply N tokens" is answered with exactly
N tokens of text (and routed to `faq`); "benchmark reply" without a number uses
`reply_tokens` (DEMO_REPLY_TOKENS, default 100). `token_delay_ms` paces streaming.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from graphs.prompts import GUARDRAIL_VERDICT_TOOL, ROUTE_DECISION_TOOL, TRANSFER_TOOL_NAME
from graphs.screening import screen

__all__ = ["DemoChatModel", "classify_intent", "count_tokens"]

_PIECE = re.compile(r"\S+\s*")
_BENCHMARK = re.compile(r"benchmark\s+reply(?:\s+(\d+)\s*tokens?)?", re.IGNORECASE)
_AMOUNT = re.compile(
    r"(?:(?:refund|amount)\s+of\s+|€\s*|\$\s*|eur\s+)(\d+(?:[.,]\d{1,2})?)(?!\d)"
    r"|(\d+(?:[.,]\d{1,2})?)\s*(?:eur\b|euros?\b|€|dollars?\b|usd\b)",
    re.IGNORECASE,
)
_ORDER_ID = re.compile(r"(?<![\d.,])#?(\d{3,10})(?![\d.,]\d)")
_ADDRESS = re.compile(r"\baddress\b.*?\bto\s+(.+?)[\s.!?]*$", re.IGNORECASE | re.DOTALL)
_INTENT_LINE = re.compile(r"^- (\w+) \(agent (\w+)\):.*?Examples:[ \t]*(.*)$", re.MULTILINE)

_ESCALATION = re.compile(
    r"\b(human|real person|live (agent|person|chat)|representative|someone real|"
    r"(talk|speak|chat)\s+(to|with)\s+(a |an |the )?(person|somebody|someone|agent|support agent|staff|manager))\b",
    re.IGNORECASE,
)
_FAQ_QUESTION = re.compile(
    r"\b(polic(y|ies)|faq|how long|how do (i|you)|do you (accept|ship|offer)|warranty|payment methods?|"
    r"shipping (cost|costs|times?|fees?)|can i return|returns?\b)",
    re.IGNORECASE,
)
_REFUND = re.compile(r"\b(refund\w*|money back|reimburse\w*|charge ?back)\b", re.IGNORECASE)
_CANCEL = re.compile(r"\bcancel\w*\b", re.IGNORECASE)
_ADDRESS_CHANGE = re.compile(r"\b(address|ship it to|deliver it to|send it to)\b", re.IGNORECASE)
_STATUS = re.compile(
    r"\b(status|where('?s| is)|track\w*|when will|arriv\w*|shipped|deliver\w*|eta|has .* (been|shipped)|update on)\b",
    re.IGNORECASE,
)


_GREETING = re.compile(r"^\W*(hi|hello|hey|hiya|good (morning|afternoon|evening)|greetings)\b[\s!,.]*(there)?[\s!,.]*$", re.IGNORECASE)
_GOODBYE = re.compile(
    r"\b(thanks|thank you|thx|cheers|that'?s all|that is all|bye|goodbye|see you|have a (nice|good) day)\b", re.IGNORECASE
)
_SMALL_TALK_REPLIES = {
    "greeting": (
        "Hello! I can check the status of an order, cancel an order or change its shipping address, "
        "arrange a refund, and answer questions about our policies. What can I do for you?"
    ),
    "goodbye": "You're welcome! If anything else comes up, just write here. Have a nice day.",
    "off_topic": (
        "That's outside what I can help with here: I'm the shop's support assistant, for your orders, "
        "refunds, shipping and our policies."
    ),
}
_CORRECTION = re.compile(
    r"\b(i meant|i mean|sorry|actually|my mistake|wrong order|not (order )?#?\d{3,10}|instead)\b", re.IGNORECASE
)
_REFERENCE_OTHER = re.compile(r"\bthe other (one|order)\b", re.IGNORECASE)
_REFERENCE = re.compile(
    r"\b(that order|this order|the same order|that one|this one|the order|it)\b", re.IGNORECASE
)
_ARITHMETIC = re.compile(r"\d+\s*[-+*/x×]\s*\d+(?!\d)")
_CLAUSE_SPLIT = re.compile(r"\s*(?:[;]|[.?!]\s+|,?\s+\band\s+(?:then\s+|also\s+)?|,?\s+\bthen\b\s+|,?\s+\balso\b\s+|,?\s+\bplus\b\s+)\s*", re.IGNORECASE)
CURRENT_REQUEST = re.compile(r"The request to handle now: «(.+?)» \(intent (\w+)\)", re.DOTALL)
"""How the specialist prompt names the one request of a compound message a specialist handles."""


@functools.lru_cache(maxsize=4096)
def count_tokens(text: str) -> int:
    """The demo's token count: whitespace-delimited pieces (the matches of `_PIECE`)."""
    return len(text.split())


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)


def classify_intent(text: str) -> tuple[str, float]:
    """(intent, confidence) of a customer message by keywords; `unclear` when nothing fits."""
    has_order = bool(_order_ids(text))
    if _BENCHMARK.search(text):
        return "faq", 0.99
    if _ESCALATION.search(text):
        return "escalation", 0.95
    if _FAQ_QUESTION.search(text) and not has_order:
        return "faq", 0.9
    if _REFUND.search(text):
        return "refund", 0.93
    if _CANCEL.search(text) or (_ADDRESS_CHANGE.search(text) and re.search(r"\b(change|update|new|wrong|to)\b", text, re.IGNORECASE)):
        return "order_change", 0.92
    if _STATUS.search(text):
        return "order_status", 0.9
    if has_order:
        return "order_status", 0.7
    return "unclear", 0.2


def small_talk_kind(text: str) -> str | None:
    """`greeting`, `goodbye` or `off_topic` for a message that asks for nothing the shop handles; else None."""
    if classify_intent(text)[0] != "unclear":
        return None
    if _GREETING.match(text) or re.search(r"\bwhat can you (do|help)", text, re.IGNORECASE):
        return "greeting"
    if _GOODBYE.search(text):
        return "goodbye"
    if _ARITHMETIC.search(text) or re.search(r"^\W*(who|what)\s+(is|are|was|were)\b", text, re.IGNORECASE):
        return "off_topic"
    return None


def _mentions(messages: Sequence[BaseMessage]) -> list[str]:
    """Order numbers the conversation mentioned, oldest first (the customer's words and the tools' arguments)."""
    seen: list[str] = []
    for message in messages:
        found: list[str] = []
        if isinstance(message, HumanMessage):
            found = _order_ids(_text(message))
        elif isinstance(message, AIMessage):
            found = [str(c["args"]["order_id"]) for c in message.tool_calls if "order_id" in (c.get("args") or {})]
        for oid in found:
            if oid in seen:
                seen.remove(oid)
            seen.append(oid)
    return seen


def resolve_references(said: str, history: Sequence[BaseMessage]) -> str:
    """The message made self-contained: "it", "that order", "the other one" become "order N", and a
    correction ("Sorry, I meant order 1037") becomes the corrected earlier request."""
    ids = _order_ids(said)
    mentioned = _mentions(history)
    if ids and _CORRECTION.search(said) and classify_intent(said)[1] < 0.8:
        for message in reversed(history):
            if not isinstance(message, HumanMessage):
                continue
            earlier = resolve_references(_text(message), history[: history.index(message)])
            before = _order_ids(earlier)
            if before and classify_intent(earlier)[1] >= 0.8:
                return re.sub(rf"(?<!\d){re.escape(before[-1])}(?!\d)", ids[-1], earlier)
        return said
    if ids or not mentioned:
        return said
    other = _REFERENCE_OTHER.search(said)
    if other:
        rest = [m for m in mentioned if m != mentioned[-1]]
        return said[: other.start()] + f"order {rest[-1] if rest else mentioned[-1]}" + said[other.end():]
    ref = _REFERENCE.search(said)
    if ref and classify_intent(said)[0] != "unclear":
        return said[: ref.start()] + f"order {mentioned[-1]}" + said[ref.end():]
    return said


def split_requests(text: str, history: Sequence[BaseMessage] = ()) -> list[dict[str, str]]:
    """The requests of one message, in order: [{"intent", "text"}], each text self-contained.

    Clauses joined by "and", "then", "also" or sentence breaks are classified one by one;
    a clause with no intent of its own, or the same intent as the one before, joins it.
    """
    requests: list[dict[str, str]] = []
    dangling = ""
    context: list[BaseMessage] = list(history)
    for clause in _CLAUSE_SPLIT.split(text.strip()):
        if not clause:
            continue
        clause = resolve_references(clause, context)
        context.append(HumanMessage(clause))
        intent, confidence = classify_intent(clause)
        if intent == "unclear" or (requests and (confidence < 0.8 or requests[-1]["intent"] == intent)):
            if requests:
                requests[-1]["text"] += " and " + clause
            else:
                dangling = f"{dangling} {clause}".strip()
            continue
        requests.append({"intent": intent, "text": f"{dangling} {clause}".strip() if dangling else clause})
        dangling = ""
    if dangling:  # nothing the keywords know: one request, for the examples to classify
        requests.append({"intent": "unclear", "text": dangling})
    return requests


def _order_ids(text: str) -> list[str]:
    return list(_order_ids_of(text))


@functools.lru_cache(maxsize=4096)
def _order_ids_of(text: str) -> tuple[str, ...]:
    # cached: every call of the model reads the whole conversation again, as a provider would
    stripped = _AMOUNT.sub(" ", text)
    seen: list[str] = []
    for match in _ORDER_ID.finditer(stripped):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return tuple(seen)


def _amount(text: str) -> float | None:
    match = _AMOUNT.search(text)
    if not match:
        return None
    return float((match.group(1) or match.group(2)).replace(",", "."))


def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:24]}", "type": "tool_call"}


def _benchmark_text(n: int) -> str:
    words = ("Thanks", "for", "reaching", "out.", "Here", "is", "a", "steady", "stream", "of", "demo", "tokens",
             "for", "measuring", "throughput", "and", "latency", "end", "to", "end.")
    return " ".join(words[i % len(words)] for i in range(n))


class DemoChatModel(BaseChatModel):
    """Deterministic offline model; see the module docstring for what it answers."""

    model_name: str = "demo"
    token_delay_ms: int = Field(default=20, ge=0)
    """Pause between streamed tokens (DEMO_TOKEN_DELAY_MS); 0 streams as fast as possible."""
    reply_tokens: int = Field(default=100, ge=1)
    """Length of a "benchmark reply" that names no token count (DEMO_REPLY_TOKENS)."""

    @property
    def _llm_type(self) -> str:
        return "demo"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    # -- generation ---------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text, calls = self._decide(messages, kwargs.get("tools") or [])
        usage = self._usage(messages, text, calls)
        message = AIMessage(
            content=text,
            tool_calls=calls,
            usage_metadata=usage,
            response_metadata={"model_name": self.model_name, "finish_reason": "tool_calls" if calls else "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for i, chunk in enumerate(self._chunks(messages, kwargs.get("tools") or [])):
            if i and self.token_delay_ms and chunk.message.content:
                time.sleep(self.token_delay_ms / 1000)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for i, chunk in enumerate(self._chunks(messages, kwargs.get("tools") or [])):
            if i and chunk.message.content:
                # at 0 ms a token too: a provider's stream waits on its socket between chunks, so
                # what reads the stream gets each chunk as it comes, not the whole reply at the end
                await asyncio.sleep(self.token_delay_ms / 1000)
            yield chunk

    def _chunks(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> Iterator[ChatGenerationChunk]:
        """One chunk per token, built as it is streamed (the first goes out before the rest exist)."""
        text, calls = self._decide(messages, tools)
        # the prompt is counted once, on the first chunk, so the aggregate is exact
        prompt = sum(count_tokens(_text(m)) for m in messages)

        def usage(output_tokens: int) -> Any:
            nonlocal prompt
            counted, prompt = prompt, 0
            return _usage(counted, output_tokens)

        for piece in _PIECE.findall(text):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece, usage_metadata=usage(1)))
        for index, call in enumerate(calls):
            args = json.dumps(call["args"])
            yield ChatGenerationChunk(message=AIMessageChunk(
                content="",
                tool_call_chunks=[{"name": call["name"], "args": args, "id": call["id"], "index": index,
                                   "type": "tool_call_chunk"}],
                usage_metadata=usage(1 + count_tokens(args)),
            ))
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="",
            usage_metadata=usage(0),
            response_metadata={"model_name": self.model_name, "finish_reason": "tool_calls" if calls else "stop"},
            chunk_position="last",
        ))

    def _usage(self, messages: list[BaseMessage], text: str, calls: list[dict[str, Any]]) -> Any:
        out = count_tokens(text) + sum(1 + count_tokens(json.dumps(c["args"])) for c in calls)
        return _usage(sum(count_tokens(_text(m)) for m in messages), out)

    # -- the decision -----------------------------------------------------------------

    def _decide(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        names = [t["function"]["name"] for t in tools if "function" in t]
        human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        said = _text(human) if human is not None else ""
        if ROUTE_DECISION_TOOL in names:
            return "", [_call(ROUTE_DECISION_TOOL, self._route(said, messages, tools))]
        if GUARDRAIL_VERDICT_TOOL in names:
            verdict, reason = screen(said)
            return "", [_call(GUARDRAIL_VERDICT_TOOL, {"verdict": verdict, "reason": reason or "on topic"})]
        return self._specialist(messages, said, names, tools)

    def _route(self, said: str, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> dict[str, Any]:
        tool = next(t for t in tools if t["function"]["name"] == ROUTE_DECISION_TOOL)
        allowed = tool["function"]["parameters"]["properties"]["intent"].get("enum") or []
        history = _before_last_human(messages)
        if _ESCALATION.search(said) and "escalation" in allowed:
            return {"intent": "escalation", "confidence": 0.95}
        requests: list[dict[str, Any]] = []
        for request in split_requests(said, history):
            intent, confidence = classify_intent(request["text"])
            if confidence < 0.8 or intent not in allowed:
                # a weak keyword guess: the examples in the prompt know better
                by_example, example_confidence = self._route_by_examples(request["text"], messages, allowed)
                if by_example != "unclear" or intent not in allowed:
                    intent, confidence = by_example, example_confidence
            if intent != "unclear":
                requests.append({"intent": intent, "text": request["text"], "confidence": confidence})
        kind = small_talk_kind(said) if not requests else None
        if kind and "small_talk" in allowed:
            return {"intent": "small_talk", "confidence": 0.95, "reply": _SMALL_TALK_REPLIES[kind]}
        if not requests:
            return {
                "intent": "unclear",
                "confidence": 0.2,
                "clarifying_question": (
                    "I'm not sure I understood. I can check an order's status, cancel or change an order, "
                    "arrange a refund, or answer questions about our policies. Which of these do you need?"
                ),
            }
        decision: dict[str, Any] = {
            "intent": requests[0]["intent"],
            "confidence": min(r.pop("confidence") for r in requests),
        }
        if len(requests) > 1 or requests[0]["text"] != said:
            decision["requests"] = requests
        return decision

    @staticmethod
    def _route_by_examples(said: str, messages: list[BaseMessage], allowed: list[str]) -> tuple[str, float]:
        system = "\n".join(_text(m) for m in messages if isinstance(m, SystemMessage))
        words = set(re.findall(r"[a-z]+", said.lower()))
        best, best_score = "unclear", 0.0
        for intent, _agent, examples in _INTENT_LINE.findall(system):
            if intent not in allowed:
                continue
            for example in re.findall(r'"([^"]+)"', examples):
                other = set(re.findall(r"[a-z]+", example.lower()))
                score = len(words & other) / max(1, len(words | other))
                if score > best_score:
                    best, best_score = intent, score
        return (best, 0.8) if best_score >= 0.5 else ("unclear", 0.2)

    @staticmethod
    def _generic_call(said: str, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
        """For an agent added by configuration: call its only tool when the message fills every required argument."""
        if len(tools) != 1:
            return None
        function = tools[0]["function"]
        params = function.get("parameters") or {}
        args: dict[str, Any] = {}
        for name in params.get("required", []):
            if name.endswith("id"):
                match = re.search(r"\b(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]+\b", said)
                if not match:
                    return None
                args[name] = match.group(0)
            elif name in ("query", "q", "text", "question"):
                args[name] = said
            else:
                return None
        return _call(function["name"], args)

    def _specialist(
        self, messages: list[BaseMessage], said: str, names: list[str], tools: list[dict[str, Any]]
    ) -> tuple[str, list[dict[str, Any]]]:
        system = "\n".join(_text(m) for m in messages if isinstance(m, SystemMessage))
        current = CURRENT_REQUEST.search(system)
        intent: str | None = None
        if current:  # one request of the message, already made self-contained by the router
            said, intent = current.group(1), current.group(2)
        else:
            history = _before_last_human(messages)
            if len(split_requests(said, history)) > 1 and TRANSFER_TOOL_NAME in names and not _latest_results(
                _request_segment(messages)
            ):
                return "", [_call(TRANSFER_TOOL_NAME, {"reason": "the message holds several requests"})]
            said = resolve_references(said, history)
        bench = _BENCHMARK.search(said)
        segment = _request_segment(messages)
        results = _latest_results(segment)
        if bench and not results:
            return _benchmark_text(int(bench.group(1)) if bench.group(1) else self.reply_tokens), []

        named = _named_tool_call(said, tools) if not results else None
        if named is not None:
            return named

        own, confidence = classify_intent(said)
        if intent is None or intent not in _NEEDS or confidence >= 0.8:
            intent = own  # the request's own words decide; the router's label only when they are unsure
        ids = _order_ids(said)
        need: str | None = _NEEDS.get(intent)
        if intent == "order_change":
            need = "cancel_order" if _CANCEL.search(said) else "update_shipping_address"

        if results:
            if need in _ACTIONS and all(c["name"] == "get_order_status" for c, _ in results):
                return self._after_lookup(need, said, results)
            notes = _lookup_failures(segment) if need in _ACTIONS else []
            return " ".join([*notes, *(_word_result(call, result) for call, result in results)]), []

        if need is None and intent == "unclear":
            generic = self._generic_call(said, [t for t in tools if t["function"]["name"] != TRANSFER_TOOL_NAME])
            if generic is not None:
                return "", [generic]
        if need is None or need not in names:
            if TRANSFER_TOOL_NAME in names:
                reason = f"the customer's request ({intent.replace('_', ' ')}) is not something I handle"
                return "", [_call(TRANSFER_TOOL_NAME, {"reason": reason})]
            return "I'm sorry, I can't help with that here.", []

        if need == "search_help_center":
            return "", [_call(need, {"query": " ".join(said.split())[:500]})]
        if not ids:
            return {
                "get_order_status": "Which order number should I look up? You'll find it in your confirmation email.",
                "cancel_order": "Which order should I cancel? Please give me its order number.",
                "update_shipping_address": "Which order's shipping address should I change? Please give me its order number.",
                "create_refund": "Which order should I refund? Please give me its order number.",
            }[need], []
        if need == "update_shipping_address" and not _ADDRESS.search(said):
            return f"What is the new shipping address for order {ids[0]}?", []
        if need in _ACTIONS and "get_order_status" in names:
            # facts before approvals: an order is looked up (exists, is the customer's) before any change is proposed
            return "", [_call("get_order_status", {"order_id": oid}) for oid in ids]
        return "", self._action_calls(need, said, ids)

    @staticmethod
    def _action_calls(need: str, said: str, ids: list[str]) -> list[dict[str, Any]]:
        if need == "update_shipping_address":
            match = _ADDRESS.search(said)
            return [_call(need, {"order_id": ids[0], "address": match.group(1).strip() if match else ""})]
        if need == "create_refund":
            amount = _amount(said)
            extra = {"amount": amount} if amount is not None else {}
            return [_call(need, {"order_id": oid, **extra}) for oid in ids]
        return [_call(need, {"order_id": oid}) for oid in ids]

    def _after_lookup(
        self, need: str, said: str, results: list[tuple[dict[str, Any], ToolMessage]]
    ) -> tuple[str, list[dict[str, Any]]]:
        """The lookups are in: propose the action for the orders that exist, say which do not."""
        found = [str(c["args"].get("order_id")) for c, r in results if r.status != "error"]
        missing = [_word_result(c, r) for c, r in results if r.status == "error"]
        if not found:
            return " ".join(missing), []
        return "", self._action_calls(need, said, found)


_NEEDS = {"order_status": "get_order_status", "refund": "create_refund", "faq": "search_help_center",
          "order_change": "cancel_order"}
_ACTIONS = frozenset({"cancel_order", "update_shipping_address", "create_refund"})


def _before_last_human(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return list(messages[:index])
    return list(messages)


def _request_segment(messages: list[BaseMessage]) -> list[BaseMessage]:
    """The messages of the request being handled: after the last human message and after the last
    finished answer (an AI message without tool calls), so one request's results never answer the next."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, HumanMessage) or (isinstance(message, AIMessage) and not message.tool_calls):
            return messages[index + 1:]
    return messages


def _lookup_failures(segment: list[BaseMessage]) -> list[str]:
    """What the lookups made before an action found missing (said again in the final answer)."""
    calls = {c["id"]: c for m in segment if isinstance(m, AIMessage) for c in m.tool_calls}
    return [_word_result(calls[m.tool_call_id], m) for m in segment
            if isinstance(m, ToolMessage) and m.name == "get_order_status" and m.status == "error"
            and m.tool_call_id in calls]


def _usage(input_tokens: int, output_tokens: int) -> Any:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens}


def _latest_results(messages: list[BaseMessage]) -> list[tuple[dict[str, Any], ToolMessage]]:
    """(tool call, its result) for the latest AI tool calls after the last human message, if answered."""
    results: dict[str, ToolMessage] = {}
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return []
        if isinstance(message, ToolMessage):
            results[message.tool_call_id] = message
        elif isinstance(message, AIMessage) and message.tool_calls:
            calls = [c for c in message.tool_calls if c["name"] != TRANSFER_TOOL_NAME]
            return [(c, results[c["id"]]) for c in calls if c["id"] in results]  # type: ignore[misc]
    return []


def _word_result(call: Mapping[str, Any], result: ToolMessage) -> str:
    artifact = result.artifact if isinstance(result.artifact, dict) else {}
    args = artifact.get("args") or call["args"]
    order = args.get("order_id", "")
    outcome = artifact.get("outcome")
    content = _text(result)
    reason = f" ({artifact['reason']})" if artifact.get("reason") else ""
    tool = call["name"]
    if outcome in ("rejected", "expired", "superseded"):
        lead = {
            "rejected": "Okay, that was not approved, so nothing was changed",
            "expired": "The approval request expired, so nothing was changed",
            "superseded": "I've dropped that request, so nothing was changed",
        }[outcome] + reason + "."
        tail = {
            "cancel_order": f" Order {order} remains active.",
            "update_shipping_address": f" The shipping address of order {order} stays as it was.",
            "create_refund": f" No refund was issued for order {order}.",
        }.get(tool, f" {_humanize(tool)} was not carried out.")
        return lead + tail
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if tool == "search_help_center" and (result.status == "error" or artifact.get("ok") is False):
        return ("I couldn't search our help center just now, so I can't answer that reliably. "
                'If you like, I can bring in a person from our team: just say "talk to a human".')
    if result.status == "error" or artifact.get("ok") is False:
        if "not found" in content.lower():
            return f"I couldn't find order {order}: {content}. Please check the order number." if order else f"Not found: {content}."
        verb = {"cancel_order": "cancel order", "update_shipping_address": "change the address of order",
                "create_refund": "refund order", "get_order_status": "look up order"}.get(tool)
        return f"I couldn't {verb} {order}: {content}." if verb else f"{_humanize(tool)} failed: {content}."
    if tool == "get_order_status" and isinstance(data, dict):
        text = f"Order {data.get('order_id', order)} is {str(data.get('status', 'unknown')).replace('_', ' ')}."
        if data.get("tracking_number") and data.get("status") in ("shipped", "out_for_delivery"):
            text += f" Its tracking number is {data['tracking_number']}."
        return text
    if tool == "cancel_order" and isinstance(data, dict):
        return f"Order {data.get('order_id', order)} has been cancelled."
    if tool == "update_shipping_address" and isinstance(data, dict):
        return f"Done: order {data.get('order_id', order)} will now ship to {data.get('shipping_address')}."
    if tool == "create_refund" and isinstance(data, dict):
        return (
            f"I've refunded {float(data.get('amount', 0)):.2f} {data.get('currency', '')} for order "
            f"{data.get('order_id', order)} (refund {data.get('refund_id')}). It reaches your original payment "
            "method within 5 business days."
        )
    if tool == "search_help_center" and isinstance(data, dict):
        return _word_knowledge(data)
    return f"{_humanize(tool)} succeeded: {content[:300]}"


def _word_knowledge(data: dict[str, Any]) -> str:
    """Only what the best passage says, quoted, then its source; or "I don't know" and a human."""
    hits = data.get("results") or []
    if not data.get("found") or not hits:
        return ("I don't know: our help center has nothing on that, and I won't guess at a policy. "
                'If you like, I can bring in a person from our team: just say "talk to a human".')
    top = hits[0]
    where = f' ("{top["heading"]}")' if top.get("heading") and top["heading"] != top["title"] else ""
    source = f'{top["title"]}: {top["url"]}' if top.get("url") else top["title"]
    return f'Our help center says{where}: "{top["body"]}"\n\nSource: {source}'


# -- named tools: imported operations and tools of configured agents ---------------------

_BUILTIN_TOOLS = frozenset(
    {"get_order_status", "cancel_order", "update_shipping_address", "create_refund", "search_help_center"}
)
"""The demo shop's tools, called by the intent rules above; the named-tool rule leaves them alone."""
_READ_VERBS = frozenset({"get", "list", "fetch", "read", "show", "find", "retrieve"})
_STOPWORDS = frozenset(
    {
        "a", "an", "the", "of", "for", "to", "from", "in", "on", "at", "by", "with", "and", "or", "my",
        "your", "our", "their", "its", "this", "that", "these", "those", "is", "are", "be", "as", "it",
        "me", "i", "we", "you", "s",
    }
)
_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_VALUE = r"([A-Za-z0-9][\w.@+-]*)"
_DESCRIPTION_WORDS_MAX = 8


def _split_name(name: str) -> list[str]:
    """`redeemLoyaltyPoints`, `redeem_loyalty_points`, `spec__redeem-points` -> lower-case words."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return _WORD.findall(spaced.lower())


def _humanize(name: str) -> str:
    return " ".join(_split_name(name)) or name


def _has_word(words: set[str], word: str) -> bool:
    """`word` among `words`, a trailing plural `s` either way ignored."""
    return word in words or word + "s" in words or (word.endswith("s") and word[:-1] in words)


def _name_words(name: str) -> list[str]:
    words = _split_name(name)
    if len(words) > 1 and words[0] in _READ_VERBS:
        words = words[1:]
    return words


def _description_words(description: str) -> list[str]:
    first = re.split(r"[.\n!?]", description.strip(), maxsplit=1)[0]
    words = [w for w in _WORD.findall(first.lower()) if w not in _STOPWORDS and w not in _READ_VERBS]
    return words if 0 < len(words) <= _DESCRIPTION_WORDS_MAX else []


def _tool_match(said_words: set[str], function: dict[str, Any]) -> int:
    """How specifically the message names this tool: matched words (0: not named)."""
    best = 0
    for words in (_name_words(function["name"]), _description_words(function.get("description") or "")):
        if words and all(_has_word(said_words, w) for w in words):
            best = max(best, len(words))
    return best


def _key_pattern(arg: str) -> str:
    """The ways a customer writes the argument's name: `customer_id`, `customer id`, `customerId`, `customer`."""
    words = _split_name(arg)
    forms = {re.escape(arg), r"[\s_-]*".join(map(re.escape, words))}
    if len(words) > 1 and words[-1] == "id":
        forms.add(r"[\s_-]*".join(map(re.escape, words[:-1])))
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


def _coerce(value: str, schema: dict[str, Any], arg: str, *, explicit: bool = False) -> Any:
    """The value as the schema's type, or None when it does not fit.

    Without an explicit `=` or `:`, a string must not be a stop word and an id must contain a digit.
    """
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "integer":
        return int(value) if re.fullmatch(r"-?\d+", value) else None
    if kind == "number":
        return float(value) if re.fullmatch(r"-?\d+(?:\.\d+)?", value) else None
    if kind == "boolean":
        return {"true": True, "yes": True, "false": False, "no": False}.get(value.lower())
    if kind not in (None, "string"):
        return None
    enum = schema.get("enum")
    if enum:
        return next((e for e in enum if str(e).lower() == value.lower()), None)
    if explicit:
        return value
    if value.lower() in _STOPWORDS:
        return None
    if _split_name(arg)[-1:] == ["id"] and not re.search(r"\d", value):
        return None
    return value


def _fill_args(said: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(arguments found in the message, required ones missing), from the schema's properties only."""
    properties: dict[str, Any] = params.get("properties") or {}
    required = [r for r in params.get("required") or [] if r in properties]
    args: dict[str, Any] = {}
    used: list[tuple[int, int]] = []
    for arg, schema in properties.items():
        schema = schema if isinstance(schema, dict) else {}
        key = _key_pattern(arg)
        explicit = rf"(?<![\w-]){key}\s*[=:]\s*[\"']?{_VALUE}"
        patterns = [(explicit, True)]
        if arg in required:
            patterns.append((rf"(?<![\w-]){key}(?:\s+is)?\s+{_VALUE}", False))
            if schema.get("type") in ("integer", "number"):
                patterns.append((rf"{_NUMBER.pattern}\s+{key}\b", False))
        for pattern, is_explicit in patterns:
            for match in re.finditer(pattern, said, re.IGNORECASE):
                raw = (match.group(1) if match.lastindex else match.group(0).split()[0]).rstrip(".-")
                value = _coerce(raw, schema, arg, explicit=is_explicit)
                if value is not None:
                    args[arg] = value
                    used.append(match.span())
                    break
            if arg in args:
                break
    numbers = [
        m.group(0) for m in _NUMBER.finditer(said)
        if not any(start <= m.start() < end for start, end in used)
    ]
    for arg in required:
        schema = properties[arg] if isinstance(properties[arg], dict) else {}
        if arg not in args and schema.get("type") in ("integer", "number"):
            while numbers and arg not in args:
                value = _coerce(numbers.pop(0), schema, arg)
                if value is not None:
                    args[arg] = value
    return args, [r for r in required if r not in args]


def _named_tool_call(said: str, tools: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]] | None:
    """(text, calls) when the message names a bound tool other than the demo shop's; else None."""
    said_words = set(_WORD.findall(said.lower()))
    best: tuple[int, dict[str, Any]] | None = None
    for tool in tools:
        function = tool.get("function") or {}
        name = function.get("name")
        if not name or name in _BUILTIN_TOOLS or name == TRANSFER_TOOL_NAME:
            continue
        score = _tool_match(said_words, function)
        if score and (best is None or score > best[0]):
            best = (score, function)
    if best is None:
        return None
    function = best[1]
    args, missing = _fill_args(said, function.get("parameters") or {})
    if missing:
        example = " ".join(f"{m} ..." for m in missing)
        question = (
            f"To {_humanize(function['name'])} I need {', '.join(missing)}. "
            f"Please write {'it' if len(missing) == 1 else 'them'} like this: {example}"
        )
        return question, []
    return "", [_call(function["name"], args)]
