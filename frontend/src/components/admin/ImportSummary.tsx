/** What an import did: each document added, updated, removed or skipped (with the reason). */
import type { SummaryItem } from "../../lib/knowledge";
import type { KbImportSummary } from "../../lib/protocol";
import { sourceLabel } from "./ArticleTable";

const GROUPS = [
  ["added", "Added"],
  ["updated", "Updated"],
  ["removed", "Removed"],
  ["skipped", "Skipped"],
] as const;

function itemLabel(item: SummaryItem): string {
  const where = item.source ? sourceLabel(item.source) : "";
  return item.title && item.title !== where ? `${item.title} — ${where}` : where || item.title || "";
}

export function ImportSummary({ summary }: { summary: KbImportSummary }) {
  const counts = GROUPS.map(([k, label]) => `${summary[k].length} ${label.toLowerCase()}`).join(", ");
  return (
    <div data-testid="import-summary">
      <p>
        <strong>{counts}</strong>; {summary.chunks} chunks{summary.embeddings ? `, ${summary.embeddings} embeddings` : ""} written.
      </p>
      {GROUPS.map(([k, label]) =>
        summary[k].length ? (
          <div key={k}>
            <h3 className="small">{label}</h3>
            <ul data-testid={`summary-${k}`}>
              {summary[k].map((item, i) => (
                <li key={i}>
                  {itemLabel(item)}
                  {item.reason ? <span className="muted">: {item.reason}</span> : null}
                </li>
              ))}
            </ul>
          </div>
        ) : null,
      )}
    </div>
  );
}
