"""`support-agent eval` and `support-agent eval-export`: parse nothing, print, write files, set the exit code.

`eval` plays a dataset (default: the shipped set) with the configured model (the
`LLM_*` settings; demo by default, with zero token delay unless DEMO_TOKEN_DELAY_MS
is set), prints the table, writes `--json` / `--markdown`, and with `--compare`
prints what changed since an earlier JSON. Exit code 0 when every case passed, 1
when one failed, 2 on a bad dataset, agents file or setting.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["eval_command", "export_command"]


def _err(message: str) -> int:
    print(f"support-agent eval: error: {message}", file=sys.stderr)
    return 2


def eval_command(args: Any, settings: Any) -> int:
    from app.analytics.records import estimate_cost
    from app.evals.dataset import DEFAULT_DATASET, DatasetError, load_dataset
    from app.evals.report import build_report, render_compare, render_markdown, render_table
    from app.evals.runner import run_cases
    from graphs import load_agents, load_chat_model_from_settings
    from graphs.agents import AgentConfigError

    try:
        cases = load_dataset(args.dataset)
        agents = load_agents(args.agents)
    except (DatasetError, AgentConfigError) as exc:
        return _err(str(exc))
    if args.case:
        wanted = set(args.case)
        unknown = wanted - {c.id for c in cases}
        if unknown:
            return _err(f"no case named {', '.join(sorted(unknown))} in the dataset")
        cases = [c for c in cases if c.id in wanted]
    previous = None
    if args.compare:
        try:
            previous = json.loads(Path(args.compare).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return _err(f"--compare {args.compare}: cannot read a report's JSON: {exc}")
    overrides = {} if "DEMO_TOKEN_DELAY_MS" in os.environ else {"demo_token_delay_ms": 0}
    model = load_chat_model_from_settings(settings, **overrides)
    model_name = f"{settings.llm_provider}/{settings.llm_model or getattr(model, 'model_name', '') or 'default'}"
    from app.core.db import server_database
    from app.core.errors import AppError

    try:  # the knowledge base lives in the server's database (the embedded one by default, as for serve)
        with server_database(settings) as database_url:
            url = database_url if args.checkpointer == "postgres" else None
            runs = asyncio.run(run_cases(cases, agents=agents, model=model, checkpointer_url=url,
                                         knowledge_url=database_url))
    except AppError as exc:  # the server's database could not be started or reached
        return _err(exc.message)
    dataset = str(args.dataset or DEFAULT_DATASET.name)
    report = build_report(runs, model=model_name, dataset=dataset, prices=settings.model_prices, cost_of=estimate_cost)
    print(render_table(report))
    if previous is not None:
        print()
        print(render_compare(previous, report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(report), encoding="utf-8")
    return 0 if report["summary"]["failed"] == 0 else 1


def export_command(args: Any, settings: Any) -> int:
    from app.conversations.event_log import iter_events
    from app.core.db import open_pool
    from app.evals.export import case_from_events
    from graphs.events import dump_event

    async def read() -> list[dict[str, Any]]:
        pool = open_pool(settings.database_url, settings, name="eval-export")
        await pool.open()
        try:
            return [dump_event(e) async for page in iter_events(pool, args.thread, page_size=500) for e in page]
        finally:
            await pool.close()

    events = asyncio.run(read())
    if not events:
        return _err(f"thread {args.thread} has no events in the database at DATABASE_URL; check the thread id")
    case = case_from_events(events, args.id or f"exported-{args.thread}"[:80].lower())
    text = yaml.safe_dump([case], sort_keys=False, allow_unicode=True)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as out:
            out.write(text)
    else:
        print(text, end="")
    return 0
