"""Pattern screening of customer messages, shared by the guardrail node and the demo model.

`screen(text)` spots prompt injection, abuse and plainly off-topic requests with
regular expressions. It needs no model, so the guardrail refuses these without
spending a model call, and the demo model's guardrail verdicts agree with it.
"""

from __future__ import annotations

import re

__all__ = ["REFUSALS", "screen"]

_INJECTION = re.compile(
    r"(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+|your\s+)?(previous|prior|above|earlier|system|your)?\s*"
    r"(instructions|prompts?|rules|guidelines)"
    r"|(print|show|reveal|repeat|tell me|output|display|leak)\s+(me\s+)?(your|the)\s+(system\s+|hidden\s+|initial\s+)?"
    r"(prompt|instructions|rules)"
    r"|system\s+prompt|developer\s+mode|jailbreak|\bDAN\b|you\s+are\s+now\s+(a|an|in)\b|act\s+as\s+(an?\s+)?(unfiltered|unrestricted)",
    re.IGNORECASE,
)
_ABUSE = re.compile(
    r"\b(idiot|stupid|moron|dumb(ass)?|shut\s+up|fuck\w*|shit\w*|bitch\w*|asshole|bastard|retard\w*|kill\s+you|hate\s+you)\b",
    re.IGNORECASE,
)
_OFF_TOPIC = re.compile(
    r"\b(poem|haiku|song\s+lyrics|joke|weather|capital\s+of|recipe|homework|essay|bitcoin|crypto|stock\s+price|"
    r"horoscope|president|football|write\s+(me\s+)?(some\s+)?(python|javascript|code))\b",
    re.IGNORECASE,
)
_SHOP_WORDS = re.compile(
    r"\b(order|orders|refund|return|returns|shipping|delivery|deliver|cancel|address|payment|invoice|package|parcel|"
    r"tracking|warranty|policy|product|purchase|bought)\b|\b\d{4,}\b",
    re.IGNORECASE,
)

REFUSALS = {
    "injection": (
        "I can't share my instructions or change how I work. "
        "I'm happy to help with your orders, refunds, shipping and our store policies."
    ),
    "abuse": (
        "I want to help, so let's keep it respectful. "
        "I can help with your orders, refunds, shipping and our store policies."
    ),
    "off_topic": (
        "I can only help with questions about our shop: your orders, refunds, shipping and our store policies."
    ),
}


def screen(text: str) -> tuple[str, str]:
    """(verdict, reason): verdict is `allow`, `injection`, `abuse` or `off_topic`."""
    if _INJECTION.search(text):
        return "injection", "the message tries to change or reveal the assistant's instructions"
    if _ABUSE.search(text):
        return "abuse", "the message is abusive"
    if _OFF_TOPIC.search(text) and not _SHOP_WORDS.search(text):
        return "off_topic", "the message is not about the shop"
    return "allow", ""
