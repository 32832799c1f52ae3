"""Scale-out benchmark: what one run costs, and events/s across replicas, NOTIFY vs Redis.

    .venv/bin/python -m bench.scale_out                 # both phases, both buses (~6 minutes)
    .venv/bin/python -m bench.scale_out --seconds 10    # shorter load windows

Everything is real and local: a throwaway Postgres cluster (`tests.support.pg`, with
pg_stat_statements when its binaries have it), a redis-server (`tests.support.services`),
and `support-agent serve` processes. Two phases per bus (`notify`: the default
LISTEN/NOTIFY; `redis`: REDIS_URL set):

1. **Per run** (the capacity model's unit, docs/scaling.md): one replica answers
   `--runs` order-status questions one after another (a tool call and the demo
   model's reply, DEMO_TOKEN_DELAY_MS=20 so each token is its own event, as with a real
   model), while a socket on a second replica watches each thread. Counted over the
   phase and divided by the runs: SQL statements and rows (pg_stat_statements), WAL
   bytes, event rows and bytes, checkpoint rows, NOTIFYs (a LISTEN connection counts
   them) and Redis PUBLISHes (INFO commandstats).
2. **Load**: `--customers` customers ask "benchmark reply 200 tokens" back to back for
   `--seconds` (DEMO_TOKEN_DELAY_MS=0, TOKEN_MERGE_MAX_CHARS=0: 200 token events per
   run, the worst case for the bus), each watched by a second socket; with one replica
   (customer and watcher on it) and with two (customers split, each watched from the
   other replica). Reported: events committed per second, events delivered to the
   watchers per second, the writer's group-commit latency (the servers'
   `support_agent_event_commit_seconds`), the watcher's lag behind the commit for
   `message_complete`, and events lost (the watcher's seqs are checked against the log).

Results: a table on stdout and `bench/results/scale_out.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import websockets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.core.security import issue_token
from tests.support.pg import PgCluster
from tests.support.server import ServerProcess
from tests.support.services import RedisServer

SECRET = "bench-scale-out-secret-0123456789"
QUESTION = "What is the status of order 1042?"


def log(msg: str) -> None:
    print(f"[scale_out {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def token(user: str) -> str:
    return issue_token(SECRET, user_id=user, role="customer", ttl_s=3600)  # type: ignore[arg-type]


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ---------------------------------------------------------------- infrastructure
def start_cluster() -> tuple[PgCluster, bool]:
    cluster = PgCluster().init()
    cluster.start()
    has_pgss = (cluster.bin.parent / "lib" / "pg_stat_statements.so").exists() or any(
        (cluster.bin.parent.parent).rglob("pg_stat_statements.so"))
    if has_pgss:
        cluster._run("psql", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-c",
                     "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        cluster.stop()
        cluster.start()
    return cluster, has_pgss


def servers(url: str, n: int, env: dict[str, str], tmp: Path) -> list[ServerProcess]:
    procs = []
    for i in range(n):
        base = {"DATABASE_URL": url, "AUTH_SECRET": SECRET, "RATE_LIMIT_MESSAGES": "1000000",
                "MAX_SOCKETS_PER_USER": "50", "LOG_LEVEL": "warning"}
        procs.append(ServerProcess({**base, **env}, data_dir=tmp / f"r{i}-{uuid.uuid4().hex[:6]}").start())
    return procs


def stop_all(procs: list[ServerProcess]) -> None:
    for p in procs:
        p.stop()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their children so far."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def postgres_pids(cluster: PgCluster) -> list[int]:
    return [int((cluster.data / "postmaster.pid").read_text().split()[0])]


def commit_histogram(procs: list[ServerProcess]) -> dict[str, float | None]:
    """Merge the servers' support_agent_event_commit_seconds histograms: mean, p50, p99 (from buckets)."""
    buckets: dict[float, float] = {}
    total = count = 0.0
    for p in procs:
        for line in httpx.get(p.base + "/metrics", timeout=10).text.splitlines():
            if line.startswith("support_agent_event_commit_seconds_bucket"):
                le = line.split('le="')[1].split('"')[0]
                buckets[float("inf") if le == "+Inf" else float(le)] = buckets.get(
                    float("inf") if le == "+Inf" else float(le), 0.0) + float(line.rsplit(" ", 1)[1])
            elif line.startswith("support_agent_event_commit_seconds_sum"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith("support_agent_event_commit_seconds_count"):
                count += float(line.rsplit(" ", 1)[1])

    def quantile(q: float) -> float | None:
        if not count:
            return None
        edges = sorted(buckets)
        prev_le, prev_n = 0.0, 0.0
        for le in edges:
            n = buckets[le]
            if n >= q * count:
                if le == float("inf"):
                    return prev_le * 1000
                frac = (q * count - prev_n) / max(n - prev_n, 1e-9)
                return (prev_le + (le - prev_le) * frac) * 1000
            prev_le, prev_n = le, n
        return None

    return {"commits": count, "mean_ms": total / count * 1000 if count else None,
            "p50_ms": quantile(0.5), "p99_ms": quantile(0.99)}


# ---------------------------------------------------------------- sockets
class Sock:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, user: str) -> Sock:
        ws = await websockets.connect(f"{url}?token={token(user)}", max_size=8 * 1024 * 1024, open_timeout=30)
        s = cls(ws)
        await s.until(lambda f: f.get("type") == "connected")
        return s

    async def until(self, pred: Any, timeout: float = 60) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                f = json.loads(await self.ws.recv())
                if pred(f):
                    return f

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))


