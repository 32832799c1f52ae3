"""Every figure of the dashboard summary against the scripted conversations in seed.py.

In the last 24 hours (A..I):
  resolutions  automated A, D, H   assisted B, C   escalated F   abandoned E, G   open I
  messages     customer 1+1+1+1+1+1+2+2+1 = 11, agent 1+1+1+1+1+1+1+1+0 = 8
  tools        4 results (A, B, C, G), 1 error (G)
  approvals    refund_order: approved B (30 s), rejected D (90 s), expired E, superseded H, pending I
               cancel_order: edited C (45 s)
  ttft         200, 300, ..., 900 ms (the runs that streamed)
  tokens       input 770, output 140; at 1 $/1k in and 2 $/1k out: 1.05 $
  feedback     up A, down B, up F
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.analytics.summary import resolve_range, summary
from app.core.errors import BadRequest
from tests.analytics.seed import seed_scenarios

PRICES = {"demo": {"input_per_1k": 1.0, "output_per_1k": 2.0}}


async def test_summary_24h_every_figure(pool) -> None:
    now = datetime.now(UTC)
    threads = await seed_scenarios(pool, now)

    s = await summary(pool, prices=PRICES, range_="24h")

    assert s["range"] == "24h" and s["bucket"] == "hour"
    assert s["conversations"] == 9
    assert s["messages"] == 19 and s["user_messages"] == 11 and s["agent_messages"] == 8
    assert s["resolutions"] == {"automated": 3, "assisted": 2, "escalated": 1, "abandoned": 2, "open": 1}
    assert s["automated_resolution_rate"] == round(3 / 9, 4)
    assert s["escalation_rate"] == round(1 / 9, 4)
    assert s["approvals"] == {
        "cancel_order": {"approved": 0, "edited": 1, "rejected": 0, "expired": 0, "superseded": 0,
                         "pending": 0, "median_decision_s": 45.0},
        "refund_order": {"approved": 1, "edited": 0, "rejected": 1, "expired": 1, "superseded": 1,
                         "pending": 1, "median_decision_s": 60.0},
    }
    assert s["intents"] == {"order_status": 3, "refund": 5, "cancel_order": 1, "talk_to_human": 1}
    assert s["agents"] == {"orders": 4, "billing": 5, "handoff": 1}
    assert s["tool_calls"] == 4 and s["tool_errors"] == 1
    assert s["tool_error_rate"] == 0.25
    assert s["ttft_ms"] == {"p50": 550.0, "p95": 865.0, "runs": 8}
    assert s["tokens"] == 910
    assert s["tokens_per_conversation"] == round(910 / 9, 1)
    assert s["cost_usd"] == pytest.approx(1.05)
    assert s["cost_per_conversation_usd"] == pytest.approx(round(1.05 / 9, 6))
    assert s["csat"] == round(2 / 3, 4)
    assert s["feedback"] == {"up": 2, "down": 1, "score_avg": None, "scored": 0}

    # hourly buckets cover the range; each conversation lands in the hour it started
    series = s["series"]
    assert 24 <= len(series) <= 25
    assert sum(p["conversations"] for p in series) == 9
    assert sum(p["messages"] for p in series) == 19
    assert sum(p["escalations"] for p in series) == 1
    assert sum(p["automated"] for p in series) == 3
    assert sum(p["cost_usd"] for p in series) == pytest.approx(1.05)
    by_bucket = {p["bucket"]: p for p in series}
    for key in "ABCDEFGHI":
        first = threads[key].events[0]["ts"]
        hour = datetime.fromisoformat(first).replace(minute=0, second=0, microsecond=0)
        assert by_bucket[hour.isoformat().replace("+00:00", "Z")]["conversations"] >= 1
    f_hour = datetime.fromisoformat(threads["F"].events[0]["ts"])
    f_bucket = by_bucket[f_hour.replace(minute=0, second=0, microsecond=0).isoformat().replace("+00:00", "Z")]
    assert f_bucket["escalations"] == 1 and f_bucket["conversations"] == 1 and f_bucket["messages"] == 2


async def test_summary_7d_includes_older_conversation_daily(pool) -> None:
    await seed_scenarios(pool, datetime.now(UTC))
    s = await summary(pool, prices=PRICES, range_="7d")
    assert s["bucket"] == "day" and s["conversations"] == 10
    assert s["resolutions"]["automated"] == 4
    assert s["intents"]["order_status"] == 4
    assert s["ttft_ms"]["runs"] == 9
    assert len(s["series"]) in (7, 8)
    assert sum(p["conversations"] for p in s["series"]) == 10


async def test_summary_custom_range_and_empty(pool) -> None:
    now = datetime.now(UTC)
    await seed_scenarios(pool, now)
    # only J (three days ago)
    s = await summary(pool, prices=PRICES, start=now - timedelta(days=4), end=now - timedelta(days=2))
    assert s["range"] == "custom" and s["conversations"] == 1 and s["bucket"] == "hour"
    assert s["tokens"] == 45 and s["approvals"] == {} and s["csat"] is None
    empty = await summary(pool, prices=PRICES, start=now - timedelta(days=100), end=now - timedelta(days=99))
    assert empty["conversations"] == 0 and empty["automated_resolution_rate"] == 0.0
    assert empty["ttft_ms"] == {"p50": None, "p95": None, "runs": 0}
    assert all(p["conversations"] == 0 for p in empty["series"])


def test_resolve_range_rules() -> None:
    now = datetime(2026, 1, 10, 12, 30, tzinfo=UTC)
    assert resolve_range(None, None, None, now=now) == ("24h", now - timedelta(hours=24), now, "hour")
    assert resolve_range("30d", None, None, now=now)[3] == "day"
    label, start, end, unit = resolve_range("7d", None, datetime(2026, 1, 5), now=now)
    assert (label, start, end.tzinfo, unit) == ("7d", datetime(2025, 12, 29, tzinfo=UTC), UTC, "day")
    with pytest.raises(BadRequest, match="from must be earlier"):
        resolve_range(None, now, now - timedelta(hours=1), now=now)
    with pytest.raises(BadRequest, match="range must be one of"):
        resolve_range("1y", None, None, now=now)
    with pytest.raises(BadRequest, match="at most"):
        resolve_range(None, now - timedelta(days=900), now, now=now)


async def test_rollup_follows_changes_and_deletions(pool) -> None:
    from app.analytics.retention import delete_thread_data

    now = datetime.now(UTC)
    threads = await seed_scenarios(pool, now)
    before = await summary(pool, prices=PRICES, range_="24h")
    assert before["resolutions"]["open"] == 1

    # I's pending refund is approved and answered: open -> assisted, in an hour already rolled up
    i = threads["I"]
    await i.decide(i.iid, "approved", after_s=10)
    await i.run("resume", ttft_ms=250)
    await i.answer("billing", "Refunded.", 30, 5)
    after = await summary(pool, prices=PRICES, range_="24h")
    assert after["resolutions"] == {**before["resolutions"], "open": 0, "assisted": 3}
    assert after["tokens"] == before["tokens"] + 35 and after["messages"] == before["messages"] + 1

    await delete_thread_data(pool, "thr_F")
    gone = await summary(pool, prices=PRICES, range_="24h")
    assert gone["conversations"] == 8 and gone["resolutions"]["escalated"] == 0
    assert "talk_to_human" not in gone["intents"] and "handoff" not in gone["agents"]


def test_split_hours() -> None:
    from app.analytics.summary import _split_hours

    h = datetime(2026, 1, 10, 12, tzinfo=UTC)
    m = timedelta(minutes=1)
    hour = timedelta(hours=1)
    assert _split_hours(h, h + 3 * hour) == (h, h + 3 * hour, [])
    assert _split_hours(h + 30 * m, h + 3 * hour + 10 * m) == (h + hour, h + 3 * hour, [h, h + 3 * hour])
    assert _split_hours(h + 10 * m, h + 20 * m) == (h + hour, h + hour, [h])
    assert _split_hours(h + 10 * m, h + hour + 20 * m) == (h + hour, h + hour, [h, h + hour])


def test_percentile_matches_percentile_cont() -> None:
    from app.analytics.summary import _percentile

    values = [200, 300, 300, 400, 900, 1200, 1200, 1200, 5000]
    counts = sorted({v: values.count(v) for v in values}.items())
    assert _percentile(counts, 0.5) == 900.0
    assert _percentile(counts, 0.95) == 1200 + (5000 - 1200) * 0.6  # position 7.6
    assert _percentile([(42, 1)], 0.95) == 42.0 and _percentile([], 0.5) is None
