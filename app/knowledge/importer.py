"""Sources -> articles: files, folders, pages and sitemaps read into `Article`s.

`read_source(source, settings)` yields one `Article` per document, or a `Skipped`
saying why a document was left out. Markdown (optional `---` front matter with
title, url, language, updated_at), HTML (the readable text of `<main>`/`<article>`
or the body, with navigation, headers, footers, scripts and forms dropped; `<html
lang>`, `<link rel=canonical>` and `article:modified_time` are read), plain text
and PDF (pypdf). A folder is walked recursively; a URL is a page or a sitemap
(`<urlset>`, or a `<sitemapindex>` one level deep). URLs are fetched through
`app.integrations.openapi.fetch`, the same address policy as spec import. Everything is turned
into heading-marked text (`# Heading` lines) for `chunking`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

__all__ = ["SUPPORTED_SUFFIXES", "Article", "Skipped", "parse_document", "read_source"]

SUPPORTED_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
                      ".txt": "text", ".pdf": "pdf"}
_DROP_TAGS = ("nav", "header", "footer", "aside", "script", "style", "noscript", "form", "template", "svg",
              "button", "iframe")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


@dataclass(frozen=True)
class Article:
    source: str
    """Where it came from: an absolute file path or the URL fetched; the identity across imports."""
    title: str
    url: str | None
    """The link customers are shown as the source (front matter `url`, canonical link, or the page URL)."""
    language: str
    text: str
    """The readable text, sections marked by `# Heading` lines."""
    updated_at: datetime | None = None

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        for part in (self.title, self.url or "", self.language, self.text):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


def parse_document(content: bytes, kind: str, *, source: str, default_language: str,
                   url: str | None = None, modified: datetime | None = None) -> Article | Skipped:
    """One document's bytes as an Article (`kind`: markdown, html, text or pdf)."""
    try:
        if kind == "pdf":
            title, text, meta = _pdf(content)
        else:
            decoded = content.decode("utf-8-sig", errors="replace")
            title, text, meta = {"markdown": _markdown, "html": _html, "text": _text}[kind](decoded)
    except Exception as exc:  # noqa: BLE001 - a broken file is skipped with the parser's reason, never fatal
        return Skipped(source, f"could not read it as {kind}: {type(exc).__name__}: {exc}")
    if not text.strip():
        return Skipped(source, "no readable text in it")
    stem = Path(urlparse(source).path).stem.replace("-", " ").replace("_", " ").strip()
    language = str(meta.get("language") or meta.get("lang") or default_language).lower().split("-")[0].split("_")[0]
    return Article(
        source=source,
        title=str(meta.get("title") or title or stem.capitalize() or source)[:300],
        url=str(meta["url"]) if meta.get("url") else url,
        language=language,
        text=text.strip(),
        updated_at=_when(meta.get("updated_at") or meta.get("updated") or meta.get("date")) or modified,
    )


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if hasattr(value, "isoformat") and not isinstance(value, str):  # a date
        return datetime.fromisoformat(value.isoformat()).replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _markdown(text: str) -> tuple[str, str, dict[str, Any]]:
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        loaded = yaml.safe_load(match.group(1))
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[match.end():]
    title = ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# "):
            title = line[2:].strip()
            del lines[i]  # the title is the article's, not a section of its own
            break
        if line.strip():
            break
    return title, "\n".join(lines), meta


def _text(text: str) -> tuple[str, str, dict[str, Any]]:
    return "", text, {}


