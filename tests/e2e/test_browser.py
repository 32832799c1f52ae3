"""End to end: the chat, approvals, the operator console and resume, in real Chromium.

No sleeps: every wait is for a selector, a text or a URL. Each test saves its page
to docs/screenshots/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REPO, cli_token, screenshot
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

ASSISTANT = "[data-testid=assistant-message]"
ASSISTANT_DONE = "[data-testid=assistant-message][data-streaming=false]"


def thread_id_of(page: Page) -> str:
    page.wait_for_url(re.compile(r"[?&]thread="))
    m = re.search(r"[?&]thread=([A-Za-z0-9_-]+)", page.url)
    assert m, page.url
    return m.group(1)


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")


def api_get(server: ServerProcess, path: str, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(server.base + path, headers=headers, params=params, timeout=10)


def require_api(server: ServerProcess, path: str, token: str | None = None) -> None:
    """Fail clearly when a REST route the page needs is not mounted (a 404 for a list route)."""
    if api_get(server, path, token).status_code == 404:
        pytest.fail(f"{path} is not served by this server")


def record_stream(page: Page) -> None:
    """Record every text the first assistant message shows, as it changes."""
    page.evaluate(
        """() => {
          window.__texts = [];
          const seen = () => {
            const el = document.querySelector('[data-testid=assistant-text]');
            if (el) { const t = el.textContent; if (window.__texts.at(-1) !== t) window.__texts.push(t); }
          };
          new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, characterData: true});
        }"""
    )


def test_order_status_streams_the_answer(local_server: ServerProcess, new_page: Any) -> None:
    page: Page = new_page()
    page.goto(local_server.base + "/")
    expect(page.get_by_role("heading", name="Support")).to_be_visible()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    record_stream(page)
    send(page, "What is the status of order 1042?")
    thread_id_of(page)
    expect(page.get_by_test_id("user-message")).to_have_text(re.compile("status of order 1042"))
    done = page.locator(ASSISTANT_DONE)
    expect(done).to_have_count(1)
    final = done.get_by_test_id("assistant-text").inner_text()
    assert "1042" in final and "shipped" in final.lower(), final
    texts: list[str] = page.evaluate("window.__texts")
    # streamed: the text grew in several steps, each a prefix of the final answer
    assert len(texts) >= 3, texts
    assert all(final.startswith(t.strip()) for t in texts if t.strip()), texts
    chip = page.locator("[data-testid=tool-chip][data-tool=get_order_status]")
    expect(chip).to_be_visible()
    expect(page.get_by_test_id("active-agent")).to_contain_text("Order lookup")
    screenshot(page, "chat")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_label("Your message")).to_be_in_viewport()
    expect(done).to_be_in_viewport()
    screenshot(page, "chat-phone")
    helpful = done.get_by_role("button", name="Helpful", exact=True)
    helpful.click()
    expect(helpful).to_have_attribute("aria-pressed", "true")


def test_cancel_order_and_approve_in_the_card(local_server: ServerProcess, new_page: Any) -> None:
    page: Page = new_page()
    page.goto(local_server.base + "/")
    send(page, "Cancel order 1042")
    card = page.get_by_test_id("approval-card")
    expect(card).to_have_attribute("data-status", "pending")
    expect(card).to_be_focused()  # a new approval card takes the focus
    expect(card).to_contain_text("1042")
    expect(card.get_by_role("timer")).to_have_text(re.compile(r"\d+:\d\d"))
    expect(card).to_contain_text("high risk")
    screenshot(page, "approval")
    card.get_by_role("button", name="Approve").click()
    expect(card).to_have_attribute("data-status", "approved")
    expect(page.locator(ASSISTANT_DONE).last).to_contain_text(re.compile("cancel", re.IGNORECASE))
    status = httpx.get(f"{local_server.base}/demo-shop/orders/1042", timeout=10)
    if status.status_code == 200:
        assert "cancel" in status.text.lower()


def refund_flow(server: ServerProcess, new_page: Any) -> tuple[str, str, Page, Page]:
    """A customer asks for a refund of order 1017; an operator approves it in the inbox.

    Returns (thread id, operator token, customer page, operator page)."""
    customer_token = cli_token("cust-e2e", "customer")
    operator_token = cli_token("op-e2e", "operator")

    customer: Page = new_page(token=customer_token)
    customer.goto(server.base + "/")
    expect(customer.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    send(customer, "I want a refund for order 1017")
    thread = thread_id_of(customer)
    card = customer.get_by_test_id("approval-card")
    expect(card).to_have_attribute("data-status", "pending")
    expect(card).to_contain_text("Waiting for a support operator")
    expect(card.get_by_role("button", name="Approve")).to_have_count(0)

    operator: Page = new_page()
    operator.goto(server.base + "/inbox")  # no token yet: the server refuses, the app asks for one
    operator.wait_for_url(re.compile(r"/login\?next="))
    operator.get_by_label("Access token").fill(operator_token)
    operator.get_by_role("button", name="Sign in").click()
    operator.wait_for_url(re.compile(r"/inbox$"))
    item = operator.locator(f"[data-testid=inbox-item][data-thread-id={thread}]")
    expect(item).to_be_visible()
    expect(item).to_contain_text("1017")
    expect(operator.get_by_test_id("whoami")).to_contain_text("operator")
    screenshot(operator, "inbox")
    item.get_by_role("button", name="Approve").click()
    expect(item.get_by_test_id("approval-card")).to_have_attribute("data-status", "approved")

    # the customer's widget follows live
    expect(card).to_have_attribute("data-status", "approved")
    expect(card).to_contain_text("op-e2e")
    expect(customer.locator(ASSISTANT_DONE).last).to_contain_text(re.compile("refund", re.IGNORECASE))
    return thread, operator_token, customer, operator


def test_operator_approves_a_refund_from_the_inbox(auth_server: ServerProcess, new_page: Any) -> None:
    thread, _, customer, _ = refund_flow(auth_server, new_page)
    screenshot(customer, "chat-refund-approved")
    assert thread


def test_replay_page_shows_the_conversation(auth_server: ServerProcess, new_page: Any) -> None:
    op = cli_token("op-e2e", "operator")
    require_api(auth_server, "/api/replay", op)
    thread, _, _, operator = refund_flow(auth_server, new_page)
    operator.goto(auth_server.base + "/replay")
    row = operator.locator(f"[data-testid=replay-row][data-thread-id={thread}]")
    expect(row).to_be_visible()
    screenshot(operator, "replay-list")
    row.get_by_role("link").first.click()
    operator.wait_for_url(re.compile(f"/replay/{thread}$"))
    timeline = operator.get_by_test_id("timeline")
    expect(timeline.locator("[data-type=intent]")).to_contain_text(re.compile(r"Refund .* Billing \(confidence \d+"))
    expect(timeline).to_contain_text("create_refund")
    expect(timeline.locator("[data-type=interrupt]")).to_contain_text("approver: operator")
    expect(timeline.locator("[data-type=interrupt_decided]")).to_contain_text("op-e2e")
    expect(operator.get_by_test_id("user-message").first).to_contain_text("refund for order 1017")
    expect(operator.locator(ASSISTANT_DONE).last).to_contain_text(re.compile("refund", re.IGNORECASE))
    screenshot(operator, "replay")


def test_dashboard_shows_the_counts(auth_server: ServerProcess, new_page: Any) -> None:
    op = cli_token("op-e2e", "operator")
    require_api(auth_server, "/api/analytics/summary", op)
    _, _, _, operator = refund_flow(auth_server, new_page)
    summary = api_get(auth_server, "/api/analytics/summary", op, range="24h").json()
    operator.goto(auth_server.base + "/dashboard?range=24h")
    expect(operator.get_by_test_id("metric-conversations")).to_contain_text("1")
    if isinstance(summary.get("messages"), int):
        expect(operator.get_by_test_id("metric-messages")).to_contain_text(str(summary["messages"]))
    expect(operator.get_by_test_id("intents")).to_contain_text("Refund")
    expect(operator.get_by_test_id("approvals-table")).to_contain_text("Create refund")
    screenshot(operator, "dashboard")


def test_reload_in_the_middle_of_an_answer_resumes_without_doubled_text(
    make_server: Any, new_page: Any
) -> None:
    server: ServerProcess = make_server(DEMO_TOKEN_DELAY_MS="60")
    page: Page = new_page()
    page.goto(server.base + "/")
    send(page, "benchmark reply 60 tokens please")
    thread = thread_id_of(page)
    streaming = page.locator("[data-testid=assistant-message][data-streaming=true]")
    expect(streaming).to_have_count(1)
    page.wait_for_function(
        "() => (document.querySelector('[data-testid=assistant-text]')?.textContent || '').split(/\\s+/).length > 10"
    )
    partial = page.get_by_test_id("assistant-text").inner_text()
    page.reload()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    done = page.locator(ASSISTANT_DONE)
    expect(done).to_have_count(1)
    expect(page.locator(ASSISTANT)).to_have_count(1)
    text = done.get_by_test_id("assistant-text").inner_text()
    transcript = api_get(server, f"/api/threads/{thread}").json()
    answers = [m["content"] for m in transcript["messages"] if m["role"] in ("assistant", "ai")]
    assert answers and text.strip() == answers[-1].strip(), (text, answers)
    assert text.startswith(partial.strip()[:20])
    assert len(text.split()) == len(answers[-1].split())
    expect(page.get_by_test_id("user-message")).to_have_count(1)
    screenshot(page, "chat-resumed")


@pytest.fixture
def host_site(local_server: ServerProcess) -> Iterator[str]:
    """A page of another origin (its own port) that embeds the widget with one script tag."""
    html = (
        "<!doctype html><html><head><title>A shop</title></head><body><h1>A shop</h1>"
        f'<script src="{local_server.base}/widget.js" data-server="{local_server.base}"></script></body></html>'
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_widget_on_another_site(host_site: str, new_page: Any) -> None:
    """One <script> tag on a page of another origin opens the chat as a floating widget."""
    page: Page = new_page()
    page.goto(host_site + "/")
    expect(page.get_by_role("heading", name="A shop")).to_be_visible()
    launcher = page.get_by_role("button", name="Open the support chat")
    expect(launcher).to_be_visible()
    launcher.click()
    expect(page.get_by_role("dialog", name="Support")).to_be_visible()
    send(page, "What is the status of order 1042?")
    expect(page.locator(ASSISTANT_DONE)).to_contain_text("1042")
    screenshot(page, "widget")


def test_endpoint_review_page(local_server: ServerProcess, new_page: Any) -> None:
    require_api(local_server, "/api/openapi/specs")
    spec = (REPO / "openapi_specs" / "demo_shop.yaml").read_bytes()
    r = httpx.post(local_server.base + "/api/openapi/specs", params={"name": "demo_shop_e2e"}, content=spec,
                   headers={"Content-Type": "application/yaml"}, timeout=30)
    assert r.status_code in (200, 201), r.text
    page: Page = new_page()
    page.goto(local_server.base + "/admin/specs")
    expect(page.get_by_test_id("agent-group").first).to_be_visible()
    row = page.locator("[data-testid=endpoint-row][data-operation-id=create_refund]")
    expect(row).to_contain_text("/refunds")
    expect(row.get_by_label(re.compile("^Risk of"))).to_have_value("high")
    row.get_by_label(re.compile("^Agent of")).select_option("billing")
    expect(page.get_by_role("status").filter(has_text="Saved create_refund")).to_be_visible()
    row = page.locator("[data-testid=endpoint-row][data-operation-id=create_refund]")
    row.get_by_role("checkbox").check()
    expect(row.get_by_role("checkbox")).to_be_checked()
    expect(row).to_have_attribute("aria-busy", "false")
    page.reload()
    row = page.locator("[data-testid=endpoint-row][data-operation-id=create_refund]")
    expect(row.get_by_label(re.compile("^Agent of"))).to_have_value("billing")
    expect(row.get_by_role("checkbox")).to_be_checked()
    expect(page.get_by_role("heading", name="Billing")).to_be_visible()
    screenshot(page, "endpoints")


def test_an_undecided_approval_expires(make_server: Any, new_page: Any) -> None:
    server: ServerProcess = make_server(INTERRUPT_TTL_S="4", INTERRUPT_WARNING_S="2")
    page: Page = new_page()
    page.goto(server.base + "/")
    send(page, "Cancel order 1042")
    card = page.get_by_test_id("approval-card")
    expect(card).to_have_attribute("data-status", "pending")
    expect(card).to_have_attribute("data-status", "expired", timeout=20_000)
    expect(card.get_by_role("button", name="Approve")).to_have_count(0)
    expect(card).to_contain_text("Expired")
    # the run resumes as rejected: nothing changed, and the thread is usable again
    expect(page.locator(ASSISTANT_DONE).last).to_contain_text("remains active")
    send(page, "What is the status of order 1042?")
    expect(page.locator(ASSISTANT_DONE)).to_have_count(2)
    expect(page.locator(ASSISTANT_DONE).last).to_contain_text("shipped")
    screenshot(page, "approval-expired")


def test_asking_for_a_human_shows_the_handoff_state(local_server: ServerProcess, new_page: Any) -> None:
    page: Page = new_page(viewport={"width": 390, "height": 844})
    page.goto(local_server.base + "/")
    send(page, "I want to talk to a human")
    thread = thread_id_of(page)
    expect(page.get_by_test_id("handoff-banner")).to_contain_text("Waiting for a human agent")
    expect(page.locator("section.chat")).to_have_attribute("data-status", "handoff")
    page.reload()  # the state comes back from the replay
    expect(page.get_by_test_id("handoff-banner")).to_be_visible()
    expect(page.get_by_test_id("user-message")).to_have_text(re.compile("talk to a human"))
    assert thread in page.url
    screenshot(page, "handoff-phone")
