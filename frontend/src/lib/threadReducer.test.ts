import { describe, expect, it } from "vitest";
import type { InterruptEvent, ThreadEvent } from "./protocol";
import { emptyThread, foldEvents, reduceEvent, threadReducer, type AssistantItem, type InterruptItem, type ThreadView } from "./threadReducer";

const T = "t1";
let seq = 0;
type Draft<E> = E extends ThreadEvent ? Omit<E, "thread_id" | "seq" | "run_id"> & { run_id?: string } : never;
function ev<E extends ThreadEvent = ThreadEvent>(e: Draft<E>): E {
  seq += 1;
  return { thread_id: T, seq, run_id: "r1", ...e } as E;
}
function reset() {
  seq = 0;
}
const assistants = (v: ThreadView) => v.items.filter((i): i is AssistantItem => i.kind === "assistant");
const interruptOf = (v: ThreadView, id: string) => v.items.find((i): i is InterruptItem => i.kind === "interrupt" && i.id === id)!;

function statusRun(): ThreadEvent[] {
  reset();
  return [
    ev({ type: "run_start", trigger: "message" }),
    ev({ type: "intent", intent: "order_status", confidence: 0.93, agent: "order_lookup" }),
    ev({ type: "tool_call", call_id: "c1", agent: "order_lookup", tool: "get_order_status", args: { order_id: "1042" } }),
    ev({ type: "tool_result", call_id: "c1", tool: "get_order_status", ok: true, content: '{"status":"shipped"}' }),
    ev({ type: "token", message_id: "m1", agent: "order_lookup", content: "Order 1042 " }),
    ev({ type: "token", message_id: "m1", agent: "order_lookup", content: "has shipped." }),
    ev({ type: "message_complete", message_id: "m1", agent: "order_lookup", content: "Order 1042 has shipped.", usage: { input_tokens: 10, output_tokens: 6 } }),
  ];
}

function interrupt(id = "i1", extra: Partial<InterruptEvent> = {}) {
  return ev<InterruptEvent>({
    type: "interrupt",
    interrupt_id: id,
    agent: "order_actions",
    action: "cancel_order",
    args: { order_id: "1042" },
    risk: "high",
    approver: "customer",
    message: "Cancel order 1042? This cannot be undone.",
    expires_at: "2030-01-01T00:00:00Z",
    ...extra,
  });
}

