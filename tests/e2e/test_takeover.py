"""A human takes over, in real Chromium: the customer's chat and the operator's console
talking live, each reloaded mid-conversation, with axe-core accessibility checks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from app.core.security import issue_token
from tests.e2e.conftest import SECRET, screenshot
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

ASSISTANT_DONE = "[data-testid=assistant-message][data-streaming=false]"


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")


def thread_id_of(page: Page) -> str:
    page.wait_for_url(re.compile(r"[?&]thread="))
    m = re.search(r"[?&]thread=([A-Za-z0-9_-]+)", page.url)
    assert m, page.url
    return m.group(1)


def no_serious_a11y_violations(page: Page, what: str) -> None:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{what}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in bad)


def test_customer_and_operator_talk_live_through_reloads(auth_server: ServerProcess, new_page: Any) -> None:
    customer: Page = new_page(token=issue_token(SECRET, user_id="cust-tko", role="customer"))
    customer.goto(auth_server.base + "/")
    expect(customer.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    send(customer, "I want to talk to a human")
    thread = thread_id_of(customer)
    expect(customer.get_by_test_id("handoff-banner")).to_contain_text("Waiting for a human agent")

    operator: Page = new_page(token=issue_token(SECRET, user_id="olga-tko", role="operator", name="Olga"))
    operator.goto(auth_server.base + "/handoffs")
    item = operator.locator(f"[data-testid=queue-waiting] [data-testid=queue-item][data-thread-id={thread}]")
    expect(item).to_contain_text("the customer asked for a human")
    expect(item).to_contain_text(re.compile(r"waiting \d+ (s|min)"))
    expect(item.get_by_test_id("unread")).to_be_visible()
    expect(operator).to_have_title(re.compile(r"^\(\d+\) Waiting for a person"))
    screenshot(operator, "handoff-queue")
    no_serious_a11y_violations(operator, "the queue")

    item.click()
    panel = operator.get_by_test_id("takeover")
    expect(panel.locator(ASSISTANT_DONE)).to_contain_text("human support agent")  # the conversation so far
    panel.get_by_role("button", name="Take over").click()
    expect(panel.get_by_test_id("holder")).to_contain_text("You hold this conversation")
    expect(customer.get_by_test_id("presence").last).to_have_text("Olga from support joined")

    # another operator sees who holds it and cannot write into it
    other: Page = new_page(token=issue_token(SECRET, user_id="piotr-tko", role="operator", name="Piotr"))
    other.goto(f"{auth_server.base}/handoffs?thread={thread}")
    expect(other.locator(f"[data-testid=queue-held] [data-testid=queue-item][data-thread-id={thread}]")).to_contain_text(
        "Held by Olga")
    expect(other.get_by_test_id("holder")).to_have_text("Olga holds this conversation.")
    expect(other.get_by_role("button", name="Take over")).to_be_disabled()
    other.get_by_label("Your message").fill("let me answer instead")
    expect(other.get_by_test_id("send")).to_be_disabled()
    other.close()

    send(operator, "Hi, I'm Olga. How can I help?")
    said = customer.get_by_test_id("human-message").last
    expect(said).to_contain_text("Hi, I'm Olga. How can I help?")
    expect(said).to_contain_text("Olga")
    expect(said.locator(".avatar")).to_have_text("O")
    expect(customer.get_by_test_id("handoff-banner")).to_contain_text("You are talking to Olga from support")

    send(customer, "My parcel arrived damaged.")
    expect(panel.get_by_test_id("user-message").last).to_have_text(re.compile("My parcel arrived damaged."))

    # the customer reloads mid-conversation: everything is still there, and the talk goes on
    customer.reload()
    expect(customer.get_by_test_id("human-message").last).to_contain_text("Hi, I'm Olga.")
    expect(customer.get_by_test_id("handoff-banner")).to_contain_text("Olga")
    send(customer, "Are you still there?")
    expect(panel.get_by_test_id("user-message").last).to_have_text(re.compile("Are you still there"))

    # the operator reloads: still the holder, still talking
    operator.reload()
    panel = operator.get_by_test_id("takeover")
    expect(panel.get_by_test_id("holder")).to_contain_text("You hold this conversation")
    expect(panel.get_by_test_id("user-message").last).to_have_text(re.compile("Are you still there"))
    send(operator, "Yes! I have sent a replacement.")
    expect(customer.get_by_test_id("human-message").last).to_contain_text("I have sent a replacement.")
    expect(customer.get_by_test_id("user-message")).to_have_count(3)
    screenshot(operator, "takeover")
    screenshot(customer, "takeover-customer")
    no_serious_a11y_violations(operator, "the takeover")
    no_serious_a11y_violations(customer, "the customer's chat")

    panel.get_by_label("Outcome").select_option("back_to_assistant")
    panel.get_by_role("button", name="Release").click()
    expect(customer.get_by_test_id("presence").last).to_have_text("The assistant is back")
    send(customer, "What is the status of order 1042?")
    expect(customer.locator(ASSISTANT_DONE).last).to_contain_text("1042")
    expect(operator.locator(f"[data-testid=queue-item][data-thread-id={thread}]")).to_have_count(0)

    # the dashboard counts the takeover for Olga
    operator.goto(auth_server.base + "/dashboard")
    card = operator.get_by_test_id("handoffs-card")
    row = card.get_by_test_id("operators-table").get_by_role("row", name=re.compile("Olga"))
    expect(row).to_contain_text("1")
    expect(card).to_contain_text("Handed back to the assistant")
    card.scroll_into_view_if_needed()
    screenshot(operator, "dashboard-handoffs")
