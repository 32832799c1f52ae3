"""/api/knowledge: import (a URL, or an uploaded document), list and delete articles (admins);
search and content gaps (operators). Thin: parse, call KnowledgeService, return a model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import AdminDep, OperatorDep, ServicesDep
from app.core.errors import BadRequest
from app.knowledge.importer import SUPPORTED_SUFFIXES, Article, Skipped, parse_document

router = APIRouter(prefix="/knowledge", tags=["knowledge"])


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2000, description="A page or a sitemap (http or https).")


class ImportResponse(BaseModel):
    source: str
    added: list[dict[str, str]]
    updated: list[dict[str, str]]
    removed: list[dict[str, str]]
    skipped: list[dict[str, str]]
    chunks: int
    embeddings: int


class ArticleOut(BaseModel):
    article_id: str
    source: str
    collection: str
    title: str
    url: str | None
    language: str
    content_hash: str
    chunk_count: int
    updated_at: Any
    imported_at: Any


class ArticleList(BaseModel):
    articles: list[ArticleOut]
    total: int


class SearchHit(BaseModel):
    article_id: str
    title: str
    url: str | None
    heading: str
    body: str
    language: str
    score: float
    coverage: float | None
    similarity: float | None


class SearchResponse(BaseModel):
    query: str
    found: bool
    mode: str
    hits: list[SearchHit]


class GapGroup(BaseModel):
    question: str
    count: int
    examples: list[str]
    reasons: dict[str, int]
    last_asked_at: Any


class GapsResponse(BaseModel):
    days: int
    total: int
    groups: list[GapGroup]


@router.post("/import", response_model=ImportResponse)
async def import_url(body: ImportRequest, services: ServicesDep, _: AdminDep) -> Any:
    if not body.url.startswith(("http://", "https://")):
        raise BadRequest(f"url must start with http:// or https://, got {body.url[:60]!r}; upload files to "
                         "POST /api/knowledge/articles?filename=... or run `support-agent kb import PATH`")
    return (await services.knowledge.import_source(body.url)).as_dict()


@router.post("/articles", response_model=ImportResponse, status_code=201)
async def upload_article(request: Request, services: ServicesDep, _: AdminDep,
                         filename: str = Query(min_length=1, max_length=300,
                                               description="The file's name; its suffix says its format")) -> Any:
    kind = SUPPORTED_SUFFIXES.get("." + filename.rsplit(".", 1)[-1].lower()) if "." in filename else None
    if kind is None:
        raise BadRequest(f"cannot import {filename!r}: supported suffixes are {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    limit = services.settings.kb_max_document_bytes
    content = bytearray()
    async for chunk in request.stream():
        content.extend(chunk)
        if len(content) > limit:
            raise BadRequest(f"the document is over the limit of {limit:,} bytes (KB_MAX_DOCUMENT_BYTES)")
    source = f"upload:{filename}"
    item = parse_document(bytes(content), kind, source=source, default_language=services.settings.kb_default_language)
    if isinstance(item, Skipped):
        raise BadRequest(f"{filename}: {item.reason}")

    async def one() -> AsyncIterator[Article | Skipped]:
        yield item

    return (await services.knowledge.import_items(source, one())).as_dict()


@router.get("/articles", response_model=ArticleList)
async def list_articles(services: ServicesDep, _: AdminDep, limit: int = Query(50, ge=1, le=500),
                        offset: int = Query(0, ge=0)) -> Any:
    articles, total = await services.knowledge.list_articles(limit=limit, offset=offset)
    return {"articles": articles, "total": total}


@router.delete("/articles/{article_id}", status_code=204)
async def delete_article(article_id: str, services: ServicesDep, _: AdminDep) -> None:
    await services.knowledge.delete_article(article_id)


@router.get("/search", response_model=SearchResponse)
async def search(services: ServicesDep, _: OperatorDep, q: str = Query(min_length=1, max_length=500),
                 limit: int = Query(5, ge=1, le=20)) -> Any:
    result = await services.knowledge.search(q, limit=limit)
    return {"query": result.query, "found": result.found, "mode": result.mode,
            "hits": [h.as_dict() for h in result.hits]}


@router.get("/gaps", response_model=GapsResponse)
async def content_gaps(services: ServicesDep, _: OperatorDep, days: int = Query(30, ge=1, le=3650),
                       limit: int = Query(20, ge=1, le=200)) -> Any:
    return await services.knowledge.content_gaps(days=days, limit=limit)
