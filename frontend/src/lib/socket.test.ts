import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SessionSyncFrame, ThreadEvent } from "./protocol";
import { backoffDelay, buildSocketUrl, DEFAULT_BACKOFF, SupportSocket } from "./socket";
import { FakeWebSocket, tok } from "./testing";
import { emptyThread, reduceEvent, type AssistantItem } from "./threadReducer";

function make(opts: Partial<ConstructorParameters<typeof SupportSocket>[0]> = {}) {
  return new SupportSocket({
    url: "ws://srv/ws",
    token: "T0K",
    createSocket: (u) => new FakeWebSocket(u),
    random: () => 0, // no jitter: delays are the ceiling
    ...opts,
  });
}

function collect(socket: SupportSocket, thread: string, afterSeq: number | null = 0) {
  const events: ThreadEvent[] = [];
  const syncs: SessionSyncFrame[] = [];
  socket.watch(thread, { onEvent: (e) => events.push(e), onSync: (s) => syncs.push(s) }, { afterSeq });
  return { events, syncs };
}

beforeEach(() => {
  FakeWebSocket.reset();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("connecting", () => {
  it("puts the token in the URL and subscribes watched threads once connected", () => {
    const s = make();
    collect(s, "t1");
    s.connect();
    const ws = FakeWebSocket.last();
    expect(ws.url).toBe("ws://srv/ws?token=T0K");
    expect(s.state).toBe("connecting");
    expect(ws.sent).toEqual([]);
    ws.accept();
    expect(s.state).toBe("open");
    expect(s.connected?.role).toBe("customer");
    expect(ws.sentOf("subscribe")).toEqual([{ type: "subscribe", thread_id: "t1", after_seq: 0 }]);
  });

  it("builds socket URLs from a server address, a path or a ws URL", () => {
    expect(buildSocketUrl("https://help.example.com", "a.b.c")).toBe("wss://help.example.com/ws?token=a.b.c");
    expect(buildSocketUrl("http://127.0.0.1:8765/", null)).toBe("ws://127.0.0.1:8765/ws");
    expect(buildSocketUrl("/ws", undefined, "https://x.test/chat?thread=1")).toBe("wss://x.test/ws");
    expect(buildSocketUrl("ws://h/ws", "t")).toBe("ws://h/ws?token=t");
  });

  it("does not subscribe a new thread before its first message, which subscribes it", () => {
    const s = make();
    s.connect();
    const ws = FakeWebSocket.last();
    ws.accept();
    const { events } = collect(s, "new", null);
    expect(ws.sentOf("subscribe")).toEqual([]);
    s.sendMessage("new", "hi", "c1");
    expect(ws.sentOf("message")).toEqual([{ type: "message", thread_id: "new", content: "hi", client_msg_id: "c1" }]);
    ws.emit({ type: "run_start", thread_id: "new", seq: 1, run_id: "r1", trigger: "message" });
    expect(events.map((e) => e.seq)).toEqual([1]);
  });

  it("answers nothing for a 4001 close and does not reconnect", () => {
    const s = make();
    s.connect();
    FakeWebSocket.last().drop(4001, "token expired");
    expect(s.state).toBe("unauthorized");
    expect(s.detail).toMatch(/sign in/i);
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.all).toHaveLength(1);
  });
});

describe("resume with after_seq", () => {
  it("re-subscribes every joined thread with the last seq it applied after a reconnect", () => {
    const s = make();
    const a = collect(s, "A");
    const b = collect(s, "B");
    s.connect();
    let ws = FakeWebSocket.last();
    ws.accept();
    ws.emit({ type: "session_sync", thread_id: "A", status: "idle", last_seq: 0, message_count: 0, pending_interrupt: null });
    ws.emit({ type: "session_sync", thread_id: "B", status: "idle", last_seq: 0, message_count: 0, pending_interrupt: null });
    ws.emit(tok("A", 1, "Hel"));
    ws.emit(tok("A", 2, "lo"));
    ws.emit({ type: "run_start", thread_id: "B", seq: 1, run_id: "rb", trigger: "message" });
    ws.drop();
    expect(s.state).toBe("reconnecting");
    vi.advanceTimersByTime(DEFAULT_BACKOFF.initialMs);
    ws = FakeWebSocket.last();
    expect(FakeWebSocket.all).toHaveLength(2);
    ws.accept();
    expect(ws.sentOf("subscribe")).toEqual([
      { type: "subscribe", thread_id: "A", after_seq: 2 },
      { type: "subscribe", thread_id: "B", after_seq: 1 },
    ]);
    expect(a.events).toHaveLength(2);
    expect(b.events).toHaveLength(1);
  });

  it("applies a replay that overlaps what it has exactly once: no lost, no doubled text", () => {
    const s = make();
    const a = collect(s, "A");
    s.connect();
    let ws = FakeWebSocket.last();
    ws.accept();
    ws.emit({ type: "replay_start", thread_id: "A", count: 0 });
    ws.emit({ type: "replay_end", thread_id: "A" });
    ws.emit({ type: "session_sync", thread_id: "A", status: "idle", last_seq: 0, message_count: 0, pending_interrupt: null });
    ws.emit({ type: "run_start", thread_id: "A", seq: 1, run_id: "r1", trigger: "message" });
    ws.emit(tok("A", 2, "Order "));
    ws.emit(tok("A", 3, "1042 "));
    ws.drop();
    vi.advanceTimersByTime(DEFAULT_BACKOFF.initialMs);
    ws = FakeWebSocket.last();
    ws.accept();
    // a server that replays a little more than asked (seq 3 again) must not double "1042 "
    ws.emit({ type: "replay_start", thread_id: "A", count: 3 });
    ws.emit(tok("A", 3, "1042 "));
    ws.emit(tok("A", 4, "is "));
    ws.emit(tok("A", 5, "shipped."));
    ws.emit({ type: "replay_end", thread_id: "A" });
    ws.emit({ type: "session_sync", thread_id: "A", status: "running", last_seq: 5, message_count: 1, pending_interrupt: null });
    ws.emit(tok("A", 5, "shipped.")); // a live duplicate too
    ws.emit({ type: "message_complete", thread_id: "A", seq: 6, run_id: "r1", message_id: "m1", agent: "order_lookup", content: "Order 1042 is shipped.", usage: { input_tokens: 1, output_tokens: 5 } });

    expect(a.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.stats.duplicatesDropped).toBe(2);
    const view = a.events.filter((e) => e.type !== "message_complete").reduce(reduceEvent, emptyThread("A"));
    expect((view.items.find((i) => i.kind === "assistant") as AssistantItem).content).toBe("Order 1042 is shipped.");
    expect(s.lastSeq("A")).toBe(6);
  });

  it("matches thread-less replay and sync replies to subscribes in order", () => {
    const s = make();
    const a = collect(s, "A");
    const b = collect(s, "B");
    s.connect();
    const ws = FakeWebSocket.last();
    ws.accept();
    ws.emit({ type: "replay_start", count: 1 });
    ws.emit({ type: "run_start", thread_id: "A", seq: 1, run_id: "r", trigger: "message" });
    ws.emit({ type: "replay_end" });
    ws.emit({ type: "session_sync", status: "running", last_seq: 1, message_count: 1, pending_interrupt: null });
    ws.emit({ type: "session_sync", status: "handoff", last_seq: 7, message_count: 3, pending_interrupt: null });
    expect(a.syncs.map((x) => [x.thread_id, x.status])).toEqual([["A", "running"]]);
    expect(b.syncs.map((x) => [x.thread_id, x.status])).toEqual([["B", "handoff"]]);
    expect(s.lastSeq("B")).toBe(7);
  });

  it("fills a gap in live events by re-subscribing instead of applying out of order", () => {
    const s = make();
    const a = collect(s, "A");
    s.connect();
    const ws = FakeWebSocket.last();
    ws.accept();
    ws.emit({ type: "session_sync", thread_id: "A", status: "idle", last_seq: 0, message_count: 0, pending_interrupt: null });
    ws.emit(tok("A", 1, "a"));
    ws.emit(tok("A", 3, "c")); // seq 2 went missing
    expect(a.events.map((e) => e.seq)).toEqual([1]);
    expect(ws.sentOf("subscribe").at(-1)).toEqual({ type: "subscribe", thread_id: "A", after_seq: 1 });
    ws.emit(tok("A", 4, "d")); // still waiting for the replay: not applied
    ws.emit({ type: "replay_start", thread_id: "A", count: 3 });
    ws.emit(tok("A", 2, "b"));
    ws.emit(tok("A", 3, "c"));
    ws.emit(tok("A", 4, "d"));
    ws.emit({ type: "replay_end", thread_id: "A" });
    ws.emit({ type: "session_sync", thread_id: "A", status: "running", last_seq: 4, message_count: 0, pending_interrupt: null });
    ws.emit(tok("A", 5, "e"));
    expect(a.events.map((e) => (e as { content: string }).content).join("")).toBe("abcde");
    expect(s.stats.gapsResynced).toBe(1);
  });

  it("accepts seq gaps inside a replay (compacted token deltas)", () => {
    const s = make();
    const a = collect(s, "A");
    s.connect();
    const ws = FakeWebSocket.last();
    ws.accept();
    ws.emit({ type: "replay_start", thread_id: "A", count: 2 });
    ws.emit({ type: "run_start", thread_id: "A", seq: 1, run_id: "r1", trigger: "message" });
    ws.emit({ type: "message_complete", thread_id: "A", seq: 9, run_id: "r1", message_id: "m1", agent: "faq", content: "Full", usage: { input_tokens: 0, output_tokens: 0 } });
    ws.emit({ type: "replay_end", thread_id: "A" });
    ws.emit({ type: "session_sync", thread_id: "A", status: "idle", last_seq: 9, message_count: 2, pending_interrupt: null });
    expect(a.events.map((e) => e.seq)).toEqual([1, 9]);
    expect(ws.sentOf("subscribe")).toHaveLength(1);
  });

  it("queues frames sent while disconnected and sends them after re-subscribing", () => {
    const s = make();
    collect(s, "A");
    s.connect();
    let ws = FakeWebSocket.last();
    ws.accept();
    ws.drop();
    s.sendMessage("A", "are you there?");
    s.sendFeedback("A", "m1", "up");
    vi.advanceTimersByTime(DEFAULT_BACKOFF.initialMs);
    ws = FakeWebSocket.last();
    ws.accept();
    expect(ws.sent.map((f) => f.type)).toEqual(["subscribe", "message", "feedback"]);
    expect(ws.sent[2]).toEqual({ type: "feedback", thread_id: "A", message_id: "m1", rating: "up" });
  });
});

describe("reconnect backoff", () => {
  it("grows exponentially, is capped, and jitters downwards only", () => {
    const o = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, o, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(2, o, () => 1)).toBe(200);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(3, o, Math.random);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });

  it("waits longer after each failed attempt and starts over after a success", () => {
    const s = make({ backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 } });
    s.connect();
    FakeWebSocket.last().drop(); // never got `connected`
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = FakeWebSocket.all.length;
      waits.push(s.nextRetryMs!);
      vi.advanceTimersByTime(s.nextRetryMs! - 1);
      expect(FakeWebSocket.all.length).toBe(before); // not yet
      vi.advanceTimersByTime(1);
      expect(FakeWebSocket.all.length).toBe(before + 1);
      FakeWebSocket.last().drop();
    }
    expect(waits).toEqual([100, 200, 400, 800, 1000]);
    vi.advanceTimersByTime(1000);
    FakeWebSocket.last().accept();
    expect(s.state).toBe("open");
    FakeWebSocket.last().drop();
    expect(s.nextRetryMs).toBe(100);
  });

  it("reconnects when the server goes silent for two heartbeat intervals, and pings meanwhile", () => {
    const s = make({ pingIntervalMs: 1000 });
    s.connect();
    const ws = FakeWebSocket.last();
    ws.accept();
    vi.advanceTimersByTime(1000);
    expect(ws.sentOf("ping")).toHaveLength(1);
    ws.emit({ type: "pong" });
    vi.advanceTimersByTime(2000);
    expect(s.state).toBe("open");
    vi.advanceTimersByTime(1100);
    expect(s.state).toBe("reconnecting");
    expect(ws.closedByClient?.code).toBe(4000);
  });

  it("close() stops for good", () => {
    const s = make();
    s.connect();
    FakeWebSocket.last().accept();
    s.close();
    vi.advanceTimersByTime(60_000);
    expect(s.state).toBe("closed");
    expect(FakeWebSocket.all).toHaveLength(1);
  });
});

