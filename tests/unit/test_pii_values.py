"""PII masking on whole values: numbers, addresses, and the rule for token deltas."""

from __future__ import annotations

from app.core.pii import mask_event, mask_payload, mask_text, should_mask


def test_card_numbers_sent_as_json_numbers_are_masked() -> None:
    masked = mask_payload({"type": "tool_call", "call_id": "c1", "args": {"card": 4242424242424242, "amount": 20,
                                                                           "order": 1042, "ok": True}})
    assert masked["args"] == {"card": "[card ••••4242]", "amount": 20, "order": 1042, "ok": True}
    assert mask_payload([5555555555554444]) == ["[card ••••4444]"]


def test_address_fields_are_masked_whole_and_scrubbed_from_the_rest_of_the_value() -> None:
    event = {"type": "interrupt", "interrupt_id": "i1", "message": "Ship order 1033 to Flat 3, rue Oberkampf?",
             "args": {"order_id": "1033", "address": "Flat 3, rue Oberkampf"}}
    masked = mask_payload(event)
    assert masked["args"] == {"order_id": "1033", "address": "[address]"}
    assert masked["message"] == "Ship order 1033 to [address]?"
    assert mask_payload({"shipping_address": {"street": "Main St 5", "zip": 10115}}) == {"shipping_address": "[address]"}
    # JSON held in a string (a tool result) and an answer later in the thread
    seen: set[str] = set()
    result = mask_payload({"type": "tool_result", "content": '{"shipping_address": "Flat 3, rue Oberkampf"}'},
                          addresses=seen)
    assert result["content"] == '{"shipping_address": "[address]"}'
    answer = mask_payload({"type": "message_complete", "content": "It now ships to Flat 3, rue Oberkampf."},
                          addresses=seen)
    assert answer["content"] == "It now ships to [address]."


def test_street_addresses_in_prose_are_masked() -> None:
    assert mask_text("send it to 12 Baker Street please") == "send it to [address] please"
    assert mask_text("Lieferung an Hauptstraße 5") == "Lieferung an [address]"
    assert mask_text("order 1042 has 3 items, shipped 2024-05-01") == "order 1042 has 3 items, shipped 2024-05-01"


def test_token_deltas_are_never_shown_masked_so_a_split_number_cannot_leak() -> None:
    # four deltas of four digits: none is a card number, so masking each one would show them all
    deltas = [{"type": "token", "delta": d} for d in ("card 4242", " 4242", " 4242", " 4242")]
    assert [mask_payload(d) for d in deltas] == deltas  # why deltas are withheld from operators
    assert [mask_event(d) for d in deltas] == [None] * 4
    done = mask_event({"type": "message_complete", "content": "card 4242 4242 4242 4242"})
    assert done == {"type": "message_complete", "content": "card [card ••••4242]"}


def test_who_sees_masked_data() -> None:
    assert should_mask("operator", "op1", "cust1")
    assert not should_mask("operator", "op1", "op1")
    assert not should_mask("admin", "adm", "cust1")
    assert not should_mask("customer", "cust1", "cust1")
