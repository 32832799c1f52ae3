/** `/replay`: conversations with filters, paged (`GET /api/replay`). */
import { useId, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { useApi } from "../hooks/useApi";
import { countOf, listOf } from "../lib/api";
import { DASH, fmtTime, humanize } from "../lib/format";
import type { Conversation } from "../lib/protocol";
import type { PageDef } from "./types";

/** One row of `GET /api/replay` (the generated Conversation). */
export type ReplayRow = Conversation;

const PAGE = 25;
const FILTERS = ["from", "to", "intent", "agent", "outcome", "has_interrupt"] as const;

function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function ReplayListPage() {
  const [params, setParams] = useSearchParams();
  const offset = Math.max(0, Number(params.get("offset") ?? 0) || 0);
  const q = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? ""])) as Record<(typeof FILTERS)[number], string>;
  const [draft, setDraft] = useState(q);
  const id = useId();

  const { data, error, loading } = useApi(
    (api) =>
      api.get<unknown>("/api/replay", {
        from: toIso(q.from),
        to: toIso(q.to),
        intent: q.intent,
        agent: q.agent,
        outcome: q.outcome,
        has_interrupt: q.has_interrupt === "true" ? true : undefined,
        limit: PAGE,
        offset,
      }),
    [params.toString()],
  );
  const rows = listOf<ReplayRow>(data);
  const total = countOf(data, offset + rows.length);

  function apply(e: FormEvent) {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const k of FILTERS) if (draft[k]) next.set(k, draft[k]);
    setParams(next);
  }
  function page(delta: number) {
    const next = new URLSearchParams(params);
    next.set("offset", String(Math.max(0, offset + delta)));
    setParams(next);
  }
  const seen = (key: "intents" | "agents") => Array.from(new Set(rows.flatMap((r) => r[key] ?? [])));

  return (
    <div className="page">
      <h1>Conversation replay</h1>
      <form className="filters card" onSubmit={apply} aria-label="Filters">
        <label>
          From
          <input type="datetime-local" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
        </label>
        <label>
          To
          <input type="datetime-local" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
        </label>
        <label>
          Intent
          <input list={`${id}-intents`} value={draft.intent} onChange={(e) => setDraft({ ...draft, intent: e.target.value })} />
          <datalist id={`${id}-intents`}>
            {seen("intents").map((x) => (
              <option key={x} value={x} />
            ))}
          </datalist>
        </label>
        <label>
          Agent
          <input list={`${id}-agents`} value={draft.agent} onChange={(e) => setDraft({ ...draft, agent: e.target.value })} />
          <datalist id={`${id}-agents`}>
            {seen("agents").map((x) => (
              <option key={x} value={x} />
            ))}
          </datalist>
        </label>
        <label>
          Outcome
          <select value={draft.outcome} onChange={(e) => setDraft({ ...draft, outcome: e.target.value })}>
            <option value="">Any</option>
            <option value="automated">Resolved automatically</option>
            <option value="assisted">Resolved with help</option>
            <option value="escalated">Escalated</option>
            <option value="abandoned">Abandoned</option>
            <option value="open">Open</option>
          </select>
        </label>
        <label className="field-check">
          <input
            type="checkbox"
            checked={draft.has_interrupt === "true"}
            onChange={(e) => setDraft({ ...draft, has_interrupt: e.target.checked ? "true" : "" })}
          />
          Has an approval
        </label>
        <div className="btn-row">
          <button type="submit" className="btn btn--primary">
            Apply
          </button>
          <button
            type="button"
            className="btn btn--ghost"
            onClick={() => {
              setDraft(Object.fromEntries(FILTERS.map((k) => [k, ""])) as typeof draft);
              setParams(new URLSearchParams());
            }}
          >
            Clear
          </button>
        </div>
      </form>

      {error ? (
        <p className="banner banner--error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="table-wrap">
        <table className="table" data-testid="replay-table">
          <caption className="visually-hidden">Conversations</caption>
          <thead>
            <tr>
              <th scope="col">Conversation</th>
              <th scope="col">Customer</th>
              <th scope="col">Started</th>
              <th scope="col">Last activity</th>
              <th scope="col">Intents</th>
              <th scope="col">Agents</th>
              <th scope="col">Outcome</th>
              <th scope="col">Approvals</th>
              <th scope="col">Messages</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.thread_id} data-testid="replay-row" data-thread-id={r.thread_id}>
                <td>
                  <Link to={`/replay/${encodeURIComponent(r.thread_id)}`}>{r.title || r.thread_id}</Link>
                </td>
                <td>{r.user_id ?? DASH}</td>
                <td>{fmtTime(r.started_at)}</td>
                <td>{fmtTime(r.last_activity_at)}</td>
                <td>{r.intents?.length ? r.intents.map(humanize).join(", ") : DASH}</td>
                <td>{r.agents?.length ? r.agents.map(humanize).join(", ") : DASH}</td>
                <td>{r.resolution ? humanize(r.resolution) : DASH}</td>
                <td>{r.interrupts}</td>
                <td>{r.messages}</td>
              </tr>
            ))}
            {!loading && rows.length === 0 ? (
              <tr>
                <td colSpan={9} className="empty">
                  No conversations match.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Pages">
        <button type="button" className="btn btn--ghost btn--small" disabled={offset === 0} onClick={() => page(-PAGE)}>
          Previous
        </button>
        <span className="muted small">
          {rows.length ? `${offset + 1}–${offset + rows.length} of ${total}` : loading ? "Loading…" : "0"}
        </span>
        <button type="button" className="btn btn--ghost btn--small" disabled={offset + rows.length >= total} onClick={() => page(PAGE)}>
          Next
        </button>
      </nav>
    </div>
  );
}

export const replayListPage: PageDef = { path: "/replay", title: "Replay", component: ReplayListPage, nav: "Replay", staff: true };
