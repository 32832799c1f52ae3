"""SQL of the knowledge base: articles, chunks, embeddings, content gaps. The only SQL here.

Every function takes a connection (or the pool) and plain values; the service owns
the transactions. Chunk text vectors are built in Postgres with the article
language's text-search configuration: title (weight A), heading (B), body (D).
"""

from __future__ import annotations

import hashlib
from typing import Any

from psycopg import sql

from app.core.db import Conn, Pool

__all__ = [
    "ARTICLE_COLUMNS", "delete_article", "delete_missing", "fts_search", "get_article_hashes", "insert_chunks",
    "list_articles", "list_gaps", "record_gap", "upsert_article", "vector_ready", "vector_search", "write_embeddings",
]

ARTICLE_COLUMNS = "article_id, source, collection, title, url, language, content_hash, chunk_count, updated_at, imported_at"


async def get_article_hashes(conn: Conn, sources: list[str]) -> dict[str, tuple[str, str]]:
    """source -> (article_id, content_hash) for the sources already imported."""
    cur = await conn.execute("SELECT source, article_id, content_hash FROM kb_articles WHERE source = ANY(%s)", (sources,))
    return {r["source"]: (r["article_id"], r["content_hash"]) for r in await cur.fetchall()}


async def upsert_article(conn: Conn, row: dict[str, Any]) -> None:
    """Insert or replace an article's row and drop its old chunks (their embeddings go with them)."""
    await conn.execute(
        """
        INSERT INTO kb_articles (article_id, source, collection, title, url, language, config, content_hash,
                                 chunk_count, updated_at, imported_at)
        VALUES (%(article_id)s, %(source)s, %(collection)s, %(title)s, %(url)s, %(language)s, %(config)s::regconfig,
                %(content_hash)s, %(chunk_count)s, coalesce(%(updated_at)s, now()), now())
        ON CONFLICT (source) DO UPDATE SET
            collection = EXCLUDED.collection, title = EXCLUDED.title, url = EXCLUDED.url,
            language = EXCLUDED.language, config = EXCLUDED.config, content_hash = EXCLUDED.content_hash, chunk_count = EXCLUDED.chunk_count,
            updated_at = EXCLUDED.updated_at, imported_at = now()
        """,
        row,
    )
    await conn.execute("DELETE FROM kb_chunks WHERE article_id = %s", (row["article_id"],))


async def insert_chunks(conn: Conn, article_id: str, title: str, config: str,
                        chunks: list[tuple[str, str]]) -> list[int]:
    """The (heading, body) chunks of an article, in order; returns their ids."""
    cur = await conn.execute(
        """
        INSERT INTO kb_chunks (article_id, position, heading, body, config, tsv)
        SELECT %(article_id)s, c.position, c.heading, c.body, %(config)s::regconfig,
               setweight(to_tsvector(%(config)s::regconfig, %(title)s), 'A')
               || setweight(to_tsvector(%(config)s::regconfig, c.heading), 'B')
               || setweight(to_tsvector(%(config)s::regconfig, c.body), 'D')
        FROM unnest(%(headings)s::text[], %(bodies)s::text[]) WITH ORDINALITY AS c(heading, body, position)
        ORDER BY c.position
        RETURNING chunk_id
        """,
        {"article_id": article_id, "config": config, "title": title,
         "headings": [h for h, _ in chunks], "bodies": [b for _, b in chunks]},
    )
    return sorted(r["chunk_id"] for r in await cur.fetchall())


async def delete_missing(conn: Conn, collection: str, seen: list[str]) -> list[dict[str, Any]]:
    """Remove the collection's articles whose source was not seen in this import; returns them."""
    cur = await conn.execute(
        "DELETE FROM kb_articles WHERE collection = %s AND NOT (source = ANY(%s)) RETURNING article_id, source, title",
        (collection, seen),
    )
    return list(await cur.fetchall())


async def delete_article(conn: Conn, article_id: str) -> dict[str, Any] | None:
    cur = await conn.execute("DELETE FROM kb_articles WHERE article_id = %s RETURNING article_id, source, title",
                             (article_id,))
    return await cur.fetchone()


