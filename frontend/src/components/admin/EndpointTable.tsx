/** Imported endpoints of one agent, with risk, approver, agent and enabled editable in place. */
import type { Approver, Risk } from "../../lib/protocol";

export interface Endpoint {
  operation_id: string;
  method: string;
  path: string;
  risk: Risk;
  approver: Approver | null;
  agent: string | null;
  enabled: boolean;
  summary?: string;
  reasons?: string[];
}

export type EndpointPatch = Partial<Pick<Endpoint, "risk" | "approver" | "agent" | "enabled">>;

const RISKS: Risk[] = ["low", "medium", "high", "critical"];

export function EndpointTable({
  endpoints,
  agents,
  saving,
  onChange,
}: {
  endpoints: Endpoint[];
  agents: string[];
  saving: Record<string, boolean>;
  onChange(operationId: string, patch: EndpointPatch): void;
}) {
  return (
    <div className="table-wrap">
      <table className="table table--endpoints">
        <thead>
          <tr>
            <th scope="col">Endpoint</th>
            <th scope="col">Risk</th>
            <th scope="col">Approver</th>
            <th scope="col">Agent</th>
            <th scope="col">Enabled</th>
          </tr>
        </thead>
        <tbody>
          {endpoints.map((e) => {
            const name = `${e.method.toUpperCase()} ${e.path}`;
            return (
              <tr key={e.operation_id} data-testid="endpoint-row" data-operation-id={e.operation_id} aria-busy={!!saving[e.operation_id]}>
                <th scope="row">
                  <span className={`method method--${e.method.toLowerCase()}`}>{e.method.toUpperCase()}</span> <code>{e.path}</code>
                  <span className="block muted small">
                    {e.operation_id}
                    {e.summary ? ` — ${e.summary}` : ""}
                  </span>
                  {e.reasons?.length ? <span className="block muted small">{e.reasons.join("; ")}</span> : null}
                </th>
                <td>
                  <select aria-label={`Risk of ${name}`} value={e.risk} onChange={(ev) => onChange(e.operation_id, { risk: ev.target.value as Risk })}>
                    {RISKS.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <select
                    aria-label={`Approver of ${name}`}
                    value={e.approver ?? ""}
                    onChange={(ev) => onChange(e.operation_id, { approver: (ev.target.value || null) as Approver | null })}
                  >
                    <option value="">none</option>
                    <option value="customer">customer</option>
                    <option value="operator">operator</option>
                  </select>
                </td>
                <td>
                  <select aria-label={`Agent of ${name}`} value={e.agent ?? ""} onChange={(ev) => onChange(e.operation_id, { agent: ev.target.value || null })}>
                    <option value="">unassigned</option>
                    {agents.map((a) => (
                      <option key={a} value={a}>
                        {a}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`${name} enabled`}
                    checked={e.enabled}
                    onChange={(ev) => onChange(e.operation_id, { enabled: ev.target.checked })}
                  />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
