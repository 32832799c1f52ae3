"""The tool catalog runs get: the built-in tools plus the reviewed, enabled imports.

`run_tool_registry()` is read at the start of every run (through
`Services.current_tools`), so a review takes effect on the next run without a
restart; only enabled, reviewed, present operations become `ToolSpec`s.
`configured_agents()` names the agents an endpoint may be given to.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from psycopg_pool import AsyncConnectionPool

from app.integrations.openapi import store
from app.integrations.openapi.parse import slugify

if TYPE_CHECKING:
    from app.container import Services
    from graphs.tools import ToolRegistry

__all__ = ["configured_agents", "enabled_tool_specs", "run_tool_registry"]

log = logging.getLogger(__name__)

TOOL_DESCRIPTION_CHARS = 1000


@functools.lru_cache(maxsize=1)
def configured_agents() -> list[str] | None:
    """The agent names of the packaged agents.yaml, or None when it cannot be read.

    Read once: the graph is built from the same file at start-up, so its agents only
    change with a restart, and every review request need not parse it again."""
    try:
        from graphs.agents import load_agents

        return load_agents().names
    except Exception as exc:  # noqa: BLE001 - the check is a convenience; without it any agent slug is accepted
        log.warning("agents.yaml unavailable for the OpenAPI review (%s): agents not checked", exc)
        return None


async def run_tool_registry(services: Services) -> ToolRegistry | None:
    """The registry for one run: `services.tools` plus the reviewed, enabled imports.

    A new registry each run, so a review takes effect on the next run without a
    restart. An import never replaces a built-in tool: one with the same name is
    renamed `<spec name>__<operation id>`.
    """
    base = services.tools
    reserved = set(base.names) if base is not None else set()
    specs = await enabled_tool_specs(services.pool, reserved=reserved)
    if not specs:
        return base
    if base is None:
        from graphs.tools import ToolRegistry, ToolRuntimeConfig

        return ToolRegistry(specs, runtime=ToolRuntimeConfig.from_settings(services.settings))
    return base.with_specs(specs)


async def enabled_tool_specs(
    pool: AsyncConnectionPool, *, reserved: Collection[str] = ()
) -> list[Any]:
    """The reviewed, enabled operations of every spec as `graphs.tools.ToolSpec`s; called once per run.

    Tool names are operation ids; when two specs enable the same id, or the id is
    in `reserved` (the built-in tools), the tool is named `<spec name>__<operation id>`
    so none hides another.
    A relative server URL gives `base_url=None`, which the tool layer resolves per run.
    Each tool carries its spec's own credentials (None: it sends none, not the shop's).
    """
    from graphs.tools.spec import ToolCredentials, ToolSpec  # the graph package owns the types

    async with pool.connection() as conn:
        rows = await store.enabled_operations(conn)
    tools: list[Any] = []
    names: set[str] = set(reserved)
    for row in rows:
        d = row["definition"]
        name = row["operation_id"]
        if name in names:
            name = f"{slugify(row['spec_name'])}__{name}"[:64]
            log.warning(
                "openapi tool %s of spec %s renamed %s: the name is taken",
                row["operation_id"],
                row["spec_name"],
                name,
            )
        names.add(name)
        text = _tool_description(row)
        base = d.get("base_url") or ""
        tools.append(
            ToolSpec(
                name=name,
                method=row["method"],
                path=row["path"],
                description=text[:TOOL_DESCRIPTION_CHARS],
                args_schema=d.get("args_schema") or {"type": "object", "properties": {}},
                arg_locations=d.get("arg_locations") or {},
                body_arg=d.get("body_arg"),
                base_url=base if base.startswith(("http://", "https://")) else None,
                risk=row["risk"],
                approver=row["approver"],
                agent=row["agent"],
                credentials=ToolCredentials.from_json(row.get("credentials")),
            )
        )
    return tools


def _tool_description(row: Mapping[str, Any]) -> str:
    """The summary as the first sentence, then the description; `METHOD /path` when both are empty."""
    summary = (row["summary"] or "").strip()
    description = (row["description"] or "").strip()
    if summary and description and not summary.endswith((".", "!", "?", ":")):
        summary += "."
    return " ".join(p for p in (summary, description) if p) or f"{row['method']} {row['path']}"
