"""`support-agent eval`: the shipped set passes 100% on the demo model, a broken prompt fails it,
the report and --compare say so, bad datasets are refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from app.cli import main
from app.evals.dataset import DEFAULT_DATASET, DatasetError, load_dataset, parse_dataset
from app.evals.report import METRICS, build_report
from app.evals.runner import run_cases
from graphs import load_agents, load_chat_model
from graphs.agents import DEFAULT_AGENTS_PATH

CATEGORIES = {"single", "compound", "follow-up", "correction", "waiting", "unknown", "foreign", "policy",
              "injection", "off-topic", "human", "long", "small-talk"}


def _report(runs):
    return build_report(runs, model="demo/demo", dataset="test", prices={}, cost_of=lambda *a: 0.0)


def _agents_without_examples(tmp_path: Path, agent: str) -> Path:
    raw = yaml.safe_load(DEFAULT_AGENTS_PATH.read_text())
    raw["openapi"] = str((DEFAULT_AGENTS_PATH.parent / raw["openapi"]).resolve())
    for spec in raw["agents"]:
        if spec["name"] == agent:
            spec["examples"] = []
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_the_shipped_set_covers_every_kind_of_conversation() -> None:
    cases = load_dataset()
    assert len(cases) >= 60
    tags = {t for c in cases for t in c.tags}
    assert tags >= CATEGORIES, CATEGORIES - tags
    assert all(c.checks for c in cases)


@pytest.fixture(scope="module")
def knowledge_url(pg_cluster) -> str:
    """A database for the knowledge base the faq agent answers from (the demo help center)."""
    return pg_cluster.create_database("evals_kb")


async def test_the_demo_model_passes_the_whole_shipped_set(knowledge_url: str) -> None:
    runs = await run_cases(load_dataset(), agents=load_agents(), model=load_chat_model("demo", demo_token_delay_ms=0),
                           knowledge_url=knowledge_url)
    report = _report(runs)
    failed = {c["id"]: c["failed_checks"] for c in report["cases"] if not c["passed"]}
    assert failed == {}
    assert report["summary"]["pass_rate"] == 1.0
    assert all(report["metrics"][m] == 1.0 for m in METRICS), report["metrics"]
    assert all(c["input_tokens"] > 0 or "guardrail" in c["tags"] for c in report["cases"])


async def test_an_agent_without_its_examples_fails_the_eval(tmp_path: Path, knowledge_url: str) -> None:
    broken = load_agents(_agents_without_examples(tmp_path, "billing"))
    cases = [c for c in load_dataset() if "billing" in c.tags]
    runs = await run_cases(cases, agents=broken, model=load_chat_model("demo", demo_token_delay_ms=0),
                           knowledge_url=knowledge_url)
    report = _report(runs)
    failed = {c["id"] for c in report["cases"] if not c["passed"]}
    assert failed == {"refund-by-example-wording"}
    assert report["agents"]["billing"]["intent_accuracy"] < 1.0
    [case] = [c for c in report["cases"] if c["id"] == "refund-by-example-wording"]
    assert '- intents ["refund"]' in case["failed_checks"][0]["diff"]


def test_cli_writes_json_and_markdown_and_compares(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, knowledge_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", knowledge_url)  # the server's database, where its knowledge base is
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    code = main(["eval", "--case", "status-shipped", "--case", "compound-cancel-and-refund",
                 "--json", str(out), "--markdown", str(md)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["summary"] == {**report["summary"], "cases": 2, "passed": 2}
    assert report["cases"][1]["cost_usd"] > 0 and report["cases"][1]["latency_ms"] > 0
    assert "| compound-cancel-and-refund | pass |" in md.read_text()
    assert "2/2 cases passed" in capsys.readouterr().out

    report["cases"][0]["passed"] = False  # pretend it failed last time
    report["summary"]["pass_rate"] = 0.5
    out.write_text(json.dumps(report))
    broken = _agents_without_examples(tmp_path, "billing")
    code = main(["eval", "--agents", str(broken), "--case", "status-shipped", "--case", "refund-by-example-wording",
                 "--compare", str(out)])
    text = capsys.readouterr().out
    assert code == 1
    assert "FAIL refund-by-example-wording" in text
    assert "now passing: status-shipped" in text
    assert "new cases: refund-by-example-wording" in text


def test_bad_datasets_are_refused_with_the_case_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DatasetError, match=r"case 'x'.*turns.0.approvals.0.decide"):
        parse_dataset([{"id": "x", "checks": "abc", "turns": [{"say": "hi", "approvals": [{"action": "a",
                                                                                           "decide": "maybe"}]}]}])
    with pytest.raises(DatasetError, match="used twice"):
        parse_dataset([{"id": "x", "checks": "abc", "turns": [{"say": "hi"}]}] * 2)
    with pytest.raises(DatasetError, match="edit_args"):
        parse_dataset([{"id": "x", "checks": "abc", "turns": [{"say": "hi", "approvals": [{"action": "a",
                                                                                           "decide": "edit"}]}]}])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: y\n  checks: abc\n  turns: [{say: hi, answer_has: [x]}]\n")
    assert main(["eval", "--dataset", str(bad)]) == 2
    assert "case 'y'" in capsys.readouterr().err and DEFAULT_DATASET.is_file()
    assert main(["eval", "--case", "no-such-case"]) == 2


async def test_the_eval_runs_on_a_postgres_checkpointer(pg_cluster) -> None:
    url = pg_cluster.create_database("evals_pg")
    cases = [c for c in load_dataset() if c.id in ("waiting-correction", "followup-cancel-it")]
    runs = await run_cases(cases, agents=load_agents(), model=load_chat_model("demo", demo_token_delay_ms=0),
                           checkpointer_url=url)
    report = _report(runs)
    assert report["summary"]["passed"] == 2, [c["failed_checks"] for c in report["cases"]]
