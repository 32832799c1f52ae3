"""The layer rules of docs/architecture.md, checked over every module.

Each module of `app/` and `graphs/` gets a room from its name (`ROOMS`, first match
wins); every `import` in it, at any depth, must point to a room its own room may use
(`ALLOWED`). The two deliberate exceptions are listed by module pair in `EXCEPTIONS`,
each with its reason. A forbidden import fails the test with the file, the line, the
two rooms and the rule, so the fix is obvious from the message.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# room -> module patterns (fnmatch over dotted names); order matters: first match wins
ROOMS: list[tuple[str, tuple[str, ...]]] = [
    ("graph", ("graphs", "graphs.*")),
    ("core", ("app", "app.core", "app.core.*")),
    ("container", ("app.container",)),
    ("entry", ("app.main", "app.cli", "app.terminal_chat", "app.schema_dump")),
    ("web", ("app.api", "app.api.*", "app.ws", "app.ws.*", "app.*.routes", "app.*.*_routes",
             "app.*.*.routes")),
    ("storage", ("app.*.store", "app.*.*_store", "app.*.*.store", "app.conversations.event_log")),
    ("demo", ("app.demo", "app.demo.*")),
    ("service", ("app.*",)),
]

# room -> the rooms it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "graph": set(),
    "core": set(),
    "storage": {"core", "graph"},
    "service": {"core", "graph", "storage", "container"},
    "web": {"core", "graph", "service", "container"},
    "demo": {"core"},
    # the composition root: builds every long-lived object, so it may see them all
    "container": {"core", "graph", "storage", "service", "web"},
    "entry": {"core", "graph", "storage", "service", "web", "demo", "container"},
}

# (importer, imported) -> why this arrow is deliberate
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("app.ws.hub", "app.conversations.event_log"): "the hub is the event log's live tail: when a "
    "NOTIFY says it missed events, or a socket subscribes after a seq, it reads them back by seq "
    "from the one reader of the log",
    ("app.evals.runner", "app.demo.shop"): "an eval case runs against its own fresh demo shop, "
    "in process, so every case starts from the seed data",
}


def room_of(module: str) -> str | None:
    for room, patterns in ROOMS:
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            return room
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the submodule when there is one
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = (ROOT / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    ROOT / Path(*candidate.split(".")) / "__init__.py").exists()
                found.append((node.lineno, candidate if is_module else base))
    return [(line, name) for line, name in found if name.split(".")[0] in {"app", "graphs"}]


def all_modules() -> list[tuple[Path, str]]:
    files = sorted([*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("graphs").rglob("*.py")])
    return [(f, module_name(f)) for f in files if "static" not in f.parts]


def violations() -> list[str]:
    found = []
    for path, module in all_modules():
        source = room_of(module)
        for line, target in imports_of(path, module):
            dest = room_of(target)
            if dest is None or dest == source or dest in ALLOWED[source]:
                continue
            if (module, target) in EXCEPTIONS:
                continue
            found.append(f"{path.relative_to(ROOT)}:{line}: {module} ({source}) imports {target} "
                         f"({dest}); a {source} module may import only "
                         f"{sorted(ALLOWED[source] | {source})}")
    return found


def test_every_module_has_a_room() -> None:
    assert [m for _, m in all_modules() if room_of(m) is None] == []


def test_imports_follow_the_layers() -> None:
    assert violations() == [], "\n".join(violations())


def test_the_exceptions_are_still_needed() -> None:
    used = {(m, t) for p, m in all_modules() for _, t in imports_of(p, m)}
    assert [pair for pair in EXCEPTIONS if pair not in used] == []


@pytest.mark.parametrize("module, target, allowed", [
    ("app.conversations.routes", "app.conversations.thread_store", False),
    ("app.conversations.runs", "app.ws.connection", False),
    ("app.approvals.store", "app.approvals.service", False),
    ("graphs.graph", "app.core.config", False),
    ("app.core.db", "app.conversations.runs", False),
    ("app.conversations.routes", "app.conversations.threads", True),
    ("app.approvals.service", "app.approvals.store", True),
])
def test_the_rules_themselves(module: str, target: str, allowed: bool) -> None:
    source, dest = room_of(module), room_of(target)
    assert source is not None and dest is not None
    assert (dest == source or dest in ALLOWED[source]) is allowed
