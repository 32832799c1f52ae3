import { describe, expect, it } from "vitest";
import type { ThreadEvent } from "./protocol";
import { emptyThread, foldEvents, threadReducer } from "./threadReducer";

const T = "t1";
const base = (seq: number) => ({ thread_id: T, seq });

describe("a human takeover in the thread view", () => {
  const events: ThreadEvent[] = [
    { ...base(1), type: "handoff", reason: "the customer asked for a human", queue: "support" },
    { ...base(2), type: "agent_joined", user_id: "olga", name: "Olga" },
    { ...base(3), type: "human_message", message_id: "hm1", user_id: "olga", name: "Olga", content: "Hi, I'm Olga." },
    { ...base(4), type: "customer_message", message_id: "cm1", content: "Hello Olga" },
    { ...base(5), type: "agent_left", user_id: "olga", outcome: "back_to_assistant" },
  ];

  it("shows who joined, the person's message with a name, and the assistant's return", () => {
    const mid = foldEvents(T, events.slice(0, 4));
    expect(mid.holder).toEqual({ userId: "olga", name: "Olga" });
    expect(mid.status).toBe("handoff");
    expect(mid.items.map((i) => i.kind)).toEqual(["handoff", "presence", "human", "user"]);
    expect(mid.items[1]).toMatchObject({ text: "Olga from support joined" });
    const end = foldEvents(T, events);
    expect(end.holder).toBeNull();
    expect(end.status).toBe("idle");
    expect(end.items.at(-1)).toMatchObject({ kind: "presence", text: "The assistant is back" });
  });

  it("confirms the customer's own optimistic message in place instead of doubling it", () => {
    let v = foldEvents(T, events.slice(0, 3));
    v = threadReducer(v, { type: "local/send", id: "c-1", content: "Hello Olga" });
    v = threadReducer(v, { ...base(4), type: "customer_message", message_id: "cm1", content: "Hello Olga", client_msg_id: "c-1" });
    const users = v.items.filter((i) => i.kind === "user");
    expect(users).toEqual([{ kind: "user", id: "cm:cm1", content: "Hello Olga" }]);
    expect(v.outbox).toEqual([]);
  });

  it("replaying the same events twice changes nothing", () => {
    const once = foldEvents(T, events);
    expect(foldEvents(T, events, once)).toEqual(once);
    expect(emptyThread(T).holder).toBeNull();
  });
});
