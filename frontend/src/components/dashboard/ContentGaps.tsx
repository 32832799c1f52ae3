/** The dashboard's content-gaps card: questions the knowledge base could not answer, grouped by wording. */
import { useApi } from "../../hooks/useApi";
import { fmtNumber, humanize } from "../../lib/format";

export interface GapGroup {
  question: string;
  count: number;
  examples: string[];
  reasons: Record<string, number>;
  last_asked_at?: string;
}
export interface GapsResponse {
  days: number;
  total: number;
  groups: GapGroup[];
}

const REASON_TEXT: Record<string, string> = { no_match: "no article found", handoff: "asked for a person after the answer" };

export function ContentGaps({ days }: { days: number }) {
  const { data, error } = useApi((api) => api.get<GapsResponse>("/api/knowledge/gaps", { days, limit: 10 }), [days], 30_000);
  const groups = data?.groups ?? [];
  return (
    <section className="card" data-testid="content-gaps">
      <h2 className="chart__title">Content gaps</h2>
      <p className="muted small">Questions the help center could not answer, grouped by similar wording: write these articles next.</p>
      {error ? (
        <p className="banner banner--error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="table-wrap">
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Question</th>
              <th scope="col">Asked</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {groups.map((g) => (
              <tr key={g.question} data-testid="content-gap">
                <th scope="row" title={g.examples.join("\n")}>
                  {g.question}
                </th>
                <td>{fmtNumber(g.count)}</td>
                <td>
                  {Object.entries(g.reasons)
                    .map(([r, n]) => `${REASON_TEXT[r] ?? humanize(r)} (${n})`)
                    .join(", ")}
                </td>
              </tr>
            ))}
            {groups.length === 0 ? (
              <tr>
                <td colSpan={3} className="empty">
                  No unanswered questions in this range.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </section>
  );
}