class Watcher:
    """A socket on (possibly) another replica that follows threads and checks their seqs."""

    def __init__(self, sock: Sock) -> None:
        self.sock = sock
        self.last: dict[str, int] = {}
        self.events = 0
        self.gaps = 0
        self.lag_ms: list[float] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.sock.ws:
                now = time.time()
                f = json.loads(raw)
                seq, tid = f.get("seq"), f.get("thread_id")
                if seq is None or tid is None:
                    continue
                last = self.last.get(tid, 0)
                if seq <= last:
                    continue
                if seq != last + 1:
                    self.gaps += 1
                self.last[tid] = seq
                self.events += 1
                if f.get("type") == "message_complete" and f.get("ts"):
                    ts = datetime.fromisoformat(f["ts"]).timestamp()
                    self.lag_ms.append((now - ts) * 1000)

    async def follow(self, thread_id: str) -> None:
        self.last.setdefault(thread_id, 0)
        await self.sock.send({"type": "subscribe", "thread_id": thread_id, "after_seq": 0})


# ---------------------------------------------------------------- phase 1: per run
async def per_run(cluster: PgCluster, has_pgss: bool, bus: str, runs: int, tmp: Path,
                  redis: RedisServer | None) -> dict[str, Any]:
    dbname = f"pr_{bus}_{uuid.uuid4().hex[:6]}"
    url = cluster.create_database(dbname)
    env = {"DEMO_TOKEN_DELAY_MS": "20", **({"REDIS_URL": redis.url} if redis else {})}
    procs = servers(url, 2, env, tmp)
    try:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        listener = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await listener.execute("LISTEN sa_events")
        notifies = 0

        async def count_notifies() -> None:
            nonlocal notifies
            async for _ in listener.notifies():
                notifies += 1

        counter = asyncio.create_task(count_notifies())
        user = f"pr_{uuid.uuid4().hex[:8]}"
        customer = await Sock.open(procs[0].ws_url, user)
        watcher = Watcher(await Sock.open(procs[1].ws_url, user))
        # warm-up: one run not counted
        tid = f"w_{uuid.uuid4().hex[:10]}"
        await customer.send({"type": "message", "thread_id": tid, "content": QUESTION})
        await customer.until(lambda f: f.get("type") == "message_complete")

        async def snapshot() -> dict[str, float]:
            cur = await conn.execute(
                "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS wal, (SELECT count(*) FROM events) AS ev, "
                "(SELECT coalesce(sum(pg_column_size(payload)), 0) FROM events) AS ev_bytes, "
                "(SELECT count(*) FROM events WHERE type = 'token') AS tok, "
                "(SELECT count(*) FROM checkpoints) AS cp, (SELECT count(*) FROM checkpoint_writes) AS cpw, "
                "(SELECT count(*) FROM checkpoint_blobs) AS cpb, "
                "pg_total_relation_size('checkpoints') + pg_total_relation_size('checkpoint_writes') "
                "+ pg_total_relation_size('checkpoint_blobs') AS cp_bytes")
            row = await cur.fetchone()
            assert row is not None
            return {k: float(v) for k, v in zip(["wal", "ev", "ev_bytes", "tok", "cp", "cpw", "cpb", "cp_bytes"], row,
                                                strict=True)}

        def redis_publishes() -> float:
            if redis is None:
                return 0.0
            import redis as redis_sync

            stats = redis_sync.Redis.from_url(redis.url).info("commandstats")
            return float(stats.get("cmdstat_publish", {}).get("calls", 0))

        if has_pgss:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_stat_statements_reset()")
        before, pub0, notif0 = await snapshot(), redis_publishes(), notifies
        started = time.perf_counter()
        for _ in range(runs):
            tid = f"pr_{uuid.uuid4().hex[:10]}"
            await customer.send({"type": "message", "thread_id": tid, "content": QUESTION})
            await customer.until(lambda f: f.get("type") == "run_start")
            await watcher.follow(tid)
            await customer.until(lambda f: f.get("type") == "message_complete")
        elapsed = time.perf_counter() - started
        # the watcher has everything the log has (its replay and live tail), then count
        async with asyncio.timeout(30):
            while True:
                cur = await conn.execute("SELECT thread_id, last_seq FROM threads WHERE thread_id LIKE 'pr_%%'")
                want = {r[0]: r[1] for r in await cur.fetchall()}
                if all(watcher.last.get(t, 0) >= s for t, s in want.items()):
                    break
                await asyncio.sleep(0.05)
        after, pub1 = await snapshot(), redis_publishes()
        statements: list[dict[str, Any]] = []
        calls = rows = 0.0
        if has_pgss:
            cur = await conn.execute(
                "SELECT calls, rows, query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                "WHERE d.datname = %s AND query NOT ILIKE '%%pg_stat_statements%%' "
                "AND query NOT ILIKE '%%pg_current_wal_lsn%%' AND query NOT ILIKE '%%FROM threads WHERE thread_id LIKE%%' "
                "AND query NOT ILIKE 'LISTEN%%' ORDER BY calls DESC", (dbname,))
            for c, r, q in await cur.fetchall():
                calls += c
                rows += r
                statements.append({"calls_per_run": c / runs, "rows_per_run": r / runs,
                                   "query": " ".join(q.split())[:110]})
        await asyncio.sleep(0)
        counter.cancel()
        await listener.close()
        await conn.close()
        await customer.ws.close()
        await watcher.sock.ws.close()
        d = {k: (after[k] - before[k]) / runs for k in after}
        return {
            "bus": bus, "runs": runs, "seconds_per_run": elapsed / runs,
            "statements_per_run": calls / runs if has_pgss else None,
            "rows_per_run": rows / runs if has_pgss else None,
            "wal_bytes_per_run": d["wal"], "events_per_run": d["ev"], "token_events_per_run": d["tok"], "event_bytes_per_run": d["ev_bytes"],
            "checkpoint_rows_per_run": d["cp"] + d["cpw"] + d["cpb"],
            "checkpoint_rows_detail": {"checkpoints": d["cp"], "checkpoint_writes": d["cpw"],
                                       "checkpoint_blobs": d["cpb"]},
            "checkpoint_table_bytes_per_run": d["cp_bytes"],
            "notifies_per_run": (notifies - notif0) / runs,
            "redis_publishes_per_run": (pub1 - pub0) / runs,
            "watcher_gaps": watcher.gaps,
            "top_statements": statements[:12],
        }
    finally:
        stop_all(procs)


