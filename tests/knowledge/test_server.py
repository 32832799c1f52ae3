"""The knowledge base through the real server: the faq agent answers from it over the socket with
its source, an unanswerable question gets "I don't know" and a human and becomes a content gap,
`support-agent kb import` (the server's settings) reaches the running server at once, and the
admin REST API imports, lists and deletes articles."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.core.security import issue_token
from tests.support.pg import PgCluster
from tests.support.server import REPO, ServerProcess, WsClient

SECRET = "knowledge-test-secret-0123456789"
HELPCENTER = REPO / "tests" / "fixtures" / "helpcenter"


def token(user: str, role: str = "customer") -> str:
    return issue_token(SECRET, user_id=user, role=role, ttl_s=3600)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def database(pg_cluster: PgCluster) -> str:
    return pg_cluster.create_database(f"kb_{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess({"DATABASE_URL": database, "AUTH_SECRET": SECRET, "RATE_LIMIT_MESSAGES": "1000"},
                         data_dir=Path(tmp_path_factory.mktemp("kb-server")))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
async def customer(server: ServerProcess) -> AsyncIterator[WsClient]:
    client = await WsClient.connect(server.ws_url, token(f"cust_{uuid.uuid4().hex[:8]}"))
    yield client
    await client.close()


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.base + "/api/knowledge", timeout=30,
                        headers={"Authorization": f"Bearer {token('root', 'admin')}"})


async def kb_import(source: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`support-agent kb import SOURCE` in a subprocess, off the event loop (the sockets stay served)."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "app.cli", "kb", "import", source], env=env, capture_output=True,
        text=True, timeout=120, cwd=REPO, check=False)


def new_thread() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


async def test_faq_answers_from_the_demo_help_center_with_its_source(customer: WsClient) -> None:
    frames = await customer.ask(new_thread(), "What is your return policy?")

    [call] = [f for f in frames if f["type"] == "tool_call"]
    assert call["tool"] == "search_help_center" and call["agent"] == "faq"
    [citation] = [f for f in frames if f["type"] == "citation"]
    assert (citation["title"], citation["url"], citation["call_id"]) == (
        "Return policy", "/demo-shop/help/return-policy", call["call_id"])
    assert citation["seq"] < frames[-1]["seq"]
    end = frames[-1]
    assert end["type"] == "message_complete"
    assert "within 30 days of delivery" in end["content"]
    assert end["content"].endswith("Source: Return policy: /demo-shop/help/return-policy")


async def test_unanswerable_question_says_so_offers_a_human_and_is_a_content_gap(
    server: ServerProcess, customer: WsClient
) -> None:
    thread = new_thread()
    frames = await customer.ask(thread, "Do you offer gift cards?")
    end = frames[-1]
    assert end["content"].startswith("I don't know") and "talk to a human" in end["content"]
    assert [f for f in frames if f["type"] == "citation"] == []
    await customer.ask(new_thread(), "Do you offer gift cards for birthdays?")

    with httpx.Client(base_url=server.base, timeout=30) as http:
        refused = http.get("/api/knowledge/gaps", headers={"Authorization": f"Bearer {token('c1')}"})
        assert refused.status_code == 403
        gaps = http.get("/api/knowledge/gaps", headers={"Authorization": f"Bearer {token('op', 'operator')}"}).json()
    [group] = [g for g in gaps["groups"] if "gift" in g["question"]]
    assert group["count"] == 2 and group["reasons"] == {"no_match": 2}
    assert set(group["examples"]) == {"Do you offer gift cards?", "Do you offer gift cards for birthdays?"}


async def test_asking_for_a_human_right_after_an_answer_is_a_content_gap(
    server: ServerProcess, customer: WsClient
) -> None:
    thread = new_thread()
    answered = await customer.ask(thread, "How long does shipping take?")
    assert [f["title"] for f in answered if f["type"] == "citation"] == ["Shipping times and costs"]
    handed = await customer.ask(thread, "That doesn't help, I want to talk to a human")
    assert [f for f in handed if f["type"] == "handoff"]

    with httpx.Client(base_url=server.base, timeout=30) as http:
        gaps = http.get("/api/knowledge/gaps", headers={"Authorization": f"Bearer {token('op', 'operator')}"}).json()
    [group] = [g for g in gaps["groups"] if g["question"] == "How long does shipping take?"]
    assert group["reasons"] == {"handoff": 1}


async def test_cli_import_reaches_the_running_server_at_once(
    server: ServerProcess, customer: WsClient, database: str
) -> None:
    question = "Do you offer a student discount?"
    before = await customer.ask(new_thread(), question)
    assert before[-1]["content"].startswith("I don't know")

    env = {**os.environ, "DATABASE_URL": database, "PYTHONPATH": str(REPO)}
    done = await kb_import(str(HELPCENTER), env)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "11 added, 0 updated, 0 removed, 1 skipped" in done.stdout
    assert "skipped  " in done.stdout and "unsupported file type .docx" in done.stdout

    after = await customer.ask(new_thread(), question)
    [citation] = [f for f in after if f["type"] == "citation"]
    assert citation["url"] == "https://help.example.com/students"
    assert "10 percent off every order" in after[-1]["content"]

    again = await kb_import(str(HELPCENTER), env)
    assert "0 added, 0 updated, 0 removed, 12 skipped" in again.stdout

    missing = await kb_import("/no/such/help", env)
    assert missing.returncode == 1 and "no such file or folder" in missing.stdout


def test_admin_api_uploads_lists_and_deletes(server: ServerProcess) -> None:
    with admin(server) as api:
        body = b"---\ntitle: Loyalty points\nurl: https://help.example.com/points\n---\n\nEvery euro spent earns one loyalty point.\n"
        markdown = {"Content-Type": "text/markdown"}
        created = api.post("/articles", params={"filename": "points.md"}, content=body, headers=markdown)
        assert created.status_code == 201, created.text
        assert created.json()["added"] == [{"source": "upload:points.md", "title": "Loyalty points"}]
        assert api.post("/articles", params={"filename": "points.docx"}, content=b"x", headers=markdown).status_code == 400
        # a cross-site form's text/plain is refused before the route runs (local mode's CSRF guard)
        assert api.post("/articles", params={"filename": "points.md"}, content=body,
                        headers={"Content-Type": "text/plain"}).status_code == 415
        empty = api.post("/articles", params={"filename": "empty.md"}, content=b"   ", headers=markdown)
        assert empty.status_code == 400 and "no readable text" in empty.json()["error"]
        assert api.post("/import", json={"url": "file:///etc/passwd"}).status_code == 400
        private = api.post("/import", json={"url": "http://127.0.0.1:9/help"})
        assert private.status_code == 400 and "OPENAPI_FETCH_ALLOW" in private.json()["error"]

        listed = api.get("/articles", params={"limit": 500}).json()
        [points] = [a for a in listed["articles"] if a["title"] == "Loyalty points"]
        hits = api.get("/search", params={"q": "how do I earn loyalty points"}).json()
        assert hits["found"] and hits["hits"][0]["title"] == "Loyalty points"

        assert api.delete(f"/articles/{points['article_id']}").status_code == 204
        assert api.delete(f"/articles/{points['article_id']}").status_code == 404
        assert not api.get("/search", params={"q": "how do I earn loyalty points"}).json()["found"]
        assert api.get("/articles", headers={"Authorization": f"Bearer {token('c2')}"}).status_code == 403


async def test_cli_import_into_the_embedded_postgres_of_a_running_server(tmp_path: Path) -> None:
    """No DATABASE_URL: `kb import` with the server's DATA_DIR shares its embedded Postgres, and
    leaves it running for the server when it exits."""
    data = tmp_path
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = ServerProcess(data_dir=data)
    proc.env.pop("DATABASE_URL", None)
    with proc:
        done = await kb_import(str(HELPCENTER / "student-discount.html"), {**env, "DATA_DIR": str(data), "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr + done.stdout
        assert "1 added" in done.stdout
        client = await WsClient.connect(proc.ws_url)
        try:
            frames = await client.ask(new_thread(), "Do you offer a student discount?")
        finally:
            await client.close()
        assert [f["url"] for f in frames if f["type"] == "citation"] == ["https://help.example.com/students"]
