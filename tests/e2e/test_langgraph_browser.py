"""useStream from `@langchain/langgraph-sdk/react`, unchanged, against our Agent Server API in Chromium.

The page (tests/e2e/lg_page, a test fixture, not the product) is the smallest chat a
LangGraph user writes with `useStream`; it is served from its own origin, so CORS
(x-api-key, Last-Event-ID, the exposed Location headers) is exercised too. No sleeps:
every wait is for a selector or a text.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, expect

from app.core.security import issue_token
from tests.e2e.conftest import SECRET, _server
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

PAGE_DIR = Path(__file__).parent / "lg_page"
AI = "#messages li.ai"


def _built_page() -> Path:
    bundle = PAGE_DIR / "dist" / "app.js"
    sources = [PAGE_DIR / n for n in ("main.jsx", "package.json", "package-lock.json")]
    if bundle.is_file() and all(p.stat().st_mtime <= bundle.stat().st_mtime for p in sources):
        return PAGE_DIR
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the useStream fixture page is not built and npm is not installed: install Node 20+")
    if not (PAGE_DIR / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PAGE_DIR, check=True)
    subprocess.run([npm, "run", "build"], cwd=PAGE_DIR, check=True)
    return PAGE_DIR


@pytest.fixture
def page_origin() -> Iterator[str]:
    """The fixture page on an origin of its own (a static server on another port)."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(_built_page()))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def lg_server(database_url: str, tmp_path: Path, page_origin: str) -> Iterator[ServerProcess]:
    # the page's origin is allowed by name, as a team lists its chat UI's (no "*" by default)
    proc = _server(database_url, tmp_path, AUTH_SECRET=SECRET, DEMO_TOKEN_DELAY_MS="8",
                   CORS_ALLOW_ORIGINS=json.dumps([page_origin]))
    proc.start()
    yield proc
    proc.stop()


def send(page: Page, text: str) -> None:
    page.locator("#input").fill(text)
    page.locator("#send").click()


def test_use_stream_chat_approval_and_reload_mid_answer(lg_server: ServerProcess, page_origin: str,
                                                        browser: Any) -> None:
    token = issue_token(SECRET, user_id="lg-browser", role="customer")
    ctx = browser.new_context()
    try:
        page: Page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{page_origin}/index.html?" + urlencode({"api": lg_server.base + "/lg", "token": token}))
        page.evaluate("""() => {
            window.__texts = [];
            new MutationObserver(() => {
              const el = document.querySelector('#messages li.ai');
              if (el && window.__texts.at(-1) !== el.textContent) window.__texts.push(el.textContent);
            }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }""")

        # a streamed answer
        send(page, "What is the status of order 1042?")
        expect(page.locator("#messages li.human")).to_have_text(["What is the status of order 1042?"])
        expect(page.locator("#state")).to_have_text("idle")
        expect(page.locator(AI)).to_have_count(1)
        final = page.locator(AI).inner_text()
        assert "1042" in final and "shipped" in final.lower(), final
        texts: list[str] = page.evaluate("window.__texts")
        assert len(texts) >= 3 and all(final.startswith(t) for t in texts), texts  # it grew as it streamed

        # an approval, rendered from the interrupt's HITL request, approved in the page
        send(page, "Cancel order 1022")
        expect(page.locator("#action")).to_have_text("cancel_order")
        expect(page.locator("#risk")).to_have_text("high")
        page.locator("#approve").click()
        expect(page.locator("#approval")).to_have_count(0)
        expect(page.locator(AI).last).to_contain_text("cancel")
        assert httpx.get(f"{lg_server.base}/demo-shop/orders/1022").json()["status"] == "cancelled"

        # reload in the middle of a long answer: useStream rejoins the run from its last event id
        send(page, "benchmark reply 400 tokens")
        expect(page.locator("#state")).to_have_text("streaming")
        page.wait_for_function("() => (document.querySelectorAll('#messages li.ai')[2]?.textContent || '').length > 20")
        joins: list[dict[str, str]] = []
        page.on("request", lambda r: joins.append(r.headers) if r.method == "GET" and r.url.split("?")[0].endswith(
            "/stream") and "/runs/" in r.url else None)
        page.reload()
        expect(page.locator("#state")).to_have_text("idle")
        # the page rejoined the unfinished run; after a reload useStream asks for all of it (-1),
        # which the server replays from the event log before going live
        assert joins and joins[0]["last-event-id"] == "-1", joins
        thread_id = page.evaluate("sessionStorage.getItem('thread')")
        values = httpx.get(f"{lg_server.base}/lg/threads/{thread_id}", headers={"x-api-key": token}).json()["values"]
        answer = values["messages"][-1]["content"]
        assert len(answer.split()) >= 300
        expect(page.locator(AI).last).to_have_text(answer)
        assert page.locator("#error").count() == 0
    finally:
        ctx.close()
