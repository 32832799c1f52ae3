/** `/` (and `/chat/:threadId`): the customer chat; the thread id lives in the URL. */
import { useCallback } from "react";
import { useNavigate, useParams, useSearchParams } from "react-router";
import { ChatPanel } from "../components/chat/ChatPanel";
import { startThread } from "../hooks/useThread";
import { newThreadId } from "../lib/ids";
import { THREAD_ID_PATTERN } from "../lib/protocol";
import type { PageDef } from "./types";

function ChatPage() {
  const [params] = useSearchParams();
  const { threadId: fromPath } = useParams();
  const navigate = useNavigate();
  const raw = fromPath ?? params.get("thread");
  const threadId = raw && THREAD_ID_PATTERN.test(raw) ? raw : null;

  const onStartThread = useCallback(
    (first: string) => {
      const id = newThreadId();
      startThread(id, first);
      navigate(`/?thread=${id}`, { replace: false });
    },
    [navigate],
  );

  return (
    <div className="page page--chat">
      {raw && !threadId ? (
        <p className="banner banner--error" role="alert">
          This conversation link is not valid. Start a new conversation below.
        </p>
      ) : null}
      <ChatPanel threadId={threadId} onStartThread={onStartThread} onNewConversation={() => navigate("/")} />
    </div>
  );
}

export const chatPage: PageDef = { path: "/", title: "Chat", component: ChatPage, nav: "Chat" };
export const chatThreadPage: PageDef = { path: "/chat/:threadId", title: "Chat", component: ChatPage };
