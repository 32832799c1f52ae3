/** `/admin/specs`: review imported OpenAPI endpoints, grouped by agent. */
import { useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router";
import { EndpointTable, type Endpoint, type EndpointPatch } from "../components/admin/EndpointTable";
import { useApi } from "../hooks/useApi";
import { ApiError, listOf } from "../lib/api";
import { fmtTime, humanize } from "../lib/format";
import { useSocket } from "../providers/SocketProvider";
import type { SpecDetail as GeneratedSpecDetail, Spec } from "../lib/protocol";
import type { PageDef } from "./types";

/** A spec in `GET /api/openapi/specs` and one with its endpoints (generated types). */
export type SpecSummary = Spec;
type SpecDetail = GeneratedSpecDetail;

/** Configured agent names: from the spec detail, else from the classifier's reasons ("… one of: a, b"). */
export function configuredAgents(detail: SpecDetail | null, endpoints: Endpoint[]): string[] | null {
  const listed = detail?.configured_agents;
  if (Array.isArray(listed) && listed.length) return [...listed].sort();
  const found = new Set<string>();
  for (const e of endpoints)
    for (const r of e.reasons ?? []) {
      const m = /one of: ([a-z0-9_, -]+)$/i.exec(r);
      if (m) m[1].split(",").forEach((a) => a.trim() && found.add(a.trim()));
    }
  return found.size ? [...found].sort() : null;
}

function SpecsPage() {
  const { api } = useSocket();
  const [params, setParams] = useSearchParams();
  const specs = useApi((a) => a.get<unknown>("/api/openapi/specs"), []);
  const list = listOf<SpecSummary>(specs.data);
  const specId = params.get("spec") ?? list[0]?.spec_id ?? null;
  const detail = useApi(specId ? (a) => a.get<SpecDetail>(`/api/openapi/specs/${encodeURIComponent(specId)}`) : null, [specId]);
  const [endpoints, setEndpoints] = useState<Endpoint[]>([]);
  const [saving, setSaving] = useState<Record<string, boolean>>({});
  const [message, setMessage] = useState<{ tone: "ok" | "error"; text: string } | null>(null);

  useEffect(() => {
    setEndpoints(listOf<Endpoint>(detail.data?.endpoints ?? detail.data));
  }, [detail.data]);

  const groups = useMemo(() => {
    const m = new Map<string, Endpoint[]>();
    for (const e of endpoints) {
      const k = e.agent ?? "";
      m.set(k, [...(m.get(k) ?? []), e]);
    }
    return [...m.entries()].sort(([a], [b]) => (a === "" ? 1 : b === "" ? -1 : a.localeCompare(b)));
  }, [endpoints]);
  const configured = useMemo(() => configuredAgents(detail.data, endpoints), [detail.data, endpoints]);
  const agents = useMemo(
    () => Array.from(new Set([...(configured ?? []), ...endpoints.map((e) => e.agent).filter((a): a is string => !!a)])).sort(),
    [configured, endpoints],
  );

  async function change(operationId: string, patch: EndpointPatch) {
    if (!specId) return;
    const before = endpoints;
    setEndpoints((es) => es.map((e) => (e.operation_id === operationId ? { ...e, ...patch } : e)));
    setSaving((s) => ({ ...s, [operationId]: true }));
    try {
      const updated = await api.patch<Partial<Endpoint> | null>(
        `/api/openapi/specs/${encodeURIComponent(specId)}/endpoints/${encodeURIComponent(operationId)}`,
        patch,
      );
      if (updated && typeof updated === "object" && "operation_id" in updated)
        setEndpoints((es) => es.map((e) => (e.operation_id === operationId ? { ...e, ...updated } : e)));
      setMessage({ tone: "ok", text: `Saved ${operationId}.` });
    } catch (e) {
      setEndpoints(before);
      setMessage({ tone: "error", text: `Could not save ${operationId}: ${e instanceof ApiError ? e.message : String(e)}` });
    } finally {
      setSaving((s) => ({ ...s, [operationId]: false }));
    }
  }

  return (
    <div className="page">
      <div className="page__head">
        <h1>API endpoints</h1>
        {list.length > 0 ? (
          <label className="field-inline">
            Spec{" "}
            <select value={specId ?? ""} onChange={(e) => setParams({ spec: e.target.value })}>
              {list.map((s) => (
                <option key={s.spec_id} value={s.spec_id}>
                  {s.title ?? s.name ?? s.spec_id}
                  {s.version != null ? ` (v${s.version})` : ""}
                </option>
              ))}
            </select>
          </label>
        ) : null}
      </div>
      <p className="muted">
        Each endpoint becomes a tool of one agent. Risky ones pause for approval by the approver named here. Changes save at once.
      </p>
      <p className={message ? `banner banner--${message.tone === "ok" ? "ok" : "error"}` : "visually-hidden"} role="status" aria-live="polite">
        {message?.text ?? ""}
      </p>
      {specs.error ? (
        <p className="banner banner--error" role="alert">
          {specs.error}
        </p>
      ) : null}
      {!specs.loading && list.length === 0 && !specs.error ? <p className="empty">No specs imported yet.</p> : null}
      {detail.data ? (
        <p className="muted small">
          {endpoints.length} endpoints{detail.data.created_at ? ` · imported ${fmtTime(detail.data.created_at)}` : ""}
        </p>
      ) : null}
      {groups.map(([agent, eps]) => (
        <section key={agent || "none"} className="card" aria-labelledby={`agent-${agent || "none"}`} data-testid="agent-group">
          <h2 id={`agent-${agent || "none"}`}>{agent ? humanize(agent) : "Not assigned to an agent"}</h2>
          {agent && configured && !configured.includes(agent) ? (
            <p className="muted small">
              “{agent}” is not a configured agent, so no agent is offered these tools until you assign one ({configured.join(", ")}).
            </p>
          ) : null}
          <EndpointTable endpoints={eps} agents={agents} saving={saving} onChange={change} />
        </section>
      ))}
    </div>
  );
}

export const specsPage: PageDef = { path: "/admin/specs", title: "API endpoints", component: SpecsPage, nav: "Endpoints", staff: true };
