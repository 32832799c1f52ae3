"""Knowledge-base retrieval latency at 10,000 articles (docs/benchmarks.md).

    .venv/bin/python bench/kb_latency.py                  # full text, then hybrid (hashing embeddings)
    .venv/bin/python bench/kb_latency.py --articles 2000 --questions 100 --json

Fills a throwaway Postgres cluster (tests/support/pg.py) with generated help-center
articles (three sections each, ~120 words, English, a 5,000-word vocabulary plus
common policy words) through `KnowledgeService.import_items`, the importer's own
path, then times `KnowledgeService.search` (Python and round trips included) for
paraphrase-like questions: a few words of one section mixed with words of none.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg_pool import AsyncConnectionPool

from app.core.config import Settings
from app.core.db import CONNECTION_KWARGS, apply_migrations
from app.knowledge.importer import Article, Skipped
from app.knowledge.service import KnowledgeService

COMMON = ["order", "delivery", "return", "refund", "shipping", "payment", "account", "password", "warranty", "invoice", "parcel", "customs", "discount", "voucher", "exchange", "size", "colour", "store", "pickup", "tracking", "address", "cancel", "damage", "repair"]


def vocabulary(rng: random.Random, n: int = 5000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ren", "tas", "vor", "pel", "din", "sut", "bra", "qui", "mon", "zel", "fa", "gro"]
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def make_articles(count: int, seed: int) -> list[Article]:
    rng = random.Random(seed)
    vocab = vocabulary(rng)

    def sentence(k: int) -> str:
        words = [rng.choice(COMMON) if rng.random() < 0.25 else rng.choice(vocab) for _ in range(k)]
        return " ".join(words).capitalize() + "."

    articles = []
    for i in range(count):
        sections = [f"## {sentence(3)[:-1]}\n\n{sentence(14)} {sentence(12)} {sentence(14)}" for _ in range(3)]
        articles.append(Article(source=f"bench://article/{i}", title=sentence(4)[:-1], url=f"https://help.example.com/{i}",
                                language="en", text="\n\n".join(sections)))
    return articles


def questions(articles: list[Article], n: int, seed: int) -> list[str]:
    rng = random.Random(seed + 1)
    out = []
    for _ in range(n):
        article = rng.choice(articles)
        words = [w.strip(".").lower() for w in article.text.split() if not w.startswith("#")]
        picked = [*rng.sample(words, 4), "how", "do", "i", rng.choice(COMMON)]
        rng.shuffle(picked)
        out.append(" ".join(picked) + "?")
    return out


async def timed_searches(kb: KnowledgeService, qs: list[str]) -> dict[str, float]:
    for q in qs[:5]:  # warm-up
        await kb.search(q)
    times = []
    found = 0
    for q in qs:
        start = time.perf_counter()
        result = await kb.search(q)
        times.append((time.perf_counter() - start) * 1000)
        found += result.found
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
            "max_ms": round(times[-1], 1), "found_share": round(found / len(qs), 2)}


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    articles = make_articles(args.articles, args.seed)
    qs = questions(articles, args.questions, args.seed)
    report: dict[str, Any] = {"articles": args.articles, "questions": len(qs)}
    async with AsyncConnectionPool(url, kwargs=CONNECTION_KWARGS, min_size=1, max_size=4, open=False) as pool:
        await apply_migrations(pool)
        for mode, provider in (("fulltext", None), ("hybrid", "hashing")):
            async with pool.connection() as conn:
                await conn.execute("TRUNCATE kb_articles CASCADE")
            kb = KnowledgeService(pool, Settings(database_url=None, embeddings_provider=provider))

            async def items() -> AsyncIterator[Article | Skipped]:
                for a in articles:
                    yield a

            start = time.perf_counter()
            summary = await kb.import_items("bench", items())
            import_s = time.perf_counter() - start
            async with pool.connection() as conn:
                await conn.execute("VACUUM ANALYZE kb_chunks")
            report[mode] = {"import_s": round(import_s, 1), "chunks": summary.chunks,
                            "embeddings": summary.embeddings, **await timed_searches(kb, qs)}
            print(mode, report[mode], file=sys.stderr)
    report["machine"] = f"{platform.machine()}, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    from app.core.logging import configure_logging
    from tests.support.pg import PgCluster

    configure_logging("warning", "console")  # keep stdout to the report

    cluster = PgCluster().init()
    cluster.start()
    try:
        url = cluster.create_database("kb_bench")
        report = asyncio.run(run(url, args))
    finally:
        cluster.destroy()
    print(json.dumps(report, indent=2) if args.json else report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