describe("threadReducer", () => {
  it("streams tokens into one message, then the complete answer replaces them", () => {
    const events = statusRun();
    const partial = foldEvents(T, events.slice(0, 6));
    expect(partial.status).toBe("running");
    expect(partial.activeAgent).toBe("order_lookup");
    expect(partial.intent).toEqual({ intent: "order_status", confidence: 0.93 });
    expect(assistants(partial)).toEqual([expect.objectContaining({ content: "Order 1042 has shipped.", streaming: true })]);
    const done = reduceEvent(partial, events[6]);
    expect(done.status).toBe("idle");
    expect(assistants(done)).toEqual([expect.objectContaining({ content: "Order 1042 has shipped.", streaming: false, usage: { input_tokens: 10, output_tokens: 6 } })]);
    const tool = done.items.find((i) => i.kind === "tool");
    expect(tool).toMatchObject({ tool: "get_order_status", args: { order_id: "1042" }, result: { ok: true } });
  });

  it("ignores events it has already applied, so folding a replay twice changes nothing", () => {
    const events = statusRun();
    const once = foldEvents(T, events);
    const twice = events.reduce(reduceEvent, once);
    expect(twice).toBe(once);
    // a replay overlapping a live partial view
    const live = foldEvents(T, events.slice(0, 5));
    const resumed = events.slice(3).reduce(reduceEvent, live);
    expect(assistants(resumed)[0].content).toBe("Order 1042 has shipped.");
    expect(resumed.items.filter((i) => i.kind === "tool")).toHaveLength(1);
  });

  it("shows the same text from a replay whose token deltas were compacted away", () => {
    const events = statusRun().filter((e) => e.type !== "token");
    const v = foldEvents(T, events);
    expect(assistants(v)).toEqual([expect.objectContaining({ id: "m1", content: "Order 1042 has shipped.", streaming: false })]);
  });

  it("tracks an approval from request to decision", () => {
    reset();
    let v = foldEvents(T, [ev({ type: "run_start", trigger: "message" }), interrupt()]);
    expect(v.status).toBe("interrupted");
    expect(v.pendingInterruptId).toBe("i1");
    expect(interruptOf(v, "i1").status).toBe("pending");
    v = threadReducer(v, { type: "local/deciding", interruptId: "i1" });
    expect(interruptOf(v, "i1").status).toBe("deciding");
    v = reduceEvent(v, ev({ type: "interrupt_decided", interrupt_id: "i1", approved: true, decided_by: "u1", outcome: "approved" }));
    expect(interruptOf(v, "i1")).toMatchObject({ status: "approved", decidedBy: "u1" });
    expect(v.pendingInterruptId).toBeNull();
    v = reduceEvent(v, ev({ type: "run_start", trigger: "resume" }));
    expect(v.status).toBe("running");
  });

  it("marks edited, rejected, superseded and expired approvals", () => {
    reset();
    let v = foldEvents(T, [interrupt("a"), ev({ type: "interrupt_decided", interrupt_id: "a", approved: true, decided_by: "op", outcome: "edited", args: { order_id: "1043" } })]);
    expect(interruptOf(v, "a")).toMatchObject({ status: "edited", decidedArgs: { order_id: "1043" } });
    v = foldEvents(T, [interrupt("b"), ev({ type: "interrupt_decided", interrupt_id: "b", approved: false, decided_by: "op", reason: "fraud" })], v);
    expect(interruptOf(v, "b")).toMatchObject({ status: "rejected", reason: "fraud" });
    v = foldEvents(T, [interrupt("c"), ev({ type: "interrupt_decided", interrupt_id: "c", approved: false, decided_by: "u1", outcome: "superseded" })], v);
    expect(interruptOf(v, "c").status).toBe("superseded");
    v = foldEvents(T, [interrupt("d"), ev({ type: "interrupt_warning", interrupt_id: "d", expires_at: "2030-01-01T00:00:00Z", seconds_left: 30 })], v);
    expect(interruptOf(v, "d").warningSecondsLeft).toBe(30);
    v = reduceEvent(v, ev({ type: "interrupt_expired", interrupt_id: "d", action: "cancel_order", message: "Expired; ask again." }));
    expect(interruptOf(v, "d")).toMatchObject({ status: "expired", expiredMessage: "Expired; ask again." });
    expect(v.status).toBe("idle");
  });

  it("enters the handoff state and keeps it through the end of the run", () => {
    reset();
    const v = foldEvents(T, [
      ev({ type: "run_start", trigger: "message" }),
      ev({ type: "handoff", reason: "customer asked", queue: "general" }),
      ev({ type: "message_complete", message_id: "m9", agent: "escalation", content: "A person will be with you.", usage: { input_tokens: 0, output_tokens: 0 } }),
    ]);
    expect(v.status).toBe("handoff");
    expect(v.items.some((i) => i.kind === "handoff")).toBe(true);
  });

  it("ends streaming on cancel and on error, and keeps the partial answer", () => {
    reset();
    const v = foldEvents(T, [
      ev({ type: "run_start", trigger: "message" }),
      ev({ type: "token", message_id: "m1", agent: "faq", content: "Our return" }),
      ev({ type: "run_cancelled" }),
    ]);
    expect(assistants(v)[0]).toMatchObject({ content: "Our return", streaming: false });
    expect(v.status).toBe("idle");
    const e = reduceEvent(v, ev({ type: "run_error", code: "model_error", message: "The model failed." }));
    expect(e.items.at(-1)).toMatchObject({ kind: "notice", level: "error", text: "The model failed." });
  });

  it("turns the optimistic user bubble into the confirmed one, in place", () => {
    reset();
    let v = threadReducer(emptyThread(T), { type: "local/send", id: "c1", content: "Cancel order 1042" });
    expect(v.items).toEqual([expect.objectContaining({ kind: "user", pending: true, content: "Cancel order 1042" })]);
    v = reduceEvent(v, ev({ type: "run_start", trigger: "message" }));
    expect(v.items).toEqual([expect.objectContaining({ kind: "user", content: "Cancel order 1042" })]);
    expect(v.items[0]).not.toHaveProperty("pending", true);
    expect(v.outbox).toEqual([]);
  });

  it("drops the optimistic bubble when the server refuses the message", () => {
    let v = threadReducer(emptyThread(T), { type: "local/send", id: "c1", content: "again" });
    v = threadReducer(v, { type: "local/error", error: { type: "error", code: "run_active", message: "already running", thread_id: T } });
    expect(v.items).toEqual([]);
    expect(v.error?.code).toBe("run_active");
  });

  it("fills user messages from the transcript, whichever arrives first", () => {
    const events = [...statusRun(), ev({ type: "run_start", trigger: "message" })];
    const transcript = {
      type: "local/transcript" as const,
      messages: [
        { role: "user", content: "What is the status of order 1042?" },
        { role: "assistant", content: "Order 1042 has shipped." },
        { role: "user", content: "Thanks" },
      ],
    };
    const eventsFirst = threadReducer(foldEvents(T, events), transcript);
    const transcriptFirst = foldEvents(T, events, threadReducer(emptyThread(T), transcript));
    for (const v of [eventsFirst, transcriptFirst]) {
      expect(v.items.filter((i) => i.kind === "user").map((i) => (i as { content: string }).content)).toEqual([
        "What is the status of order 1042?",
        "Thanks",
      ]);
    }
  });

  it("uses the user's text from run_start when the server sends it", () => {
    reset();
    const v = reduceEvent(emptyThread(T), ev({ type: "run_start", trigger: "message", content: "hello" }));
    expect(v.items).toEqual([expect.objectContaining({ kind: "user", content: "hello" })]);
  });

  it("takes status and a pending approval from session_sync", () => {
    reset();
    const pending = interrupt("i7");
    const v = threadReducer(emptyThread(T), {
      type: "local/sync",
      sync: { type: "session_sync", thread_id: T, status: "interrupted", last_seq: 12, message_count: 3, pending_interrupt: pending },
    });
    expect(v.status).toBe("interrupted");
    expect(v.pendingInterruptId).toBe("i7");
    expect(v.lastSeq).toBe(12);
    expect(interruptOf(v, "i7").status).toBe("pending");
  });

  it("puts a card being decided back to pending when the decision is refused", () => {
    reset();
    let v = foldEvents(T, [interrupt("i1")]);
    v = threadReducer(v, { type: "local/deciding", interruptId: "i1" });
    v = threadReducer(v, { type: "local/error", error: { type: "error", code: "forbidden", message: "", thread_id: T } });
    expect(interruptOf(v, "i1").status).toBe("pending");
  });

  it("records feedback per message", () => {
    const v = threadReducer(emptyThread(T), { type: "local/feedback", messageId: "m1", rating: "up" });
    expect(v.feedback).toEqual({ m1: "up" });
  });
});

