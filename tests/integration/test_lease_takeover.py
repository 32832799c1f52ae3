"""A run whose thread another process has taken over stops writing, and harms no other run.

A process that stalls longer than RUN_LEASE_S loses its runs' leases; another process
takes the thread over (the sweeper's recovery) and numbers its events from there. The
stalled process must then write nothing more for that thread: an event at a seq the new
owner also numbers would conflict, and a conflict in a batch shared with other threads'
events would fail their runs too. The takeover is done here the way a new owner does it,
in one transaction on the thread row, against a server whose run is still streaming.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

THIEF = "run_thief_from_another_process"


def _take_over(url: str, thread_id: str) -> int:
    """What a new owner does: lock the thread, take its run guard, append its run_start."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as db, db.transaction():
        seq = db.execute("SELECT last_seq FROM threads WHERE thread_id = %s FOR UPDATE", (thread_id,)).fetchone()
        assert seq is not None
        mine = seq["last_seq"] + 1
        event = {"type": "run_start", "thread_id": thread_id, "seq": mine, "run_id": THIEF, "trigger": "resume"}
        db.execute("INSERT INTO events (thread_id, seq, run_id, type, payload) VALUES (%s, %s, %s, 'run_start', %s)",
                   (thread_id, mine, THIEF, json.dumps(event)))
        db.execute("UPDATE threads SET active_run_id = %s, run_lease_until = now() + interval '1 hour', "
                   "last_seq = %s WHERE thread_id = %s", (THIEF, mine, thread_id))
    return mine


def _log(url: str, thread_id: str) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as db:
        return db.execute("SELECT seq, run_id, payload FROM events WHERE thread_id = %s ORDER BY seq",
                          (thread_id,)).fetchall()


async def test_a_run_taken_over_stops_writing_and_other_runs_finish(pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"lt_{uuid.uuid4().hex[:8]}")
    env = {"DATABASE_URL": url, "AUTH_SECRET": SECRET, "DEMO_TOKEN_DELAY_MS": "25", "RUN_LEASE_S": "1.5",
           "TOKEN_MERGE_MAX_CHARS": "0"}
    with ServerProcess(env, data_dir=tmp_path) as server:
        a = await WsClient.connect(server.ws_url, token(new_id("lt")))
        b = await WsClient.connect(server.ws_url, token(new_id("lt")))
        taken, other = new_id(), new_id()
        await a.send({"type": "message", "thread_id": taken, "content": "benchmark reply 300 tokens"})
        await b.send({"type": "message", "thread_id": other, "content": "benchmark reply 300 tokens"})
        old_run = (await a.next("run_start", thread_id=taken))["run_id"]
        await a.next("token", thread_id=taken)
        await b.next("token", thread_id=other)

        thief_seq = _take_over(url, taken)

        # the other thread's run, streaming in the same process all along, is unharmed
        frames = await b.until_end(other, timeout=60)
        assert frames[-1]["type"] == "message_complete", frames[-1]
        assert "".join(f["content"] for f in b.frames if f["type"] == "token") == frames[-1]["content"]
        assert len(frames[-1]["content"].split()) == 300

        # the taken-over run wrote nothing after the takeover, and its end is the new owner's to write
        deadline = time.monotonic() + 10
        while "run_lease_lost" not in server.logs() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert "run_lease_lost" in server.logs()
        # refused quietly, never by a failed write (whose batch may hold other threads' events)
        assert "event_write_failed" not in server.logs()
        log = _log(url, taken)
        assert [r["seq"] for r in log] == list(range(1, len(log) + 1)), "no hole, no duplicate"
        assert log[-1]["seq"] == thief_seq and log[-1]["run_id"] == THIEF, "nothing after the new owner's run_start"
        assert all(r["run_id"] == old_run for r in log[:-1])
        assert not [f for f in a.frames if f.get("run_id") == old_run and f["type"] in
                    ("message_complete", "run_error", "run_cancelled", "interrupt")], "no end from the old owner"
        await a.close()
        await b.close()
