"""Reading a body of unknown length with a byte cap: stop as soon as it is over, never hold more."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable

__all__ = ["read_capped"]


async def read_capped(chunks: AsyncIterable[bytes], limit: int, too_large: Callable[[], Exception]) -> bytes:
    """The whole body, or `too_large()` raised at the first chunk that takes it over `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large()
        parts.append(chunk)
    return b"".join(parts)
