/** Error codes from the socket and REST, in words for a person. */
import type { ErrorFrame } from "./protocol";

const WORDS: Record<string, string> = {
  invalid_json: "The app sent something the server could not read. Please reload the page.",
  frame_too_large: "That message is too large to send.",
  unknown_type: "The app and the server disagree about the protocol. Please reload the page.",
  missing_field: "The app sent an incomplete request. Please reload the page.",
  invalid_thread_id: "This conversation link is not valid. Start a new conversation.",
  content_too_long: "Your message is too long. Please shorten it to under 10,000 characters.",
  run_active: "The assistant is still answering. Wait for it to finish, or press Stop.",
  no_pending_interrupt: "This request has already been decided or is no longer waiting.",
  forbidden: "You do not have access to this conversation or action.",
  session_expired: "This conversation has expired after a period of inactivity. Start a new one.",
  rate_limited: "You are sending messages too quickly.",
  internal: "Something went wrong on the server.",
  unauthorized: "Your sign-in is missing or has expired. Please sign in again.",
  not_found: "That conversation could not be found.",
  network: "The server cannot be reached. Check your connection.",
  interrupt_expired: "This request expired before it was decided.",
  not_held: "Nobody has taken this conversation over, so there is nothing to release.",
};

/** Words for an error code; `retry_after_s` and correlation ids are kept. */
export function describeError(err: Pick<ErrorFrame, "code" | "message"> & { retry_after_s?: number }): string {
  const base = WORDS[err.code];
  if (!base) return err.message || `Something went wrong (${err.code}).`;
  if (err.code === "rate_limited") {
    const s = err.retry_after_s;
    return s != null && Number.isFinite(s)
      ? `${base} Please wait ${Math.max(1, Math.ceil(s))} second${Math.ceil(s) === 1 ? "" : "s"} and try again.`
      : `${base} Please wait a moment and try again.`;
  }
  if (err.code === "internal" && err.message) {
    const id = /([0-9a-f]{8,}(?:-[0-9a-f]{4,})*)/i.exec(err.message);
    return id ? `${base} Reference: ${id[1]}.` : `${base} Please try again.`;
  }
  return base;
}

/** WebSocket close codes we understand. */
export function describeClose(code: number, reason: string): string | null {
  if (code === 4001) return WORDS.unauthorized + (reason ? ` (${reason})` : "");
  if (code === 1008) return WORDS.forbidden;
  return null;
}