# ---------------------------------------------------------------- phase 2: load
async def load(cluster: PgCluster, bus: str, replicas: int, customers: int, seconds: float, tmp: Path,
               redis: RedisServer | None) -> dict[str, Any]:
    url = cluster.create_database(f"ld_{bus}_{replicas}_{uuid.uuid4().hex[:6]}")
    env = {"DEMO_TOKEN_DELAY_MS": "0", "TOKEN_MERGE_MAX_CHARS": "0", **({"REDIS_URL": redis.url} if redis else {})}
    procs = servers(url, replicas, env, tmp)
    try:
        runs = 0
        stop_at = 0.0
        watchers: list[Watcher] = []
        last_seq: dict[str, int] = {}

        async def customer(i: int) -> None:
            nonlocal runs
            user = f"ld_{i}_{uuid.uuid4().hex[:6]}"
            home, away = procs[i % replicas], procs[(i + 1) % replicas]
            sock = await Sock.open(home.ws_url, user)
            watcher = Watcher(await Sock.open(away.ws_url, user))
            watchers.append(watcher)
            tid = f"ld_{uuid.uuid4().hex[:10]}"
            first = True
            while time.perf_counter() < stop_at:
                await sock.send({"type": "message", "thread_id": tid, "content": "benchmark reply 200 tokens"})
                if first:
                    await sock.until(lambda f: f.get("type") == "run_start")
                    await watcher.follow(tid)
                    first = False
                end = await sock.until(lambda f: f.get("type") in ("message_complete", "run_error"), timeout=120)
                last_seq[tid] = end["seq"]
                runs += 1
            await sock.ws.close()

        # warm-up: every replica answers a few runs first (imports, pool growth)
        for p in procs:
            s = await Sock.open(p.ws_url, f"warm_{uuid.uuid4().hex[:6]}")
            for _ in range(3):
                await s.send({"type": "message", "thread_id": f"wu_{uuid.uuid4().hex[:8]}",
                              "content": "benchmark reply 200 tokens"})
                await s.until(lambda f: f.get("type") == "message_complete")
            await s.ws.close()
        base_commits = commit_histogram(procs)
        server_pids = [p.proc.pid for p in procs if p.proc is not None]
        cpu0 = (cpu_seconds(server_pids), cpu_seconds(postgres_pids(cluster)),
                cpu_seconds([redis.proc.pid]) if redis is not None and redis.proc else 0.0)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            ev0 = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]  # type: ignore[index]
            started = time.perf_counter()
            stop_at = started + seconds
            await asyncio.gather(*(customer(i) for i in range(customers)))
            elapsed = time.perf_counter() - started
            cpu1 = (cpu_seconds(server_pids), cpu_seconds(postgres_pids(cluster)),
                    cpu_seconds([redis.proc.pid]) if redis is not None and redis.proc else 0.0)
            ev1 = (await (await conn.execute("SELECT count(*) FROM events")).fetchone())[0]  # type: ignore[index]
        delivered_in_window = sum(w.events for w in watchers)
        # every watcher reaches the end of every thread it follows (no event lost)
        lost = 0
        try:
            async with asyncio.timeout(60):
                while any(w.last.get(t, 0) < s for w in watchers for t, s in last_seq.items() if t in w.last):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            lost = sum(max(0, s - w.last.get(t, 0)) for w in watchers for t, s in last_seq.items() if t in w.last)
        commits = commit_histogram(procs)
        for w in watchers:
            w.task.cancel()
            await w.sock.ws.close()
        lags = [x for w in watchers for x in w.lag_ms]
        n_commits = commits["commits"] - base_commits["commits"]  # type: ignore[operator]
        return {
            "bus": bus, "replicas": replicas, "customers": customers, "seconds": elapsed, "runs": runs,
            "runs_per_s": runs / elapsed, "events_committed_per_s": (ev1 - ev0) / elapsed,
            "events_delivered_to_watchers_per_s": delivered_in_window / elapsed,
            "group_commits_per_s": n_commits / elapsed,
            "commit_mean_ms": commits["mean_ms"], "commit_p50_ms": commits["p50_ms"], "commit_p99_ms": commits["p99_ms"],
            "watcher_lag_p50_ms": pct(lags, 50), "watcher_lag_p99_ms": pct(lags, 99),
            "gaps_filled": sum(w.gaps for w in watchers), "events_lost": lost,
            "server_cpu_ms_per_run": (cpu1[0] - cpu0[0]) / max(runs, 1) * 1000,
            "postgres_cpu_ms_per_run": (cpu1[1] - cpu0[1]) / max(runs, 1) * 1000,
            "redis_cpu_ms_per_run": (cpu1[2] - cpu0[2]) / max(runs, 1) * 1000,
        }
    finally:
        stop_all(procs)


