/**
 * useThread: subscribe to a thread and fold its events with threadReducer.
 *
 * A thread this tab just created (`startThread`) is only listened to: its first
 * `message` subscribes the socket. Any other thread is joined with
 * `subscribe(after_seq=0)`, which replays its whole history, and its transcript
 * is fetched to fill in the user's messages; the reducer ignores seqs it has
 * applied, so nothing is doubled however the two interleave.
 */
import { useCallback, useEffect, useReducer } from "react";
import { newClientMsgId } from "../lib/ids";
import { logSent, readSent } from "../lib/sentLog";
import { emptyThread, threadReducer, type ThreadView } from "../lib/threadReducer";
import { useSocket } from "../providers/SocketProvider";

/** First messages of threads created in this tab, waiting for their hook to mount. */
const freshThreads = new Map<string, string>();

/** Mark `threadId` as new, with the message that starts it; the next useThread(threadId) sends it. */
export function startThread(threadId: string, firstMessage: string): void {
  freshThreads.set(threadId, firstMessage);
}

export interface ThreadActions {
  send(content: string): void;
  decide(interruptId: string, decision: { approved: boolean; args?: Record<string, unknown>; reason?: string }): void;
  cancel(): void;
  feedback(messageId: string, rating: "up" | "down", comment?: string): void;
  dismissError(): void;
}

export function useThread(threadId: string | null): [ThreadView, ThreadActions] {
  const { socket, api } = useSocket();
  const [view, dispatch] = useReducer(threadReducer, threadId ?? "", emptyThread);

  useEffect(() => {
    if (!threadId) {
      dispatch({ type: "local/reset", threadId: "" });
      return;
    }
    dispatch({ type: "local/reset", threadId });
    const first = freshThreads.get(threadId);
    freshThreads.delete(threadId);
    const unwatch = socket.watch(
      threadId,
      {
        onEvent: (e) => dispatch(e),
        onSync: (sync) => dispatch({ type: "local/sync", sync }),
        onReplay: (phase) => dispatch({ type: "local/replay", replaying: phase === "start" }),
        onError: (error) => dispatch({ type: "local/error", error }),
      },
      { afterSeq: first !== undefined ? null : 0 },
    );
    let alive = true;
    if (first !== undefined) {
      const id = newClientMsgId();
      dispatch({ type: "local/send", id, content: first });
      logSent(threadId, first);
      socket.sendMessage(threadId, first, id);
    } else {
      api
        .get<{ messages?: { role: string; content: string }[] }>(`/api/threads/${encodeURIComponent(threadId)}`)
        .then((t) => {
          if (alive && Array.isArray(t?.messages)) dispatch({ type: "local/transcript", messages: t.messages });
        })
        .catch(() => {
          const mine = readSent(threadId);
          if (alive && mine.length) dispatch({ type: "local/transcript", messages: mine.map((content) => ({ role: "user", content })) });
        });
    }
    return () => {
      alive = false;
      unwatch();
    };
  }, [threadId, socket, api]);

  // Errors about no thread in particular (rate limits on a new thread, for instance).
  useEffect(() => {
    if (!threadId) return;
    return socket.onFrame((f) => {
      if (f.type === "error" && !f.thread_id && f.code !== "forbidden") dispatch({ type: "local/error", error: f });
    });
  }, [socket, threadId]);

  const send = useCallback(
    (content: string) => {
      if (!threadId) return;
      const id = newClientMsgId();
      dispatch({ type: "local/send", id, content });
      logSent(threadId, content);
      socket.sendMessage(threadId, content, id);
    },
    [socket, threadId],
  );
  const decide = useCallback<ThreadActions["decide"]>(
    (interruptId, d) => {
      if (!threadId) return;
      dispatch({ type: "local/deciding", interruptId });
      socket.respondInterrupt(threadId, { ...d, interruptId });
    },
    [socket, threadId],
  );
  const cancel = useCallback(() => threadId && socket.cancelRun(threadId), [socket, threadId]);
  const feedback = useCallback<ThreadActions["feedback"]>(
    (messageId, rating, comment) => {
      if (!threadId) return;
      dispatch({ type: "local/feedback", messageId, rating });
      socket.sendFeedback(threadId, messageId, rating, comment);
    },
    [socket, threadId],
  );
  const dismissError = useCallback(() => dispatch({ type: "local/error", error: null }), []);

  return [view, { send, decide, cancel: () => void cancel(), feedback, dismissError }];
}
