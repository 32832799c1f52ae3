"""KnowledgeService: import help-center content, search it, and count what it could not answer.

    kb = KnowledgeService(pool, settings)
    summary = await kb.import_source("docs/help", progress=print)   # added/updated/removed/skipped + why
    result = await kb.search("can I send something back?")          # hits, found
    outcome = await kb.tool({"query": ...}, call_id=..., context=run_context)   # the faq agent's tool

An import is keyed by each document's source (file path or URL) and a hash of its
content: a new source is added, a changed one replaced (chunks and embeddings
rebuilt), an unchanged one skipped, and the collection's (folder's, sitemap's)
articles no longer there are removed. Each article is written in its own
transaction, so searches see either its old or its new chunks, and a running
server answers from new articles at once (there is no cache).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from psycopg_pool import AsyncConnectionPool

from app.core.errors import BadRequest, NotFound
from app.core.logging import get_logger
from app.knowledge import store
from app.knowledge.chunking import chunk_article
from app.knowledge.importer import Article, Skipped, read_source
from app.knowledge.search import Hit, fuse, load_embeddings, text_config

__all__ = ["DEMO_HELPCENTER", "ImportSummary", "KnowledgeService", "SearchResult", "import_command"]

log = get_logger(__name__)

DEMO_HELPCENTER = Path(__file__).resolve().parent.parent / "demo" / "helpcenter"
Progress = Callable[[dict[str, int]], None]
_STOPWORDS = frozenset(
    ["a", "an", "the", "of", "for", "to", "from", "in", "on", "at", "by", "with", "and", "or", "my", "your", "our", "is", "are", "be", "do", "does", "did", "can", "could", "i", "we", "you", "it", "what", "which", "how", "when", "where", "who", "why", "will", "would", "should", "there", "this", "that", "these", "those", "me", "us", "have", "has"])


@dataclass
class ImportSummary:
    source: str
    added: list[dict[str, str]] = field(default_factory=list)
    updated: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    chunks: int = 0
    embeddings: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
                f"{len(self.skipped)} skipped; {self.chunks} chunks, {self.embeddings} embeddings written")


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    found: bool
    mode: str
    """`fulltext` or `hybrid` (full text and vectors, fused)."""


def normalize_question(text: str) -> str:
    """The grouping key of a content gap: its content words, lower-case, without plural s, sorted."""
    words = {w[:-1] if len(w) > 3 and w.endswith("s") else w
             for w in re.findall(r"\w+", text.lower()) if w not in _STOPWORDS and not w.isdigit()}
    return " ".join(sorted(words))


def _article_id(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:20]


class KnowledgeService:
    def __init__(self, pool: AsyncConnectionPool, settings: Any) -> None:
        self.pool = pool
        self.settings = settings
        loaded = load_embeddings(settings)
        self.embeddings, self.embedding_model = loaded or (None, None)
        self._vector: bool | None = None
        self._indexed: set[int] = set()  # embedding dimensions whose HNSW index this process ensured
        self.tool_names: set[str] = set()
        """The agents' knowledge tools (kind: knowledge), set by the runtime; a handoff after one is a gap."""

    async def vector_enabled(self) -> bool:
        """Embeddings configured and the kb_embeddings table exists (pgvector was available)."""
        if self.embeddings is None:
            return False
        if self._vector is None:
            self._vector = await store.vector_ready(self.pool)
            if not self._vector:
                log.warning("kb_vector_unavailable", reason="EMBEDDINGS_PROVIDER is set but pgvector is not "
                            "installed in this Postgres; searching by full text only")
        return self._vector

    # -- import ------------------------------------------------------------------------

    async def import_source(self, source: str, *, progress: Progress | None = None) -> ImportSummary:
        """Import a file, folder, page or sitemap; raises BadRequest when the source itself cannot be read."""
        collection = source if source.startswith(("http://", "https://")) else str(
            await asyncio.to_thread(lambda: Path(source).expanduser().resolve()))
        try:
            return await self.import_items(collection, read_source(source, self.settings), progress=progress)
        except FileNotFoundError as exc:
            raise BadRequest(str(exc)) from None

    async def import_items(self, collection: str, items: AsyncIterator[Article | Skipped], *,
                           progress: Progress | None = None) -> ImportSummary:
        summary = ImportSummary(source=collection)
        seen: list[str] = []
        vector = await self.vector_enabled()
        count = 0
        async for item in items:
            count += 1
            if count > self.settings.kb_import_max_articles:
                summary.skipped.append({"source": item.source, "reason": f"over the limit of "
                                        f"{self.settings.kb_import_max_articles} articles per import (KB_IMPORT_MAX_ARTICLES)"})
                continue
            if isinstance(item, Skipped):
                summary.skipped.append({"source": item.source, "reason": item.reason})
                continue
            seen.append(item.source)
            await self._import_article(collection, item, summary, vector)
            if progress is not None:
                progress({"articles": len(seen), "chunks": summary.chunks, "embeddings": summary.embeddings})
        if seen or not summary.skipped:
            async with self.pool.connection() as conn:
                removed = await store.delete_missing(conn, collection, seen)
            summary.removed = [{"source": r["source"], "title": r["title"], "reason": "no longer in the source"}
                               for r in removed]
        log.info("kb_import", source=collection, summary=summary.line())
        return summary

    async def _import_article(self, collection: str, article: Article, summary: ImportSummary, vector: bool) -> None:
        content_hash = article.content_hash
        async with self.pool.connection() as conn:
            existing = (await store.get_article_hashes(conn, [article.source])).get(article.source)
        entry = {"source": article.source, "title": article.title}
        if existing and existing[1] == content_hash:
            summary.skipped.append({**entry, "reason": "unchanged since the last import"})
            return
        chunks = chunk_article(article.text, title=article.title, max_chars=self.settings.kb_chunk_max_chars)
        if not chunks:
            summary.skipped.append({**entry, "reason": "no text under any heading"})
            return
        vectors: list[list[float]] = []
        if vector and self.embeddings is not None:
            texts = [f"{article.title}\n{c.heading}\n{c.body}" for c in chunks]
            size = self.settings.embeddings_batch_size
            for start in range(0, len(texts), size):
                vectors.extend(await self.embeddings.aembed_documents(texts[start:start + size]))
        article_id = existing[0] if existing else _article_id(article.source)
        async with self.pool.connection() as conn, conn.transaction():
            await store.upsert_article(conn, {
                "article_id": article_id, "source": article.source, "collection": collection, "title": article.title,
                "url": article.url, "language": article.language,
                "config": text_config(article.language), "content_hash": content_hash,
                "chunk_count": len(chunks), "updated_at": article.updated_at})
            ids = await store.insert_chunks(conn, article_id, article.title, text_config(article.language),
                                            [(c.heading, c.body) for c in chunks])
            if vectors:
                await store.write_embeddings(conn, self.embedding_model or "", ids, vectors)
        if vectors and len(vectors[0]) not in self._indexed:
            async with self.pool.connection() as conn:
                await store.ensure_vector_index(conn, self.embedding_model or "", len(vectors[0]))
            self._indexed.add(len(vectors[0]))
        summary.chunks += len(chunks)
        summary.embeddings += len(vectors)
        (summary.updated if existing else summary.added).append(entry)

    async def delete_article(self, article_id: str) -> dict[str, Any]:
        async with self.pool.connection() as conn:
            row = await store.delete_article(conn, article_id)
        if row is None:
            raise NotFound(f"no knowledge-base article {article_id!r}; GET /api/knowledge/articles lists them")
        return row

    async def list_articles(self, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        return await store.list_articles(self.pool, limit=limit, offset=offset)

    async def ensure_demo_articles(self) -> ImportSummary | None:
        """Demo mode: the demo shop's help center becomes the knowledge base on the first start."""
        _, total = await store.list_articles(self.pool, limit=1, offset=0)
        if total:
            return None
        return await self.import_source(str(DEMO_HELPCENTER))

    # -- search ------------------------------------------------------------------------

    async def search(self, question: str, *, limit: int | None = None) -> SearchResult:
        limit = limit or self.settings.kb_search_limit
        question = " ".join(question.split())[:500]
        candidates = max(limit * 4, 20)
        ranked = {"fulltext": await store.fts_search(self.pool, question, candidates)}
        mode = "fulltext"
        if question and await self.vector_enabled() and self.embeddings is not None:
            vector = await self.embeddings.aembed_query(question)
            ranked["vector"] = await store.vector_search(self.pool, self.embedding_model or "", vector, candidates)
            mode = "hybrid"
        hits = fuse(ranked, candidates)
        relevant = [h for h in hits if h.relevant(self.settings.kb_min_score, self.settings.kb_min_similarity)]
        return SearchResult(query=question, hits=relevant[:limit], found=bool(relevant), mode=mode)

    async def tool(self, args: dict[str, Any], *, call_id: str, context: Any = None) -> Any:
        """The faq agent's built-in tool (graphs.tools.knowledge): search, and count a miss as a content gap."""
        from graphs.tools.knowledge import knowledge_tool_spec
        from graphs.tools.openapi import ToolOutcome, schema_error

        problem = schema_error(knowledge_tool_spec("search").args_schema, args, "search_help_center")
        if problem:
            return ToolOutcome(False, problem)
        try:
            result = await self.search(args["query"])
        except Exception as exc:  # noqa: BLE001 - a failed search becomes the tool's answer, not a failed run
            log.warning("kb_search_failed", error=f"{type(exc).__name__}: {exc}")
            return ToolOutcome(False, f"the help-center search failed ({type(exc).__name__}); say so and offer a person")
        thread_id = getattr(context, "thread_id", None) or None
        result.hits = self._strong(result.hits)
        if not result.found:
            await self.record_gap(args["query"], reason="no_match", thread_id=thread_id)
        data = {"query": result.query, "found": result.found,
                "results": [{k: v for k, v in h.as_dict().items() if k in ("title", "url", "heading", "body")}
                            for h in result.hits]}
        return ToolOutcome(True, json.dumps(data, ensure_ascii=False, separators=(",", ":")), 200, data)

    def _strong(self, hits: list[Hit]) -> list[Hit]:
        """The passages worth answering from: within KB_ANSWER_RELATIVE_SCORE of the best, on either measure."""
        share = self.settings.kb_answer_relative_score
        best_cov = max((h.coverage or 0.0 for h in hits), default=0.0)
        best_sim = max((h.similarity or 0.0 for h in hits), default=0.0)
        return [h for h in hits if (h.coverage or 0.0) >= share * best_cov > 0
                or (h.similarity or 0.0) >= share * best_sim > 0]

    # -- content gaps --------------------------------------------------------------------

    async def record_gap(self, question: str, *, reason: str, thread_id: str | None) -> None:
        await store.record_gap(self.pool, question=question[:500], normalized=normalize_question(question),
                               reason=reason, thread_id=thread_id)

    async def note_handoff(self, thread_id: str, run_id: str) -> None:
        """A customer who asks for a person right after a knowledge answer was not helped by it: a gap."""
        if not self.tool_names:
            return
        try:
            for question in await store.searches_of_previous_run(self.pool, thread_id, run_id, sorted(self.tool_names)):
                await self.record_gap(question, reason="handoff", thread_id=thread_id)
        except Exception as exc:  # noqa: BLE001 - never fails the run that hands off
            log.warning("kb_gap_not_recorded", thread_id=thread_id, error=f"{type(exc).__name__}: {exc}")

    async def content_gaps(self, *, days: int, limit: int) -> dict[str, Any]:
        """Unanswered questions grouped by similar wording (shared content words), biggest group first."""
        rows = await store.list_gaps(self.pool, since_days=days, limit=5000)
        groups: list[dict[str, Any]] = []
        for row in rows:
            words = set(row["normalized"].split())
            best = None
            for group in groups:
                overlap = len(words & group["_words"]) / max(1, len(words | group["_words"]))
                if overlap >= 0.5 and (best is None or overlap > best[0]):
                    best = (overlap, group)
            if best is None:
                groups.append({"_words": words, "question": row["question"], "count": 0, "examples": [],
                               "reasons": {}, "last_asked_at": row["created_at"]})
                best = (1.0, groups[-1])
            group = best[1]
            group["count"] += 1
            group["reasons"][row["reason"]] = group["reasons"].get(row["reason"], 0) + 1
            if row["question"] not in group["examples"] and len(group["examples"]) < 5:
                group["examples"].append(row["question"])
        groups.sort(key=lambda g: (-g["count"], g["question"]))
        return {"days": days, "total": len(rows),
                "groups": [{k: v for k, v in g.items() if k != "_words"} for g in groups[:limit]]}


# -- the CLI ---------------------------------------------------------------------------------


def import_command(source: str, settings: Any, *, out: TextIO | None = None) -> int:
    """`support-agent kb import PATH|URL` with the server's settings: 0 done, 1 refused, 2 no database."""
    import asyncio

    return asyncio.run(_import_command(source, settings, out or sys.stdout))


async def _import_command(source: str, settings: Any, out: TextIO) -> int:
    from app.core.db import migrated_pool, server_database
    from app.core.errors import AppError

    def progress(counts: dict[str, int]) -> None:
        out.write(f"\r{counts['articles']} articles, {counts['chunks']} chunks, {counts['embeddings']} embeddings")
        out.flush()

    try:
        with server_database(settings) as url:
            try:
                async with migrated_pool(url, settings, name="kb-import") as pool:
                    summary = await KnowledgeService(pool, settings).import_source(source, progress=progress)
            except (AppError, ValueError) as exc:
                out.write(f"\nerror: {getattr(exc, 'message', str(exc))}\n")
                return 1
    except AppError as exc:  # the embedded Postgres could not be started
        out.write(f"error: {exc.message}\n")
        return 2
    out.write(f"\nImported {source}: {summary.line()}.\n")
    for verb, rows in (("added", summary.added), ("updated", summary.updated), ("removed", summary.removed),
                       ("skipped", summary.skipped)):
        for row in rows:
            reason = f" ({row['reason']})" if row.get("reason") else ""
            out.write(f"  {verb:8} {row.get('title') or row['source']}{reason}\n")
    return 0
