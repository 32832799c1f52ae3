"""The knowledge base on real Postgres: import (Markdown, HTML, two languages), re-import
(updated, removed, unchanged, unsupported), and retrieval quality on paraphrased questions."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from app.core.config import Settings
from app.knowledge.service import KnowledgeService

# question (paraphrased: no article is quoted) -> the article that answers it
QUESTIONS = [
    ("Can I send a jacket back if it doesn't fit?", "Returns and refunds"),
    ("How many days do I have to return something?", "Returns and refunds"),
    ("When will my money be back after a return?", "Returns and refunds"),
    ("How long until my parcel arrives?", "Delivery times and shipping costs"),
    ("Is shipping free?", "Delivery times and shipping costs"),
    ("What does express delivery cost?", "Delivery times and shipping costs"),
    ("My blender stopped working after a year, is that covered?", "Warranty"),
    ("Does the guarantee cover water damage?", "Warranty"),
    ("Can I pay with PayPal?", "Payment methods"),
    ("Can my company pay by invoice?", "Payment methods"),
    ("I forgot my password", "Your account and password"),
    ("How do I delete my account and personal data?", "Your account and password"),
    ("Do you ship to Switzerland?", "Shipping abroad"),
    ("Will I pay customs duties in the UK?", "Shipping abroad"),
    ("The box was broken when it arrived", "A parcel arrived damaged"),
    ("Is there a discount for students?", "Student discount"),
    ("Innerhalb welcher Frist kann ich Ware zurückschicken?", "Rückgabe und Erstattung"),
    ("Wann bekomme ich meine Erstattung?", "Rückgabe und Erstattung"),
    ("Was kostet der Versand?", "Lieferzeiten und Versandkosten"),
    ("Kann ich auf Rechnung zahlen?", "Zahlungsarten"),
]
HIT_AT_1_MIN = 0.85


async def test_import_reads_markdown_and_html_in_two_languages(
    pool: AsyncConnectionPool, settings: Settings, helpcenter: Path
) -> None:
    kb = KnowledgeService(pool, settings)
    progress: list[dict[str, int]] = []
    summary = await kb.import_source(str(helpcenter), progress=progress.append)

    assert len(summary.added) == 11 and not summary.updated and not summary.removed
    assert [s["reason"] for s in summary.skipped] == [
        "unsupported file type .docx; supported: .htm, .html, .markdown, .md, .pdf, .txt"]
    assert progress[-1]["articles"] == 11 and progress[-1]["chunks"] == summary.chunks > 11
    articles, total = await kb.list_articles(limit=50, offset=0)
    assert total == 11
    by_title = {a["title"]: a for a in articles}
    abroad = by_title["Shipping abroad"]
    assert (abroad["url"], abroad["language"]) == ("https://help.example.com/international-shipping", "en")
    assert abroad["updated_at"].isoformat().startswith("2026-02-01T09:00:00")
    assert by_title["Zahlungsarten"]["language"] == "de"
    assert by_title["Rückgabe und Erstattung"]["url"] == "https://help.example.com/de/rueckgabe"

    # navigation, header, footer and scripts are not part of the article
    result = await kb.search("Imprint Privacy analytics breadcrumbs")
    assert not result.found and all(h.title != "Shipping abroad" for h in result.hits)
    hit = (await kb.search("customs duties import VAT")).hits[0]
    assert (hit.title, hit.heading) == ("Shipping abroad", "Customs and import duties")
    assert "Example Shop" not in hit.body


async def test_reimport_updates_changed_removes_deleted_skips_unchanged(
    pool: AsyncConnectionPool, settings: Settings, helpcenter: Path
) -> None:
    kb = KnowledgeService(pool, settings)
    await kb.import_source(str(helpcenter))
    assert (await kb.search("Is there a discount for students?")).found

    returns = helpcenter / "returns.md"
    returns.write_text(returns.read_text().replace("within 30 days", "within 60 days"))
    (helpcenter / "student-discount.html").unlink()
    summary = await kb.import_source(str(helpcenter))

    assert summary.added == []
    assert summary.updated == [{"source": str(returns), "title": "Returns and refunds"}]
    assert summary.removed == [{"source": str(helpcenter / "student-discount.html"), "title": "Student discount",
                                "reason": "no longer in the source"}]
    unchanged = [s for s in summary.skipped if s["reason"] == "unchanged since the last import"]
    assert len(unchanged) == 9
    answer = (await kb.search("How many days do I have to return something?")).hits[0]
    assert "within 60 days" in answer.body
    assert not (await kb.search("Is there a discount for students?")).found
    _, total = await kb.list_articles(limit=1, offset=0)
    assert total == 10


async def test_paraphrased_questions_find_their_article(
    pool: AsyncConnectionPool, settings: Settings, helpcenter: Path
) -> None:
    kb = KnowledgeService(pool, settings)
    await kb.import_source(str(helpcenter))
    rows = []
    for question, expected in QUESTIONS:
        result = await kb.search(question, limit=10)
        titles = list(dict.fromkeys(h.title for h in result.hits))  # articles, best first
        rows.append((question, expected, titles[:1] == [expected], expected in titles[:3], titles))
    hit1 = sum(r[2] for r in rows) / len(rows)
    hit3 = sum(r[3] for r in rows) / len(rows)
    report = "\n".join(f"{'ok ' if r[2] else ('@3 ' if r[3] else 'MISS')} {r[0]!r} -> {r[1]!r}: {r[4]}" for r in rows)
    print(f"\nhit@1 = {hit1:.0%}, hit@3 = {hit3:.0%}\n{report}")
    assert hit3 == 1.0, report
    assert hit1 >= HIT_AT_1_MIN, report


@pytest.mark.parametrize("question", ["Do you sell gift cards?", "What is the weather in Paris tomorrow?",
                                      "Wo ist der nächste Bahnhof?", "what is it"])
async def test_unanswerable_questions_are_not_found(
    pool: AsyncConnectionPool, settings: Settings, helpcenter: Path, question: str
) -> None:
    kb = KnowledgeService(pool, settings)
    await kb.import_source(str(helpcenter))
    assert not (await kb.search(question)).found


async def test_content_gaps_group_similar_wording_and_expire_with_retention(
    pool: AsyncConnectionPool, settings: Settings
) -> None:
    from datetime import UTC, datetime, timedelta

    from app.analytics.retention import prune_once

    kb = KnowledgeService(pool, settings)
    for question in ("Do you sell gift cards?", "Can I buy a gift card?", "gift cards for birthdays",
                     "Where is your store in Berlin?"):
        await kb.record_gap(question, reason="no_match", thread_id=None)
    await kb.record_gap("Where is the Berlin store", reason="handoff", thread_id="t1")
    gaps = await kb.content_gaps(days=30, limit=10)
    assert gaps["total"] == 5
    # newest first names the group; questions sharing half their content words join it
    assert [(g["question"], g["count"], g["reasons"]) for g in gaps["groups"]] == [
        ("gift cards for birthdays", 3, {"no_match": 3}),
        ("Where is the Berlin store", 2, {"handoff": 1, "no_match": 1}),
    ]
    assert set(gaps["groups"][0]["examples"]) == {"gift cards for birthdays", "Can I buy a gift card?",
                                                  "Do you sell gift cards?"}

    await prune_once(pool, retention_days=1, now=datetime.now(UTC) + timedelta(days=2))
    assert (await kb.content_gaps(days=30, limit=10))["total"] == 0
