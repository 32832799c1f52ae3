import { ThumbIcon } from "./icons";

/** Thumbs up or down for one assistant message; sent as a `feedback` frame. */
export function FeedbackButtons({ rating, onRate }: { rating?: "up" | "down"; onRate(r: "up" | "down"): void }) {
  return (
    <div className="feedback" role="group" aria-label="Was this answer helpful?">
      <button type="button" className="icon-btn" aria-pressed={rating === "up"} aria-label="Helpful" title="Helpful" onClick={() => onRate("up")}>
        <ThumbIcon />
      </button>
      <button type="button" className="icon-btn" aria-pressed={rating === "down"} aria-label="Not helpful" title="Not helpful" onClick={() => onRate("down")}>
        <ThumbIcon down />
      </button>
      {rating ? <span className="muted small">Thanks for the feedback.</span> : null}
    </div>
  );
}
