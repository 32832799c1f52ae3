/**
 * The arguments of a risky action: a read-only list, or a small form built from
 * the tool's JSON schema (`args_schema`) when the action may be edited.
 */
import { useId } from "react";
import type { JsonSchema } from "../../lib/protocol";
import { humanize } from "../../lib/format";

function typeOf(schema: JsonSchema | undefined, value: unknown): string {
  const t = schema?.type;
  const first = Array.isArray(t) ? t.find((x) => x !== "null") : t;
  if (first) return first;
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  return "string";
}

function show(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function ArgsList({ args }: { args: Record<string, unknown> }) {
  const entries = Object.entries(args ?? {});
  if (entries.length === 0) return <p className="muted small">No details.</p>;
  return (
    <dl className="args">
      {entries.map(([k, v]) => (
        <div className="args__row" key={k}>
          <dt>{humanize(k)}</dt>
          <dd>{show(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

export interface ArgsEditorProps {
  args: Record<string, unknown>;
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange(next: Record<string, unknown>): void;
  disabled?: boolean;
}

export function ArgsEditor({ args, schema, value, onChange, disabled }: ArgsEditorProps) {
  const base = useId();
  const props = schema.properties ?? {};
  const keys = Array.from(new Set([...Object.keys(props), ...Object.keys(args)]));
  return (
    <div className="args args--edit">
      {keys.map((k) => {
        const s = props[k];
        const id = `${base}-${k}`;
        const v = value[k];
        const readOnly = disabled || !s || s.readOnly === true;
        const label = s?.title ?? humanize(k);
        const t = typeOf(s, v);
        if (readOnly) {
          return (
            <div className="args__row" key={k}>
              <span className="args__label">{label}</span>
              <span className="args__value">{show(v)}</span>
            </div>
          );
        }
        let input;
        if (Array.isArray(s.enum)) {
          input = (
            <select id={id} value={show(v)} onChange={(e) => onChange({ ...value, [k]: e.target.value })}>
              {s.enum.map((o) => (
                <option key={String(o)} value={String(o)}>
                  {String(o)}
                </option>
              ))}
            </select>
          );
        } else if (t === "boolean") {
          input = <input id={id} type="checkbox" checked={v === true} onChange={(e) => onChange({ ...value, [k]: e.target.checked })} />;
        } else if (t === "number" || t === "integer") {
          input = (
            <input
              id={id}
              type="number"
              inputMode="decimal"
              value={typeof v === "number" ? v : v == null ? "" : String(v)}
              min={s.minimum}
              max={s.maximum}
              step={t === "integer" ? 1 : "any"}
              onChange={(e) => onChange({ ...value, [k]: e.target.value === "" ? null : Number(e.target.value) })}
            />
          );
        } else {
          input = (
            <input
              id={id}
              type="text"
              value={v == null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v)}
              maxLength={s.maxLength}
              required={schema.required?.includes(k)}
              onChange={(e) => onChange({ ...value, [k]: e.target.value })}
            />
          );
        }
        return (
          <div className="args__row" key={k}>
            <label className="args__label" htmlFor={id}>
              {label}
            </label>
            {input}
            {s.description ? <span className="args__help">{s.description}</span> : null}
          </div>
        );
      })}
    </div>
  );
}

/** True when the schema lets a person change at least one argument. */
export function isEditable(schema: JsonSchema | null | undefined): schema is JsonSchema {
  return !!schema && !!schema.properties && Object.values(schema.properties).some((p) => p && p.readOnly !== true);
}
