"""`python -m bench run`: ours against the production peers, one process and one per core, in one invocation.

For every contender (`bench.peers`) and process count, two starts:

1. demo model at 0 ms a token (throughput: what the server itself costs):
   warm-up (20 customers x 2 turns, not counted); *1 client*: 40 turns of a 200-token
   reply, one after another; *status question*: 60 turns of "Where is order 1042?" at
   1 client, a new conversation every 20 (triage, the order agent, the order lookup through
   the demo shop, the answer), server CPU per turn; *50* and *200 customers back to back* (3 and 2 turns
   each, or what completes within 60 s), completed runs/s and server CPU per run;
2. demo model at 20 ms a token (the realistic pace): a ramp of concurrent customers,
   each asking for a 150-token reply and waiting 2-5 s (uniform) between turns; a step
   passes when the first token's p95 is under 1 s, no stream has a gap over 250 ms
   between tokens and every turn is whole; the ramp stops at the first step that fails.

Server CPU is the server's process tree (user + system; not Postgres, Redis or the
load generator, which are separate processes on the same cores).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import peers

PACE_STEPS = [5, 10, 25, 50, 75, 100, 150, 200, 300, 400]
PACE_TOKENS = 150
PACE_THINK = [2.0, 5.0]
TTFT_P95_MAX_MS = 1000.0
GAP_MAX_MS = 250.0
STATUS_QUESTION = "Where is order 1042?"
STATUS_THREAD_TURNS = 20  # the status question's conversations: this many turns each
BACK_TO_BACK_LIMIT_S = 60.0
TURN_TIMEOUT_S = 60.0


def _log(msg: str) -> None:
    import sys

    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def throughput(run: peers.Running, quick: bool) -> dict[str, Any]:
    from bench.__main__ import cpu_times, run_json

    mode = f"{run.kind}_turns"
    base = {"mode": mode, "url": run.url, "tokens": 200}
    res: dict[str, Any] = {}
    run_json("bench.client", {**base, "clients": 20 * run.procs, "turns": 2, "time_limit": BACK_TO_BACK_LIMIT_S,
                              "turn_timeout": TURN_TIMEOUT_S})  # warm-up
    cpu0 = cpu_times(run.pid)
    res["c1"] = run_json("bench.client", {**base, "clients": 1, "turns": 15 if quick else 30})
    res["c1"]["server_cpu_s_per_run"] = (cpu_times(run.pid) - cpu0) / max(1, res["c1"]["turns"])
    cpu0 = cpu_times(run.pid)
    res["status"] = run_json("bench.client", {**base, "clients": 1, "turns": 30 if quick else 3 * STATUS_THREAD_TURNS,
                                              "thread_turns": STATUS_THREAD_TURNS, "content": STATUS_QUESTION})
    res["status"]["server_cpu_s_per_run"] = (cpu_times(run.pid) - cpu0) / max(1, res["status"]["turns"])
    for scen, clients, turns in (("c50", 50, 2 if quick else 3), ("c200", 200, 1 if quick else 2)):
        _log(f"{run.name} x{run.procs}: {clients} customers back to back")
        cpu0 = cpu_times(run.pid)
        # a slow server gets BACK_TO_BACK_LIMIT_S: runs/s counts what completed by then
        res[scen] = run_json("bench.client", {**base, "clients": clients, "turns": turns,
                                              "time_limit": BACK_TO_BACK_LIMIT_S, "turn_timeout": TURN_TIMEOUT_S})
        res[scen]["server_cpu_s_per_run"] = (cpu_times(run.pid) - cpu0) / max(1, res[scen]["turns"])
    return res


def step_passes(r: dict[str, Any], gap_pct: float = 100) -> bool:
    """The step's verdict; `gap_pct=95` forgives the worst 5% of streams their largest gap."""
    from bench.__main__ import pct

    p95 = pct(r.get("ttft_ms") or [], 95)
    gap = pct(r.get("gap_ms") or [0], gap_pct) or 0
    seq = r.get("seq") or {}
    return (p95 is not None and p95 < TTFT_P95_MAX_MS and gap <= GAP_MAX_MS
            and not r.get("error_count") and not r.get("bad_turns")
            and not (seq.get("lost") or seq.get("doubled") or seq.get("out_of_order")))


