"""Token deltas that queue up behind a commit go out merged: what a client sees of it.

A model that streams faster than Postgres commits (the demo model with
DEMO_TOKEN_DELAY_MS=0) has its deltas merged into fewer, larger `token` events,
never larger than TOKEN_MERGE_MAX_CHARS; the text is whole and in order, live and
replayed alike, and the seqs stay contiguous. TOKEN_MERGE_MAX_CHARS=0 turns it off.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPLY_TOKENS = 400


def _serve(pg_cluster: PgCluster, tmp_path: Path, merge_max_chars: int, **extra: str) -> ServerProcess:
    url = pg_cluster.create_database(f"tm_{uuid.uuid4().hex[:8]}")
    return ServerProcess({"DATABASE_URL": url, "AUTH_SECRET": SECRET, "DEMO_TOKEN_DELAY_MS": "0",
                          "TOKEN_MERGE_MAX_CHARS": str(merge_max_chars), **extra}, data_dir=tmp_path)


def _tokens(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] == "token"]


async def test_a_fast_model_streams_whole_text_in_fewer_frames_live_and_replayed(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    with _serve(pg_cluster, tmp_path, merge_max_chars=120) as server:
        user = new_id("tm")
        c = await WsClient.connect(server.ws_url, token(user))
        tid = new_id()
        frames = await c.ask(tid, f"benchmark reply {REPLY_TOKENS} tokens")
        end = frames[-1]
        assert end["type"] == "message_complete"
        live = _tokens(frames)
        assert "".join(f["content"] for f in live) == end["content"]
        assert len(end["content"].split()) == REPLY_TOKENS
        assert len(live) < REPLY_TOKENS, "deltas produced during a commit were merged"
        assert all(len(f["content"]) <= 120 for f in live)
        assert len({f["message_id"] for f in live}) == 1
        seqs = [f["seq"] for f in frames if "seq" in f]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "no seq skipped or doubled"
        await c.close()

        again = await WsClient.connect(server.ws_url, token(user))
        await again.send({"type": "subscribe", "thread_id": tid, "after_seq": 0})
        await again.next("replay_end", thread_id=tid)
        assert _tokens(again.frames) == live, "a replay gives exactly the frames sent live"
        await again.close()


async def test_merging_off_sends_one_frame_per_token(pg_cluster: PgCluster, tmp_path: Path) -> None:
    with _serve(pg_cluster, tmp_path, merge_max_chars=0) as server:
        c = await WsClient.connect(server.ws_url, token(new_id("tm")))
        frames = await c.ask(new_id(), f"benchmark reply {REPLY_TOKENS} tokens")
        live = _tokens(frames)
        assert [len(f["content"].split()) for f in live] == [1] * REPLY_TOKENS
        assert "".join(f["content"] for f in live) == frames[-1]["content"]
        await c.close()


async def test_a_model_at_a_real_pace_streams_one_event_per_batch_interval(pg_cluster: PgCluster,
                                                                           tmp_path: Path) -> None:
    """20 ms a token, EVENT_BATCH_INTERVAL_MS=100: about one token event per 100 ms, not one per token."""
    tokens = 60
    with _serve(pg_cluster, tmp_path, merge_max_chars=2000, DEMO_TOKEN_DELAY_MS="20",
                EVENT_BATCH_INTERVAL_MS="100") as server:
        c = await WsClient.connect(server.ws_url, token(new_id("tm")))
        frames = await c.ask(new_id(), f"benchmark reply {tokens} tokens", timeout=60)
        live = _tokens(frames)
        assert frames[-1]["type"] == "message_complete"
        assert "".join(f["content"] for f in live) == frames[-1]["content"]
        assert len(frames[-1]["content"].split()) == tokens
        assert len(live[0]["content"].split()) == 1, "the first words go out at once, not after an interval"
        assert len(live) <= tokens // 2, f"{len(live)} token events for {tokens} tokens at 20 ms each"
        seqs = [f["seq"] for f in frames if "seq" in f]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        await c.close()