def _html(text: str) -> tuple[str, str, dict[str, Any]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    meta: dict[str, Any] = {}
    html = soup.find("html")
    if html is not None and html.get("lang"):
        meta["language"] = html.get("lang")
    canonical = soup.find("link", rel="canonical")
    if canonical is not None and canonical.get("href"):
        meta["url"] = canonical.get("href")
    modified = soup.find("meta", attrs={"property": "article:modified_time"})
    if modified is not None and modified.get("content"):
        meta["updated_at"] = modified.get("content")
    title_tag = soup.find("title")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo", "search"]}):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.find("body") or soup
    title = ""
    h1 = root.find("h1")
    if h1 is not None:
        title = h1.get_text(" ", strip=True)
        h1.decompose()
    elif title_tag is not None:
        title = title_tag.get_text(" ", strip=True)
    lines: list[str] = []
    for block in root.find_all(["h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "dt", "dd", "blockquote"]):
        if block.find_parent(["p", "li", "blockquote", "td", "dd"]) is not None:
            continue  # its text is part of the enclosing block's
        words = block.get_text(" ", strip=True)
        if not words:
            continue
        if block.name[0] == "h":
            lines.append(f"\n{'#' * int(block.name[1])} {words}\n")
        else:
            lines.append(words + "\n")
    return title, "\n".join(lines), meta


def _pdf(content: bytes) -> tuple[str, str, dict[str, Any]]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    pages = [page.extract_text() or "" for page in reader.pages]
    info = reader.metadata
    title = str(info.title) if info is not None and info.title else ""
    return title, "\n\n".join(pages), {}


# -- sources -------------------------------------------------------------------------


def _kind_of_path(path: Path) -> str | None:
    return SUPPORTED_SUFFIXES.get(path.suffix.lower())


async def read_source(source: str, settings: Any) -> AsyncIterator[Article | Skipped]:
    """Every document of `source` (a file, a folder, a page URL or a sitemap URL)."""
    if source.startswith(("http://", "https://")):
        async for item in _read_url(source, settings, depth=0):
            yield item
        return
    # the disk is read in a worker thread so a large folder does not stall the server's loop
    for file in await asyncio.to_thread(_local_files, source):
        yield await asyncio.to_thread(_read_file, file, settings)


def _local_files(source: str) -> list[Path]:
    """The files of a local source: the file itself, or a folder's files (no hidden ones), sorted."""
    path = Path(source).expanduser().resolve()
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts))
    if path.is_file():
        return [path]
    raise FileNotFoundError(f"{source}: no such file or folder; give a folder, a .md/.html/.txt/.pdf file or an http(s) URL")


def _read_file(path: Path, settings: Any) -> Article | Skipped:
    kind = _kind_of_path(path)
    if kind is None:
        return Skipped(str(path), f"unsupported file type {path.suffix or '(none)'}; supported: "
                                  + ", ".join(sorted(SUPPORTED_SUFFIXES)))
    size = path.stat().st_size
    if size > settings.kb_max_document_bytes:
        return Skipped(str(path), f"{size:,} bytes, over the limit of {settings.kb_max_document_bytes:,} (KB_MAX_DOCUMENT_BYTES)")
    modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return parse_document(path.read_bytes(), kind, source=str(path), default_language=settings.kb_default_language,
                          modified=modified)


def _kind_of_response(url: str, content_type: str | None, content: bytes) -> str:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/pdf" or content[:5] == b"%PDF-":
        return "pdf"
    if ctype in ("text/markdown", "text/x-markdown") or urlparse(url).path.lower().endswith((".md", ".markdown")):
        return "markdown"
    if ctype == "text/plain" or urlparse(url).path.lower().endswith(".txt"):
        return "text"
    return "html"


_LOC = re.compile(rb"<loc>\s*([^<\s]+)\s*</loc>", re.IGNORECASE)


async def _read_url(url: str, settings: Any, *, depth: int) -> AsyncIterator[Article | Skipped]:
    from app.integrations.openapi.fetch import FetchError, fetch_spec

    try:
        fetched = await fetch_spec(url, settings)
    except FetchError as exc:
        if depth == 0:
            raise
        yield Skipped(url, exc.message)
        return
    head = fetched.content[:2048].lstrip()
    if head.startswith(b"<?xml") or b"<urlset" in head or b"<sitemapindex" in head:
        locations = [m.decode() for m in _LOC.findall(fetched.content)]
        nested = b"<sitemapindex" in fetched.content[:4096]
        if nested and depth > 0:
            yield Skipped(url, "a sitemap index inside a sitemap index; give the inner sitemap's URL")
            return
        for location in locations[: settings.kb_import_max_articles]:
            async for item in _read_url(location, settings, depth=depth + 1):
                yield item
        for location in locations[settings.kb_import_max_articles:]:
            yield Skipped(location, f"over the limit of {settings.kb_import_max_articles} articles per import "
                                    "(KB_IMPORT_MAX_ARTICLES)")
        return
    kind = _kind_of_response(fetched.url, fetched.content_type, fetched.content)
    yield parse_document(fetched.content, kind, source=url, url=url, default_language=settings.kb_default_language)
