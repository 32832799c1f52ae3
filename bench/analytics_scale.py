"""Analytics at scale: seed 1,000,000 events / 50,000 conversations, time summary and replay.

    .venv/bin/python bench/analytics_scale.py                 # a throwaway cluster (tests/support/pg.py)
    .venv/bin/python bench/analytics_scale.py --database-url postgresql://...   # an empty database
    .venv/bin/python bench/analytics_scale.py --conversations 5000 --explain

Conversations are spread evenly over the last 30 days and follow ten scripts
(order status with a tool, approvals approved / edited / rejected / expired, a
handoff, a failing tool, a two-message conversation, a cancelled run); tokens pad
each to `events / conversations` events on average. Events go in with
`INSERT ... SELECT generate_series`, in the event log's own wire format, through
the `events_analytics` trigger exactly as in production, so seeding also measures
what the trigger costs per event. Runs, approvals and feedback rows match them.

Each query is timed `--repeat` times through the same service functions the API
calls (so times include Python and the round trips); the median is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from app.analytics.replay import list_conversations
from app.analytics.replay import timeline as timeline_chunks
from app.analytics.summary import summary
from app.analytics.summary_store import refresh_rollup
from app.core.db import apply_migrations, setup_checkpointer
from app.core.security import Principal


async def timeline(pool: Any, principal: Any, thread_id: str, **kwargs: Any) -> dict[str, Any]:
    """The replay timeline as a client gets it: every streamed page read and parsed."""
    import orjson

    chunks = await timeline_chunks(pool, principal, thread_id, **kwargs)
    return orjson.loads(b"".join([c async for c in chunks]))  # type: ignore[no-any-return]

PRICES = {"demo": {"input_per_1k": 0.0005, "output_per_1k": 0.0015}}
OPERATOR = Principal("op", "operator")
TARGET_MS = 200.0

# (intent, agent, tool) per script; the scripts below refer to them by position.
ROUTES = [
    ("order_status", "order_lookup", "get_order_status"),
    ("refund", "billing", "create_refund"),
    ("order_change", "order_actions", "cancel_order"),
    ("faq", "faq", "search_help_center"),
    ("escalation", "escalation", None),
]


def _script(kind: int) -> list[tuple[int, str, dict[str, Any]]]:
    """(run number, type, payload without stamps) for one conversation of this kind."""
    intent, agent, tool = ROUTES[[0, 3, 1, 1, 2, 2, 4, 0, 0, 3][kind]]
    ev: list[tuple[int, str, dict[str, Any]]] = [(1, "run_start", {"trigger": "message"}),
                                                  (1, "intent", {"intent": intent, "confidence": 0.9, "agent": agent})]
    run = 1

    def answer(r: int) -> None:
        ev.append((r, "message_complete", {"message_id": f"m{r}", "agent": agent, "content": "Done, thanks.",
                                           "usage": {"input_tokens": 120, "output_tokens": 40}}))

    if kind in (2, 3, 4, 5):  # approvals: approved, rejected, edited, expired
        ev.append((1, "interrupt", {"interrupt_id": "i1", "agent": agent, "action": tool,
                                    "args": {"order_id": "1042", "email": "jane@example.com"}, "risk": "high",
                                    "approver": "operator", "message": f"Approve {tool}?",
                                    "expires_at": "2030-01-01T00:00:00.000Z"}))
        if kind == 5:
            ev.append((0, "interrupt_expired", {"interrupt_id": "i1", "action": tool, "message": "expired"}))
        else:
            outcome = {2: "approved", 3: "rejected", 4: "edited"}[kind]
            decided: dict[str, Any] = {"interrupt_id": "i1", "approved": outcome != "rejected",
                                       "decided_by": "op", "outcome": outcome}
            if outcome == "edited":
                decided["args"] = {"order_id": "1042"}
            ev.append((0, "interrupt_decided", decided))
        run = 2
        ev.append((2, "run_start", {"trigger": "resume"}))
    if tool and kind != 3 and kind != 5:
        ok = kind != 8
        ev.append((run, "tool_call", {"call_id": "c1", "agent": agent, "tool": tool, "args": {"order_id": "1042"}}))
        ev.append((run, "tool_result", {"call_id": "c1", "tool": tool, "ok": ok,
                                        "content": '{"status": "shipped"}' if ok else "404 not found"}))
    if kind == 6:
        ev.append((run, "handoff", {"reason": "customer asked for a person", "queue": "support"}))
    answer(run)
    if kind == 7:  # a second message
        run += 1
        ev += [(run, "run_start", {"trigger": "message"}),
               (run, "intent", {"intent": intent, "confidence": 0.8, "agent": agent})]
        answer(run)
    if kind == 9:  # a second message, cancelled
        run += 1
        ev += [(run, "run_start", {"trigger": "message"}), (run, "run_cancelled", {})]
    return ev


def templates(events_per_conversation: int) -> list[dict[str, Any]]:
    """Template rows (kind, step, run, type, payload), tokens inserted before each answer."""
    scripts = {k: _script(k) for k in range(10)}
    base = sum(len(s) for s in scripts.values()) / 10
    answers = sum(1 for s in scripts.values() for _, t, _ in s if t == "message_complete") / 10
    tokens_per_answer = max(0, round((events_per_conversation - base) / answers))
    rows = []
    for kind, script in scripts.items():
        step = 0
        for run, type_, payload in script:
            if type_ == "message_complete":
                for n in range(tokens_per_answer):
                    step += 1
                    rows.append({"kind": kind, "step": step, "run": run, "type": "token",
                                 "payload": {"message_id": payload["message_id"], "agent": payload["agent"],
                                             "content": f"word{n} "}})
            step += 1
            rows.append({"kind": kind, "step": step, "run": run, "type": type_, "payload": payload})
    return rows


CREATE_TEMPLATES = """
CREATE TEMP TABLE tpl (kind int, step int, run int, type text, payload jsonb);
"""
INSERT_TEMPLATES = "INSERT INTO tpl SELECT * FROM jsonb_to_recordset(%(rows)s) AS t(kind int, step int, run int, type text, payload jsonb)"

# Conversation i starts at now - 30 days * (i / n) and its events are 2 s apart.
SEED_THREADS = """
INSERT INTO threads (thread_id, owner_id, title, model, created_at, updated_at, last_activity_at)
SELECT 'b' || i, 'user' || (i %% 5000), 'Conversation ' || i, 'demo/default', s, s, s
FROM generate_series(%(lo)s::int, %(hi)s::int) AS i,
     LATERAL (SELECT %(now)s::timestamptz - interval '30 days' * (i::float8 / %(n)s::int)) AS x(s)
