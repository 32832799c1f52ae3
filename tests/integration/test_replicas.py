"""Two server processes on one database behave as one: run guard, fan-out, cancel, resume."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import SECRET, new_id, token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess, WsClient

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def replicas(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = pg_cluster.create_database(f"rep_{uuid.uuid4().hex[:8]}")
    env = {"DATABASE_URL": url, "AUTH_SECRET": SECRET, "DEMO_TOKEN_DELAY_MS": "3"}
    one = ServerProcess(env, data_dir=Path(tmp_path_factory.mktemp("r1"))).start()
    two = ServerProcess(env, data_dir=Path(tmp_path_factory.mktemp("r2"))).start()
    yield one, two
    one.stop()
    two.stop()


async def test_live_events_reach_a_socket_on_the_other_replica(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = replicas
    user = new_id("rep")
    a = await WsClient.connect(one.ws_url, token(user))
    b = await WsClient.connect(two.ws_url, token(user))
    tid = new_id()
    await a.send({"type": "message", "thread_id": tid, "content": "benchmark reply 150 tokens"})
    await a.next("token", thread_id=tid)
    await b.send({"type": "subscribe", "thread_id": tid, "after_seq": 0})
    done_a = (await a.until_end(tid, timeout=60))[-1]
    done_b = await b.next("message_complete", thread_id=tid, timeout=60)
    assert done_a == done_b
    seqs_b = [f["seq"] for f in b.frames if "seq" in f]
    assert seqs_b == list(range(1, len(seqs_b) + 1)), "replay then live, nothing lost or doubled across replicas"
    await a.close()
    await b.close()


async def test_one_active_run_per_thread_across_replicas(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = replicas
    user = new_id("guard")
    a = await WsClient.connect(one.ws_url, token(user))
    b = await WsClient.connect(two.ws_url, token(user))
    tid = new_id()
    await a.send({"type": "message", "thread_id": tid, "content": "benchmark reply 600 tokens"})
    await a.next("token", thread_id=tid)
    await b.send({"type": "message", "thread_id": tid, "content": "hello from the other replica"})
    err = await b.next("error", thread_id=tid)
    assert err["code"] == "run_active"
    await b.send({"type": "cancel", "thread_id": tid})
    end = await a.next("run_cancelled", "message_complete", thread_id=tid, timeout=60)
    assert end["type"] == "run_cancelled", "a cancel on one replica stops the run on the other"
    frames = await b.ask(tid, "What is the status of order 1042?")
    assert frames[-1]["type"] == "message_complete"
    await a.close()
    await b.close()
