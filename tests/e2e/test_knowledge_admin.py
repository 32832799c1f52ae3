"""The knowledge-base admin page in real Chromium: an admin uploads a Markdown article, sees it
listed, finds it by search and deletes it; an operator is not shown the page; axe-core finds no
serious or critical WCAG 2.1 AA violations."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from app.core.security import issue_token
from tests.e2e.conftest import SCREENSHOTS, SECRET
from tests.e2e.test_takeover import no_serious_a11y_violations
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

ARTICLE = b"""---
url: https://help.example.com/gift-cards
language: en
---
# Gift cards

Our gift cards are sold in amounts from 10 to 500 euros.

## Expiry

A gift card never expires and can be spent in several orders until its balance is used up.
"""


def test_admin_uploads_finds_and_deletes_an_article(auth_server: ServerProcess, new_page: Any) -> None:
    admin_token = issue_token(SECRET, user_id="admin-kb", role="admin")
    page: Page = new_page(token=admin_token)
    page.goto(auth_server.base + "/admin/knowledge")
    expect(page.get_by_role("heading", name="Knowledge base", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge")).to_be_visible()
    rows = page.get_by_test_id("article-row")
    expect(rows.first).to_be_visible()
    before = rows.count()

    # upload: the summary says what happened, and the article is listed
    page.get_by_label("Documents (Markdown, HTML, text or PDF)").set_input_files(
        [{"name": "gift-cards.md", "mimeType": "text/markdown", "buffer": ARTICLE},
         {"name": "notes.doc", "mimeType": "application/msword", "buffer": b"not importable"}])
    page.get_by_role("button", name="Upload").click()
    summary = page.get_by_test_id("import-summary")
    expect(summary).to_contain_text("1 added, 0 updated, 0 removed, 1 skipped")
    expect(summary.get_by_test_id("summary-added")).to_contain_text("Gift cards")
    expect(summary.get_by_test_id("summary-skipped")).to_contain_text("notes.doc")
    expect(summary.get_by_test_id("summary-skipped")).to_contain_text("supported suffixes are")
    expect(rows).to_have_count(before + 1)
    row = rows.filter(has_text="Gift cards")
    expect(row).to_contain_text("gift-cards.md (uploaded)")
    expect(row.get_by_role("cell").nth(0)).to_have_text("en")
    expect(row.get_by_role("cell").nth(3)).to_have_text("2")  # chunks: the intro and "Expiry"

    # search: the ranked hit names the article and its section, linked to its URL
    page.get_by_label("Question").fill("Do gift cards expire?")
    page.get_by_role("button", name="Search", exact=True).click()
    hit = page.get_by_test_id("kb-hit").first
    expect(hit).to_contain_text("Gift cards › Expiry")
    expect(hit.get_by_role("link", name="Gift cards")).to_have_attribute("href", "https://help.example.com/gift-cards")
    page.screenshot(path=str(SCREENSHOTS / "knowledge-admin.png"), full_page=True)
    no_serious_a11y_violations(page, "knowledge base page after upload and search")

    # delete, after confirming: gone from the page and from the server
    row.get_by_role("button", name="Delete “Gift cards”").click()
    confirm = row.get_by_role("button", name="Yes, delete “Gift cards”")
    expect(confirm).to_be_focused()
    no_serious_a11y_violations(page, "knowledge base page while confirming a delete")
    confirm.click()
    expect(page.get_by_test_id("kb-status")).to_have_text("Deleted “Gift cards”.")
    expect(rows).to_have_count(before)
    expect(rows.filter(has_text="Gift cards")).to_have_count(0)
    listed = httpx.get(auth_server.base + "/api/knowledge/articles", headers={"Authorization": f"Bearer {admin_token}"},
                       timeout=10).json()
    assert "Gift cards" not in [a["title"] for a in listed["articles"]]

    # an operator is shown neither the link nor the page
    operator: Page = new_page(token=issue_token(SECRET, user_id="op-kb", role="operator"))
    operator.goto(auth_server.base + "/admin/knowledge")
    expect(operator.get_by_text("This page is for admins.")).to_be_visible()
    expect(operator.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge")).to_have_count(0)
    expect(operator.get_by_test_id("article-row")).to_have_count(0)
