/** Imported endpoints of one agent, with risk, approver, agent and enabled editable in place. */
import type { Endpoint as GeneratedEndpoint, Risk } from "../../lib/protocol";

/** One endpoint of an imported spec, as `GET /api/openapi/specs/{id}` gives it (generated). */
export type Endpoint = GeneratedEndpoint;

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
                  {e.needs_review ? <span className="badge badge--risk-medium">needs review</span> : null}
                  {e.removed ? <span className="badge">removed</span> : null}
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
                    value={e.approver ?? "none"}
                    onChange={(ev) => onChange(e.operation_id, { approver: ev.target.value as Endpoint["approver"] })}
                  >
                    <option value="none">none</option>
                    <option value="customer">customer</option>
                    <option value="operator">operator</option>
                  </select>
                </td>
                <td>
                  <select aria-label={`Agent of ${name}`} value={e.agent ?? ""} onChange={(ev) => ev.target.value && onChange(e.operation_id, { agent: ev.target.value })}>
                    {e.agent ? null : (
                      <option value="" disabled>
                        unassigned
                      </option>
                    )}
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
