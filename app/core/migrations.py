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
        retry_pending    boolean NOT NULL DEFAULT false,
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
    # analytics (issue 6): conversation records kept current from the event log by a
    # trigger, customer feedback, and an index for every replay and summary filter
    """
    CREATE TABLE conversations (
        thread_id         text PRIMARY KEY REFERENCES threads(thread_id) ON DELETE CASCADE,
        user_id           text NOT NULL,
        started_at        timestamptz NOT NULL,
        last_activity_at  timestamptz NOT NULL,
        ended_at          timestamptz,            -- end of the last run; NULL while one runs or waits
        last_seq          bigint NOT NULL DEFAULT 0,
        state             text NOT NULL DEFAULT 'running',  -- running | waiting | answered | cancelled | failed
        runs              integer NOT NULL DEFAULT 0,
        user_messages     integer NOT NULL DEFAULT 0,
        agent_messages    integer NOT NULL DEFAULT 0,
        intents           text[] NOT NULL DEFAULT '{}',
        agents            text[] NOT NULL DEFAULT '{}',
        tools             text[] NOT NULL DEFAULT '{}',
        tool_calls        integer NOT NULL DEFAULT 0,
        tool_results      integer NOT NULL DEFAULT 0,
        tool_errors       integer NOT NULL DEFAULT 0,
        run_errors        integer NOT NULL DEFAULT 0,
        interrupts        integer NOT NULL DEFAULT 0,
        approved          integer NOT NULL DEFAULT 0,
        edited            integer NOT NULL DEFAULT 0,
        rejected          integer NOT NULL DEFAULT 0,
        expired           integer NOT NULL DEFAULT 0,
        superseded        integer NOT NULL DEFAULT 0,
        interrupt_log     jsonb NOT NULL DEFAULT '{}',  -- interrupt_id -> {action, agent, outcome, created_at, decided_at, decided_by}
        unanswered_expiry boolean NOT NULL DEFAULT false, -- an approval expired and the customer has not written since
        handoff_at        timestamptz,
        handoff_queue     text,
        handoff_reason    text,
        input_tokens      bigint NOT NULL DEFAULT 0,
        output_tokens     bigint NOT NULL DEFAULT 0,
        usage             jsonb NOT NULL DEFAULT '{}',  -- model -> {input_tokens, output_tokens}
        resolution        text GENERATED ALWAYS AS (
            CASE
                WHEN handoff_at IS NOT NULL THEN 'escalated'
                WHEN state IN ('running', 'waiting') THEN 'open'
                WHEN approved + edited > 0 THEN 'assisted'
                WHEN state = 'answered' AND NOT unanswered_expiry THEN 'automated'
                ELSE 'abandoned'
            END
        ) STORED
    );
    CREATE INDEX conversations_started_idx ON conversations (started_at DESC, thread_id DESC);
    CREATE INDEX conversations_resolution_idx ON conversations (resolution, started_at DESC);
    CREATE INDEX conversations_user_idx ON conversations (user_id, started_at DESC);
    CREATE INDEX conversations_interrupted_idx ON conversations (started_at DESC) WHERE interrupts > 0;
    CREATE INDEX conversations_activity_idx ON conversations (last_activity_at);
    CREATE INDEX conversations_intents_idx ON conversations USING gin (intents);
    CREATE INDEX conversations_agents_idx ON conversations USING gin (agents);
    CREATE INDEX threads_last_activity_idx ON threads (last_activity_at);
    CREATE INDEX interrupts_created_idx ON interrupts (created_at) INCLUDE (action, status);

    CREATE TABLE feedback (
        thread_id  text NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
        message_id text NOT NULL,
        user_id    text NOT NULL,
        rating     text NOT NULL CHECK (rating IN ('up', 'down')),
        score      smallint CHECK (score BETWEEN 1 AND 5),
        comment    text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (thread_id, message_id, user_id)
    );
    CREATE INDEX feedback_created_idx ON feedback (created_at);

    -- One event folded into its conversation record. Tokens are skipped: the
    -- message_complete that follows them carries the whole answer and its usage.
    CREATE FUNCTION analytics_apply_event(e events) RETURNS void LANGUAGE plpgsql AS $fn$
    DECLARE
        p       jsonb := e.payload;
        c       conversations%ROWTYPE;
        iid     text;
        prior   text;
        outcome text;
        model   text;
        n_in    bigint;
        n_out   bigint;
    BEGIN
        IF e.type = 'token' THEN
            RETURN;
        END IF;
        INSERT INTO conversations (thread_id, user_id, started_at, last_activity_at)
        SELECT t.thread_id, t.owner_id, e.ts, e.ts FROM threads t WHERE t.thread_id = e.thread_id
        ON CONFLICT (thread_id) DO NOTHING;
        SELECT * INTO c FROM conversations WHERE thread_id = e.thread_id FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;

        c.started_at := least(c.started_at, e.ts);
        c.last_activity_at := greatest(c.last_activity_at, e.ts);
        c.last_seq := greatest(c.last_seq, e.seq);
        IF p->>'agent' IS NOT NULL AND NOT (p->>'agent' = ANY (c.agents)) THEN
            c.agents := c.agents || (p->>'agent');
        END IF;

        CASE e.type
        WHEN 'run_start' THEN
            c.state := 'running';
            c.ended_at := NULL;
            c.runs := c.runs + 1;
            IF p->>'trigger' IN ('message', 'form_submit') THEN
                c.user_messages := c.user_messages + 1;
                c.unanswered_expiry := false;
            END IF;
        WHEN 'intent' THEN
            IF p->>'intent' IS NOT NULL AND NOT (p->>'intent' = ANY (c.intents)) THEN
                c.intents := c.intents || (p->>'intent');
            END IF;
        WHEN 'tool_call' THEN
            c.tool_calls := c.tool_calls + 1;
            IF p->>'tool' IS NOT NULL AND NOT (p->>'tool' = ANY (c.tools)) THEN
                c.tools := c.tools || (p->>'tool');
            END IF;
        WHEN 'tool_result' THEN
            c.tool_results := c.tool_results + 1;
            IF NOT coalesce((p->>'ok')::boolean, true) THEN
                c.tool_errors := c.tool_errors + 1;
            END IF;
        WHEN 'interrupt' THEN
            c.state := 'waiting';
            c.ended_at := NULL;
            iid := coalesce(p->>'interrupt_id', '');
            IF NOT c.interrupt_log ? iid THEN
                c.interrupts := c.interrupts + 1;
                c.interrupt_log := c.interrupt_log || jsonb_build_object(iid, jsonb_build_object(
                    'action', p->>'action', 'agent', p->>'agent', 'outcome', 'pending', 'created_at', e.ts));
            END IF;
        WHEN 'interrupt_decided', 'interrupt_expired' THEN
            iid := coalesce(p->>'interrupt_id', '');
            IF e.type = 'interrupt_expired' THEN
                outcome := 'expired';
            ELSE
                outcome := coalesce(p->>'outcome', CASE
                    WHEN NOT coalesce((p->>'approved')::boolean, false) THEN 'rejected'
                    WHEN jsonb_typeof(p->'args') = 'object' THEN 'edited'
                    ELSE 'approved' END);
            END IF;
            prior := c.interrupt_log -> iid ->> 'outcome';
            -- an interrupt is counted once, by its first decision or expiry
            IF prior IS NULL OR prior = 'pending' THEN
                c.interrupt_log := jsonb_set(c.interrupt_log, ARRAY[iid],
                    coalesce(c.interrupt_log -> iid, jsonb_build_object('action', p->>'action'))
                    || jsonb_build_object('outcome', outcome, 'decided_at', e.ts, 'decided_by', p->>'decided_by'));
                IF prior IS NULL THEN
                    c.interrupts := c.interrupts + 1;
                END IF;
                CASE outcome
                WHEN 'approved' THEN c.approved := c.approved + 1;
                WHEN 'edited' THEN c.edited := c.edited + 1;
                WHEN 'rejected' THEN c.rejected := c.rejected + 1;
                WHEN 'expired' THEN c.expired := c.expired + 1; c.unanswered_expiry := true;
                WHEN 'superseded' THEN c.superseded := c.superseded + 1;
                ELSE NULL;
                END CASE;
            END IF;
        WHEN 'handoff' THEN
            c.handoff_at := coalesce(c.handoff_at, e.ts);
            c.handoff_queue := p->>'queue';
            c.handoff_reason := p->>'reason';
        WHEN 'message_complete' THEN
            c.state := 'answered';
            c.ended_at := e.ts;
            c.agent_messages := c.agent_messages + 1;
            n_in := coalesce((p->'usage'->>'input_tokens')::bigint, 0);
            n_out := coalesce((p->'usage'->>'output_tokens')::bigint, 0);
            SELECT coalesce(nullif((SELECT r.model FROM runs r WHERE r.run_id = e.run_id), ''), nullif(t.model, ''))
              INTO model FROM threads t WHERE t.thread_id = e.thread_id;
            model := coalesce(model, 'unknown');
            c.input_tokens := c.input_tokens + n_in;
            c.output_tokens := c.output_tokens + n_out;
            c.usage := jsonb_set(c.usage, ARRAY[model], jsonb_build_object(
                'input_tokens', coalesce((c.usage -> model ->> 'input_tokens')::bigint, 0) + n_in,
                'output_tokens', coalesce((c.usage -> model ->> 'output_tokens')::bigint, 0) + n_out));
        WHEN 'run_cancelled' THEN
            c.state := 'cancelled';
            c.ended_at := e.ts;
        WHEN 'run_error' THEN
            c.state := 'failed';
            c.ended_at := e.ts;
            c.run_errors := c.run_errors + 1;
        ELSE
            NULL;
        END CASE;

        UPDATE conversations SET
            started_at = c.started_at, last_activity_at = c.last_activity_at, ended_at = c.ended_at,
            last_seq = c.last_seq, state = c.state, runs = c.runs,
            user_messages = c.user_messages, agent_messages = c.agent_messages,
            intents = c.intents, agents = c.agents, tools = c.tools,
            tool_calls = c.tool_calls, tool_results = c.tool_results, tool_errors = c.tool_errors,
            run_errors = c.run_errors, interrupts = c.interrupts, approved = c.approved,
            edited = c.edited, rejected = c.rejected, expired = c.expired, superseded = c.superseded,
            interrupt_log = c.interrupt_log, unanswered_expiry = c.unanswered_expiry,
            handoff_at = c.handoff_at, handoff_queue = c.handoff_queue, handoff_reason = c.handoff_reason,
            input_tokens = c.input_tokens, output_tokens = c.output_tokens, usage = c.usage
        WHERE thread_id = e.thread_id;
    END
    $fn$;

    CREATE FUNCTION events_analytics_trigger() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        PERFORM analytics_apply_event(NEW);
        RETURN NULL;
    END
    $fn$;

    CREATE TRIGGER events_analytics AFTER INSERT ON events
        FOR EACH ROW WHEN (NEW.type <> 'token') EXECUTE FUNCTION events_analytics_trigger();

    -- records for events logged before this migration
    DO $do$
    DECLARE
        e events;
    BEGIN
        FOR e IN SELECT * FROM events WHERE type <> 'token' ORDER BY thread_id, seq LOOP
            PERFORM analytics_apply_event(e);
        END LOOP;
    END
    $do$;
    """,
    # OpenAPI import (issue 8): imported specs, their versions, operations with their
    # classification and review, and the audit trail of every review and re-import
    """
    CREATE TABLE openapi_specs (
        spec_id         text PRIMARY KEY,
        name            text NOT NULL UNIQUE,      -- what re-imports match on
        title           text NOT NULL,
        api_version     text NOT NULL DEFAULT '',  -- info.version
        current_version integer NOT NULL DEFAULT 1,
        source          text NOT NULL,             -- 'upload', a URL or a file path
        doc_hash        text NOT NULL,             -- sha256 of the raw document
        base_url        text NOT NULL DEFAULT '',
        created_by      text NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE openapi_spec_versions (
        spec_id         text NOT NULL REFERENCES openapi_specs(spec_id) ON DELETE CASCADE,
        version         integer NOT NULL,
        api_version     text NOT NULL DEFAULT '',
        openapi_version text NOT NULL,
        source          text NOT NULL,
        doc_hash        text NOT NULL,
        document        jsonb NOT NULL,
        summary         jsonb NOT NULL,            -- counts: added, changed, unchanged, removed; notes
        imported_by     text NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (spec_id, version)
    );

    CREATE TABLE openapi_operations (
        spec_id         text NOT NULL REFERENCES openapi_specs(spec_id) ON DELETE CASCADE,
        operation_id    text NOT NULL,
        method          text NOT NULL,
        path            text NOT NULL,
        summary         text NOT NULL DEFAULT '',
        description     text NOT NULL DEFAULT '',
        definition      jsonb NOT NULL,            -- parameters, body, args_schema, base_url, ...
        change_hash     text NOT NULL,
        risk            text NOT NULL CHECK (risk IN ('low', 'medium', 'high', 'critical')),
        approver        text NOT NULL CHECK (approver IN ('none', 'customer', 'operator')),
        agent           text NOT NULL,
        reasons         jsonb NOT NULL DEFAULT '[]',
        enabled         boolean NOT NULL DEFAULT false,
        needs_review    boolean NOT NULL DEFAULT true,
        removed         boolean NOT NULL DEFAULT false, -- gone from the latest version
        reviewed_by     text,
        reviewed_at     timestamptz,
        added_in        integer NOT NULL,
        changed_in      integer NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (spec_id, operation_id)
    );
    CREATE INDEX openapi_operations_enabled_idx ON openapi_operations (spec_id) WHERE enabled AND NOT removed;

    CREATE TABLE openapi_operation_audit (
        audit_id     bigserial PRIMARY KEY,
        spec_id      text NOT NULL REFERENCES openapi_specs(spec_id) ON DELETE CASCADE,
        operation_id text NOT NULL,
        actor        text NOT NULL,
        action       text NOT NULL,                -- review | import
        changes      jsonb NOT NULL,               -- {field: {"old": ..., "new": ...}}
        note         text NOT NULL DEFAULT '',
        at           timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX openapi_operation_audit_op_idx ON openapi_operation_audit (spec_id, operation_id, audit_id);
    """,
    # analytics rollup (issue 6): hourly aggregates of the conversation records, so the
    # dashboard reads one row per hour; an hour is recomputed when a transaction the
    # last refresh could not see changed one of its conversations (touched_xid) or
    # deleted one (analytics_stale)
    """
    ALTER TABLE conversations ADD COLUMN touched_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
    CREATE INDEX conversations_touched_idx ON conversations (touched_xid);
    -- retention finds idle threads through threads.last_activity_at; every index here
    -- is written on each event the trigger folds in
    DROP INDEX conversations_activity_idx;

    CREATE TABLE analytics_stale (
        bucket     timestamptz PRIMARY KEY,
        marked_xid xid8 NOT NULL DEFAULT pg_current_xact_id()
    );
    CREATE INDEX analytics_stale_marked_idx ON analytics_stale (marked_xid);

    CREATE FUNCTION conversations_touch() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        NEW.touched_xid := pg_current_xact_id();
        IF date_trunc('hour', OLD.started_at, 'UTC') <> date_trunc('hour', NEW.started_at, 'UTC') THEN
            INSERT INTO analytics_stale (bucket) VALUES (date_trunc('hour', OLD.started_at, 'UTC'))
            ON CONFLICT (bucket) DO UPDATE SET marked_xid = pg_current_xact_id();
        END IF;
        RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER conversations_touch BEFORE UPDATE ON conversations
        FOR EACH ROW EXECUTE FUNCTION conversations_touch();

    CREATE FUNCTION conversations_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        INSERT INTO analytics_stale (bucket) VALUES (date_trunc('hour', OLD.started_at, 'UTC'))
        ON CONFLICT (bucket) DO UPDATE SET marked_xid = pg_current_xact_id();
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER conversations_mark_stale AFTER DELETE ON conversations
        FOR EACH ROW EXECUTE FUNCTION conversations_mark_stale();

    CREATE TABLE analytics_hourly (
        bucket         timestamptz PRIMARY KEY,   -- the UTC hour the conversations started in
        conversations  integer NOT NULL,
        user_messages  bigint NOT NULL,
        agent_messages bigint NOT NULL,
        automated      integer NOT NULL,
        assisted       integer NOT NULL,
        escalated      integer NOT NULL,
        abandoned      integer NOT NULL,
        open           integer NOT NULL,
        tool_calls     bigint NOT NULL,
        tool_results   bigint NOT NULL,
        tool_errors    bigint NOT NULL,
        input_tokens   bigint NOT NULL,
        output_tokens  bigint NOT NULL,
        intents        jsonb NOT NULL,            -- intent -> conversations
        agents         jsonb NOT NULL,            -- agent -> conversations
        usage          jsonb NOT NULL             -- model -> {input_tokens, output_tokens}
    );
    CREATE TABLE analytics_rollup_state (
        id        integer PRIMARY KEY CHECK (id = 1),
        watermark xid8 NOT NULL                   -- xmin of the last refresh's first snapshot
    );
    INSERT INTO analytics_rollup_state VALUES (1, '0');

    -- The aggregates of the given hours, counting conversations started in [p_from, p_to).
    CREATE FUNCTION analytics_hour_rows(p_hours timestamptz[], p_from timestamptz, p_to timestamptz)
    RETURNS SETOF analytics_hourly LANGUAGE sql STABLE AS $fn$
        WITH conv AS (
            -- one index range scan per hour (OFFSET 0 keeps the planner from
            -- flattening this into a join over the whole table)
            SELECT h AS hour, c.* FROM unnest(p_hours) AS h
            CROSS JOIN LATERAL (
                SELECT * FROM conversations
                WHERE started_at >= greatest(h, p_from) AND started_at < least(h + interval '1 hour', p_to)
                OFFSET 0
            ) AS c
        ), base AS (
            SELECT hour, count(*)::int AS conversations,
                   sum(user_messages)::bigint AS user_messages, sum(agent_messages)::bigint AS agent_messages,
                   count(*) FILTER (WHERE resolution = 'automated')::int AS automated,
                   count(*) FILTER (WHERE resolution = 'assisted')::int AS assisted,
                   count(*) FILTER (WHERE resolution = 'escalated')::int AS escalated,
                   count(*) FILTER (WHERE resolution = 'abandoned')::int AS abandoned,
                   count(*) FILTER (WHERE resolution = 'open')::int AS open,
                   sum(tool_calls)::bigint AS tool_calls, sum(tool_results)::bigint AS tool_results,
                   sum(tool_errors)::bigint AS tool_errors,
                   sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens
            FROM conv GROUP BY hour
        ), it AS (
            SELECT hour, jsonb_object_agg(name, n) AS intents
            FROM (SELECT hour, i AS name, count(*) AS n FROM conv, unnest(conv.intents) AS i GROUP BY 1, 2) x
            GROUP BY hour
        ), ag AS (
            SELECT hour, jsonb_object_agg(name, n) AS agents
            FROM (SELECT hour, a AS name, count(*) AS n FROM conv, unnest(conv.agents) AS a GROUP BY 1, 2) x
            GROUP BY hour
        ), us AS (
            SELECT hour, jsonb_object_agg(model, jsonb_build_object('input_tokens', i, 'output_tokens', o)) AS usage
            FROM (SELECT hour, u.key AS model, sum((u.value ->> 'input_tokens')::bigint) AS i,
                         sum((u.value ->> 'output_tokens')::bigint) AS o
                  FROM conv, jsonb_each(conv.usage) AS u GROUP BY 1, 2) x
            GROUP BY hour
        )
        SELECT b.hour, b.conversations, b.user_messages, b.agent_messages, b.automated, b.assisted,
               b.escalated, b.abandoned, b.open, b.tool_calls, b.tool_results, b.tool_errors,
               b.input_tokens, b.output_tokens, coalesce(it.intents, '{}'), coalesce(ag.agents, '{}'),
               coalesce(us.usage, '{}')
        FROM base b LEFT JOIN it USING (hour) LEFT JOIN ag USING (hour) LEFT JOIN us USING (hour)
    $fn$;
    """,
    # 4: servers cache the tools built from reviewed imports; any change to the specs
    # or their operations tells every server (by NOTIFY, sent at commit) to rebuild them.
    """
    CREATE FUNCTION notify_tools_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        PERFORM pg_notify('sa_tools', '');
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER openapi_operations_tools_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
        ON openapi_operations FOR EACH STATEMENT EXECUTE FUNCTION notify_tools_changed();
    CREATE TRIGGER openapi_specs_tools_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
        ON openapi_specs FOR EACH STATEMENT EXECUTE FUNCTION notify_tools_changed();
    """,
    # per-spec credentials of an imported API: names only (the environment variable that
    # holds the secret, the header), never the secret itself; NULL sends no credentials
    """
    ALTER TABLE openapi_specs ADD COLUMN credentials jsonb;
    """,
    # a human takes over (issue 14): one row per handoff of a thread to people. At most one
    # open row (waiting or held) per thread; its holder is claimed by a conditional UPDATE
    # under the thread row lock, so one holder at a time across processes. The escalation
    # node's `handoff` event opens the row (trigger), and a thread with an open row reads
    # as status 'handoff' whenever no run or approval is in the way.
    """
    CREATE TABLE handoffs (
        handoff_id            bigserial PRIMARY KEY,
        thread_id             text NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
        status                text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'held', 'closed')),
        reason                text NOT NULL DEFAULT '',
        queue                 text NOT NULL DEFAULT '',
        waiting_since         timestamptz NOT NULL DEFAULT now(),
        opened_seq            bigint NOT NULL DEFAULT 0,  -- the thread's events after this belong to the handoff
        closed_seq            bigint,
        holder_id             text,
        holder_name           text,
        claimed_at            timestamptz,
        first_human_reply_at  timestamptz,
        human_messages        integer NOT NULL DEFAULT 0,
        customer_messages     integer NOT NULL DEFAULT 0,
        last_customer_message text,
        last_customer_at      timestamptz,
        notice_sent_at        timestamptz,
        released_at           timestamptz,
        released_by           text,
        outcome               text CHECK (outcome IN ('back_to_assistant', 'resolved')),
        turns_applied         boolean NOT NULL DEFAULT true  -- the human turns are in the graph's state
    );
    CREATE UNIQUE INDEX handoffs_open_idx ON handoffs (thread_id) WHERE status <> 'closed';
    CREATE INDEX handoffs_waiting_idx ON handoffs (waiting_since) WHERE status <> 'closed';
    CREATE INDEX handoffs_released_idx ON handoffs (released_at);
    CREATE INDEX handoffs_pending_turns_idx ON handoffs (thread_id) WHERE NOT turns_applied;

    CREATE FUNCTION handoffs_open_on_event() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        INSERT INTO handoffs (thread_id, reason, queue, waiting_since, opened_seq)
        VALUES (NEW.thread_id, coalesce(NEW.payload->>'reason', ''), coalesce(NEW.payload->>'queue', ''), NEW.ts,
                NEW.seq)
        ON CONFLICT (thread_id) WHERE status <> 'closed' DO NOTHING;
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER events_handoff_opens AFTER INSERT ON events
        FOR EACH ROW WHEN (NEW.type = 'handoff') EXECUTE FUNCTION handoffs_open_on_event();

    CREATE FUNCTION threads_handoff_status() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        IF NEW.status = 'idle' AND EXISTS (SELECT 1 FROM handoffs h WHERE h.thread_id = NEW.thread_id
                                           AND h.status <> 'closed') THEN
            NEW.status := 'handoff';
        END IF;
        RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER threads_handoff_status BEFORE UPDATE OF status ON threads
        FOR EACH ROW EXECUTE FUNCTION threads_handoff_status();

    -- threads handed off before this migration wait in the queue too
    INSERT INTO handoffs (thread_id, reason, queue, waiting_since, opened_seq)
    SELECT DISTINCT ON (e.thread_id) e.thread_id, coalesce(e.payload->>'reason', ''),
           coalesce(e.payload->>'queue', ''), e.ts, e.seq
    FROM events e JOIN threads t ON t.thread_id = e.thread_id
    WHERE t.status = 'handoff' AND e.type = 'handoff'
    ORDER BY e.thread_id, e.seq DESC;
    """,
    # the knowledge base (app/knowledge): articles, chunks by heading with their full-text
    # vectors in the article language's dictionary, questions it could not answer, and, where
    # the pgvector extension exists, chunk embeddings (docs/knowledge.md).
    """
    CREATE TABLE kb_articles (
        article_id   text PRIMARY KEY,
        source       text NOT NULL UNIQUE,          -- file path or URL: the identity across imports
        collection   text NOT NULL,                 -- what was imported (folder, sitemap, file)
        title        text NOT NULL,
        url          text,
        language     text NOT NULL,
        config       regconfig NOT NULL,              -- the language's text-search configuration
        content_hash text NOT NULL,
        chunk_count  integer NOT NULL DEFAULT 0,
        updated_at   timestamptz NOT NULL DEFAULT now(),
        imported_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX kb_articles_collection_idx ON kb_articles (collection);

    CREATE TABLE kb_chunks (
        chunk_id   bigserial PRIMARY KEY,
        article_id text NOT NULL REFERENCES kb_articles(article_id) ON DELETE CASCADE,
        position   integer NOT NULL,
        heading    text NOT NULL,
        body       text NOT NULL,
        config     regconfig NOT NULL,
        tsv        tsvector NOT NULL
    );
    CREATE INDEX kb_chunks_tsv_idx ON kb_chunks USING gin (tsv);
    CREATE INDEX kb_chunks_article_idx ON kb_chunks (article_id, position);

    CREATE TABLE kb_content_gaps (
        gap_id     bigserial PRIMARY KEY,
        question   text NOT NULL,
        normalized text NOT NULL,                   -- lower-case content words, sorted: the grouping key
        reason     text NOT NULL,                   -- no_match | handoff
        thread_id  text,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX kb_content_gaps_created_idx ON kb_content_gaps (created_at DESC);

    DO $kb$
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
            BEGIN
                CREATE EXTENSION IF NOT EXISTS vector;
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE NOTICE 'pgvector is installed but this role may not create it; vector search stays off';
                RETURN;
            END;
            CREATE TABLE kb_embeddings (
                chunk_id  bigint PRIMARY KEY REFERENCES kb_chunks(chunk_id) ON DELETE CASCADE,
                model     text NOT NULL,
                embedding vector NOT NULL
            );
            CREATE INDEX kb_embeddings_model_idx ON kb_embeddings (model);
        END IF;
    END
    $kb$;
    """,
    # the LangGraph Agent Server API (app/agent_server): a thread's metadata as its clients
    # set it, and what a run was created with (the runs themselves stay in `runs`)
    """
    CREATE TABLE lg_threads (
        thread_id  text PRIMARY KEY REFERENCES threads(thread_id) ON DELETE CASCADE,
        metadata   jsonb NOT NULL DEFAULT '{}'
    );
    CREATE TABLE lg_runs (
        run_id             text PRIMARY KEY,
        thread_id          text NOT NULL REFERENCES threads(thread_id) ON DELETE CASCADE,
        assistant_id       text NOT NULL,
        metadata           jsonb NOT NULL DEFAULT '{}',
        multitask_strategy text NOT NULL DEFAULT 'reject',
        created_at         timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX lg_runs_thread_idx ON lg_runs (thread_id, created_at);
    """,
    # what a run on a new message was asked (LangChain's message dicts): runs checkpoint only at
    # pauses and at their end (app/conversations/run_stream.py), so the run that takes over a
    # dead one reads the message from here when the thread's checkpoint does not have it yet
    """
    ALTER TABLE runs ADD COLUMN input jsonb;
    """,
]
