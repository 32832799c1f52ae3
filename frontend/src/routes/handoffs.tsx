/**
 * `/handoffs`: the operator console for a human takeover. The queue "Waiting for a
 * person" (oldest first, waited time, reason, last customer message) polls
 * `GET /api/handoffs?status=open`; opening a thread replays the whole conversation
 * over the socket and gives a composer: claim, reply, decide approvals, release.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { useSearchParams } from "react-router";
import { Composer } from "../components/chat/Composer";
import { MessageList } from "../components/chat/MessageList";
import { useApi } from "../hooks/useApi";
import { useAuth } from "../hooks/useAuth";
import { useNow } from "../hooks/useNow";
import { useThread } from "../hooks/useThread";
import { listOf } from "../lib/api";
import { describeError } from "../lib/errors";
import { newClientMsgId } from "../lib/ids";
import type { ReleaseOutcome } from "../lib/protocol";
import { useSocket } from "../providers/SocketProvider";
import type { PageDef } from "./types";

export interface HandoffRow {
  thread_id: string;
  status: "waiting" | "held";
  reason: string;
  queue: string;
  waiting_since: string;
  waited_s: number;
  holder: { user_id: string; name: string } | null;
  user_id: string;
  title: string;
  last_customer_message: string | null;
  customer_messages: number;
}

const POLL_MS = 2000;
const TITLE = "Waiting for a person";

function waited(since: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function HandoffsPage() {
  const { userId } = useAuth();
  const [params, setParams] = useSearchParams();
  const selected = params.get("thread");
  const { data, error } = useApi((a) => a.get<unknown>("/api/handoffs", { status: "open" }), [], POLL_MS);
  const rows = useMemo(() => listOf<HandoffRow>(data).filter((r) => r && r.thread_id), [data]);
  const now = useNow(1000, true);
  // customer messages already read per thread (the open one is read as it arrives)
  const [seen, setSeen] = useState<Record<string, number>>({});
  const known = useRef<Set<string> | null>(null);
  const [arrival, setArrival] = useState("");

  const unread = (r: HandoffRow) => (r.thread_id === selected ? 0 : Math.max(0, r.customer_messages + 1 - (seen[r.thread_id] ?? 0)));
  const waiting = rows.filter((r) => r.status === "waiting");
  const held = rows.filter((r) => r.status === "held");
  const totalUnread = rows.filter((r) => r.status === "waiting" || r.holder?.user_id === userId).reduce((n, r) => n + unread(r), 0);

  useEffect(() => {
    if (selected) {
      const r = rows.find((x) => x.thread_id === selected);
      if (r && seen[selected] !== r.customer_messages + 1) setSeen((s) => ({ ...s, [selected]: r.customer_messages + 1 }));
    }
  }, [rows, selected, seen]);

  useEffect(() => {
    if (!data) return;
    const ids = new Set(waiting.map((r) => r.thread_id));
    if (known.current) {
      const fresh = waiting.filter((r) => !known.current!.has(r.thread_id));
      if (fresh.length) setArrival(`A new customer is waiting: ${fresh[0].last_customer_message ?? fresh[0].reason}`);
    }
    known.current = ids;
  }, [data]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    document.title = totalUnread > 0 ? `(${totalUnread}) ${TITLE}` : TITLE;
    return () => {
      document.title = "Support";
    };
  }, [totalUnread]);

  const open = (id: string) => setParams({ thread: id });
  const row = rows.find((r) => r.thread_id === selected) ?? null;

  const item = (r: HandoffRow) => {
    const n = unread(r);
    return (
      <li key={r.thread_id}>
        <button
          type="button"
          className="queue__item"
          aria-current={r.thread_id === selected ? "true" : undefined}
          onClick={() => open(r.thread_id)}
          data-testid="queue-item"
          data-thread-id={r.thread_id}
        >
          <span className="queue__top">
            <strong>{r.title || r.user_id}</strong>
            <span className="small muted">waiting {waited(r.waiting_since, now)}</span>
          </span>
          <span className="block small">{r.reason}</span>
          {r.last_customer_message ? <span className="block small muted">“{r.last_customer_message}”</span> : null}
          <span className="queue__top small">
            <span>{r.holder ? `Held by ${r.holder.user_id === userId ? "you" : r.holder.name}` : "Nobody yet"}</span>
            {n > 0 ? (
              <span className="unread" data-testid="unread">
                {n}
                <span className="visually-hidden"> unread</span>
              </span>
            ) : null}
          </span>
        </button>
      </li>
    );
  };

  return (
    <div className="page">
      <div className="page__head">
        <h1>{TITLE}</h1>
      </div>
      <p className="visually-hidden" role="status" aria-live="polite">
        {arrival}
      </p>
      {error ? (
        <p className="banner banner--error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="console">
        <nav aria-label="Conversations with people">
          <h2 className="small">Waiting ({waiting.length})</h2>
          {waiting.length === 0 ? <p className="empty small">Nobody is waiting.</p> : <ul className="queue" data-testid="queue-waiting">{waiting.map(item)}</ul>}
          <h2 className="small">Taken over ({held.length})</h2>
          {held.length === 0 ? <p className="empty small">None.</p> : <ul className="queue" data-testid="queue-held">{held.map(item)}</ul>}
        </nav>
        {selected ? <Takeover key={selected} threadId={selected} row={row} /> : <p className="empty">Choose a conversation to read it and answer.</p>}
      </div>
    </div>
  );
}

function Takeover({ threadId, row }: { threadId: string; row: HandoffRow | null }) {
  const { socket } = useSocket();
  const { userId } = useAuth();
  const [view, actions] = useThread(threadId);
  const [outcome, setOutcome] = useState<ReleaseOutcome>("back_to_assistant");
  const holder = view.holder ? { user_id: view.holder.userId, name: view.holder.name } : view.status === "handoff" ? row?.holder ?? null : null;
  const mine = holder?.user_id === userId;
  const other = !!holder && !mine;

  const claim = () => socket.send({ type: "claim", thread_id: threadId });
  const reply = (content: string) => socket.send({ type: "operator_message", thread_id: threadId, content, client_msg_id: newClientMsgId() });
  const release = () => socket.send({ type: "release", thread_id: threadId, outcome });

  return (
    <section className="takeover" aria-label="Conversation" data-testid="takeover" data-holder={holder?.user_id ?? ""}>
      <header className="takeover__head">
        <div>
          <h2 className="chat__title">{row?.title || threadId}</h2>
          <p className="small muted" data-testid="holder">
            {holder ? (mine ? "You hold this conversation." : `${holder.name} holds this conversation.`) : view.status === "handoff" ? "Waiting for a person." : "The assistant has this conversation."}
          </p>
        </div>
        <div className="row gap">
          {!mine ? (
            <button type="button" className="btn btn--small" onClick={claim} disabled={other}>
              Take over
            </button>
          ) : (
            <>
              <label className="field-inline">
                Outcome{" "}
                <select value={outcome} onChange={(e) => setOutcome(e.target.value as ReleaseOutcome)}>
                  <option value="back_to_assistant">Back to the assistant</option>
                  <option value="resolved">Resolved</option>
                </select>
              </label>
              <button type="button" className="btn btn--ghost btn--small" onClick={release}>
                Release
              </button>
            </>
          )}
        </div>
      </header>
      {view.error ? (
        <div className="banner banner--error" role="alert" data-testid="error-banner" data-code={view.error.code}>
          <span>{describeError(view.error)}</span>
          <button type="button" className="link-btn" onClick={actions.dismissError} aria-label="Dismiss the error">
            Dismiss
          </button>
        </div>
      ) : null}
      <MessageList view={view} canDecide={() => true} onDecide={actions.decide} live={false} />
      <Composer
        onSend={reply}
        running={false}
        disabled={other}
        placeholder={other ? `${holder?.name} holds this conversation` : "Write to the customer (sending takes the conversation over)"}
      />
    </section>
  );
}

export const handoffsPage: PageDef = { path: "/handoffs", title: TITLE, component: HandoffsPage, nav: "Waiting", staff: true };
