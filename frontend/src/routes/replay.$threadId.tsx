/** `/replay/:threadId`: the conversation as the customer saw it, and every event beside it. */
import { useMemo } from "react";
import { Link, useParams } from "react-router";
import { MessageList } from "../components/chat/MessageList";
import { Timeline } from "../components/replay/Timeline";
import { useApi } from "../hooks/useApi";
import { isThreadEvent } from "../lib/events";
import { fmtTime, humanize } from "../lib/format";
import type { ThreadEvent, Timeline as TimelineBody, Transcript } from "../lib/protocol";
import { foldEvents, threadReducer } from "../lib/threadReducer";
import type { PageDef } from "./types";


function ReplayPage() {
  const { threadId = "" } = useParams();
  const enc = encodeURIComponent(threadId);
  const replay = useApi((api) => api.get<TimelineBody>(`/api/replay/${enc}`), [threadId]);
  const thread = useApi((api) => api.get<Transcript>(`/api/threads/${enc}`).catch(() => null), [threadId]);

  const events = useMemo<ThreadEvent[]>(
    () => (replay.data?.events ?? []).filter(isThreadEvent).sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0)),
    [replay.data],
  );
  const view = useMemo(() => {
    let v = foldEvents(threadId, events);
    if (thread.data?.messages) v = threadReducer(v, { type: "local/transcript", messages: thread.data.messages });
    return v;
  }, [threadId, events, thread.data]);

  const intents = Array.from(new Set(events.flatMap((e) => (e.type === "intent" ? [e.intent] : []))));
  const first = events[0]?.ts;
  const last = events[events.length - 1]?.ts;

  return (
    <div className="page">
      <p>
        <Link to="/replay">← All conversations</Link>
      </p>
      <h1>
        Conversation <code className="break">{threadId}</code>
      </h1>
      <p className="muted" data-testid="replay-summary">
        {events.length} events · {fmtTime(first)} – {fmtTime(last)}
        {intents.length ? ` · ${intents.map(humanize).join(", ")}` : ""} · status {thread.data?.status ?? view.status}
      </p>
      {replay.error ? (
        <p className="banner banner--error" role="alert">
          {replay.status === 404 ? "This conversation does not exist (or has been deleted)." : replay.error}
        </p>
      ) : null}
      <div className="split">
        <section className="card split__main" aria-labelledby="replay-conv">
          <h2 id="replay-conv">Conversation</h2>
          <div className="chat chat--replay">
            <MessageList view={view} live={false} />
          </div>
        </section>
        <section className="card split__side" aria-labelledby="replay-tl">
          <h2 id="replay-tl">Timeline</h2>
          {replay.loading && !replay.data ? <p className="muted">Loading…</p> : <Timeline events={events} />}
        </section>
      </div>
    </div>
  );
}

export const replayPage: PageDef = { path: "/replay/:threadId", title: "Replay", component: ReplayPage, staff: true };
