/** `/dashboard`: `GET /api/analytics/summary?range=24h|7d|30d` as cards and charts. Missing fields show "—". */
import { useSearchParams } from "react-router";
import { BarList } from "../components/dashboard/BarList";
import { ContentGaps } from "../components/dashboard/ContentGaps";
import { LineChart } from "../components/dashboard/LineChart";
import { MetricCard } from "../components/dashboard/MetricCard";
import { useApi } from "../hooks/useApi";
import { DASH, fmtMs, fmtNumber, fmtPercent, fmtSeconds, fmtUsd, humanize } from "../lib/format";
import type { PageDef } from "./types";

export interface ApprovalStats {
  approved?: number;
  edited?: number;
  rejected?: number;
  expired?: number;
  superseded?: number;
  median_decision_s?: number | null;
}

export interface Summary {
  range?: string;
  conversations?: number;
  messages?: number;
  automated_resolution_rate?: number | null;
  escalation_rate?: number | null;
  approvals?: Record<string, ApprovalStats> | null;
  intents?: Record<string, number>;
  agents?: Record<string, number>;
  tool_error_rate?: number | null;
  ttft_ms?: { p50?: number | null; p95?: number | null } | null;
  tokens_per_conversation?: number | null;
  cost_per_conversation_usd?: number | null;
  csat?: number | { up?: number; down?: number; score?: number } | null;
  feedback?: { up?: number; down?: number; score_avg?: number | null; scored?: number } | null;
  resolutions?: Record<string, number> | null;
  series?: Record<string, unknown>[];
  handoffs?: HandoffStats | null;
}

export interface HandoffStats {
  handoffs?: number;
  first_reply_s?: { p50?: number | null; p90?: number | null; count?: number } | null;
  resolved_by_human?: number;
  handed_back?: number;
  resolved_by_assistant?: number;
  operators?: { user_id: string; name: string; conversations: number; messages: number; resolved: number; handed_back: number }[];
}

const RANGE_DAYS: Record<string, number> = { "24h": 1, "7d": 7, "30d": 30 };

const RANGES = [
  { value: "24h", label: "24 hours" },
  { value: "7d", label: "7 days" },
  { value: "30d", label: "30 days" },
];

function csatText(c: Summary["csat"], fb: Summary["feedback"]): string {
  if (c == null) {
    const up = fb?.up ?? 0;
    const down = fb?.down ?? 0;
    return up + down > 0 ? fmtPercent(up / (up + down)) : DASH;
  }
  if (typeof c === "number") return fmtPercent(c);
  if (typeof c.score === "number") return fmtPercent(c.score);
  const up = c.up ?? 0;
  const down = c.down ?? 0;
  return up + down > 0 ? fmtPercent(up / (up + down)) : DASH;
}

