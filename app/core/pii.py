"""Masking personal data (emails, phone numbers, card numbers) in text and event payloads.

Replay shows operators a conversation without the customer's contact and card
details; admins see it unmasked. `mask_text()` works on one string,
`mask_payload()` on a whole event: every string value, at any depth, except the
fields that are identifiers or timestamps by contract (ids, `ts`, `expires_at`,
enum-like fields), so a masked event is still a valid `Event`.

    >>> mask_text("mail jane.doe@example.com or call +1 (415) 555-0134")
    'mail [email] or call [phone]'
    >>> mask_text("card 4242 4242 4242 4242, order 1001, on 2024-05-01")
    'card [card ••••4242], order 1001, on 2024-05-01'
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["mask_payload", "mask_text"]

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# 13-19 digits, optionally grouped by spaces or dashes; confirmed with the Luhn check.
CARD_RE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
# 7-15 digits with the usual separators, optionally a leading + or a bracketed area code.
PHONE_RE = re.compile(r"(?<![\w+])(?:\+|\(\d)?[\d(][\d ().-]{5,}\d(?![\w])")
# Dates and times look like phone numbers to PHONE_RE; they are not personal data.
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}$")

# Fields that hold identifiers, times or enums by contract: never masked.
STRUCTURAL_KEYS = frozenset({
    "type", "thread_id", "seq", "run_id", "ts", "expires_at", "message_id", "call_id",
    "interrupt_id", "trigger", "risk", "approver", "agent", "tool", "action", "intent",
    "queue", "code", "outcome", "form_id",
})


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return f"[card ••••{digits[-4:]}]" if _luhn_ok(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15 or DATE_RE.search(text):
        return text
    # a bare run of digits without + or separators is more likely an id than a phone
    if text.isdigit() and len(text) < 10:
        return text
    return "[phone]"


def mask_text(text: str) -> str:
    """`text` with emails, card numbers (Luhn-valid) and phone numbers replaced."""
    if not any(ch.isdigit() or ch == "@" for ch in text):
        return text
    text = EMAIL_RE.sub("[email]", text)
    text = CARD_RE.sub(_card, text)
    return PHONE_RE.sub(_phone, text)


def mask_payload(value: Any, *, key: str | None = None) -> Any:
    """A copy of a JSON value with `mask_text` applied to every non-structural string."""
    if isinstance(value, str):
        return value if key in STRUCTURAL_KEYS else mask_text(value)
    if isinstance(value, dict):
        return {k: mask_payload(v, key=k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_payload(v, key=key) for v in value]
    return value
