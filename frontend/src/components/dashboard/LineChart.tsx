/** A small SVG line chart over buckets; one line per series key. With a table for screen readers. */
import { useId } from "react";

export interface LineSeries {
  key: string;
  label: string;
  color: string;
}

export function LineChart({ data, series, title }: { data: Record<string, unknown>[]; series: LineSeries[]; title: string }) {
  const id = useId();
  const W = 640;
  const H = 200;
  const P = { l: 36, r: 12, t: 12, b: 28 };
  const vals = (k: string) => data.map((d) => (typeof d[k] === "number" ? (d[k] as number) : 0));
  const max = Math.max(1, ...series.flatMap((s) => vals(s.key)));
  const x = (i: number) => P.l + (data.length <= 1 ? (W - P.l - P.r) / 2 : (i * (W - P.l - P.r)) / (data.length - 1));
  const y = (v: number) => H - P.b - (v / max) * (H - P.t - P.b);
  const t0 = Date.parse(String(data[0]?.bucket ?? ""));
  const t1 = Date.parse(String(data[1]?.bucket ?? ""));
  const hourly = !Number.isNaN(t0) && !Number.isNaN(t1) && t1 - t0 < 86_400_000;
  const label = (d: Record<string, unknown>) => {
    const b = String(d.bucket ?? "");
    const t = new Date(b);
    if (Number.isNaN(t.getTime())) return b;
    return hourly
      ? t.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
      : t.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  };
  if (data.length === 0) return <p className="muted">No data for this range yet.</p>;
  const ticks = [0, 0.5, 1].map((f) => Math.round(max * f));
  const every = Math.ceil(data.length / 6);
  return (
    <figure className="chart" aria-labelledby={`${id}-t`}>
      <figcaption id={`${id}-t`} className="chart__title">
        {title}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} preserveAspectRatio="none" className="chart__svg">
        {ticks.map((t) => (
          <g key={t}>
            <line x1={P.l} x2={W - P.r} y1={y(t)} y2={y(t)} className="chart__grid" />
            <text x={P.l - 6} y={y(t) + 4} textAnchor="end" className="chart__tick">
              {t}
            </text>
          </g>
        ))}
        {data.map((d, i) =>
          i % every === 0 ? (
            <text key={i} x={x(i)} y={H - 8} textAnchor="middle" className="chart__tick">
              {label(d)}
            </text>
          ) : null,
        )}
        {series.map((s) => (
          <g key={s.key}>
            <polyline fill="none" stroke={s.color} strokeWidth={2.5} points={vals(s.key).map((v, i) => `${x(i)},${y(v)}`).join(" ")} />
            {vals(s.key).map((v, i) => (
              <circle key={i} cx={x(i)} cy={y(v)} r={3} fill={s.color}>
                <title>{`${s.label} ${label(data[i])}: ${v}`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <div className="chart__legend">
        {series.map((s) => (
          <span key={s.key}>
            <span className="swatch" style={{ background: s.color }} aria-hidden="true" /> {s.label}
          </span>
        ))}
      </div>
      <table className="visually-hidden">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">Bucket</th>
            {series.map((s) => (
              <th key={s.key} scope="col">
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {data.map((d, i) => (
            <tr key={i}>
              <th scope="row">{label(d)}</th>
              {series.map((s) => (
                <td key={s.key}>{String(d[s.key] ?? 0)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
