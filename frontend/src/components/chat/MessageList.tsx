/** The conversation: one component per item kind, with a generic fallback. */
import { useEffect, useRef } from "react";
import type { ThreadItem, ThreadView } from "../../lib/threadReducer";
import { ApprovalCard, type Decision } from "../approvals/ApprovalCard";
import { AssistantMessage } from "./AssistantMessage";
import { ToolCallChip } from "./ToolCallChip";

export interface MessageListProps {
  view: ThreadView;
  canDecide?(item: ThreadItem & { kind: "interrupt" }): boolean;
  onDecide?(interruptId: string, d: Decision): void;
  onFeedback?(messageId: string, rating: "up" | "down"): void;
  /** Focus new approval cards (off for replays). */
  live?: boolean;
}

export function MessageList({ view, canDecide, onDecide, onFeedback, live = true }: MessageListProps) {
  const endRef = useRef<HTMLDivElement>(null);
  const boxRef = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const lastText = view.items.length > 0 ? JSON.stringify(view.items[view.items.length - 1]).length : 0;

  useEffect(() => {
    const box = boxRef.current;
    if (!box) return;
    const onScroll = () => {
      stick.current = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    };
    box.addEventListener("scroll", onScroll, { passive: true });
    return () => box.removeEventListener("scroll", onScroll);
  }, []);

  useEffect(() => {
    if (stick.current) endRef.current?.scrollIntoView?.({ block: "end" });
  }, [view.items.length, lastText]);

  return (
    // Not a live region: streamed tokens would be read out one by one. ChatPanel
    // announces each finished answer instead, and new approval cards take the focus.
    <div className="messages" ref={boxRef} role="region" aria-label="Conversation" tabIndex={0} data-testid="messages">
      {view.items.map((item) => {
        switch (item.kind) {
          case "user":
            if (!item.content) return null;
            return (
              <article key={item.id} className={`msg msg--user${item.pending ? " msg--pending" : ""}`} data-testid="user-message">
                <span className="visually-hidden">You said: </span>
                <div className="msg__body">{item.content}</div>
              </article>
            );
          case "assistant":
            return (
              <AssistantMessage
                key={item.id}
                item={item}
                rating={view.feedback[item.id]}
                onFeedback={onFeedback ? (r) => onFeedback(item.id, r) : undefined}
              />
            );
          case "tool":
            return <ToolCallChip key={item.id} item={item} />;
          case "interrupt":
            return (
              <ApprovalCard
                key={item.id}
                item={item}
                canDecide={!!onDecide && (canDecide ? canDecide(item) : true)}
                onDecide={onDecide ? (d) => onDecide(item.id, d) : undefined}
                autoFocus={live}
              />
            );
          case "handoff":
            return (
              <div key={item.id} className="notice notice--handoff" role="status" data-testid="handoff">
                <strong>Waiting for a human agent.</strong> You are in the {item.queue || "support"} queue; someone will reply here.
                {item.reason ? <span className="block muted small">Reason: {item.reason}</span> : null}
              </div>
            );
          case "human":
            return (
              <article key={item.id} className="msg msg--human" data-testid="human-message">
                <span className="avatar" aria-hidden="true">
                  {item.name.trim().charAt(0).toUpperCase() || "?"}
                </span>
                <div>
                  <p className="msg__name">{item.name}</p>
                  <span className="visually-hidden">{item.name} from support said: </span>
                  <div className="msg__body">{item.content}</div>
                </div>
              </article>
            );
          case "presence":
            return (
              <p key={item.id} className={`presence presence--${item.change}`} role="status" data-testid="presence">
                {item.text}
              </p>
            );
          case "notice":
            return (
              <div key={item.id} className={`notice notice--${item.level}`} role={item.level === "error" ? "alert" : "status"}>
                {item.text}
              </div>
            );
          default:
            return null;
        }
      })}
      <div ref={endRef} />
    </div>
  );
}
