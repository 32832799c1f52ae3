"""OpenAPI import: a document -> classified operations -> a new stored version.

`import_spec()` takes a document (bytes) or a URL, parses and classifies it
(`parse.py`, `risk.py`, and the optional LLM pass of `classifier.py`), and stores it
as a new version of the spec with the same name (explicit `name`, else the slug of
`info.title`). On a re-import, operations whose change hash is unchanged keep their
review (risk, approver, agent, enabled); changed and new ones are stored disabled
with `needs_review`; vanished ones are marked removed and disabled. Every such change
is audited. Reading specs is `views.py`, the admin's review `review.py`, a spec's
credentials `credentials.py`, the tools runs get `catalog.py`, and
`support-agent import-spec` is `command.py`.

Parsing runs in a worker thread, so a large document never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.core.config import Settings
from app.core.errors import BadRequest
from app.integrations.openapi import store
from app.integrations.openapi.classifier import Classifier, make_llm_classifier
from app.integrations.openapi.fetch import Resolver, fetch_spec
from app.integrations.openapi.load import load_document
from app.integrations.openapi.parse import Operation, ParsedSpec, parse_spec, slugify
from app.integrations.openapi.risk import SAFE_METHODS, assign_agent, classify, merge_llm
from app.integrations.openapi.views import spec_detail

__all__ = ["import_spec"]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LLM_CONCURRENCY = 4
LLM_TIMEOUT_S = 30.0


def _parse(
    content: bytes, content_type: str | None, settings: Settings, source_url: str | None
) -> ParsedSpec:
    doc = load_document(
        content,
        content_type,
        max_bytes=settings.openapi_max_bytes,
        max_nodes=settings.openapi_max_nodes,
        max_parsed_bytes=settings.openapi_max_parsed_bytes,
    )
    return parse_spec(doc, source_url=source_url)


def _check_base_url(base_url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", base_url):
        raise BadRequest(
            f"base_url {base_url!r} is not an absolute http(s) URL (for example https://api.example.com/v1)"
        )
    return base_url.rstrip("/")


def _spec_name(name: str | None, title: str) -> str:
    if name is None:
        derived = slugify(title, sep="-", split_camel=False)
        return derived or "spec"
    if not NAME_RE.match(name):
        raise BadRequest(
            f"name {name!r} is not valid: use 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


async def _classify_all(
    operations: list[Operation],
    *,
    agent_map: Mapping[str, str],
    classifier: Classifier | None,
    known_agents: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    semaphore = asyncio.Semaphore(LLM_CONCURRENCY)

    async def one(op: Operation) -> dict[str, Any]:
        result = classify(op)
        if classifier is not None:
            try:
                async with semaphore, asyncio.timeout(LLM_TIMEOUT_S):
                    verdict = await classifier(op)
            except Exception as exc:  # noqa: BLE001 - the LLM pass is advisory: without it the rules still stand
                result = replace(
                    result,
                    reasons=(
                        *result.reasons,
                        f"LLM review unavailable ({type(exc).__name__}); rules only",
                    ),
                )
            else:
                result = merge_llm(result, verdict, unsafe=op.method not in SAFE_METHODS)
        agent, agent_reason = assign_agent(op, agent_map)
        if known_agents is not None and agent not in known_agents:
            agent_reason += (
                f"; no configured agent is called {agent!r}, so no agent is offered this tool "
                f"until a review assigns one of: {', '.join(sorted(known_agents))}"
            )
        definition = {
            **op.definition(),
            "notes": op.notes,
            "original_operation_id": op.original_operation_id,
        }
        return {
            "operation_id": op.operation_id,
            "method": op.method,
            "path": op.path,
            "summary": op.summary,
            "description": op.description,
            "definition": definition,
            "change_hash": op.change_hash,
            "risk": result.risk,
            "approver": result.approver,
            "agent": agent,
            "reasons": [*result.reasons, f"agent {agent}: {agent_reason}"],
        }

    return list(await asyncio.gather(*(one(op) for op in operations)))


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    keys = sorted((set(old) | set(new)) - {"notes", "original_operation_id"})
    return [k for k in keys if old.get(k) != new.get(k)]


async def import_spec(
    pool: AsyncConnectionPool,
    settings: Settings,
    *,
    actor: str,
    content: bytes | None = None,
    content_type: str | None = None,
    url: str | None = None,
    name: str | None = None,
    base_url: str | None = None,
    source: str | None = None,
    classifier: Classifier | None = None,
    agent_map: Mapping[str, str] | None = None,
    known_agents: Collection[str] | None = None,
    resolver: Resolver | None = None,
) -> dict[str, Any]:
    """Import a document (`content`) or fetch one (`url`); answers the spec with its endpoints and `import` summary."""
    if (content is None) == (url is None):
        raise BadRequest("give either a document or a url to import, not both or neither")
    if url is not None:
        fetched = await fetch_spec(url, settings, resolver=resolver)
        content, content_type, source_url = fetched.content, fetched.content_type, fetched.url
        source = source or url
    else:
        source_url = None
        source = source or "upload"
    assert content is not None
    if base_url is not None:
        base_url = _check_base_url(base_url)
    parsed = await asyncio.to_thread(_parse, content, content_type, settings, source_url)
    if base_url is not None:
        for op in parsed.operations:
            op.base_url = base_url
        parsed.base_url = base_url
    spec_name = _spec_name(name, parsed.title)
    if classifier is None and settings.openapi_llm_classify:
        classifier = make_llm_classifier(settings)
    ops = await _classify_all(
        parsed.operations,
        agent_map=agent_map if agent_map is not None else settings.openapi_agent_map,
        classifier=classifier,
        known_agents=known_agents,
    )
    doc_hash = hashlib.sha256(content).hexdigest()
    summary: dict[str, Any] = {
        "added": [],
        "changed": [],
        "unchanged": [],
        "removed": [],
        "notes": parsed.notes,
        "webhooks": parsed.webhook_count,
        "callbacks": parsed.callback_count,
    }

    async with pool.connection() as conn, conn.transaction():
        await store.lock_spec_name(conn, spec_name)
        existing = await store.get_spec_by_name(conn, spec_name)
        if (
            existing
            and existing["doc_hash"] == doc_hash
            and existing["base_url"] == parsed.base_url
        ):
            spec_id = existing["spec_id"]
            version = existing["current_version"]
            summary["unchanged"] = [op["operation_id"] for op in ops]
            created, unchanged = False, True
        else:
            created, unchanged = existing is None, False
            if existing is None:
                spec_id = "spec_" + secrets.token_hex(6)
                version = 1
                await store.insert_spec(
                    conn,
                    spec_id=spec_id,
                    name=spec_name,
                    title=parsed.title,
                    api_version=parsed.version,
                    source=source,
                    doc_hash=doc_hash,
                    base_url=parsed.base_url,
                    actor=actor,
                )
                previous: dict[str, dict[str, Any]] = {}
            else:
                spec_id = existing["spec_id"]
                version = existing["current_version"] + 1
                previous = {
                    row["operation_id"]: row for row in await store.list_operations(conn, spec_id)
                }
            for op in ops:
                old = previous.get(op["operation_id"])
                if old is None:
                    await store.insert_operation(conn, spec_id=spec_id, version=version, op=op)
                    summary["added"].append(op["operation_id"])
                    await store.insert_audit(
                        conn,
                        spec_id=spec_id,
                        operation_id=op["operation_id"],
                        actor=actor,
                        action="import",
                        changes={},
                        note=f"added in version {version}: {op['risk']}/{op['approver']}, disabled until reviewed",
                    )
                elif old["change_hash"] == op["change_hash"] and not old["removed"]:
                    summary["unchanged"].append(op["operation_id"])
                else:
                    if old["reviewed_by"]:
                        op = {
                            **op,
                            "agent": old["agent"],
                        }  # the admin's choice of agent is not a safety decision
                    fields = _changed_fields(old["definition"], op["definition"]) or ["operation"]
                    await store.update_operation_definition(
                        conn, spec_id=spec_id, version=version, op=op
                    )
                    changes = {
                        k: {"old": old[k], "new": v}
                        for k, v in (
                            ("risk", op["risk"]),
                            ("approver", op["approver"]),
                            ("agent", op["agent"]),
                            ("enabled", False),
                            ("needs_review", True),
                        )
                        if old[k] != v
                    }
                    what = "back" if old["removed"] else f"changed ({', '.join(fields)})"
                    await store.insert_audit(
                        conn,
                        spec_id=spec_id,
                        operation_id=op["operation_id"],
                        actor=actor,
                        action="import",
                        changes=changes,
                        note=f"{what} in version {version}: disabled until reviewed again",
                    )
                    summary["changed"].append(op["operation_id"])
            gone = [
                oid
                for oid, row in previous.items()
                if not row["removed"] and oid not in {o["operation_id"] for o in ops}
            ]
            await store.mark_removed(conn, spec_id=spec_id, version=version, operation_ids=gone)
            for oid in gone:
                await store.insert_audit(
                    conn,
                    spec_id=spec_id,
                    operation_id=oid,
                    actor=actor,
                    action="import",
                    changes={"enabled": {"old": previous[oid]["enabled"], "new": False}}
                    if previous[oid]["enabled"]
                    else {},
                    note=f"removed from the spec in version {version}",
                )
            summary["removed"] = gone
            await store.insert_version(
                conn,
                spec_id=spec_id,
                version=version,
                api_version=parsed.version,
                openapi_version=parsed.openapi_version,
                source=source,
                doc_hash=doc_hash,
                document=parsed.document,
                summary=summary,
                actor=actor,
            )
            if existing is not None:
                await store.update_spec(
                    conn,
                    spec_id=spec_id,
                    version=version,
                    title=parsed.title,
                    api_version=parsed.version,
                    source=source,
                    doc_hash=doc_hash,
                    base_url=parsed.base_url,
                )
        detail = await spec_detail(conn, spec_id)
    assert detail is not None
    detail["import"] = {
        "version": version,
        "created": created,
        "unchanged": unchanged,
        **{k: summary[k] for k in ("added", "changed", "removed", "notes")},
        "unchanged_count": len(summary["unchanged"]),
    }
    return detail
