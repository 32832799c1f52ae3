"""Benchmarks: our server against the production peers, and the detailed scenarios.

    .venv/bin/python -m bench run             # ours vs the Agent Server, aegra, langgraph dev (bench/compare.py)
    .venv/bin/python -m bench run --quick     # shorter windows, for a smoke check
    .venv/bin/python -m bench profile         # py-spy: where ours spends its CPU (bench/profile.py)
    .venv/bin/python -m bench detail          # the detailed scenarios below, against `langgraph dev`
    .venv/bin/python -m bench detail --no-peer

What `detail` starts:
(loopback only, nothing fetched at run time except the one-time `pip install` of the
peer venvs):
- a standalone demo shop (`app.demo.shop:create_shop_app` under uvicorn): every
  contender's tools call it, so an approved action costs the same everywhere;
- ours: `support-agent serve` on a throwaway Postgres (`tests.support.pg.PgCluster`,
  or `DATABASE_URL` if set), `DEMO_TOKEN_DELAY_MS=0`;
- the peer: `langgraph dev --no-browser --no-reload` from `bench/.peer-venv`
  (created on first use with `pip install "langgraph-cli[inmem]"`), serving
  `bench/peer/graph.py` (the same graph and demo model), offline;
- the floor: the compiled graph in-process on an `InMemorySaver` (`bench.floor`).
Every load generator is its own process (`bench.client`, one asyncio loop).

Results: a table on stdout and `bench/results/latest.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PEER_VENV = BENCH / ".peer-venv"
PEER_PACKAGES = ["langgraph-cli[inmem]", "langchain>=1.0,<1.5", "langchain-core>=1.0,<1.8", "jsonschema", "pyyaml",
                 "httpx"]
TOKENS = 200
THINK_S = 10.0  # paced customers: ~10 s between turns, so 50 of them offer ~5 runs/s

sys.path.insert(0, str(REPO))
from tests.support.pg import PgCluster, free_port  # noqa: E402 - importable only after the path insert
from tests.support.server import ServerProcess  # noqa: E402 - as above


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float | None]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99), "n": len(values)}


def run_json(module: str, cfg: dict[str, Any], *, python: str | None = None, timeout: float = 900) -> dict[str, Any]:
    cmd = [python or sys.executable, "-m", module, json.dumps(cfg)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{module} {cfg.get('mode')} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


class RssSampler:
    """Samples the RSS of a process tree every 0.25 s while a scenario runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            self.samples.append(tree_rss(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


def tree_sum(pid: int, measure: Any) -> float:
    """`measure(process)` summed over a process and its descendants (those that vanish meanwhile count 0)."""
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        with contextlib.suppress(psutil.Error):
            total += measure(q)
    return total


def tree_rss(pid: int) -> int:
    return int(tree_sum(pid, lambda q: q.memory_info().rss))


def cpu_times(pid: int) -> float:
    return float(tree_sum(pid, lambda q: sum(q.cpu_times()[:2])))  # user + system


def wait_http(url: str, timeout: float = 120, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not up within {timeout}s")


def start_shop(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    out = open(workdir / "shop.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "app.demo.shop:create_shop_app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/orders/1042", proc=proc)
    return proc, base


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model or platform.processor(),
            "ram_gib": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
            "kernel": platform.release()}


# scenarios shared by ours and the peer


def scenarios(kind: str, url: str, pid: int, quick: bool) -> dict[str, Any]:
    d = 8.0 if quick else 20.0
    w = 2.0 if quick else 5.0
    prefix = "ws" if kind == "ours" else "sse"
    res: dict[str, Any] = {}
    log(f"{kind}: warm-up (20 customers, 2 turns each, not measured)")
    run_json("bench.client", {"mode": f"{prefix}_turns", "url": url, "clients": 20, "turns": 2, "tokens": TOKENS})
    log(f"{kind}: 1 client")
    cpu0 = cpu_times(pid)
    res["c1"] = run_json("bench.client", {"mode": f"{prefix}_turns", "url": url, "clients": 1,
                                          "turns": 20 if quick else 60, "tokens": TOKENS})
    res["c1"]["server_cpu_s_per_run"] = (cpu_times(pid) - cpu0) / max(1, res["c1"]["turns"])
    log(f"{kind}: 50 paced clients")
    res["paced50"] = run_json("bench.client", {"mode": f"{prefix}_turns", "url": url, "clients": 50, "duration": d,
                                           "warmup": w, "tokens": TOKENS, "think_s": THINK_S})
    log(f"{kind}: 50 clients, back to back")
    res["c50"] = run_json("bench.client", {"mode": f"{prefix}_turns", "url": url, "clients": 50,
                                           "turns": 2 if quick else 4, "tokens": TOKENS})
    log(f"{kind}: 200 clients, back to back")
    cpu0 = cpu_times(pid)
    with RssSampler(pid) as rss:
        res["c200"] = run_json("bench.client", {"mode": f"{prefix}_turns", "url": url, "clients": 200,
                                                "turns": 1 if quick else 2, "tokens": TOKENS})
    res["c200"]["server_cpu_s_per_run"] = (cpu_times(pid) - cpu0) / max(1, res["c200"]["turns"])
    res["rss_load"] = rss.peak
    log(f"{kind}: interrupts")
    res["interrupt"] = run_json("bench.client", {"mode": f"{prefix}_interrupt", "url": url,
                                                 "iterations": 15 if quick else 40})
    res["bytes"] = run_json("bench.client", {"mode": f"{prefix}_bytes", "url": url, "tokens": TOKENS})
    return res


def idle_sockets(url: str, pid: int, stages: list[int]) -> dict[str, Any]:
    """RSS of the server with idle sockets open, stage by stage."""
    cfg = {"mode": "ws_idle", "url": url, "stages": stages}
    proc = subprocess.Popen([sys.executable, "-m", "bench.client", json.dumps(cfg)], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out: dict[str, Any] = {}
    assert proc.stdin and proc.stdout
    try:
        for _ in stages:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("idle client died: " + (proc.stderr.read() if proc.stderr else ""))
            stage = json.loads(line)
            settle_rss(pid)
            out[str(stage["stage"])] = {"open": stage["open"], "failures": stage["failures"], "rss": tree_rss(pid)}
            proc.stdin.write("\n")
            proc.stdin.flush()
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out


def settle_rss(pid: int, timeout: float = 5) -> None:
    """Wait until the server's RSS stops moving (two equal samples 0.2 s apart)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        now = tree_rss(pid)
        if abs(now - last) < 64 * 1024:
            return
        last = now
        time.sleep(0.2)


# contenders


def bench_ours(shop: str, workdir: Path, quick: bool, workers: int) -> dict[str, Any]:
    pg = None
    url = os.environ.get("DATABASE_URL")
    if not url:
        pg = PgCluster(workdir / "pg").init()
        pg.start()
        url = pg.create_database("bench")
    env = {"DATABASE_URL": url, "DEMO_TOKEN_DELAY_MS": "0", "RATE_LIMIT_MESSAGES": "1000000000",
           "INTERRUPT_TTL_S": "3600", "SHOP_API_URL": shop, "LOG_LEVEL": "warning", "SWEEPER_INTERVAL_S": "1"}
    try:
        with ServerProcess(env, data_dir=workdir / "ours") as server:
            assert server.proc
            pid = server.proc.pid
            settle_rss(pid)
            res: dict[str, Any] = {"rss_idle": tree_rss(pid)}
            res.update(scenarios("ours", server.ws_url, pid, quick))
            log("ours: idle sockets")
            res["idle"] = idle_sockets(server.ws_url, pid, [1000, 5000])
            settle_rss(pid)
            res["rss_after"] = tree_rss(pid)
        if workers > 1:  # the same server with one process per core: throughput
            res["workers"] = bench_ours_workers(env, workdir, quick, workers)
        # the size of one token's event: the same run with merging off (one event per delta)
        with ServerProcess({**env, "TOKEN_MERGE_MAX_CHARS": "0"}, data_dir=workdir / "ours-unmerged") as single:
            res["bytes_unmerged"] = run_json("bench.client", {"mode": "ws_bytes", "url": single.ws_url,
                                                              "tokens": TOKENS})
        return res
    finally:
        if pg is not None:
            pg.destroy()


def bench_ours_workers(env: dict[str, str], workdir: Path, quick: bool, workers: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n": workers}
    with ServerProcess(env, data_dir=workdir / "ours-workers", args=("--workers", str(workers))) as multi:
        assert multi.proc
        # every worker warms up (imports, graph, pool) before it is measured
        run_json("bench.client", {"mode": "ws_turns", "url": multi.ws_url, "clients": 20 * workers, "turns": 2,
                                  "tokens": TOKENS})
        for scen, clients, turns in (("c50", 50, 2 if quick else 4), ("c200", 200, 1 if quick else 2)):
            log(f"ours --workers {workers}: {clients} clients, back to back")
            cpu0 = cpu_times(multi.proc.pid)
            r = run_json("bench.client", {"mode": "ws_turns", "url": multi.ws_url, "clients": clients,
                                          "turns": turns, "tokens": TOKENS})
            r["server_cpu_s_per_run"] = (cpu_times(multi.proc.pid) - cpu0) / max(1, r["turns"])
            out[scen] = r
    return out


def ensure_peer_venv() -> Path:
    py = PEER_VENV / "bin" / "python"
    if not (PEER_VENV / "bin" / "langgraph").exists():
        log("creating bench/.peer-venv (pip install langgraph-cli[inmem]) ...")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)
    return py


def bench_peer(shop: str, workdir: Path, quick: bool) -> dict[str, Any]:
    py = ensure_peer_venv()
    version = subprocess.run([str(py), "-c", "import importlib.metadata as m; print(m.version('langgraph-api'), "
                              "m.version('langgraph'), m.version('langchain-core'))"],
                             capture_output=True, text=True).stdout.split()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1",
           "LANGGRAPH_NO_VERSION_CHECK": "1", "DEMO_TOKEN_DELAY_MS": "0", "SHOP_API_URL": shop,
           "LANGSMITH_API_KEY": "", "LOG_LEVEL": "WARNING"}
    jobs = os.environ.get("BENCH_PEER_JOBS", "10")
    state = BENCH / "peer" / ".langgraph_api"  # the dev server's pickled threads: start empty, like ours
    shutil.rmtree(state, ignore_errors=True)
    out = open(workdir / "peer.log", "wb")
    proc = subprocess.Popen([str(PEER_VENV / "bin" / "langgraph"), "dev", "--no-browser", "--no-reload",
                             "--port", str(port), "--host", "127.0.0.1", "--n-jobs-per-worker", jobs,
                             "--config", "langgraph.json", "--server-log-level", "WARNING"],
                            cwd=BENCH / "peer", env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/ok", proc=proc)
        settle_rss(proc.pid)
        res: dict[str, Any] = {"rss_idle": tree_rss(proc.pid), "versions": version, "jobs_per_worker": int(jobs)}
        res.update(scenarios("peer", base, proc.pid, quick))
        return res
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(state, ignore_errors=True)


def bench_floor(shop: str, quick: bool) -> dict[str, Any]:
    d = 8.0 if quick else 20.0
    w = 2.0 if quick else 5.0
    res: dict[str, Any] = {}
    log("floor: 1 / 50 paced / 50 / 200 concurrent, interrupts")
    res["c1"] = run_json("bench.floor", {"mode": "turns", "clients": 1, "turns": 20 if quick else 60, "shop": shop})
    res["paced50"] = run_json("bench.floor", {"mode": "turns", "clients": 50, "duration": d, "warmup": w, "shop": shop,
                                          "think_s": THINK_S})
    res["c50"] = run_json("bench.floor", {"mode": "turns", "clients": 50, "turns": 2 if quick else 4, "shop": shop})
    res["c200"] = run_json("bench.floor", {"mode": "turns", "clients": 200, "turns": 1 if quick else 2,
                                           "shop": shop})
    res["interrupt"] = run_json("bench.floor", {"mode": "interrupt", "iterations": 15 if quick else 40,
                                                "shop": shop})
    return res


# report


def fmt(v: Any, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def kib(v: Any) -> str:
    return "n/a" if not v else f"{v / 2**20:.0f} MiB"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    ours, peer, floor = results.get("ours") or {}, results.get("peer") or {}, results.get("floor") or {}

    def lat(r: dict[str, Any], scen: str, key: str, p: str) -> float | None:
        return pct(((r.get(scen) or {}).get(key)) or [], float(p[1:]))

    def ratio(a: float | None, b: float | None, higher_better: bool) -> str:
        if not a or not b:
            return "n/a"
        return f"{(a / b) if higher_better else (b / a):.1f}x"

    out = []
    for scen, label in (("c1", "1 client"), ("paced50", "50 paced clients"), ("c50", "50 clients back to back")):
        for key, name in (("ttft_ms", "first token"), ("total_ms", "message_complete")):
            for p in ("p50", "p95", "p99"):
                a, b, f = lat(ours, scen, key, p), lat(peer, scen, key, p), lat(floor, scen, key, p)
                out.append((f"{name} {p}, {label} (ms)", fmt(a), fmt(b), fmt(f), ratio(a, b, False)))
    for p in ("p50", "p99"):
        a, f = lat(ours, "paced50", "ttft_ms", p), lat(floor, "paced50", "ttft_ms", p)
        b = lat(peer, "paced50", "ttft_ms", p)
        out.append((f"server-added first token {p}, 50 paced clients (ms)", fmt(a - f if a is not None and f is not None else None),
                    fmt(b - f if b is not None and f is not None else None), "0", "n/a"))
    for scen, label in (("paced50", "50 paced"), ("c50", "50"), ("c200", "200")):
        a = (ours.get(scen) or {}).get("runs_per_s")
        b = (peer.get(scen) or {}).get("runs_per_s")
        f = (floor.get(scen) or {}).get("runs_per_s")
        out.append((f"completed runs/s, {label} customers", fmt(a), fmt(b), fmt(f), ratio(a, b, True)))
    multi = ours.get("workers") or {}
    for scen, label in (("c50", "50"), ("c200", "200")):
        r = multi.get(scen) or {}
        if r:
            a, b = r.get("runs_per_s"), (peer.get(scen) or {}).get("runs_per_s")
            cpu = r.get("server_cpu_s_per_run")
            out.append((f"completed runs/s, {label} customers, `serve --workers {multi['n']}`",
                        f"{fmt(a)} ({fmt(cpu * 1000 if cpu else None)} ms CPU/run)", fmt(b), "-", ratio(a, b, True)))
    for key, name in (("request_to_interrupt_ms", "request -> interrupt"),
                      ("decision_to_first_token_ms", "decision -> first token"),
                      ("decision_to_complete_ms", "decision -> message_complete")):
        for p in ("p50", "p99"):
            a = pct((ours.get("interrupt") or {}).get(key) or [], float(p[1:]))
            b = pct((peer.get("interrupt") or {}).get(key) or [], float(p[1:]))
            f = pct((floor.get("interrupt") or {}).get(key) or [], float(p[1:]))
            out.append((f"{name} {p} (ms)", fmt(a), fmt(b), fmt(f), ratio(a, b, False)))
    ob = ((ours.get("bytes") or {}).get("plain") or {})
    o1 = ((ours.get("bytes_unmerged") or {}).get("plain") or ob)
    pb = ((peer.get("bytes") or {}).get("plain") or {})
    od = ((ours.get("bytes") or {}).get("deflate") or {})
    out.append(("bytes per token event, one token each (frame)", fmt(o1.get("token_frame_avg"), digits=0),
                fmt(pb.get("token_frame_avg"), digits=0), "-",
                ratio(o1.get("token_frame_avg"), pb.get("token_frame_avg"), False)))
    out.append(("token events for a 200-token reply (1 client / 200 customers)",
                f"{fmt(ob.get('token_frames'))} / {fmt((ours.get('c200') or {}).get('token_frames_per_run'))}",
                fmt(pb.get("token_frames")), "-", "-"))
    out.append(("wire bytes per token, whole run (TCP payload)", fmt(ob.get("run_wire_bytes_per_token"), digits=0),
                fmt(pb.get("run_wire_bytes_per_token"), digits=0), "-",
                ratio(ob.get("run_wire_bytes_per_token"), pb.get("run_wire_bytes_per_token"), False)))
    out.append(("  same, permessage-deflate negotiated", fmt(od.get("run_wire_bytes_per_token"), digits=0), "-", "-",
                "-"))
    out.append(("server RSS idle", kib(ours.get("rss_idle")), kib(peer.get("rss_idle")), "-", "-"))
    idle = ours.get("idle") or {}
    for n in ("1000", "5000"):
        s = idle.get(n) or {}
        per = (s.get("rss", 0) - ours.get("rss_idle", 0)) / int(n) / 1024 if s else None
        out.append((f"server RSS, {n} idle sockets", f"{kib(s.get('rss'))} ({fmt(per)} KiB/socket)" if s else "n/a",
                    "n/a (no sockets)", "-", "-"))
    out.append(("server RSS peak, 200 customers", kib(ours.get("rss_load")), kib(peer.get("rss_load")), "-", "-"))
    for scen, label in (("c1", "1"), ("c200", "200")):
        a = (ours.get(scen) or {}).get("server_cpu_s_per_run")
        b = (peer.get(scen) or {}).get("server_cpu_s_per_run")
        out.append((f"server CPU per run, {label} customer(s) (ms)", fmt(a * 1000 if a else None),
                    fmt(b * 1000 if b else None), "-", ratio(a, b, False)))
    lost = doubled = events = 0
    for s in [(ours.get(scen) or {}).get("seq") or {} for scen in ("c1", "paced50", "c50", "c200", "interrupt")] + [
            (multi.get(scen) or {}).get("seq") or {} for scen in ("c50", "c200")]:
        lost += s.get("lost", 0) + s.get("out_of_order", 0)
        doubled += s.get("doubled", 0)
        events += s.get("events", 0)
    out.append(("events lost / doubled (checked by seq)", f"{lost} / {doubled} of {events}", "n/a (no seq)", "-", "-"))
    bad = sum(r.get("bad_turns", 0) + r.get("error_count", 0)
              for r in [ours.get(s) or {} for s in ("c1", "paced50", "c50", "c200")]
              + [multi.get(s) or {} for s in ("c50", "c200")])
    pbad = sum((peer.get(s) or {}).get("bad_turns", 0) + (peer.get(s) or {}).get("error_count", 0)
               for s in ("c1", "paced50", "c50", "c200"))
    out.append(("turns not whole (wrong text, errors)", str(bad), str(pbad) if peer else "n/a", "-", "-"))
    return out


def table(results: dict[str, Any]) -> str:
    head = ("metric", "ours (WS + Postgres)", "LangGraph dev server (SSE)", "bare graph", "ours vs peer")
    body = rows(results)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(5)]
    def line(r):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(r) for r in body)])


def cmd_run(args: argparse.Namespace) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    workdir = Path(tempfile.mkdtemp(prefix="sa-bench-"))
    results: dict[str, Any] = {"machine": machine(), "command": " ".join(["python -m bench", *sys.argv[1:]]),
                               "tokens": TOKENS, "quick": args.quick, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    shop, base = start_shop(workdir)
    try:
        if not args.no_floor:
            results["floor"] = bench_floor(base, args.quick)
        if not args.no_ours:
            results["ours"] = bench_ours(base, workdir, args.quick, args.workers)
        if not args.no_peer:
            try:
                results["peer"] = bench_peer(base, workdir, args.quick)
            except Exception as exc:  # noqa: BLE001 - report what could be measured
                log(f"peer failed: {exc}")
                results["peer_error"] = str(exc)
    finally:
        shop.terminate()
        shop.wait(10)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    m = results["machine"]
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM; {TOKENS}-token replies; "
          f"peer: langgraph-api/langgraph/langchain-core {' / '.join((results.get('peer') or {}).get('versions', []))}")
    print(table(results))
    print(f"\nraw results: {out}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def cmd_ladder(args: argparse.Namespace) -> int:
    """Where the time goes: the bare graph, + the server's stream translator, + the Postgres checkpointer."""
    workdir = Path(tempfile.mkdtemp(prefix="sa-ladder-"))
    shop, base = start_shop(workdir)
    pg = PgCluster(workdir / "pg").init()
    pg.start()
    try:
        url = pg.create_database("ladder")
        steps = [("bare graph (messages stream, InMemorySaver)", {}),
                 ("+ the server's translator (messages+updates+custom, usage callback)", {"translator": True}),
                 ("+ LangGraph's Postgres checkpointer", {"translator": True, "postgres": url})]
        print("| step | first token p50, 1 client (ms) | message_complete p50, 1 client (ms) | runs/s, 50 back to back |")
        print("|---|---|---|---|")
        for name, extra in steps:
            one = run_json("bench.floor", {"mode": "turns", "clients": 1, "turns": 40, "shop": base, **extra})
            many = run_json("bench.floor", {"mode": "turns", "clients": 50, "turns": 3, "shop": base, **extra})
            print(f"| {name} | {pct(one['ttft_ms'], 50):.1f} | {pct(one['total_ms'], 50):.1f} | "
                  f"{many['runs_per_s']:.1f} |", flush=True)
    finally:
        shop.terminate()
        shop.wait(10)
        pg.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from bench import compare

    results = json.loads(Path(args.json).read_text())
    if "contenders" in results:  # `run`
        print(compare.table(results) + "\n\n" + compare.pace_table(results))
    else:  # `detail`
        print(table(results))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from bench import compare

    if args.before:
        os.environ["BENCH_BEFORE"] = str(Path(args.before).resolve())
        if "before" not in args.contenders.split(","):
            args.contenders = args.contenders.replace("ours", "ours,before", 1)

    debian_pg = Path("/usr/lib/postgresql/15/bin")  # the peers' migrations need contrib (aegra: uuid-ossp)
    if "SUPPORT_AGENT_TEST_PG_BIN" not in os.environ and debian_pg.exists():
        os.environ["SUPPORT_AGENT_TEST_PG_BIN"] = str(debian_pg)
    return compare.cmd_run(args)


def main() -> int:
    if sys.argv[1:2] == ["profile"]:  # its own options (bench/profile.py)
        from bench.profile import main as profile

        return profile(sys.argv[2:])
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="cmd", required=True)
    cmp_ = sub.add_parser("run", help="ours against the Agent Server, aegra and langgraph dev (see bench/compare.py)")
    cmp_.add_argument("--quick", action="store_true", help="short windows (smoke check, noisy numbers)")
    cmp_.add_argument("--contenders", default="ours,agent-server,aegra,dev",
                      help="comma-separated: ours, agent-server, aegra, dev")
    cmp_.add_argument("--procs", default=f"1,{os.cpu_count() or 1}",
                      help="process counts to run every server with (default: 1 and one per core)")
    cmp_.add_argument("--out", default=str(BENCH / "results" / "latest.json"))
    cmp_.add_argument("--before", help="a checkout of an earlier commit: adds it as the contender 'ours before' "
                                       "(one process), e.g. git worktree add /tmp/before <commit>")
    cmp_.set_defaults(fn=_compare)
    run = sub.add_parser("detail", help="the detailed scenarios (interrupts, bytes, idle sockets) against "
                                        "langgraph dev and the bare graph")
    run.add_argument("--quick", action="store_true", help="short windows (smoke check, noisy numbers)")
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                     help="also measure ours' throughput with this many processes (`serve --workers`; "
                          "default: one per core; 1 skips it)")
    run.add_argument("--no-peer", action="store_true")
    run.add_argument("--no-floor", action="store_true")
    run.add_argument("--no-ours", action="store_true")
    run.add_argument("--out", default=str(BENCH / "results" / "detail.json"))
    run.set_defaults(fn=cmd_run)
    lad = sub.add_parser("ladder", help="the graph alone, + the translator, + the Postgres checkpointer")
    lad.set_defaults(fn=cmd_ladder)
    tab = sub.add_parser("table", help="print the table of a results file")
    tab.add_argument("json", nargs="?", default=str(BENCH / "results" / "latest.json"))
    tab.set_defaults(fn=cmd_table)
    args = parser.parse_args()
    args.raw = sys.argv[2:]
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