async def list_articles(pool: Pool, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {ARTICLE_COLUMNS}, count(*) OVER () AS total FROM kb_articles "
            "ORDER BY title, article_id LIMIT %s OFFSET %s", (limit, offset))
        rows = await cur.fetchall()
        if not rows:
            cur = await conn.execute("SELECT count(*) AS n FROM kb_articles")
            count = await cur.fetchone()
            return [], int(count["n"]) if count else 0
    total = int(rows[0]["total"])
    return [{k: v for k, v in r.items() if k != "total"} for r in rows], total


# -- search ----------------------------------------------------------------------------

# websearch_to_tsquery parses the question (quotes, -words) in each language's
# dictionary; its ANDs become ORs so a paraphrase sharing only some words still
# matches. `coverage` is the share of the question's words a chunk contains (the
# relevance threshold); ts_rank orders ties by weight (title, heading, body).
FTS_SEARCH = """
WITH q AS MATERIALIZED (  -- parse the question once per dictionary, not once per row
    SELECT cfg,
           replace(websearch_to_tsquery(cfg, %(question)s)::text, ' & ', ' | ')::tsquery AS query,
           ARRAY(SELECT quote_literal(l)::tsquery FROM unnest(tsvector_to_array(to_tsvector(cfg, %(question)s))) AS l)
               AS words
    FROM (SELECT DISTINCT config AS cfg FROM kb_articles) AS used
), matched AS MATERIALIZED (
    -- the best candidates by ts_rank first, so coverage is computed for a few hundred rows only
    SELECT c.chunk_id, c.article_id, c.heading, c.body, c.tsv, q.words, ts_rank(c.tsv, q.query, 32) AS rank
    FROM q JOIN kb_chunks c ON c.config = q.cfg AND c.tsv @@ q.query
    WHERE q.query::text <> ''
    ORDER BY rank DESC
    LIMIT %(candidates)s
), hits AS (
    SELECT m.chunk_id, m.article_id, m.heading, m.body, m.rank,
           (SELECT count(*) FROM unnest(m.words) AS w WHERE m.tsv @@ w)::float8
               / greatest(cardinality(m.words), 1) AS coverage
    FROM matched m
)
SELECT h.chunk_id, h.article_id, h.heading, h.body, h.rank, h.coverage, a.title, a.url, a.language, a.updated_at
FROM hits h JOIN kb_articles a USING (article_id)
ORDER BY h.coverage DESC, h.rank DESC, h.chunk_id
LIMIT %(limit)s
"""

RANK_CANDIDATES = 200
"""Chunks (best by ts_rank) whose word coverage is computed per search."""


async def fts_search(pool: Pool, question: str, limit: int) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(FTS_SEARCH, {"question": question, "limit": limit,
                                              "candidates": max(RANK_CANDIDATES, limit)})
        return list(await cur.fetchall())


