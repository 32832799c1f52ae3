"""The vector half of retrieval (pgvector), with the deterministic offline `hashing` embeddings:
chunks are embedded on import, searches fuse full-text and vector rankings by reciprocal rank
fusion, and the vector side finds what the words alone miss."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from app.core.config import Settings
from app.knowledge.search import RRF_K, HashingEmbeddings, fuse
from app.knowledge.service import KnowledgeService

# The German compound "zurückzuschicken" is not the article's "zurückschicken" to the German
# stemmer, so the words alone find nothing; the hashing embedder shares 5-letter prefixes.
INFLECTED = "Wie lange habe ich Zeit, einen Artikel zurückzuschicken?"


def test_hashing_embeddings_are_deterministic_and_normalised() -> None:
    embedder = HashingEmbeddings()
    a, b = embedder.embed_documents(["Returns within 30 days", "Returns within 30 days"])
    assert a == b and abs(sum(x * x for x in a) - 1) < 1e-9
    assert embedder.embed_query("returns") != embedder.embed_query("shipping")


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    def row(i):
        return {"chunk_id": i, "article_id": str(i), "title": f"t{i}", "url": None, "heading": "", "body": "",
                "language": "en"}
    fused = fuse({"fulltext": [row(1), row(2), row(3)], "vector": [row(3), row(2), row(4)]}, 10)
    assert [h.chunk_id for h in fused] == [3, 2, 1, 4]  # 3 and 2 are in both lists; 1 tops one only
    assert fused[0].score == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert fused[0].ranks == {"fulltext": 3, "vector": 1}


async def test_import_embeds_chunks_and_search_fuses_both_rankings(
    pool: AsyncConnectionPool, helpcenter: Path
) -> None:
    settings = Settings(database_url=None, embeddings_provider="hashing", kb_min_similarity=0.2)
    kb = KnowledgeService(pool, settings)
    summary = await kb.import_source(str(helpcenter))
    assert summary.embeddings == summary.chunks > 0

    result = await kb.search("How long until my parcel arrives?", limit=5)
    assert result.mode == "hybrid" and result.found
    assert all(set(h.ranks) == {"fulltext", "vector"} for h in result.hits[:2])

    words_only = KnowledgeService(pool, Settings(database_url=None))
    assert not (await words_only.search(INFLECTED)).found
    hybrid = await kb.search(INFLECTED)
    assert hybrid.found and hybrid.hits[0].title == "Rückgabe und Erstattung"
    top = hybrid.hits[0]
    assert top.coverage < settings.kb_min_score <= 1 and top.similarity >= 0.2  # relevant by its vector

    # a changed article's embeddings are rebuilt with its chunks
    returns = helpcenter / "returns.md"
    returns.write_text(returns.read_text().replace("within 30 days", "within 60 days"))
    again = await kb.import_source(str(helpcenter))
    assert again.embeddings == again.chunks == 2


async def test_without_pgvector_table_search_stays_full_text(pool: AsyncConnectionPool, helpcenter: Path) -> None:
    """A Postgres without pgvector has no kb_embeddings: embeddings configured, full text still answers."""
    async with pool.connection() as conn:
        await conn.execute("DROP TABLE kb_embeddings")
    kb = KnowledgeService(pool, Settings(database_url=None, embeddings_provider="hashing"))
    summary = await kb.import_source(str(helpcenter))
    assert summary.embeddings == 0 and summary.chunks > 0
    result = await kb.search("Can I pay with PayPal?")
    assert result.mode == "fulltext" and result.hits[0].title == "Payment methods"