function DashboardPage() {
  const [params, setParams] = useSearchParams();
  const range = RANGES.some((r) => r.value === params.get("range")) ? params.get("range")! : "24h";
  const { data, error, loading, reload } = useApi((api) => api.get<Summary>("/api/analytics/summary", { range }), [range], 15_000);
  const s: Summary = data ?? {};
  const approvals = Object.entries(s.approvals ?? {});

  return (
    <div className="page">
      <div className="page__head">
        <h1>Dashboard</h1>
        <div className="row gap">
          <div className="segmented" role="radiogroup" aria-label="Time range">
            {RANGES.map((r) => (
              <button
                key={r.value}
                type="button"
                role="radio"
                aria-checked={range === r.value}
                className={range === r.value ? "is-active" : ""}
                onClick={() => setParams({ range: r.value })}
              >
                {r.label}
              </button>
            ))}
          </div>
          <button type="button" className="btn btn--ghost btn--small" onClick={reload}>
            Refresh
          </button>
        </div>
      </div>
      {error ? (
        <p className="banner banner--error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="metrics" aria-busy={loading} data-testid="metrics">
        <MetricCard testId="metric-conversations" label="Conversations" value={fmtNumber(s.conversations)} />
        <MetricCard testId="metric-messages" label="Messages" value={fmtNumber(s.messages)} />
        <MetricCard label="Resolved automatically" value={fmtPercent(s.automated_resolution_rate)} />
        <MetricCard label="Escalated to a human" value={fmtPercent(s.escalation_rate)} />
        <MetricCard label="Tool error rate" value={fmtPercent(s.tool_error_rate)} />
        <MetricCard label="Time to first token" value={fmtMs(s.ttft_ms?.p50)} hint={`p95 ${fmtMs(s.ttft_ms?.p95)}`} />
        <MetricCard label="Tokens per conversation" value={fmtNumber(s.tokens_per_conversation)} />
        <MetricCard label="Cost per conversation" value={fmtUsd(s.cost_per_conversation_usd)} />
        <MetricCard label="Satisfaction" value={csatText(s.csat, s.feedback)} hint={s.feedback ? `${s.feedback.up ?? 0} up · ${s.feedback.down ?? 0} down` : "thumbs up share"} />
      </div>
      <div className="card">
        <LineChart
          title="Conversations and messages"
          data={s.series ?? []}
          series={[
            { key: "conversations", label: "Conversations", color: "#2457c5" },
            { key: "messages", label: "Messages", color: "#c2410c" },
          ]}
        />
      </div>
      <div className="grid grid--2">
        <BarList title="Intents" counts={s.intents} testId="intents" />
        <BarList title="Agents" counts={s.agents} testId="agents" />
        <BarList title="Outcomes" counts={s.resolutions} testId="resolutions" />
      </div>
      <section className="card" data-testid="handoffs-card">
        <h2 className="chart__title">People taking over</h2>
        <div className="metrics">
          <MetricCard
            label="Wait for a person's first reply"
            value={fmtSeconds(s.handoffs?.first_reply_s?.p50)}
            hint={`p90 ${fmtSeconds(s.handoffs?.first_reply_s?.p90)} · ${fmtNumber(s.handoffs?.first_reply_s?.count)} replied`}
          />
          <MetricCard label="Resolved by a person" value={fmtNumber(s.handoffs?.resolved_by_human)} />
          <MetricCard label="Handed back to the assistant" value={fmtNumber(s.handoffs?.handed_back)} />
          <MetricCard label="Resolved by the assistant" value={fmtNumber(s.handoffs?.resolved_by_assistant)} />
        </div>
        <div className="table-wrap">
          <table className="table" data-testid="operators-table">
            <thead>
              <tr>
                <th scope="col">Operator</th>
                <th scope="col">Conversations</th>
                <th scope="col">Messages</th>
                <th scope="col">Resolved</th>
                <th scope="col">Handed back</th>
              </tr>
            </thead>
            <tbody>
              {(s.handoffs?.operators ?? []).map((o) => (
                <tr key={o.user_id}>
                  <th scope="row">{o.name}</th>
                  <td>{fmtNumber(o.conversations)}</td>
                  <td>{fmtNumber(o.messages)}</td>
                  <td>{fmtNumber(o.resolved)}</td>
                  <td>{fmtNumber(o.handed_back)}</td>
                </tr>
              ))}
              {(s.handoffs?.operators ?? []).length === 0 ? (
                <tr>
                  <td colSpan={5} className="empty">
                    Nobody took a conversation over in this range.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      </section>
      <section className="card">
        <h2 className="chart__title">Approvals by action</h2>
        <div className="table-wrap">
          <table className="table" data-testid="approvals-table">
            <thead>
              <tr>
                <th scope="col">Action</th>
                <th scope="col">Approved</th>
                <th scope="col">Edited</th>
                <th scope="col">Rejected</th>
                <th scope="col">Expired</th>
                <th scope="col">Median time to decide</th>
              </tr>
            </thead>
            <tbody>
              {approvals.map(([tool, a]) => (
                <tr key={tool}>
                  <th scope="row">{humanize(tool)}</th>
                  <td>{fmtNumber(a?.approved)}</td>
                  <td>{fmtNumber(a?.edited)}</td>
                  <td>{fmtNumber(a?.rejected)}</td>
                  <td>{fmtNumber(a?.expired)}</td>
                  <td>{fmtSeconds(a?.median_decision_s)}</td>
                </tr>
              ))}
              {approvals.length === 0 ? (
                <tr>
                  <td colSpan={6} className="empty">
                    No approvals in this range.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      </section>
      <ContentGaps days={RANGE_DAYS[range] ?? 1} />
    </div>
  );
}

export const dashboardPage: PageDef = { path: "/dashboard", title: "Dashboard", component: DashboardPage, nav: "Dashboard", staff: true };
