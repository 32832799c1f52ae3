/**
 * `/inbox`: pending approvals for operators. Polls `GET /api/interrupts?status=pending`
 * every few seconds; decisions go to `POST /api/interrupts/{id}/decision`.
 */
import { useMemo, useState } from "react";
import { Link } from "react-router";
import { ApprovalCard, type Decision } from "../components/approvals/ApprovalCard";
import { useApi } from "../hooks/useApi";
import { useAuth } from "../hooks/useAuth";
import { ApiError, listOf } from "../lib/api";
import { fmtTime } from "../lib/format";
import type { InterruptEvent } from "../lib/protocol";
import type { InterruptItem, InterruptStatus } from "../lib/threadReducer";
import { useSocket } from "../providers/SocketProvider";
import type { PageDef } from "./types";

/** One row of the inbox as the server sends it (tolerant of missing fields). */
export interface InboxInterrupt extends Partial<InterruptEvent> {
  interrupt_id: string;
  thread_id: string;
  user_id?: string;
  created_at?: string;
  status?: string;
}

const POLL_MS = 3000;

function toItem(row: InboxInterrupt, local?: LocalDecision): InterruptItem {
  return {
    kind: "interrupt",
    id: row.interrupt_id,
    status: local?.status ?? "pending",
    decidedBy: local?.by,
    reason: local?.reason,
    decidedArgs: local?.args,
    event: {
      type: "interrupt",
      interrupt_id: row.interrupt_id,
      thread_id: row.thread_id,
      agent: row.agent ?? "",
      action: row.action ?? "action",
      args: row.args ?? {},
      risk: row.risk ?? "high",
      approver: row.approver ?? "operator",
      message: row.message ?? "",
      expires_at: row.expires_at ?? "",
      args_schema: row.args_schema ?? undefined,
    },
  };
}

interface LocalDecision {
  status: InterruptStatus;
  by?: string;
  reason?: string;
  args?: Record<string, unknown>;
  error?: string;
  row: InboxInterrupt;
}

function InboxPage() {
  const { api } = useSocket();
  const { userId } = useAuth();
  const { data, error, loading, reload } = useApi((a) => a.get<unknown>("/api/interrupts", { status: "pending" }), [], POLL_MS);
  const [local, setLocal] = useState<Record<string, LocalDecision>>({});
  const [filter, setFilter] = useState<"all" | "operator" | "customer">("all");

  const rows = useMemo(() => {
    const fromServer = listOf<InboxInterrupt>(data).filter((r) => r && r.interrupt_id);
    const ids = new Set(fromServer.map((r) => r.interrupt_id));
    // keep cards decided here visible (with their outcome) until the next visit
    const decidedHere = Object.values(local)
      .filter((d) => !ids.has(d.row.interrupt_id) && d.status !== "pending" && d.status !== "deciding")
      .map((d) => d.row);
    return [...fromServer, ...decidedHere]
      .filter((r) => filter === "all" || (r.approver ?? "operator") === filter)
      .sort((a, b) => (a.expires_at ?? "").localeCompare(b.expires_at ?? ""));
  }, [data, local, filter]);

  const pendingCount = rows.filter((r) => !local[r.interrupt_id] || local[r.interrupt_id].status === "pending").length;

  async function decide(row: InboxInterrupt, d: Decision) {
    setLocal((l) => ({ ...l, [row.interrupt_id]: { status: "deciding", row } }));
    try {
      await api.post(`/api/interrupts/${encodeURIComponent(row.interrupt_id)}/decision`, d);
      const status: InterruptStatus = d.approved ? (d.args ? "edited" : "approved") : "rejected";
      setLocal((l) => ({ ...l, [row.interrupt_id]: { status, by: userId ?? "you", reason: d.reason, args: d.args, row } }));
      reload();
    } catch (e) {
      const msg = e instanceof ApiError ? e.message : "The decision could not be sent.";
      const gone = e instanceof ApiError && (e.status === 404 || e.status === 409 || e.status === 410);
      setLocal((l) => ({ ...l, [row.interrupt_id]: { status: gone ? "expired" : "pending", error: msg, row } }));
      if (gone) reload();
    }
  }

  return (
    <div className="page">
      <div className="page__head">
        <h1>Approval inbox</h1>
        <div className="row gap">
          <label className="field-inline">
            Approver{" "}
            <select value={filter} onChange={(e) => setFilter(e.target.value as typeof filter)}>
              <option value="all">Any</option>
              <option value="operator">Operator</option>
              <option value="customer">Customer</option>
            </select>
          </label>
          <button type="button" className="btn btn--ghost btn--small" onClick={reload}>
            Refresh
          </button>
        </div>
      </div>
      <p className="muted" role="status" aria-live="polite" data-testid="inbox-count">
        {loading && !data ? "Loading…" : `${pendingCount} pending`}
      </p>
      {error ? (
        <p className="banner banner--error" role="alert">
          {error}
        </p>
      ) : null}
      {!loading && rows.length === 0 && !error ? <p className="empty">Nothing waiting for approval.</p> : null}
      <div className="grid grid--cards">
        {rows.map((row) => {
          const l = local[row.interrupt_id];
          return (
            <div key={row.interrupt_id} className="inbox-item" data-testid="inbox-item" data-thread-id={row.thread_id}>
              <ApprovalCard
                item={toItem(row, l)}
                canDecide
                autoFocus={false}
                onDecide={(d) => decide(row, d)}
                extra={
                  <Link className="small" to={`/replay/${encodeURIComponent(row.thread_id)}`}>
                    Conversation
                  </Link>
                }
              />
              <p className="muted small">
                {row.user_id ? `Customer ${row.user_id}` : null}
                {row.created_at ? ` · asked ${fmtTime(row.created_at)}` : null}
              </p>
              {l?.error ? (
                <p className="field-error" role="alert">
                  {l.error}
                </p>
              ) : null}
            </div>
          );
        })}
      </div>
    </div>
  );
}

export const inboxPage: PageDef = { path: "/inbox", title: "Approval inbox", component: InboxPage, nav: "Inbox", staff: true };
