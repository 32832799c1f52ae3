import { humanize } from "../../lib/format";
import type { ToolItem } from "../../lib/threadReducer";

function summary(args: Record<string, unknown>): string {
  return Object.entries(args)
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(", ");
}

/** A tool call as a compact chip; its result opens below it. */
export function ToolCallChip({ item }: { item: ToolItem }) {
  const state = item.result ? (item.result.ok ? "ok" : "failed") : "running";
  return (
    <details className={`tool tool--${state}`} data-testid="tool-chip" data-tool={item.tool}>
      <summary>
        <span className="tool__icon" aria-hidden="true">
          {state === "running" ? "⋯" : state === "ok" ? "✓" : "✕"}
        </span>
        <span className="tool__name">{humanize(item.tool)}</span>
        <span className="tool__args">{summary(item.args)}</span>
        <span className="visually-hidden">
          {state === "running" ? " (running)" : state === "ok" ? " (done)" : " (failed)"}
        </span>
      </summary>
      {item.result ? <pre className="tool__result">{item.result.content}</pre> : <p className="muted small">Waiting for the result…</p>}
    </details>
  );
}