def pace_ramp(run: peers.Running, quick: bool) -> dict[str, Any]:
    from bench.__main__ import pct, run_json

    steps: list[dict[str, Any]] = []
    best = best95 = 0
    strict = True
    for n in PACE_STEPS:
        _log(f"{run.name} x{run.procs}: realistic pace, {n} customers")
        r = run_json("bench.client", {"mode": f"{run.kind}_turns", "url": run.url, "clients": n,
                                      "tokens": PACE_TOKENS, "think_range": PACE_THINK,
                                      "duration": 8.0 if quick else 12.0, "warmup": 4.0, "seed": n})
        ok, ok95 = step_passes(r), step_passes(r, 95)
        steps.append({"clients": n, "ok": ok, "ok95": ok95, "ttft_p50": pct(r["ttft_ms"], 50), "ttft_p95": pct(r["ttft_ms"], 95),
                      "gap_max": max(r.get("gap_ms") or [0]), "gap_p95": pct(r.get("gap_ms") or [], 95),
                      "turns": r["turns"], "runs_per_s": r["runs_per_s"], "errors": r.get("error_count", 0),
                      "bad": r.get("bad_turns", 0), "seq": r.get("seq")})
        strict = strict and ok  # the strict count: every step up to here passed
        if strict:
            best = n
        if not ok95:  # a shared machine stalls a process now and then: go on while 95% of streams are smooth
            break
        best95 = n
    return {"max_clients": best, "max_clients_p95": best95, "steps": steps}


def bench_contender(name: str, procs: int, *, pg: Any, shop: str, workdir: Path, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "procs": procs}
    _log(f"{name} x{procs}: starting (0 ms a token)")
    with peers.start(name, pg=pg, shop=shop, workdir=workdir, procs=procs, delay_ms=0) as run:
        out.update(throughput(run, quick))
    _log(f"{name} x{procs}: starting (20 ms a token)")
    with peers.start(name, pg=pg, shop=shop, workdir=workdir, procs=procs, delay_ms=20) as run:
        out["pace"] = pace_ramp(run, quick)
    return out


# the table

def _cell(r: dict[str, Any] | None, metric: str) -> float | None:
    from bench.__main__ import pct

    if not r:
        return None
    if metric in ("pace", "pace95"):
        return (r.get("pace") or {}).get("max_clients" if metric == "pace" else "max_clients_p95")
    scen, _, what = metric.partition(":")
    s = r.get(scen) or {}
    if what == "runs":
        return s.get("runs_per_s")
    if what == "cpu":
        v = s.get("server_cpu_s_per_run")
        return v * 1000 if v is not None else None
    if what.startswith("ttft_p"):
        return pct(s.get("ttft_ms") or [], float(what[6:]))
    if what.startswith("total_p"):
        return pct(s.get("total_ms") or [], float(what[7:]))
    raise KeyError(metric)


METRICS = [  # (label, key, higher is better)
    ("completed runs/s, 1 client", "c1:runs", True),
    ("completed runs/s, 50 customers back to back", "c50:runs", True),
    ("completed runs/s, 200 customers back to back", "c200:runs", True),
    ("first token p50, 1 client (ms)", "c1:ttft_p50", False),
    ("first token p95, 1 client (ms)", "c1:ttft_p95", False),
    ("message complete p50, 1 client (ms)", "c1:total_p50", False),
    ("first token p50, 50 customers back to back (ms)", "c50:ttft_p50", False),
    ("status question: reply complete p50, 1 client (ms)", "status:total_p50", False),
    ("server CPU per turn, status question (ms)", "status:cpu", False),
    ("server CPU per run, 200 customers (ms)", "c200:cpu", False),
    ("concurrent customers at the realistic pace (no gap > 250 ms)", "pace", True),
    ("  same, the worst 5% of streams' gaps forgiven", "pace95", True),
]


