import { useNow } from "../../hooks/useNow";
import { fmtCountdown } from "../../lib/format";

/** Live time left until `expiresAt`; calls nothing, just shows it. */
export function ExpiryCountdown({ expiresAt, active = true }: { expiresAt: string; active?: boolean }) {
  const now = useNow(1000, active);
  const end = Date.parse(expiresAt);
  if (Number.isNaN(end)) return null;
  const left = end - now;
  const urgent = left < 60_000;
  if (left <= 0) return <span className="countdown countdown--over">expiring…</span>;
  return (
    <span className={`countdown${urgent ? " countdown--urgent" : ""}`} role="timer" aria-live={urgent ? "polite" : "off"} aria-atomic="true">
      <span className="visually-hidden">Time left to decide: </span>
      {fmtCountdown(left)}
    </span>
  );
}

export function msLeft(expiresAt: string, now = Date.now()): number {
  const end = Date.parse(expiresAt);
  return Number.isNaN(end) ? Infinity : end - now;
}
