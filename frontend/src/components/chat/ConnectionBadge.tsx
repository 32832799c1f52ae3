import { useSocket } from "../../providers/SocketProvider";

const WORDS: Record<string, string> = {
  idle: "Not connected",
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
  unauthorized: "Signed out",
};

/** The socket's state, announced politely when it changes. */
export function ConnectionBadge() {
  const { state, retryInMs, socket } = useSocket();
  return (
    <span className={`conn conn--${state}`} role="status" aria-live="polite" data-testid="connection" data-state={state}>
      <span className="conn__dot" aria-hidden="true" />
      {WORDS[state] ?? state}
      {state === "reconnecting" && retryInMs != null ? (
        <button type="button" className="link-btn" onClick={() => socket.reconnectNow()}>
          Retry now
        </button>
      ) : null}
    </span>
  );
}
