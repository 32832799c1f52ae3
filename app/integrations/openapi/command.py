"""`support-agent import-spec FILE|URL`: migrate, import, print a summary table."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from app.core.config import Settings
from app.core.errors import AppError
from app.integrations.openapi.importer import import_spec

__all__ = ["import_spec_command"]


def _table(detail: Mapping[str, Any]) -> str:
    columns = (
        "operation_id",
        "method",
        "path",
        "risk",
        "approver",
        "agent",
        "enabled",
        "needs_review",
    )
    rows = [
        [str(e[c]).lower() if isinstance(e[c], bool) else str(e[c]) for c in columns]
        for e in detail["endpoints"]
        if not e["removed"]
    ]
    headers = [c.upper() for c in columns]
    widths = [
        min(48, max(len(h), *(len(r[i]) for r in rows))) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))]
    lines += ["  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=False)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


async def _import_from_cli(
    source: str, settings: Settings, out: TextIO, name: str | None, base_url: str | None
) -> int:
    from app.core.db import migrated_pool, server_database

    is_url = source.startswith(("http://", "https://"))
    content: bytes | None = None
    content_type: str | None = None
    if not is_url:
        path = Path(source)
        try:
            content = await asyncio.to_thread(_read_capped, path, settings.openapi_max_bytes)
        except OSError as exc:
            out.write(f"error: cannot read {source}: {exc.strerror or exc}\n")
            return 2
        if content is None:
            out.write(
                f"error: {source} is over the limit of {settings.openapi_max_bytes:,} bytes (OPENAPI_MAX_BYTES)\n"
            )
            return 1
        content_type = "application/json" if path.suffix.lower() == ".json" else "application/yaml"
    try:
        with server_database(settings) as url:
            try:
                async with migrated_pool(url, settings, name="import-spec") as pool:
                    detail = await import_spec(
                        pool,
                        settings,
                        actor=f"cli:{getpass.getuser()}",
                        content=content,
                        content_type=content_type,
                        url=source if is_url else None,
                        name=name,
                        base_url=base_url,
                        source=source if is_url else str(await asyncio.to_thread(Path(source).resolve)),
                    )
            except AppError as exc:
                out.write(f"error: {exc.message}\n")
                return 1
    except AppError as exc:  # the embedded Postgres could not be started
        out.write(f"error: {exc.message}\n")
        return 2
    if settings.redis_url and not detail["import"]["unchanged"]:
        # servers on the Redis bus do not LISTEN for the trigger's NOTIFY: tell them there
        from app.core.redis_bus import announce_tools_changed

        try:
            await announce_tools_changed(settings.redis_url)
        except Exception as exc:  # noqa: BLE001 - the import is committed; the servers catch up on reconnect
            out.write(f"warning: imported, but could not tell the servers over Redis ({exc}); they pick the "
                      "change up when their Redis connection next comes back, or on restart\n")
    summary = detail["import"]
    if summary["unchanged"]:
        out.write(
            f"{detail['title']!r} ({detail['name']}, {detail['spec_id']}) is unchanged since version "
            f"{detail['version']}; nothing imported.\n"
        )
    else:
        out.write(
            f"Imported {detail['title']!r} as {detail['name']} ({detail['spec_id']}), version {detail['version']}: "
            f"{len(summary['added'])} new, {len(summary['changed'])} changed, {summary['unchanged_count']} unchanged, "
            f"{len(summary['removed'])} removed.\n"
        )
    out.writelines(f"note: {note}\n" for note in summary["notes"])
    out.write(_table(detail) + "\n")
    waiting = detail["needs_review_count"]
    if waiting:
        out.write(
            f"{waiting} endpoint(s) wait for review; agents cannot call them until an admin enables them "
            f"(PATCH /api/openapi/specs/{detail['spec_id']}/endpoints/<operation_id>).\n"
        )
    return 0


def import_spec_command(
    source: str,
    settings: Settings,
    *,
    out: TextIO | None = None,
    name: str | None = None,
    base_url: str | None = None,
) -> int:
    """`support-agent import-spec FILE|URL`: import, print a summary table, return the exit code.

    0: imported (or unchanged); 1: the spec was refused (the reason is printed);
    2: the file cannot be read.
    """
    return asyncio.run(_import_from_cli(source, settings, out or sys.stdout, name, base_url))


def _read_capped(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it is over `limit` (read in a worker thread)."""
    return path.read_bytes() if path.stat().st_size <= limit else None
