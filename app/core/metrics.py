"""Prometheus collectors, served at /metrics: runs, latency, sockets, events, interrupts."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["METRICS", "Metrics"]


@dataclass
class Metrics:
    registry: CollectorRegistry
    runs_started: Counter
    runs_finished: Counter
    run_latency: Histogram
    ttft: Histogram
    active_sockets: Gauge
    events_sent: Counter
    event_commit: Histogram
    interrupts: Counter
    http_requests: Counter
    asyncio_tasks: Gauge


def _build() -> Metrics:
    reg = CollectorRegistry()
    return Metrics(
        registry=reg,
        runs_started=Counter("support_agent_runs_started", "Runs started", ["trigger"], registry=reg),
        runs_finished=Counter("support_agent_runs_finished", "Runs finished", ["status"], registry=reg),
        run_latency=Histogram("support_agent_run_seconds", "Run duration, start to end event", registry=reg,
                              buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)),
        ttft=Histogram("support_agent_time_to_first_token_seconds", "Run start to first token", registry=reg,
                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5)),
        active_sockets=Gauge("support_agent_active_sockets", "Open WebSockets", registry=reg),
        events_sent=Counter("support_agent_events_sent", "Event frames sent to sockets", registry=reg),
        event_commit=Histogram("support_agent_event_commit_seconds",
                               "One group commit of a run's events (INSERT, seq advance, NOTIFY, commit)", registry=reg,
                               buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1)),
        interrupts=Counter("support_agent_interrupts", "Interrupts by outcome", ["outcome"], registry=reg),
        http_requests=Counter("support_agent_http_requests", "HTTP requests", ["method", "status"], registry=reg),
        asyncio_tasks=Gauge("support_agent_asyncio_tasks", "Live asyncio tasks in the server process", registry=reg),
    )


METRICS = _build()
