/**
 * ChatPanel: the whole customer chat, used by the page at `/` and by the
 * embeddable widget. The caller owns where the thread id lives (URL or storage).
 */
import { useEffect, useState } from "react";
import { describeError } from "../../lib/errors";
import { humanize } from "../../lib/format";
import { isStaff } from "../../lib/auth";
import { useThread } from "../../hooks/useThread";
import type { ThreadView } from "../../lib/threadReducer";
import { useSocket } from "../../providers/SocketProvider";
import { useNow } from "../../hooks/useNow";
import { Composer } from "./Composer";
import { ConnectionBadge } from "./ConnectionBadge";
import { MessageList } from "./MessageList";

export const SUGGESTIONS = [
  "What is the status of order 1042?",
  "Cancel order 1042",
  "I want a refund for order 1017",
  "What is your return policy?",
  "I want to talk to a human",
];

/** What a screen reader hears: the last finished answer, or that one is being written. */
function announcement(view: ThreadView): string {
  if (view.replaying) return "";
  const last = view.items[view.items.length - 1];
  if (!last) return "";
  if (last.kind === "assistant") return last.streaming ? "The assistant is answering…" : `${humanize(last.agent || "assistant")} says: ${last.content}`;
  if (last.kind === "handoff") return "You are waiting for a human agent.";
  if (last.kind === "notice" || last.kind === "presence") return last.text;
  if (last.kind === "human") return `${last.name} says: ${last.content}`;
  return "";
}

export interface ChatPanelProps {
  threadId: string | null;
  /** Start a new thread with this first message (the caller stores the new id). */
  onStartThread(firstMessage: string): void;
  onNewConversation?(): void;
  title?: string;
}

export function ChatPanel({ threadId, onStartThread, onNewConversation, title = "Support" }: ChatPanelProps) {
  const { connected } = useSocket();
  const [view, actions] = useThread(threadId);
  const staff = isStaff(connected?.role);
  const err = view.error;
  const [errAt, setErrAt] = useState(0);
  useEffect(() => setErrAt(Date.now()), [err]);
  const now = useNow(1000, err?.code === "rate_limited");
  const retryLeft = err?.code === "rate_limited" && err.retry_after_s ? Math.ceil(err.retry_after_s - (now - errAt) / 1000) : 0;

  const send = (text: string) => (threadId ? actions.send(text) : onStartThread(text));
  const running = view.status === "running";

  return (
    <section className="chat" aria-label={title} data-thread-id={threadId ?? ""} data-status={view.status}>
      <header className="chat__head">
        <div>
          <h2 className="chat__title">{title}</h2>
          <p className="chat__agent" data-testid="active-agent">
            {view.activeAgent ? (
              <>
                Talking to <strong>{humanize(view.activeAgent)}</strong>
                {view.intent ? <span className="muted"> · {humanize(view.intent.intent)}</span> : null}
              </>
            ) : (
              <span className="muted">Ask us anything about your orders.</span>
            )}
          </p>
        </div>
        <div className="chat__tools">
          <ConnectionBadge />
          {onNewConversation && threadId ? (
            <button type="button" className="btn btn--ghost btn--small" onClick={onNewConversation}>
              New conversation
            </button>
          ) : null}
        </div>
      </header>

      {view.replaying ? (
        <p className="catching-up" role="status">
          Catching up…
        </p>
      ) : null}

      {view.items.length === 0 && !view.replaying ? (
        <div className="chat__empty">
          <p>Hi! How can we help today?</p>
          <ul className="suggestions" aria-label="Suggestions">
            {SUGGESTIONS.map((s) => (
              <li key={s}>
                <button type="button" className="chip" onClick={() => send(s)}>
                  {s}
                </button>
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <MessageList
          view={view}
          canDecide={(item) => item.event.approver === "customer" || staff}
          onDecide={actions.decide}
          onFeedback={actions.feedback}
        />
      )}

      {view.holder ? (
        <p className="banner banner--handoff" role="status" data-testid="handoff-banner">
          You are talking to {view.holder.name} from support.
        </p>
      ) : view.status === "handoff" ? (
        <p className="banner banner--handoff" role="status" data-testid="handoff-banner">
          Waiting for a human agent. You can keep writing; they will see it.
        </p>
      ) : null}

      {err ? (
        <div className="banner banner--error" role="alert" data-testid="error-banner" data-code={err.code}>
          <span>
            {err.code === "rate_limited" && retryLeft > 0
              ? describeError({ ...err, retry_after_s: retryLeft })
              : describeError(err)}
          </span>
          <button type="button" className="link-btn" onClick={actions.dismissError} aria-label="Dismiss the error">
            Dismiss
          </button>
        </div>
      ) : null}

      <p className="visually-hidden" aria-live="polite" aria-atomic="true">
        {announcement(view)}
      </p>

      <Composer onSend={send} onStop={actions.cancel} running={running} />
    </section>
  );
}
