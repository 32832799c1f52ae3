import { humanize } from "../../lib/format";
import type { AssistantItem, Source } from "../../lib/threadReducer";
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
      {item.sources?.length ? <Sources sources={item.sources} /> : null}
      {!item.streaming && onFeedback ? <FeedbackButtons rating={rating} onRate={onFeedback} /> : null}
    </article>
  );
}

/** Only http(s) and same-site links become anchors: a source URL comes from imported content. */
function safeHref(url: string | null | undefined): string | null {
  if (!url) return null;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function Sources({ sources }: { sources: Source[] }) {
  return (
    <nav className="msg__sources" aria-label="Sources" data-testid="sources">
      <span className="msg__sources-label">Sources</span>
      <ul>
        {sources.map((s) => {
          const href = safeHref(s.url);
          return (
            <li key={`${s.title}|${s.url ?? ""}`}>
              {href ? (
                <a href={href} target="_blank" rel="noopener noreferrer" data-testid="source-link">
                  {s.title}
                </a>
              ) : (
                <span>{s.title}</span>
              )}
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
