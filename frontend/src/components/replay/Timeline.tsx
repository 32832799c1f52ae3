/** Every event of a thread in seq order; a run of tokens shows as one line. */
import type { ThreadEvent } from "../../lib/protocol";
import { EventRow } from "./EventRow";

export function groupTokens(events: ThreadEvent[]): { event: ThreadEvent; count: number }[] {
  const out: { event: ThreadEvent; count: number }[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (e.type === "token" && last && last.event.type === "token" && last.event.message_id === e.message_id) last.count += 1;
    else out.push({ event: e, count: 1 });
  }
  return out;
}

export function Timeline({ events }: { events: ThreadEvent[] }) {
  const rows = groupTokens(events);
  return (
    <ol className="timeline" aria-label="Timeline of events" data-testid="timeline">
      {rows.map((r, i) => (
        <EventRow key={`${r.event.seq ?? "x"}-${i}`} event={r.event} count={r.count} />
      ))}
    </ol>
  );
}