describe("client frames", () => {
  it("has a helper for every client frame of the protocol", () => {
    const s = make();
    s.connect();
    const ws = FakeWebSocket.last();
    ws.accept();
    s.sendMessage("A", "hello");
    s.respondInterrupt("A", { approved: true, interruptId: "i1", args: { order_id: "1" }, reason: "ok" });
    s.respondInterrupt("A", { approved: false, args: { order_id: "1" } });
    s.submitForm("A", "f1", { email: "x@y.z" });
    s.cancelRun("A");
    s.subscribe("A", 0);
    s.unsubscribe("A");
    s.sendFeedback("A", "m1", "down", "wrong order");
    s.ping();
    expect(ws.sent.slice(-9)).toEqual([
      { type: "message", thread_id: "A", content: "hello" },
      { type: "interrupt_response", thread_id: "A", approved: true, interrupt_id: "i1", args: { order_id: "1" }, reason: "ok" },
      { type: "interrupt_response", thread_id: "A", approved: false },
      { type: "form_submit", thread_id: "A", form_id: "f1", values: { email: "x@y.z" } },
      { type: "cancel", thread_id: "A" },
      { type: "subscribe", thread_id: "A", after_seq: 0 },
      { type: "unsubscribe", thread_id: "A" },
      { type: "feedback", thread_id: "A", message_id: "m1", rating: "down", comment: "wrong order" },
      { type: "ping" },
    ]);
  });

  it("passes errors about a thread to that thread's listeners", () => {
    const s = make();
    const errors: string[] = [];
    s.watch("A", { onError: (e) => errors.push(e.code) });
    s.connect();
    const ws = FakeWebSocket.last();
    ws.accept();
    ws.emit({ type: "error", code: "run_active", message: "A run is already running", thread_id: "A" });
    ws.emit({ type: "error", code: "rate_limited", message: "rate", retry_after_s: 3 });
    expect(errors).toEqual(["run_active"]);
  });
});
