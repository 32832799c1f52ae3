"""The schema of our own tables, as a list of migrations: position = version.

Append only: never edit a released entry; add a new one. LangGraph's checkpoint
tables are created by its own `AsyncPostgresSaver.setup()`.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[str] = [
    # 0: threads, runs, the event log, interrupts, rate limiting
    """
    CREATE TABLE threads (
        thread_id        text PRIMARY KEY,
        owner_id         text NOT NULL,
        title            text NOT NULL DEFAULT '',
        status           text NOT NULL DEFAULT 'idle',   -- idle | running | interrupted | handoff
        active_run_id    text,
        run_lease_until  timestamptz,
        last_seq         bigint NOT NULL DEFAULT 0,
        message_count    integer NOT NULL DEFAULT 0,
        model            text NOT NULL DEFAULT '',
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        last_activity_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX threads_owner_updated_idx ON threads (owner_id, updated_at DESC);
    CREATE INDEX threads_updated_idx ON threads (updated_at DESC);
    CREATE INDEX threads_active_run_idx ON threads (run_lease_until) WHERE active_run_id IS NOT NULL;

    CREATE TABLE runs (
        run_id        text PRIMARY KEY,
        thread_id     text NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
        trigger       text NOT NULL,          -- message | form_submit | resume | retry
        status        text NOT NULL,          -- running | completed | interrupted | cancelled | error
        owner         text NOT NULL,          -- the process that runs it
        input_tokens  integer NOT NULL DEFAULT 0,
        output_tokens integer NOT NULL DEFAULT 0,
        model         text NOT NULL DEFAULT '',
        error_code    text,
        started_at    timestamptz NOT NULL DEFAULT now(),
        first_token_at timestamptz,
        ended_at      timestamptz
    );
    CREATE INDEX runs_thread_idx ON runs (thread_id, started_at);
    CREATE INDEX runs_started_idx ON runs (started_at);

    CREATE TABLE events (
        thread_id text NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
        seq       bigint NOT NULL,
        run_id    text,
        type      text NOT NULL,
        ts        timestamptz NOT NULL DEFAULT now(),
        payload   jsonb NOT NULL,
        PRIMARY KEY (thread_id, seq)
    );
    CREATE INDEX events_ts_idx ON events (ts);
    CREATE INDEX events_type_ts_idx ON events (type, ts);
    CREATE INDEX events_run_idx ON events (run_id) WHERE run_id IS NOT NULL;

    CREATE TABLE interrupts (
        interrupt_id text PRIMARY KEY,
        thread_id    text NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
        run_id       text NOT NULL,
        agent        text NOT NULL,
        action       text NOT NULL,
        args         jsonb NOT NULL,
        risk         text NOT NULL,
        approver     text NOT NULL,          -- customer | operator
        message      text NOT NULL,
        event        jsonb NOT NULL,          -- the interrupt event as sent
        status       text NOT NULL DEFAULT 'pending',  -- pending | approved | rejected | expired | superseded
        created_at   timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz NOT NULL,
        warned_at    timestamptz,
        decided_at   timestamptz,
        decided_by   text,
        edited_args  jsonb,
        reason       text
    );
    CREATE INDEX interrupts_pending_idx ON interrupts (expires_at) WHERE status = 'pending';
    CREATE INDEX interrupts_thread_idx ON interrupts (thread_id, created_at);
    CREATE INDEX interrupts_status_created_idx ON interrupts (status, created_at);

    CREATE TABLE rate_limit_hits (
        user_id text NOT NULL,
        ts      timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX rate_limit_hits_user_ts_idx ON rate_limit_hits (user_id, ts);
    """,
]
