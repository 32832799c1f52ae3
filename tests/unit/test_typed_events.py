"""Events and socket replies are models, not dicts built by hand, and one wording per event.

Every event is a `graphs.events` model from the node or service that makes it to the
wire, and the socket-only replies are `app.ws.frames` models: a dict literal with an
event's or reply's `"type"` anywhere else in `app/` or `graphs/` is a shape that no
schema (and no generated TypeScript) checks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from app.ws.frames import ServerReply
from graphs.events import EVENT_TYPES

REPO = Path(__file__).resolve().parents[2]
REPLY_TYPES = [m.model_fields["type"].default for m in get_args(get_args(ServerReply)[0])]
HOMES = {REPO / "graphs" / "events.py", REPO / "app" / "ws" / "frames.py"}


def test_no_module_builds_an_event_or_reply_dict_by_hand() -> None:
    kinds = "|".join(re.escape(t) for t in (*EVENT_TYPES, *REPLY_TYPES))
    literal = re.compile(rf"""["']type["']\s*:\s*["']({kinds})["']""")
    offenders = []
    # graphs/models is the offline chat model: its `"type": "tool_call"` dicts are LangChain's, not events
    for path in sorted([*(REPO / "app").rglob("*.py"), *(REPO / "graphs" / "nodes").rglob("*.py"),
                        *(REPO / "graphs").glob("*.py")]):
        if path in HOMES:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if literal.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "build these as graphs.events / app.ws.frames models:\n" + "\n".join(offenders)
