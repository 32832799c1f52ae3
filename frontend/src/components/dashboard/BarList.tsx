/** Horizontal bars for a {name: count} map, largest first. */
import { humanize } from "../../lib/format";

export function BarList({ title, counts, testId }: { title: string; counts: Record<string, number> | undefined | null; testId?: string }) {
  const entries = Object.entries(counts ?? {})
    .filter(([, v]) => typeof v === "number")
    .sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map(([, v]) => v));
  return (
    <figure className="bars card" data-testid={testId}>
      <figcaption className="chart__title">{title}</figcaption>
      {entries.length === 0 ? (
        <p className="muted">—</p>
      ) : (
        <ul>
          {entries.map(([k, v]) => (
            <li key={k} className="bars__row">
              <span className="bars__label">{humanize(k)}</span>
              <span className="bars__track" aria-hidden="true">
                <span className="bars__fill" style={{ width: `${(v / max) * 100}%` }} />
              </span>
              <span className="bars__value">{v}</span>
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
}
