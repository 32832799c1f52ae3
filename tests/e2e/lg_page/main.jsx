// Test fixture (not part of the product): the smallest chat a LangGraph user would build with
// useStream, pointed at support-agent's Agent Server API. The API base and the token come from
// the query string (?api=http://host:port/lg&token=JWT).
import { useState } from "react";
import { createRoot } from "react-dom/client";
import { useStream } from "@langchain/langgraph-sdk/react";

const params = new URLSearchParams(window.location.search);
const apiUrl = params.get("api");
const apiKey = params.get("token");

function text(content) {
  return typeof content === "string" ? content : content.map((b) => b.text ?? "").join("");
}

function App() {
  const [threadId, setThreadId] = useState(sessionStorage.getItem("thread") || null);
  const [draft, setDraft] = useState("");
  const stream = useStream({
    apiUrl,
    apiKey,
    assistantId: "support",
    threadId,
    onThreadId: (id) => {
      sessionStorage.setItem("thread", id);
      setThreadId(id);
    },
    reconnectOnMount: true,
  });
  const request = stream.interrupt?.value;
  const decide = (decision) =>
    stream.submit(null, { command: { resume: { decisions: [decision] } }, streamResumable: true });
  return (
    <main>
      <ol id="messages">
        {stream.messages
          .filter((m) => m.type === "human" || (m.type === "ai" && text(m.content)))
          .map((m) => (
            <li key={m.id} className={`msg ${m.type}`}>{text(m.content)}</li>
          ))}
      </ol>
      <p id="state">{stream.isLoading ? "streaming" : "idle"}</p>
      {stream.error ? <p id="error">{String(stream.error)}</p> : null}
      {request && !stream.isLoading ? (
        <section id="approval">
          <p id="action">{request.action_requests[0].name}</p>
          <p id="description">{request.action_requests[0].description}</p>
          <p id="risk">{request.risk}</p>
          {request.review_configs[0].allowed_decisions.includes("approve") ? (
            <button id="approve" onClick={() => decide({ type: "approve" })}>Approve</button>
          ) : null}
          <button id="reject" onClick={() => decide({ type: "reject", message: "no" })}>Reject</button>
        </section>
      ) : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          stream.submit({ messages: [{ type: "human", content: draft }] }, { streamResumable: true });
          setDraft("");
        }}
      >
        <input id="input" value={draft} onChange={(e) => setDraft(e.target.value)} />
        <button id="send" type="submit">Send</button>
      </form>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
