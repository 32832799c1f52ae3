/** Small display helpers shared by pages. */
export const DASH = "—";

export function fmtNumber(v: unknown, digits = 0): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 }) : DASH;
}

export function fmtPercent(v: unknown): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return DASH;
  const pct = v <= 1 ? v * 100 : v;
  return `${pct.toFixed(pct < 10 ? 1 : 0)}%`;
}

export function fmtUsd(v: unknown): string {
  return typeof v === "number" && Number.isFinite(v) ? `$${v < 0.1 ? v.toFixed(4) : v.toFixed(2)}` : DASH;
}

export function fmtMs(v: unknown): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return DASH;
  return v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
}

export function fmtSeconds(v: unknown): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return DASH;
  if (v < 60) return `${Math.round(v)} s`;
  if (v < 3600) return `${Math.floor(v / 60)} min ${Math.round(v % 60)} s`;
  return `${(v / 3600).toFixed(1)} h`;
}

export function fmtTime(iso: unknown): string {
  if (typeof iso !== "string" || !iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : d.toLocaleString();
}

export function fmtClock(iso: unknown): string {
  if (typeof iso !== "string" || !iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** "2:05" style remaining time. */
export function fmtCountdown(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}` : `${m}:${String(sec).padStart(2, "0")}`;
}

export function humanize(name: string): string {
  return name.replace(/[_-]+/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}