# ---------------------------------------------------------------- phase 3: ceilings
PGBENCH_PLAIN = "INSERT INTO ev (t, payload) VALUES (:client_id, repeat('x', 200));\n"
PGBENCH_NOTIFY = ("BEGIN;\nINSERT INTO ev (t, payload) VALUES (:client_id, repeat('x', 200));\n"
                  "SELECT pg_notify('sa_events', :client_id || ' 1 bench');\nCOMMIT;\n")


def _pgbench(cluster: PgCluster, url: str, script: str, clients: int, seconds: int, tmp: Path) -> float:
    import subprocess

    f = tmp / f"pgbench-{uuid.uuid4().hex[:6]}.sql"
    f.write_text(script)
    os.chmod(f, 0o644)
    out = subprocess.run([str(cluster.bin / "pgbench"), "-n", "-f", str(f), "-c", str(clients), "-j", "2",
                          "-T", str(seconds), url], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("tps"))
    return float(line.split("=")[1].split()[0])


async def ceilings(cluster: PgCluster, clients: int, seconds: int, tmp: Path,
                   redis: RedisServer | None) -> dict[str, Any]:
    """Commits/s of a 200-byte INSERT with and without a NOTIFY in the same transaction (a
    LISTEN connection open, as a replica has), fsync off and on; and Redis PUBLISH/s."""
    import subprocess

    url = cluster.create_database(f"ceil_{uuid.uuid4().hex[:6]}")
    out: dict[str, Any] = {"clients": clients, "seconds": seconds}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE ev (id bigserial PRIMARY KEY, t int, payload text)")
    for fsync in ("off", "on"):
        if fsync == "on":  # PgCluster starts with -c fsync=off, which only a restart without it undoes
            cluster.stop()
            opts = f"-p {cluster.port} -k {cluster.root} -c listen_addresses=127.0.0.1 -c max_connections=400"
            cluster._run("pg_ctl", "-D", str(cluster.data), "-o", opts, "-l", str(cluster.root / "log"), "-w", "start")
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            row = await (await conn.execute("SHOW fsync")).fetchone()
            assert row is not None and row[0] == fsync, row
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as listener:
            await listener.execute("LISTEN sa_events")
            drained = 0

            async def drain() -> None:
                nonlocal drained
                async for _ in listener.notifies():
                    drained += 1

            task = asyncio.create_task(drain())
            plain = await asyncio.to_thread(_pgbench, cluster, url, PGBENCH_PLAIN, clients, seconds, tmp)
            notify = await asyncio.to_thread(_pgbench, cluster, url, PGBENCH_NOTIFY, clients, seconds, tmp)
            task.cancel()
        out[f"fsync_{fsync}"] = {"commits_per_s_plain": plain, "commits_per_s_with_notify": notify,
                                 "notifications_heard": drained}
        log(f"ceilings fsync={fsync}: plain {plain:.0f}/s, with NOTIFY {notify:.0f}/s")
    if redis is not None:
        res = subprocess.run(["redis-benchmark", "-p", str(redis.port), "-c", str(clients), "-n", "200000", "-P", "16",
                              "-q", "PUBLISH", "sa:ev:bench", "x" * 200], capture_output=True, text=True).stdout
        out["redis_publish_per_s"] = float(res.split("rps=")[-1].split()[0]) if "rps=" in res else float(
            res.split(":")[1].split("requests")[0].strip()) if ":" in res else None
        out["redis_benchmark_output"] = res.strip()[-200:]
    return out


