/**
 * The messages this browser sent on a thread, kept in localStorage. Events carry
 * no user text, so after a reload the chat fills user bubbles from the thread's
 * transcript (`GET /api/threads/{id}`); where that call cannot be made (the
 * widget on another origin without CORS), this log stands in for it.
 */
const PREFIX = "support-agent:sent:";
const MAX = 200;

export function logSent(threadId: string, content: string): void {
  try {
    const list = readSent(threadId);
    list.push(content);
    localStorage.setItem(PREFIX + threadId, JSON.stringify(list.slice(-MAX)));
  } catch {
    /* storage full or disabled */
  }
}

export function readSent(threadId: string): string[] {
  try {
    const raw = localStorage.getItem(PREFIX + threadId);
    const parsed: unknown = raw ? JSON.parse(raw) : [];
    return Array.isArray(parsed) ? parsed.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}
