/** Test helpers: a fake WebSocket the tests drive from the server's side. */
import type { WebSocketLike } from "./socket";

export class FakeWebSocket implements WebSocketLike {
  static all: FakeWebSocket[] = [];
  static reset() {
    FakeWebSocket.all = [];
  }
  static last(): FakeWebSocket {
    const ws = FakeWebSocket.all[FakeWebSocket.all.length - 1];
    if (!ws) throw new Error("no socket was created");
    return ws;
  }

  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  closedByClient: { code?: number; reason?: string } | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.all.push(this);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
    this.readyState = 3;
    this.onclose?.({ code: code ?? 1000, reason: reason ?? "" });
  }

  // ---- the server's side ----
  accept(role = "customer", heartbeat = 30): void {
    this.readyState = 1;
    this.onopen?.({});
    this.emit({ type: "connected", connection_id: `c${FakeWebSocket.all.length}`, user_id: "u1", role, heartbeat_interval_s: heartbeat });
  }

  emit(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  drop(code = 1006, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  sentOf(type: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f.type === type);
  }
}

export function tok(thread: string, seq: number, content: string, message_id = "m1") {
  return { type: "token", thread_id: thread, seq, run_id: "r1", message_id, agent: "order_lookup", content };
}
