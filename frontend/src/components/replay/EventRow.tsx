/** One line of a replay timeline: what happened, when, and the details that matter. */
import { fmtClock, fmtPercent, humanize } from "../../lib/format";
import type { ThreadEvent } from "../../lib/protocol";
import { assertNever } from "../../lib/events";

function args(a: Record<string, unknown> | null | undefined): string {
  return Object.entries(a ?? {})
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(", ");
}

export function describeEvent(e: ThreadEvent): { label: string; detail: string; tone?: "ok" | "warn" | "bad" } {
  switch (e.type) {
    case "run_start":
      return { label: "Run started", detail: `trigger: ${e.trigger}` };
    case "intent":
      return { label: "Routed", detail: `${humanize(e.intent)} → ${humanize(e.agent)} (confidence ${fmtPercent(e.confidence)})` };
    case "token":
      return { label: "Token", detail: e.content };
    case "tool_call":
      return { label: "Tool call", detail: `${e.tool}(${args(e.args)}) by ${humanize(e.agent)}` };
    case "tool_result":
      return { label: e.ok ? "Tool result" : "Tool failed", detail: `${e.tool}: ${e.content.slice(0, 240)}`, tone: e.ok ? "ok" : "bad" };
    case "interrupt":
      return {
        label: "Approval requested",
        detail: `${e.action}(${args(e.args)}) · ${e.risk} risk · approver: ${e.approver} · expires ${fmtClock(e.expires_at)}`,
        tone: "warn",
      };
    case "interrupt_decided": {
      const outcome = e.outcome ?? (e.approved ? "approved" : "rejected");
      return {
        label: `Approval ${outcome}`,
        detail: `by ${e.decided_by}${e.reason ? ` — “${e.reason}”` : ""}${e.args ? ` · args: ${args(e.args)}` : ""}`,
        tone: e.approved ? "ok" : "bad",
      };
    }
    case "interrupt_warning":
      return { label: "Expiry warning", detail: `${e.seconds_left} s left`, tone: "warn" };
    case "interrupt_expired":
      return { label: "Approval expired", detail: `${e.action}: ${e.message}`, tone: "bad" };
    case "handoff":
      return { label: "Handed to a human", detail: `queue: ${e.queue}${e.reason ? ` · ${e.reason}` : ""}`, tone: "warn" };
    case "customer_message":
      return { label: "Customer wrote", detail: e.content.slice(0, 240) };
    case "agent_joined":
      return { label: "Person joined", detail: `${e.name} (${e.user_id}) took over`, tone: "warn" };
    case "human_message":
      return { label: `${e.name} wrote`, detail: e.content.slice(0, 240) };
    case "agent_left":
      return {
        label: e.outcome === "resolved" ? "Resolved by a person" : "Back to the assistant",
        detail: `released by ${e.user_id}`,
        tone: e.outcome === "resolved" ? "ok" : undefined,
      };
    case "thread_imported":
      return { label: "Imported", detail: `${e.messages.length} messages, by ${e.imported_by}` };
    case "handoff_notice":
      return { label: "Told the customer the team is busy", detail: `after ${e.waited_s} s`, tone: "warn" };
    case "citation":
      return { label: "Source", detail: `${e.title}${e.url ? ` · ${e.url}` : ""}` };
    case "message_complete":
      return {
        label: "Answer",
        detail: `${humanize(e.agent)}: ${e.content.slice(0, 240)}${e.usage ? ` · ${e.usage.input_tokens}/${e.usage.output_tokens} tokens` : ""}`,
      };
    case "run_cancelled":
      return { label: "Run cancelled", detail: "" };
    case "run_error":
      return { label: "Run error", detail: `${e.code}: ${e.message}`, tone: "bad" };
    default:
      return assertNever(e);
  }
}

export function EventRow({ event, count }: { event: ThreadEvent; count?: number }) {
  const d = describeEvent(event);
  const label = event.type === "token" && count && count > 1 ? `${count} tokens streamed` : d.label;
  const detail = event.type === "token" && count && count > 1 ? "" : d.detail;
  return (
    <li className={`event event--${event.type}${d.tone ? ` tone--${d.tone}` : ""}`} data-testid="timeline-event" data-type={event.type}>
      <span className="event__time">
        <time dateTime={event.ts}>{fmtClock(event.ts) || "—"}</time>
        {event.seq != null ? <span className="event__seq">#{event.seq}</span> : null}
      </span>
      <span className="event__label">{label}</span>
      {detail ? <span className="event__detail">{detail}</span> : null}
    </li>
  );
}