# ---------------------------------------------------------------- main
def table(results: dict[str, Any]) -> str:
    out = ["per run (one order-status question: a tool call and the demo model's reply)", ""]
    pr = {r["bus"]: r for r in results["per_run"]}
    keys = ["statements_per_run", "rows_per_run", "wal_bytes_per_run", "events_per_run", "token_events_per_run",
            "event_bytes_per_run",
            "checkpoint_rows_per_run", "checkpoint_table_bytes_per_run", "notifies_per_run",
            "redis_publishes_per_run", "seconds_per_run"]
    out.append(f"| {'measure':<34} | " + " | ".join(f"{b:>10}" for b in pr) + " |")
    for k in keys:
        vals = [pr[b].get(k) for b in pr]
        out.append(f"| {k:<34} | " + " | ".join(f"{v:>10.1f}" if isinstance(v, float | int) else f"{'-':>10}"
                                                for v in vals) + " |")
    out += ["", "load (benchmark reply 200 tokens, every token its own event, each thread watched)", ""]
    cols = ["runs_per_s", "events_committed_per_s", "events_delivered_to_watchers_per_s", "group_commits_per_s",
            "commit_p50_ms", "commit_p99_ms", "commit_mean_ms", "watcher_lag_p50_ms", "watcher_lag_p99_ms",
            "events_lost", "server_cpu_ms_per_run", "postgres_cpu_ms_per_run", "redis_cpu_ms_per_run"]
    out.append("| bus | replicas | customers | " + " | ".join(cols) + " |")
    for r in results["load"]:
        out.append(f"| {r['bus']} | {r['replicas']} | {r['customers']} | " + " | ".join(
            f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    if "ceilings" in results:
        out += ["", "ceilings (16 clients): " + json.dumps({k: v for k, v in results["ceilings"].items()
                                                           if k != "redis_benchmark_output"})]
    return "\n".join(out)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="runs in the per-run phase")
    ap.add_argument("--customers", type=int, default=40, help="concurrent customers in the load phase")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each load window")
    ap.add_argument("--buses", default="notify,redis")
    ap.add_argument("--replicas", default="1,2")
    ap.add_argument("--skip-per-run", action="store_true")
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--ceilings", type=int, default=10, metavar="SECONDS",
                    help="pgbench and redis-benchmark windows (0: skip)")
    args = ap.parse_args()
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="sa-scale-bench-"))
    cluster, has_pgss = start_cluster()
    redis = RedisServer().start() if "redis" in args.buses else None
    results: dict[str, Any] = {"per_run": [], "load": [], "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_at_start": os.getloadavg(),
        "pg_bin": str(cluster.bin), "pg_stat_statements": has_pgss, "when": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                           time.gmtime())}}
    try:
        for bus in args.buses.split(","):
            r = redis if bus == "redis" else None
            if not args.skip_per_run:
                log(f"per run: {bus}")
                results["per_run"].append(await per_run(cluster, has_pgss, bus, args.runs, tmp, r))
            for n in (int(x) for x in args.replicas.split(",") if not args.skip_load):
                log(f"load: {bus}, {n} replica(s), {args.customers} customers, {args.seconds:g} s")
                results["load"].append(await load(cluster, bus, n, args.customers, args.seconds, tmp, r))
        if args.ceilings:
            log("ceilings: pgbench (NOTIFY or not) and redis-benchmark")
            results["ceilings"] = await ceilings(cluster, 16, args.ceilings, tmp, redis)
    finally:
        if redis is not None:
            redis.stop()
        cluster.destroy()
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "scale_out.json").write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    asyncio.run(main())
