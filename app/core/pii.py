"""Masking personal data (emails, phone numbers, card numbers) in text and event payloads.

Operators read customers' conversations without their contact, card and address
details, wherever they read them: replay, transcripts, thread titles, the approval
inbox and thread subscriptions on the socket. Admins and the thread's owner see it
unmasked (`should_mask`). `mask_text()` works on one string, `mask_payload()` on a
whole event: every string value, at any depth, except the fields that are
identifiers or timestamps by contract (ids, `ts`, `expires_at`, enum-like fields),
so a masked event is still a valid `Event`. Numbers are checked too (a card number
sent as a JSON number becomes the masked string), and any value under an address
key (`address`, `shipping_address`, `street`, `zip`, ...) is replaced whole.

Masking works on whole values only: a card number split across two token deltas
matches in neither, so an operator's view of someone else's thread carries no token
deltas (`mask_event` answers None for them); the answer reaches the operator whole,
masked, in `message_complete`.

    >>> mask_text("mail jane.doe@example.com or call +1 (415) 555-0134")
    'mail [email] or call [phone]'
    >>> mask_text("card 4242 4242 4242 4242, order 1001, on 2024-05-01")
    'card [card ••••4242], order 1001, on 2024-05-01'
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["address_values", "mask_event", "mask_payload", "mask_text", "mask_text_with", "should_mask"]

# The domain's dots are optional, so an address cut short (a title's 120 characters) is masked too.
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]*)*")
# 13-19 digits, optionally grouped by spaces or dashes; confirmed with the Luhn check.
CARD_RE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
# 7-15 digits with the usual separators, optionally a leading + or a bracketed area code.
PHONE_RE = re.compile(r"(?<![\w+])(?:\+|\(\d)?[\d(][\d ().-]{5,}\d(?![\w])")
# A street address in free text: a house number, one to four capitalised words and a street word
# ("12 Baker Street", "5 Main St"), or a German-style "Hauptstraße 5". Structured address fields
# (ADDRESS_KEYS) are masked whole whatever they look like; this catches the same text in prose.
ADDRESS_RE = re.compile(
    r"\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][\w'.-]*\s+){1,4}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq|"
    r"Terrace|Close|Crescent|Highway|Hwy|Parkway|Pkwy)\b"
    r"|\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|weg|gasse|platz|allee)\s+\d{1,5}[a-z]?\b"
)
# Dates and times look like phone numbers to PHONE_RE; they are not personal data.
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}$")

# Fields that hold identifiers, times or enums by contract: never masked.
STRUCTURAL_KEYS = frozenset({
    "type", "thread_id", "seq", "run_id", "ts", "expires_at", "message_id", "call_id",
    "interrupt_id", "trigger", "risk", "approver", "agent", "tool", "action", "intent",
    "queue", "code", "outcome", "form_id", "user_id", "owner_id", "decided_by", "status", "created_at",
    "decided_at", "updated_at", "last_seq",
})
# Fields whose whole value is a postal address, whatever its shape.
ADDRESS_KEYS = frozenset({
    "address", "shipping_address", "billing_address", "street", "street_address", "address_line1",
    "address_line2", "line1", "line2", "postal_code", "postcode", "zip", "zip_code",
})
ADDRESS_MASK = "[address]"


def should_mask(role: str, viewer_id: str | None, owner_id: str | None) -> bool:
    """Personal data is hidden from operators; admins and the thread's owner see it."""
    return role == "operator" and viewer_id != owner_id


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
    text = ADDRESS_RE.sub(ADDRESS_MASK, text)
    text = CARD_RE.sub(_card, text)
    return PHONE_RE.sub(_phone, text)


def mask_payload(value: Any, *, key: str | None = None, addresses: set[str] | None = None) -> Any:
    """A copy of a JSON value with `mask_text` applied to every non-structural string and number,
    address fields replaced whole, and their values scrubbed from every other string of the value
    (a confirmation question that repeats the address) and from JSON held in strings (tool results).

    `addresses`: the addresses already seen in the same thread; the value's own are added to it,
    so a later answer that repeats an address in prose is scrubbed too."""
    found = address_values(value, key)
    if addresses is not None:
        addresses |= found
        found = addresses
    return _mask(value, key, sorted(found, key=len, reverse=True))


def mask_text_with(text: str, addresses: set[str]) -> str:
    """`mask_text`, with these known addresses (from the thread's tool calls) scrubbed first."""
    return _scrub(text, sorted(addresses, key=len, reverse=True))


def address_values(value: Any, key: str | None = None) -> set[str]:
    """The strings under address keys anywhere in a JSON value (JSON held in strings included)."""
    found: set[str] = set()
    stack = [(value, key)]
    while stack:
        v, k = stack.pop()
        if k is not None and k.lower() in ADDRESS_KEYS and isinstance(v, str) and len(v.strip()) >= 4:
            found.add(v.strip())
        elif isinstance(v, dict):
            stack.extend((child, ck) for ck, child in v.items())
        elif isinstance(v, list):
            stack.extend((child, k) for child in v)
        elif isinstance(v, str) and v[:1] in "{[" and ":" in v and len(v) <= 1_000_000:
            try:
                parsed = json.loads(v)
            except ValueError:
                continue
            stack.append((parsed, k))
    return found


def _scrub(text: str, known: list[str]) -> str:
    for address in known:
        if address in text:
            text = text.replace(address, ADDRESS_MASK)
        quoted = json.dumps(address, ensure_ascii=False)[1:-1]
        if quoted != address and quoted in text:
            text = text.replace(quoted, ADDRESS_MASK)
    return mask_text(text)


def _mask(value: Any, key: str | None, known: list[str]) -> Any:
    if key is not None and key.lower() in ADDRESS_KEYS and value not in (None, "", {}, []):
        return ADDRESS_MASK
    if isinstance(value, str):
        return value if key in STRUCTURAL_KEYS else _scrub(value, known)
    if isinstance(value, int) and not isinstance(value, bool) and key not in STRUCTURAL_KEYS:
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, dict):
        return {k: _mask(v, k, known) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key, known) for v in value]
    return value


def mask_event(event: Any, addresses: set[str] | None = None) -> dict[str, Any] | None:
    """An event (a `graphs.events` model or its JSON data) as an operator may see it: masked
    whole, or None for a token delta (see the module doc). `addresses` carries the thread's
    addresses from one event to the next (see `mask_payload`)."""
    if not isinstance(event, dict):  # a graphs.events model: its wire data, without unset stamps
        event = event.model_dump(mode="json", exclude_none=True)
    if event.get("type") == "token":
        return None
    return mask_payload(event, addresses=addresses)
