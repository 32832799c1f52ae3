"""Retrieval: full-text search always, pgvector search too when embeddings are configured.

Full text: the question is parsed with `websearch_to_tsquery` in the dictionary of
every language the knowledge base holds (an article's chunks are indexed in its own
language's dictionary), ranked by the share of the question's words a chunk holds,
then `ts_rank`. Vectors: the question's embedding against the chunks' (cosine).
Both lists are fused by reciprocal rank fusion: score = sum of 1 / (RRF_K + rank).

A hit is *relevant* when its word coverage reaches `KB_MIN_SCORE` or its cosine
similarity reaches `KB_MIN_SIMILARITY`; a search with no relevant hit is a miss
(the faq agent says it does not know; the question becomes a content gap).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from langchain_core.embeddings import Embeddings

__all__ = ["LANGUAGE_CONFIGS", "HashingEmbeddings", "Hit", "fuse", "load_embeddings", "text_config"]

RRF_K = 60
"""The usual reciprocal-rank-fusion constant: damps the difference between rank 1 and 2."""

LANGUAGE_CONFIGS = {
    "ar": "arabic", "da": "danish", "de": "german", "el": "greek", "en": "english", "es": "spanish",
    "fi": "finnish", "fr": "french", "hu": "hungarian", "id": "indonesian", "it": "italian", "lt": "lithuanian",
    "nl": "dutch", "no": "norwegian", "nb": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sv": "swedish", "tr": "turkish",
}
"""ISO 639-1 code -> the Postgres text-search configuration of its dictionary; others use `simple`."""


def text_config(language: str) -> str:
    return LANGUAGE_CONFIGS.get(language, "simple")


@dataclass
class Hit:
    chunk_id: int
    article_id: str
    title: str
    url: str | None
    heading: str
    body: str
    language: str
    coverage: float | None = None
    similarity: float | None = None
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)

    def relevant(self, min_score: float, min_similarity: float) -> bool:
        return (self.coverage is not None and self.coverage >= min_score) or (
            self.similarity is not None and self.similarity >= min_similarity)

    def as_dict(self) -> dict[str, Any]:
        return {"article_id": self.article_id, "title": self.title, "url": self.url, "heading": self.heading,
                "body": self.body, "language": self.language, "score": round(self.score, 6),
                "coverage": None if self.coverage is None else round(self.coverage, 3),
                "similarity": None if self.similarity is None else round(self.similarity, 3)}


def _hit(row: dict[str, Any]) -> Hit:
    return Hit(chunk_id=row["chunk_id"], article_id=row["article_id"], title=row["title"], url=row["url"],
               heading=row["heading"], body=row["body"], language=row["language"],
               coverage=row.get("coverage"), similarity=row.get("similarity"))


def fuse(ranked: dict[str, list[dict[str, Any]]], limit: int) -> list[Hit]:
    """Reciprocal rank fusion of several ranked lists of chunk rows (name -> rows, best first)."""
    hits: dict[int, Hit] = {}
    for name, rows in ranked.items():
        for rank, row in enumerate(rows, start=1):
            hit = hits.get(row["chunk_id"])
            if hit is None:
                hit = hits[row["chunk_id"]] = _hit(row)
            if row.get("coverage") is not None:
                hit.coverage = row["coverage"]
            if row.get("similarity") is not None:
                hit.similarity = row["similarity"]
            hit.ranks[name] = rank
            hit.score += 1.0 / (RRF_K + rank)
    return sorted(hits.values(), key=lambda h: (-h.score, h.chunk_id))[:limit]


# -- embeddings --------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbeddings(Embeddings):
    """Deterministic, offline embeddings: word (and word-prefix) hashing into `dimensions` buckets.

    No semantics beyond shared words and shared 5-letter prefixes (so "refund" meets
    "refunds"); it exists so the vector path and fusion run without a network
    (EMBEDDINGS_PROVIDER=hashing), not to rival a real embedding model.
    """

    def __init__(self, dimensions: int = 256) -> None:
        self.dimensions = dimensions

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in _TOKEN.findall(text.lower()):
            for feature in {word, word[:5]}:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self.dimensions
                vector[index] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def load_embeddings(settings: Any) -> tuple[Embeddings, str] | None:
    """(embeddings, model name as stored) from EMBEDDINGS_PROVIDER/EMBEDDINGS_MODEL, or None when unset."""
    provider = settings.embeddings_provider
    if not provider:
        return None
    if provider == "hashing":
        return HashingEmbeddings(), "hashing"
    if not settings.embeddings_model:
        raise ValueError(f"EMBEDDINGS_PROVIDER={provider} needs EMBEDDINGS_MODEL (e.g. text-embedding-3-small)")
    from langchain.embeddings import init_embeddings

    try:
        embeddings = init_embeddings(settings.embeddings_model, provider=provider)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"cannot load embeddings {provider}:{settings.embeddings_model}: {exc}") from None
    return embeddings, f"{provider}:{settings.embeddings_model}"
