import { humanize } from "../../lib/format";
import type { AssistantItem } from "../../lib/threadReducer";
import { FeedbackButtons } from "./FeedbackButtons";

export interface AssistantMessageProps {
  item: AssistantItem;
  rating?: "up" | "down";
  onFeedback?(rating: "up" | "down"): void;
}

export function AssistantMessage({ item, rating, onFeedback }: AssistantMessageProps) {
  return (
    <article className="msg msg--assistant" data-testid="assistant-message" data-message-id={item.id} data-streaming={item.streaming ? "true" : "false"} aria-busy={item.streaming}>
      <div className="msg__meta">
        <span className="msg__agent">{item.agent ? humanize(item.agent) : "Assistant"}</span>
      </div>
      <div className="msg__body" data-testid="assistant-text">
        {item.content}
        {item.streaming ? <span className="caret" aria-hidden="true" /> : null}
      </div>
      {!item.streaming && onFeedback ? <FeedbackButtons rating={rating} onRate={onFeedback} /> : null}
    </article>
  );
}