"""
SEED_RUNS = """
INSERT INTO runs (run_id, thread_id, trigger, status, owner, model, input_tokens, output_tokens,
                  started_at, first_token_at, ended_at)
SELECT 'b' || i || '_' || r.run, 'b' || i, CASE WHEN r.run = 2 AND i %% 10 BETWEEN 2 AND 5 THEN 'resume' ELSE 'message' END,
       'completed', 'bench', 'demo/default', 120, 40, s + interval '2 seconds' * r.first_step,
       s + interval '2 seconds' * r.first_step + interval '1 millisecond' * (150 + (i * 37) %% 900),
       s + interval '2 seconds' * r.last_step
FROM generate_series(%(lo)s::int, %(hi)s::int) AS i,
     LATERAL (SELECT %(now)s::timestamptz - interval '30 days' * (i::float8 / %(n)s::int)) AS x(s),
     LATERAL (SELECT run, min(step) AS first_step, max(step) AS last_step FROM tpl
              WHERE kind = i %% 10 AND run > 0 GROUP BY run) AS r
"""
SEED_EVENTS = """
INSERT INTO events (thread_id, seq, run_id, type, ts, payload)
SELECT tid, t.step, rid, t.type, ts,
       jsonb_build_object('type', t.type, 'thread_id', tid, 'seq', t.step)
       || CASE WHEN rid IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('run_id', rid) END
       || CASE WHEN t.type IN ('interrupt', 'interrupt_decided', 'interrupt_expired')
               THEN t.payload || jsonb_build_object('interrupt_id', 'i' || i) ELSE t.payload END
       || jsonb_build_object('ts', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
FROM generate_series(%(lo)s::int, %(hi)s::int) AS i
CROSS JOIN LATERAL (SELECT %(now)s::timestamptz - interval '30 days' * (i::float8 / %(n)s::int) AS s) x
JOIN tpl t ON t.kind = i %% 10
CROSS JOIN LATERAL (SELECT 'b' || i AS tid,
                           CASE WHEN t.run > 0 THEN 'b' || i || '_' || t.run END AS rid,
                           x.s + interval '2 seconds' * t.step AS ts) AS v
ORDER BY i, t.step
"""
SEED_INTERRUPTS = """
INSERT INTO interrupts (interrupt_id, thread_id, run_id, agent, action, args, risk, approver, message, event,
                        status, created_at, expires_at, decided_at, decided_by, edited_args)
SELECT e.payload ->> 'interrupt_id', e.thread_id, e.run_id, e.payload ->> 'agent', e.payload ->> 'action',
       e.payload -> 'args', 'high', 'operator', e.payload ->> 'message', e.payload,
       CASE d.type WHEN 'interrupt_expired' THEN 'expired'
                   ELSE CASE d.payload ->> 'outcome' WHEN 'edited' THEN 'approved' ELSE d.payload ->> 'outcome' END END,
       e.ts, e.ts + interval '30 minutes', d.ts, CASE WHEN d.type = 'interrupt_expired' THEN 'system' ELSE 'op' END,
       d.payload -> 'args'
FROM events e JOIN events d ON d.thread_id = e.thread_id AND d.seq = e.seq + 1
WHERE e.type = 'interrupt' AND e.thread_id = ANY(%(ids)s)
"""
SEED_FEEDBACK = """
INSERT INTO feedback (thread_id, message_id, user_id, rating, created_at)
SELECT 'b' || i, 'm1', 'user' || (i %% 5000), CASE WHEN i %% 4 = 0 THEN 'down' ELSE 'up' END,
       %(now)s::timestamptz - interval '30 days' * (i::float8 / %(n)s::int) + interval '1 minute'
FROM generate_series(%(lo)s::int, %(hi)s::int) AS i WHERE i %% 3 = 0
"""


async def seed(pool: AsyncConnectionPool, *, conversations: int, events: int, chunk: int, now: datetime) -> dict[str, float]:
    tpl = templates(events // conversations)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    async with pool.connection() as conn:
        await conn.execute(CREATE_TEMPLATES)
        await conn.execute(INSERT_TEMPLATES, {"rows": Jsonb(tpl)})
        for lo in range(0, conversations, chunk):
            hi = min(conversations, lo + chunk) - 1
            p = {"lo": lo, "hi": hi, "n": conversations, "now": now}
            await conn.execute(SEED_THREADS, p)
            await conn.execute(SEED_RUNS, p)
            await conn.execute(SEED_EVENTS, p)
            await conn.execute(SEED_INTERRUPTS, {"ids": [f"b{i}" for i in range(lo, hi + 1)]})
            await conn.execute(SEED_FEEDBACK, p)
            done = hi + 1
            rate = done / (time.perf_counter() - t0)
            print(f"  seeded {done:>7,} conversations ({rate:,.0f}/s)", file=sys.stderr, flush=True)
        await conn.execute("DROP TABLE tpl")
    timings["seed_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    async with pool.connection() as conn:
        await conn.execute("VACUUM ANALYZE")
    timings["vacuum_analyze_s"] = time.perf_counter() - t1
    return timings


async def timed(fn: Any, repeat: int) -> tuple[float, float, Any]:
    samples = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = await fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), max(samples), result


async def explain(pool: AsyncConnectionPool, now: datetime) -> None:
    from app.analytics import summary_store as store
    from app.analytics.summary import _split_hours

    start = now - timedelta(days=30)
    full_from, full_to, edges = _split_hours(start, now)
    params = {"from": start, "to": now, "full_from": full_from, "full_to": full_to, "edge_hours": edges,
              "unit": "day"}
    async with pool.connection() as conn:
        for name in ("SUMMARY_BUCKETS", "SUMMARY_APPROVALS", "SUMMARY_TTFT", "SUMMARY_FEEDBACK"):
            cur = await conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + getattr(store, name), params)
            plan = [r["QUERY PLAN"] for r in await cur.fetchall()]
            print(f"\n-- {name} (30d)\n" + "\n".join(plan[:3] + plan[-2:]), file=sys.stderr)


async def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncConnectionPool(url, min_size=2, max_size=4, open=False,
                                   kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0}) as pool:
        await apply_migrations(pool)
        await setup_checkpointer(pool)
        now = datetime.now(UTC)
        print(f"seeding {args.conversations:,} conversations, ~{args.events:,} events", file=sys.stderr)
        out: dict[str, Any] = await seed(pool, conversations=args.conversations, events=args.events,
                                         chunk=args.chunk, now=now)
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM conversations) AS conversations,"
                " (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM interrupts) AS interrupts,"
                " (SELECT count(*) FROM feedback) AS feedback, pg_size_pretty(pg_database_size(current_database())) AS size,"
                " current_setting('server_version') AS pg")
            out["rows"] = await cur.fetchone()
        print(f"rows: {out['rows']}", file=sys.stderr)
        t = time.perf_counter()
        hours = await refresh_rollup(pool)
        out["initial_rollup_s"] = round(time.perf_counter() - t, 2)
        print(f"initial rollup of {hours} hours: {out['initial_rollup_s']} s (once, after a bulk load)", file=sys.stderr)

        cases: list[tuple[str, Any]] = [
            (f"summary {r}", lambda r=r: summary(pool, prices=PRICES, range_=r)) for r in ("24h", "7d", "30d")
        ]
        cases += [
            ("replay list, no filter", lambda: list_conversations(pool, OPERATOR, prices=PRICES)),
            ("replay list, intent=refund", lambda: list_conversations(pool, OPERATOR, prices=PRICES, intent="refund")),
            ("replay list, agent=escalation", lambda: list_conversations(pool, OPERATOR, prices=PRICES,
                                                                          agent="escalation")),
            ("replay list, resolution=abandoned", lambda: list_conversations(pool, OPERATOR, prices=PRICES,
                                                                              resolution="abandoned")),
            ("replay list, has_interrupt, 7d", lambda: list_conversations(
                pool, OPERATOR, prices=PRICES, has_interrupt=True, start=now - timedelta(days=7))),
            ("replay list, offset 10,000", lambda: list_conversations(pool, OPERATOR, prices=PRICES, offset=10_000)),
        ]
        first = await list_conversations(pool, OPERATOR, prices=PRICES, limit=50)
        cases.append(("replay list, next cursor", lambda: list_conversations(
            pool, OPERATOR, prices=PRICES, cursor=first["next_cursor"])))
        tid = f"b{args.conversations // 2 + 4}"  # an edited approval, mid-range
        cases.append(("replay timeline (operator, masked)", lambda: timeline(pool, OPERATOR, tid)))
        cases.append(("replay timeline, tokens=false", lambda: timeline(pool, OPERATOR, tid, tokens=False)))

        results = []
        for name, fn in cases:
            await fn()  # warm
            median, worst, res = await timed(fn, args.repeat)
            size = res.get("conversations", res.get("count", len(res.get("events", []))))
            ok = "ok" if median < TARGET_MS else "SLOW"
            print(f"{name:<40} median {median:7.1f} ms   max {worst:7.1f} ms   ({size:,})  {ok}", file=sys.stderr)
            results.append({"query": name, "median_ms": round(median, 1), "max_ms": round(worst, 1), "n": size})
        out["results"] = results
        if args.explain:
            await explain(pool, now)
    return out


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    mem = ""
    try:
        kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="an empty database to fill (default: a throwaway cluster)")
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=5_000, help="conversations per seeding statement")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the summary queries")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args()

    cluster = None
    url = args.database_url
    if url is None:
        from tests.support.pg import PgCluster

        cluster = PgCluster().init()
        cluster.start()
        url = cluster.create_database("analytics_bench")
    try:
        out = asyncio.run(bench(url, args))
    finally:
        if cluster is not None:
            cluster.destroy()
    out["machine"] = machine()
    print(f"machine: {out['machine']}", file=sys.stderr)
    if args.json:
        print(json.dumps(out, default=str, indent=2))


if __name__ == "__main__":
    main()