async def vector_ready(pool: Pool) -> bool:
    """Whether kb_embeddings exists (pgvector was available when the schema was applied)."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT to_regclass('kb_embeddings') IS NOT NULL AS ok")
        row = await cur.fetchone()
        return bool(row and row["ok"])


def _vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


async def write_embeddings(conn: Conn, model: str, chunk_ids: list[int], vectors: list[list[float]]) -> None:
    await conn.execute(
        """
        INSERT INTO kb_embeddings (chunk_id, model, embedding)
        SELECT id, %s, v::vector FROM unnest(%s::bigint[], %s::text[]) AS x(id, v)
        ON CONFLICT (chunk_id) DO UPDATE SET model = EXCLUDED.model, embedding = EXCLUDED.embedding
        """,
        (model, chunk_ids, [_vector_literal(v) for v in vectors]),
    )


def _hnsw_name(model: str, dims: int) -> str:
    return f"kb_embeddings_hnsw_{hashlib.sha256(f'{model}/{dims}'.encode()).hexdigest()[:12]}"


async def ensure_vector_index(conn: Conn, model: str, dims: int) -> None:
    """An HNSW index for one embedding model's vectors (kb_embeddings.embedding has no fixed
    dimension, so each model gets a partial index on the column cast to its dimension)."""
    await conn.execute(sql.SQL(
        "CREATE INDEX IF NOT EXISTS {name} ON kb_embeddings USING hnsw ((embedding::vector({dims})) vector_cosine_ops) "
        "WHERE model = {model}").format(name=sql.Identifier(_hnsw_name(model, dims)), dims=sql.Literal(dims),
                                        model=sql.Literal(model)))


async def vector_search(pool: Pool, model: str, vector: list[float], limit: int) -> list[dict[str, Any]]:
    """The nearest chunks by cosine distance among the embeddings of `model` (through its HNSW index)."""
    dims = len(vector)
    query = sql.SQL(
        """
        WITH nearest AS (
            SELECT e.chunk_id, (e.embedding::vector({dims})) <=> %(v)s::vector({dims}) AS distance
            FROM kb_embeddings e WHERE e.model = %(model)s
            ORDER BY (e.embedding::vector({dims})) <=> %(v)s::vector({dims})
            LIMIT %(limit)s
        )
        SELECT c.chunk_id, c.article_id, c.heading, c.body, 1 - n.distance AS similarity,
               a.title, a.url, a.language, a.updated_at
        FROM nearest n JOIN kb_chunks c USING (chunk_id) JOIN kb_articles a USING (article_id)
        ORDER BY n.distance, c.chunk_id
        """).format(dims=sql.Literal(dims))
    async with pool.connection() as conn:
        cur = await conn.execute(query, {"v": _vector_literal(vector), "model": model, "limit": limit})
        return list(await cur.fetchall())


async def chunks_without_embeddings(conn: Conn, model: str, limit: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        """
        SELECT c.chunk_id, a.title, c.heading, c.body FROM kb_chunks c JOIN kb_articles a USING (article_id)
        LEFT JOIN kb_embeddings e ON e.chunk_id = c.chunk_id AND e.model = %s
        WHERE e.chunk_id IS NULL ORDER BY c.chunk_id LIMIT %s
        """,
        (model, limit),
    )
    return list(await cur.fetchall())


# -- content gaps ----------------------------------------------------------------------


async def record_gap(pool: Pool, *, question: str, normalized: str, reason: str,
                     thread_id: str | None) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO kb_content_gaps (question, normalized, reason, thread_id) VALUES (%s, %s, %s, %s)",
            (question, normalized, reason, thread_id),
        )


async def searches_of_previous_run(pool: Pool, thread_id: str, run_id: str,
                                   tools: list[str]) -> list[str]:
    """The knowledge-search queries of the thread's run before `run_id` not already recorded as gaps."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """
            WITH previous AS (
                SELECT run_id FROM events
                WHERE thread_id = %(thread)s AND type = 'run_start' AND run_id IS DISTINCT FROM %(run)s
                ORDER BY seq DESC LIMIT 1
            )
            SELECT DISTINCT e.payload -> 'args' ->> 'query' AS question
            FROM events e JOIN previous p USING (run_id)
            WHERE e.thread_id = %(thread)s AND e.type = 'tool_call' AND e.payload ->> 'tool' = ANY(%(tools)s)
              AND NOT EXISTS (SELECT 1 FROM kb_content_gaps g
                              WHERE g.thread_id = %(thread)s AND g.question = e.payload -> 'args' ->> 'query')
            """,
            {"thread": thread_id, "run": run_id, "tools": tools},
        )
        return [r["question"] for r in await cur.fetchall() if r["question"]]


async def list_gaps(pool: Pool, *, since_days: int, limit: int) -> list[dict[str, Any]]:
    """The unanswered questions of the last `since_days` days, as rows; the service groups them."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """
            SELECT gap_id, question, normalized, reason, thread_id, created_at FROM kb_content_gaps
            WHERE created_at >= now() - make_interval(days => %s)
            ORDER BY created_at DESC LIMIT %s
            """,
            (since_days, limit),
        )
        return list(await cur.fetchall())


async def delete_old_gaps(pool: Pool, *, cutoff: Any) -> int:
    """Content gaps recorded before `cutoff` (RETENTION_DAYS): they hold customers' questions."""
    async with pool.connection() as conn:
        cur = await conn.execute("DELETE FROM kb_content_gaps WHERE created_at < %s", (cutoff,))
        return cur.rowcount