def columns(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    cols = []
    for c in results.get("contenders", []):
        label = c.get("label") or {"ours": "ours", "agent-server": "Agent Server", "aegra": "aegra",
                                   "dev": "langgraph dev", "before": "ours before"}.get(c["name"], c["name"])
        cols.append((f"{label} x{c['procs']}", c))
    return cols


def table(results: dict[str, Any]) -> str:
    cols = columns(results)
    by = {(c["name"], c["procs"]): c for _, c in cols}
    ratio_cols = [(p, by.get(("ours", p)), by.get(("agent-server", p))) for p in sorted({c["procs"] for _, c in cols})]
    ratio_cols = [(p, a, b) for p, a, b in ratio_cols if a and b]
    head = ["metric", *(label for label, _ in cols), *(f"ours / Agent Server x{p}" for p, _, _ in ratio_cols)]
    body = []
    for label, key, higher in METRICS:
        row = [label]
        for _, c in cols:
            v = _cell(c, key)
            row.append("n/a" if v is None else (f"{v:.0f}" if key.startswith("pace") else f"{v:.1f}"))
        for _, a, b in ratio_cols:
            x, y = _cell(a, key), _cell(b, key)
            if x is None or y is None or not x or not y:
                row.append("n/a" if not key.startswith("pace") or x is None or y is None else ("inf" if not y else "0"))
            else:
                row.append(f"{(x / y) if higher else (y / x):.2f}x")
        body.append(row)
    bad = ["turns not whole / errors"]
    for _, c in cols:
        n = sum((c.get(s) or {}).get("bad_turns", 0) + (c.get(s) or {}).get("error_count", 0)
                for s in ("c1", "status", "c50", "c200"))
        n += sum(st.get("bad", 0) + st.get("errors", 0) for st in (c.get("pace") or {}).get("steps", []) if st["ok"])
        bad.append(str(n))
    bad += ["-"] * len(ratio_cols)
    body.append(bad)
    seq = ["events lost / doubled (by seq)"]
    for _, c in cols:
        if c["name"] not in ("ours", "before"):
            seq.append("n/a (no seq)")
            continue
        lost = doubled = events = 0
        books = [(c.get(s) or {}).get("seq") or {} for s in ("c1", "status", "c50", "c200")]
        books += [st.get("seq") or {} for st in (c.get("pace") or {}).get("steps", [])]
        for b in books:
            lost += b.get("lost", 0) + b.get("out_of_order", 0)
            doubled += b.get("doubled", 0)
            events += b.get("events", 0)
        seq.append(f"{lost} / {doubled} of {events}")
    seq += ["-"] * len(ratio_cols)
    body.append(seq)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(r) for r in body)])


def pace_table(results: dict[str, Any]) -> str:
    lines = ["| contender | customers | first token p50 / p95 (ms) | largest gap / p95 (ms) | runs/s | passes (p95) |",
             "|---|---|---|---|---|---|"]
    for label, c in columns(results):
        for st in (c.get("pace") or {}).get("steps", []):
            lines.append(f"| {label} | {st['clients']} | {st['ttft_p50'] or 0:.0f} / {st['ttft_p95'] or 0:.0f} | "
                         f"{st['gap_max']:.0f} / {st.get('gap_p95') or 0:.0f} | {st['runs_per_s']:.1f} | "
                         f"{'yes' if st['ok'] else 'no'} ({'yes' if st.get('ok95') else 'no'}) |")
    return "\n".join(lines)


def cmd_run(args: Any) -> int:
    import resource
    import shutil
    import tempfile

    from bench.__main__ import machine, start_shop
    from tests.support.pg import PgCluster

    def stop(signum: int, frame: Any) -> None:  # stop every server and Postgres on the way out
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    workdir = Path(tempfile.mkdtemp(prefix="sa-bench-"))
    names = [n for n in args.contenders.split(",") if n]
    procs = [int(p) for p in args.procs.split(",") if p]
    results: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "command": "python -m bench run " + " ".join(args.raw), "quick": args.quick,
                               "contenders": [], "versions": {}, "errors": {}}
    pg = PgCluster(workdir / "pg").init()
    pg.start()
    results["postgres"] = subprocess.run([str(pg.bin / "postgres"), "--version"], capture_output=True, check=False,
                                         text=True).stdout.strip()
    shop, base = start_shop(workdir)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for name in names:
            try:
                results["versions"][name] = peers.versions(name) if name in ("ours", "before") else (
                    peers.ensure_venv(name) and peers.versions(name))
            except Exception as exc:  # noqa: BLE001 - report what could be measured
                results["errors"][name] = f"setup: {exc}"
                continue
            for p in procs if name not in ("dev", "before") else [1]:
                try:
                    results["contenders"].append(bench_contender(name, p, pg=pg, shop=base, workdir=workdir,
                                                                 quick=args.quick))
                except Exception as exc:  # noqa: BLE001
                    _log(f"{name} x{p} failed: {exc}")
                    results["errors"][f"{name} x{p}"] = str(exc)[-2000:]
                out.write_text(json.dumps(results, indent=1))  # partial results survive a crash
    finally:
        shop.terminate()
        shop.wait(10)
        pg.destroy()
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out.write_text(json.dumps(results, indent=1))
    m = results["machine"]
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, Python {m['python']}")
    for name, v in results["versions"].items():
        print(f"{name}: {json.dumps(v)}")
    for k, v in results["errors"].items():
        print(f"FAILED {k}: {v[:300]}")
    print()
    print(table(results))
    print()
    print(pace_table(results))
    print(f"\nraw results: {out}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0
