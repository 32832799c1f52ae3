"""Turn played cases into a report: per case pass/fail with diffs, metrics per check and per agent,
tokens, cost and latency per conversation; rendered as a terminal table, JSON and Markdown.

`build_report(runs, ...)` is plain JSON data (what `--json` writes and `--compare` reads back);
`render_table`, `render_markdown` and `render_compare` only format it. A turn's agent (for the
per-agent rows) is the agent of its first expected intent, else the agent that answered.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from app.evals.checks import CHECK_NAMES, check_turn
from app.evals.runner import CaseRun

__all__ = ["METRICS", "build_report", "render_compare", "render_markdown", "render_table"]

METRICS = ("intent_accuracy", "tool_precision", "tool_recall", "args_exactness", "approval_correctness",
           "handoff_correctness", "answer_facts")


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _metrics(counts: dict[str, int]) -> dict[str, float | None]:
    return {
        "intent_accuracy": _ratio(counts["intent_correct"], counts["intent_total"]),
        "tool_precision": _ratio(counts["tools_matched"], counts["tools_actual"]),
        "tool_recall": _ratio(counts["tools_matched"], counts["tools_expected"]),
        "args_exactness": _ratio(counts["tools_exact"], counts["tools_matched"]),
        "approval_correctness": _ratio(counts["approvals_correct"], counts["approvals_total"]),
        "handoff_correctness": _ratio(counts["handoff_correct"], counts["handoff_total"]),
        "answer_facts": _ratio(counts["answer_correct"], counts["answer_total"]),
    }


def _add(counts: dict[str, int], check: Any) -> None:
    c = check.counts
    if check.name == "tools":
        counts["tools_matched"] += c["matched"]
        counts["tools_actual"] += c["actual"]
        counts["tools_expected"] += c["expected"]
        counts["tools_exact"] += c["exact"]
        # a turn that rightly calls nothing is precise and complete
        if c["actual"] == 0 and c["expected"] == 0:
            counts["tools_matched"] += 1
            counts["tools_actual"] += 1
            counts["tools_expected"] += 1
            counts["tools_exact"] += 1
    elif check.name in ("intent", "approvals", "handoff", "answer"):
        counts[f"{check.name}_correct"] += c["correct"]
        counts[f"{check.name}_total"] += c["total"]


def build_report(runs: list[CaseRun], *, model: str, dataset: str, prices: Any, cost_of: Any) -> dict[str, Any]:
    """The report as JSON data. cost_of(prices, model, input_tokens, output_tokens) -> USD."""
    totals: dict[str, int] = defaultdict(int)
    per_agent: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_check: dict[str, dict[str, int]] = {name: {"passed": 0, "total": 0} for name in (*CHECK_NAMES, "run")}
    cases = []
    for run in runs:
        case_checks: list[dict[str, Any]] = []
        tokens_in = tokens_out = 0
        latency = 0.0
        for index, turn in enumerate(run.turns, start=1):
            tokens_in += turn.input_tokens
            tokens_out += turn.output_tokens
            latency += turn.latency_ms
            agent = _turn_agent(turn)
            for check in check_turn(turn):
                per_check[check.name]["total"] += 1
                per_check[check.name]["passed"] += int(check.passed)
                _add(totals, check)
                _add(per_agent[agent], check)
                case_checks.append({"turn": index, "check": check.name, "passed": check.passed, "agent": agent,
                                    "diff": check.diff})
        if run.error:
            per_check["run"]["total"] += 1
            case_checks.append({"turn": len(run.turns) + 1, "check": "run", "passed": False, "agent": "",
                                "diff": [f"+ {run.error}"]})
        passed = all(c["passed"] for c in case_checks)
        cases.append({
            "id": run.case.id,
            "checks": run.case.checks,
            "tags": run.case.tags,
            "passed": passed,
            "failed_checks": [c for c in case_checks if not c["passed"]],
            "turns": len(run.turns),
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "cost_usd": round(cost_of(prices, model, tokens_in, tokens_out), 6),
            "latency_ms": round(latency, 1),
        })
    passed = sum(c["passed"] for c in cases)
    return {
        "dataset": dataset,
        "model": model,
        "finished_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "summary": {
            "cases": len(cases),
            "passed": passed,
            "failed": len(cases) - passed,
            "pass_rate": _ratio(passed, len(cases)) or 0.0,
            "input_tokens": sum(c["input_tokens"] for c in cases),
            "output_tokens": sum(c["output_tokens"] for c in cases),
            "cost_usd": round(sum(c["cost_usd"] for c in cases), 6),
            "latency_ms": round(sum(c["latency_ms"] for c in cases), 1),
        },
        "metrics": _metrics(totals),
        "checks": {name: {**v, "rate": _ratio(v["passed"], v["total"])} for name, v in per_check.items() if v["total"]},
        "agents": {agent: _metrics(counts) for agent, counts in sorted(per_agent.items())},
        "cases": cases,
    }


def _turn_agent(turn: Any) -> str:
    if turn.turn.agents:
        return turn.turn.agents[0]
    if turn.observed.agents:
        return turn.observed.agents[0]
    return turn.observed.answer_agent or "none"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    def line(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False))
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def render_table(report: dict[str, Any]) -> str:
    s = report["summary"]
    headline = (f"eval {report['dataset']} on {report['model']}: {s['passed']}/{s['cases']} cases passed "
                f"({_pct(s['pass_rate'])}), {s['input_tokens'] + s['output_tokens']} tokens, ${s['cost_usd']:.4f}, "
                f"{s['latency_ms'] / 1000:.1f} s")
    out = [headline, ""]
    rows = [[c["id"], "PASS" if c["passed"] else "FAIL", str(c["turns"]), str(c["input_tokens"] + c["output_tokens"]),
             f"{c['cost_usd']:.5f}", f"{c['latency_ms']:.0f}"] for c in report["cases"]]
    out += _table(["case", "result", "turns", "tokens", "cost $", "ms"], rows)
    out += ["", *_table(["metric", *report["agents"].keys(), "all"],
                        [[m, *(_pct(a[m]) for a in report["agents"].values()), _pct(report["metrics"][m])]
                         for m in METRICS])]
    out += ["", *_table(["check", "passed", "total", "rate"],
                        [[n, str(v["passed"]), str(v["total"]), _pct(v["rate"])] for n, v in report["checks"].items()])]
    failed = [c for c in report["cases"] if not c["passed"]]
    for case in failed:
        out += ["", f"FAIL {case['id']}: {case['checks']}"]
        for check in case["failed_checks"]:
            out.append(f"  turn {check['turn']} {check['check']}:")
            out += [f"    {line}" for line in check["diff"]]
    return "\n".join(out)


def render_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    headline = (f"Model `{report['model']}`, {report['finished_at']}: **{s['passed']}/{s['cases']} cases passed** "
                f"({_pct(s['pass_rate'])}); {s['input_tokens']} input + {s['output_tokens']} output tokens, "
                f"${s['cost_usd']:.4f}, {s['latency_ms'] / 1000:.1f} s.")
    out = [f"# Eval report: {report['dataset']}", "", headline, "", "## Metrics", "",
           "| metric | " + " | ".join(report["agents"]) + " | all |",
           "|---|" + "---|" * (len(report["agents"]) + 1)]
    for m in METRICS:
        out.append(f"| {m} | " + " | ".join(_pct(a[m]) for a in report["agents"].values())
                   + f" | {_pct(report['metrics'][m])} |")
    out += ["", "## Cases", "", "| case | result | checks | tokens | cost $ | ms |", "|---|---|---|---|---|---|"]
    for c in report["cases"]:
        out.append(f"| {c['id']} | {'pass' if c['passed'] else '**FAIL**'} | {c['checks']} | "
                   f"{c['input_tokens'] + c['output_tokens']} | {c['cost_usd']:.5f} | {c['latency_ms']:.0f} |")
    for case in (c for c in report["cases"] if not c["passed"]):
        out += ["", f"### FAIL {case['id']}", "", "```diff"]
        for check in case["failed_checks"]:
            out.append(f"# turn {check['turn']} {check['check']}")
            out += check["diff"]
        out.append("```")
    return "\n".join(out) + "\n"


def render_compare(previous: dict[str, Any], current: dict[str, Any]) -> str:
    """What got better or worse since `previous` (a report's JSON)."""
    before = {c["id"]: c for c in previous.get("cases", [])}
    out = [f"compared with {previous.get('model', '?')} at {previous.get('finished_at', '?')}:"]
    ps, cs = previous.get("summary", {}), current["summary"]
    out.append(f"  pass rate {_pct(ps.get('pass_rate'))} -> {_pct(cs['pass_rate'])}")
    for m in METRICS:
        old, new = (previous.get("metrics") or {}).get(m), current["metrics"][m]
        if old != new:
            arrow = "better" if (new or 0) > (old or 0) else "worse"
            out.append(f"  {m}: {_pct(old)} -> {_pct(new)} ({arrow})")
    for key in ("cost_usd", "latency_ms"):
        if ps.get(key) is not None:
            out.append(f"  {key}: {ps[key]} -> {cs[key]}")
    fixed = [c["id"] for c in current["cases"] if c["passed"] and c["id"] in before and not before[c["id"]]["passed"]]
    broke = [c["id"] for c in current["cases"] if not c["passed"] and before.get(c["id"], {}).get("passed")]
    new = [c["id"] for c in current["cases"] if c["id"] not in before]
    gone = [i for i in before if i not in {c["id"] for c in current["cases"]}]
    for label, ids in (("now passing", fixed), ("now failing", broke), ("new cases", new), ("removed cases", gone)):
        if ids:
            out.append(f"  {label}: {', '.join(ids)}")
    if not (fixed or broke):
        out.append("  no case changed result")
    return "\n".join(out)
