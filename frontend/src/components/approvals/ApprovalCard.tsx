/**
 * ApprovalCard: one risky action waiting for a decision. Approve (optionally with
 * edited arguments, against the tool's schema) or reject (optionally with a
 * reason), a live countdown to expiry, and the decided or expired state after.
 * A newly pending card takes the keyboard focus, so nobody misses it.
 */
import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { useNow } from "../../hooks/useNow";
import { fmtClock, humanize } from "../../lib/format";
import type { InterruptItem } from "../../lib/threadReducer";
import { ArgsEditor, ArgsList, isEditable } from "./ArgsEditor";
import { ExpiryCountdown, msLeft } from "./ExpiryCountdown";

export interface Decision {
  approved: boolean;
  args?: Record<string, unknown>;
  reason?: string;
}

export interface ApprovalCardProps {
  item: InterruptItem;
  /** This viewer may decide (the approver's role matches). */
  canDecide: boolean;
  onDecide?(decision: Decision): void | Promise<void>;
  autoFocus?: boolean;
  /** Extra header content, e.g. a link to the conversation (inbox). */
  extra?: ReactNode;
}

const STATUS_WORDS: Record<string, string> = {
  approved: "Approved",
  edited: "Approved with changes",
  rejected: "Declined",
  superseded: "Cancelled: a new message was sent",
  expired: "Expired",
};

export function ApprovalCard({ item, canDecide, onDecide, autoFocus = true, extra }: ApprovalCardProps) {
  const ev = item.event;
  const headingId = useId();
  const reasonId = useId();
  const ref = useRef<HTMLElement>(null);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState<Record<string, unknown>>(() => ({ ...ev.args }));
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const open = item.status === "pending" || item.status === "deciding";
  const now = useNow(1000, open);
  const timedOut = open && msLeft(ev.expires_at, now) <= 0;
  const editable = canDecide && isEditable(ev.args_schema);

  useEffect(() => {
    if (autoFocus && item.status === "pending") ref.current?.focus();
    // only when the card first appears
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    if (item.status !== "deciding") setBusy(false);
  }, [item.status]);

  async function decide(approved: boolean) {
    if (!onDecide) return;
    setBusy(true);
    const changed = editing && JSON.stringify(draft) !== JSON.stringify(ev.args);
    try {
      await onDecide({
        approved,
        ...(approved && changed ? { args: draft } : {}),
        ...(reason.trim() ? { reason: reason.trim() } : {}),
      });
    } finally {
      setBusy(false);
    }
  }

  const state = timedOut && item.status === "pending" ? "expired" : item.status;
  const decided = STATUS_WORDS[state];

  return (
    <section
      ref={ref}
      className={`card approval approval--${state} risk--${ev.risk}`}
      aria-labelledby={headingId}
      tabIndex={-1}
      data-testid="approval-card"
      data-interrupt-id={ev.interrupt_id}
      data-status={state}
    >
      <header className="approval__head">
        <h3 id={headingId} className="approval__title">
          {open && !timedOut ? "Approval needed" : "Approval request"}: {humanize(ev.action)}
        </h3>
        <span className={`badge badge--risk-${ev.risk}`}>{ev.risk} risk</span>
        {extra}
      </header>
      <p className="approval__message">{ev.message}</p>
      {editing && editable ? (
        <ArgsEditor args={ev.args} schema={ev.args_schema!} value={draft} onChange={setDraft} disabled={busy} />
      ) : (
        <ArgsList args={item.decidedArgs ?? ev.args} />
      )}

      {open && !timedOut ? (
        canDecide ? (
          <div className="approval__actions">
            <div className="approval__meta">
              <span>Expires in </span>
              <ExpiryCountdown expiresAt={ev.expires_at} />
              {item.warningSecondsLeft != null ? <span className="warn"> — expires soon</span> : null}
            </div>
            <label htmlFor={reasonId} className="field-label">
              Reason (optional)
            </label>
            <input id={reasonId} type="text" value={reason} onChange={(e) => setReason(e.target.value)} disabled={busy} placeholder="Why?" />
            <div className="btn-row">
              <button type="button" className="btn btn--primary" onClick={() => decide(true)} disabled={busy || item.status === "deciding"}>
                {editing ? "Approve with changes" : "Approve"}
              </button>
              <button type="button" className="btn btn--danger" onClick={() => decide(false)} disabled={busy || item.status === "deciding"}>
                Reject
              </button>
              {editable ? (
                <button type="button" className="btn btn--ghost" onClick={() => setEditing((e) => !e)} aria-pressed={editing} disabled={busy}>
                  {editing ? "Undo changes" : "Edit details"}
                </button>
              ) : null}
            </div>
          </div>
        ) : (
          <p className="approval__waiting" role="status">
            Waiting for {ev.approver === "operator" ? "a support operator" : "the customer"} to approve. Expires in{" "}
            <ExpiryCountdown expiresAt={ev.expires_at} />.
          </p>
        )
      ) : (
        <p className={`approval__outcome approval__outcome--${state}`} role="status">
          <strong>{decided ?? humanize(state)}</strong>
          {item.decidedBy ? ` by ${item.decidedBy}` : ""}
          {item.decidedAt ? ` at ${fmtClock(item.decidedAt)}` : ""}
          {item.reason ? ` — “${item.reason}”` : ""}
          {state === "expired" ? (
            <span className="block">{item.expiredMessage ?? "Nothing was changed. Ask again if you still want this done."}</span>
          ) : null}
        </p>
      )}
    </section>
  );
}
