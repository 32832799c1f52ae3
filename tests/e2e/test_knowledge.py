"""End to end: the widget answers a policy question from the knowledge base and links its source;
an unanswerable one becomes a content gap on the dashboard."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot
from tests.e2e.test_browser import ASSISTANT_DONE, send
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser


def test_the_answer_shows_its_source_as_a_link(local_server: ServerProcess, new_page: Any) -> None:
    page: Page = new_page()
    page.goto(local_server.base + "/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    send(page, "What is your return policy?")
    done = page.locator(ASSISTANT_DONE)
    expect(done).to_have_count(1)
    expect(done.get_by_test_id("assistant-text")).to_contain_text("within 30 days of delivery")
    sources = done.get_by_role("navigation", name="Sources")
    link = sources.get_by_role("link", name="Return policy")
    expect(link).to_have_attribute("href", "/demo-shop/help/return-policy")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    screenshot(page, "knowledge-sources")
    page_behind = httpx.get(local_server.base + "/demo-shop/help/return-policy", timeout=10)
    assert page_behind.status_code == 200 and "30 days of delivery" in page_behind.text

    send(page, "Do you offer gift cards?")
    expect(page.locator(ASSISTANT_DONE)).to_have_count(2)
    second = page.locator(ASSISTANT_DONE).nth(1)
    expect(second.get_by_test_id("assistant-text")).to_contain_text("I don't know")
    expect(second.get_by_test_id("sources")).to_have_count(0)

    # the unanswered question is a content gap on the dashboard
    page.goto(local_server.base + "/dashboard")
    gap = page.get_by_test_id("content-gaps").get_by_test_id("content-gap")
    expect(gap).to_have_count(1)
    expect(gap).to_contain_text("Do you offer gift cards?")
    expect(gap).to_contain_text("no article found (1)")
    gap.scroll_into_view_if_needed()
    screenshot(page, "knowledge-gaps")
