"""Article text -> chunks, one per section: a heading and the text under it.

Markdown-style headings (`#`..`######`) start a new chunk; the importer writes HTML
and PDF text in that shape too. A section longer than `max_chars` is split at
paragraph (then sentence) boundaries so a chunk stays a quotable passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Chunk", "chunk_article"]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Chunk:
    heading: str
    body: str


def chunk_article(text: str, *, title: str, max_chars: int = 1500) -> list[Chunk]:
    """The article's sections; text before the first heading belongs to the title."""
    sections: list[tuple[str, list[str]]] = [(title, [])]
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            sections.append((match.group(2).strip(), []))
        else:
            sections[-1][1].append(line)
    chunks: list[Chunk] = []
    for heading, lines in sections:
        body = _tidy("\n".join(lines))
        if not body:
            continue
        chunks.extend(Chunk(heading, part) for part in _split(body, max_chars))
    return chunks


def _tidy(text: str) -> str:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


def _split(body: str, max_chars: int) -> list[str]:
    if len(body) <= max_chars:
        return [body]
    pieces = [p for para in body.split("\n\n") for p in _sentences(para, max_chars)]
    parts: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > max_chars:
            parts.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        parts.append(current)
    return parts


def _sentences(paragraph: str, max_chars: int) -> list[str]:
    if len(paragraph) <= max_chars:
        return [paragraph]
    out: list[str] = []
    current = ""
    for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
        while len(sentence) > max_chars:  # one enormous "sentence": cut it
            out.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        if current and len(current) + 1 + len(sentence) > max_chars:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        out.append(current)
    return out
