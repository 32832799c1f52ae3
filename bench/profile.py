"""`python -m bench profile`: where ours spends its CPU on the status question, by py-spy.

Starts one server process (`support-agent serve`, demo model at 0 ms a token) on a
throwaway Postgres and the demo shop, warms it up, then samples it with
`py-spy record --format raw` while `--clients` customers ask "Where is order 1042?"
back to back for `--seconds`, each starting a new conversation every `--thread-turns`. Prints the top frames by self time (the innermost frame
of each sample; only the thread holding the GIL is sampled, so idle
threads and the event loop waiting in epoll do not count) and by package, and keeps the raw
collapsed stacks (`--raw`) for a flame graph.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench.compare import STATUS_QUESTION, STATUS_THREAD_TURNS


def self_time(raw: str) -> tuple[collections.Counter[str], int]:
    """Samples per innermost frame of py-spy's raw (collapsed) output."""
    frames: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        leaf = stack.rsplit(";", 1)[-1]
        frames[leaf] += n
    return frames, total


def package_of(frame: str) -> str:
    """`func (psycopg/_cursor_base.py:602)` -> `psycopg`; py-spy names files relative to sys.path."""
    path = frame[frame.rfind("(") + 1:].split(":")[0]
    if "site-packages/" in path:
        path = path.split("site-packages/")[1]
    top = path.lstrip("/").split("/")[0].removesuffix(".py")
    return {"app": "app (ours)", "graphs": "graphs (ours)"}.get(top, top or frame)


def report(raw: str, top: int = 15) -> str:
    frames, total = self_time(raw)
    lines = [f"{total} samples", "", "| # | frame (self time) | share |", "|---|---|---|"]
    for i, (frame, n) in enumerate(frames.most_common(top), 1):
        lines.append(f"| {i} | `{frame}` | {100 * n / max(1, total):.1f}% |")
    pkgs: collections.Counter[str] = collections.Counter()
    for frame, n in frames.items():
        pkgs[package_of(frame)] += n
    lines += ["", "| package (self time) | share |", "|---|---|"]
    for pkg, n in pkgs.most_common(12):
        lines.append(f"| {pkg} | {100 * n / max(1, total):.1f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench profile")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--content", default=STATUS_QUESTION)
    parser.add_argument("--thread-turns", type=int, default=STATUS_THREAD_TURNS,
                        help="turns per conversation: a customer starts a new thread after that many")
    parser.add_argument("--raw", default=str(Path(tempfile.gettempdir()) / "sa-profile.txt"))
    parser.add_argument("--from-raw", help="only summarise an existing raw file")
    parser.add_argument("--before", help="profile the server of another checkout (as `bench run --before`)")
    args = parser.parse_args(argv)
    if args.from_raw:
        print(report(Path(args.from_raw).read_text()))
        return 0

    from bench import peers
    from bench.__main__ import cpu_times, run_json, start_shop
    from tests.support.pg import PgCluster

    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    workdir = Path(tempfile.mkdtemp(prefix="sa-profile-"))
    pg = PgCluster(workdir / "pg").init()
    pg.start()
    shop, base = start_shop(workdir)
    try:
        if args.before:
            os.environ["BENCH_BEFORE"] = str(Path(args.before).resolve())
        with peers.start("before" if args.before else "ours", pg=pg, shop=base, workdir=workdir, procs=1,
                         delay_ms=0) as run:
            cfg = {"mode": "ws_turns", "url": run.url, "tokens": 0, "content": args.content,
                   "thread_turns": args.thread_turns}
            run_json("bench.client", {**cfg, "clients": args.clients, "turns": 3})  # warm-up
            result: dict[str, Any] = {}

            def load() -> None:
                result.update(run_json("bench.client", {**cfg, "clients": args.clients,
                                                        "duration": args.seconds + 4, "warmup": 0.0}))

            cpu0 = cpu_times(run.pid)
            t = threading.Thread(target=load)
            t.start()
            subprocess.run([pyspy, "record", "--format", "raw", "--rate", "200", "--duration", str(int(args.seconds)),
                            "--pid", str(run.pid), "--output", args.raw, "--gil"],
                           check=True, capture_output=True)
            t.join()
            cpu = cpu_times(run.pid) - cpu0
    finally:
        shop.terminate()
        shop.wait(10)
        pg.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    turns = result.get("turns", 0)
    print(json.dumps({"turns": turns, "runs_per_s": result.get("runs_per_s"),
                      "server_cpu_ms_per_turn": 1000 * cpu / max(1, turns), "bad_turns": result.get("bad_turns"),
                      "errors": result.get("errors")}))
    print(report(Path(args.raw).read_text()))
    print(f"\nraw stacks: {args.raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