describe("citations", () => {
  it("attach to the answer of their run as sources, once each", () => {
    const v = foldEvents("t1", [
      { type: "run_start", trigger: "message", run_id: "r1", seq: 1, content: "What is your return policy?" },
      { type: "tool_call", call_id: "c1", agent: "faq", tool: "search_help_center", args: { query: "returns" }, seq: 2 },
      { type: "tool_result", call_id: "c1", tool: "search_help_center", ok: true, content: "{}", seq: 3 },
      { type: "citation", call_id: "c1", title: "Return policy", url: "/help/returns", seq: 4 },
      { type: "citation", call_id: "c1", title: "Return policy", url: "/help/returns", seq: 5 },
      { type: "token", message_id: "m1", agent: "faq", content: "Our help center says", run_id: "r1", seq: 6 },
      { type: "message_complete", message_id: "m1", agent: "faq", content: "Our help center says …", run_id: "r1", seq: 7, usage: { input_tokens: 1, output_tokens: 1 } },
      { type: "run_start", trigger: "message", run_id: "r2", seq: 8, content: "thanks" },
      { type: "message_complete", message_id: "m2", agent: "faq", content: "You're welcome", run_id: "r2", seq: 9, usage: { input_tokens: 1, output_tokens: 1 } },
    ]);
    const answers = v.items.filter((i) => i.kind === "assistant");
    expect(answers.map((a) => (a.kind === "assistant" ? a.sources : null))).toEqual([
      [{ title: "Return policy", url: "/help/returns" }],
      undefined,
    ]);
    expect(v.pendingSources).toEqual([]);
  });
});
