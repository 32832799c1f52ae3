/**
 * threadReducer: pure (ThreadView, action) -> ThreadView.
 *
 * The same function folds live frames and the events of `GET /api/replay/{id}`,
 * so the chat, a reload and the replay page show one conversation the same way.
 * Events with a seq at or below the last applied one are ignored, which makes
 * folding a replay over a live view (or twice) harmless.
 *
 * User messages are not events: the view gets one slot per `run_start` with
 * trigger `message`, filled from the event's `content` if the server sends it,
 * else from a message this client sent (`local/send`), else from the thread's
 * transcript (`local/transcript`, from `GET /api/threads/{id}`).
 */
import { assertNever } from "./events";
import type {
  ErrorFrame,
  InterruptEvent,
  SessionSyncFrame,
  ThreadEvent,
  ThreadStatus,
  ToolCallEvent,
} from "./protocol";

export interface UserItem {
  kind: "user";
  id: string;
  content: string;
  pending?: boolean;
}
export interface AssistantItem {
  kind: "assistant";
  id: string;
  agent: string;
  content: string;
  streaming: boolean;
  usage?: { input_tokens: number; output_tokens: number };
  runId?: string;
  /** The articles this answer draws on (`citation` events of its run), shown as links. */
  sources?: Source[];
}
export interface Source {
  title: string;
  url?: string | null;
}
export interface ToolItem {
  kind: "tool";
  id: string;
  tool: string;
  agent: string;
  args: Record<string, unknown>;
  result?: { ok: boolean; content: string };
}
export type InterruptStatus = "pending" | "deciding" | "approved" | "edited" | "rejected" | "superseded" | "expired";
export interface InterruptItem {
  kind: "interrupt";
  id: string;
  event: InterruptEvent;
  status: InterruptStatus;
  decidedBy?: string;
  reason?: string | null;
  decidedArgs?: Record<string, unknown> | null;
  decidedAt?: string;
  warningSecondsLeft?: number;
  expiredMessage?: string;
}
export interface HandoffItem {
  kind: "handoff";
  id: string;
  reason: string;
  queue: string;
}
export interface NoticeItem {
  kind: "notice";
  id: string;
  level: "info" | "error";
  text: string;
  code?: string;
}
/** A person's message to the customer (a human takeover). */
export interface HumanItem {
  kind: "human";
  id: string;
  userId: string;
  name: string;
  content: string;
}
/** A person joined or left the conversation. */
export interface PresenceItem {
  kind: "presence";
  id: string;
  change: "joined" | "left";
  name: string;
  text: string;
}
export type ThreadItem = UserItem | AssistantItem | ToolItem | InterruptItem | HandoffItem | NoticeItem | HumanItem | PresenceItem;

export interface ThreadView {
  threadId: string;
  items: ThreadItem[];
  status: ThreadStatus;
  lastSeq: number;
  runId: string | null;
  activeAgent: string | null;
  intent: { intent: string; confidence: number } | null;
  pendingInterruptId: string | null;
  /** The person who holds the thread (a human takeover), from agent_joined until agent_left. */
  holder: { userId: string; name: string } | null;
  /** Messages this client sent that no run_start has claimed yet. */
  outbox: { id: string; content: string }[];
  /** User texts from the transcript, in order, for slots the events cannot fill. */
  transcriptUsers: string[];
  /** How many user slots run_start events have opened. */
  userSlots: number;
  feedback: Record<string, "up" | "down">;
  /** Citations of the current run not yet attached to its answer (they arrive before it). */
  pendingSources: Source[];
  error: ErrorFrame | null;
  replaying: boolean;
}

export type LocalAction =
  | { type: "local/send"; id: string; content: string }
  | { type: "local/transcript"; messages: { role: string; content: string }[] }
  | { type: "local/sync"; sync: SessionSyncFrame }
  | { type: "local/deciding"; interruptId: string }
  | { type: "local/error"; error: ErrorFrame | null }
  | { type: "local/feedback"; messageId: string; rating: "up" | "down" }
  | { type: "local/replay"; replaying: boolean }
  | { type: "local/reset"; threadId: string };

export type ThreadAction = ThreadEvent | LocalAction;

export function emptyThread(threadId: string): ThreadView {
  return {
    threadId,
    items: [],
    status: "idle",
    lastSeq: 0,
    runId: null,
    activeAgent: null,
    intent: null,
    pendingInterruptId: null,
    holder: null,
    outbox: [],
    transcriptUsers: [],
    userSlots: 0,
    feedback: {},
    pendingSources: [],
    error: null,
    replaying: false,
  };
}

function replaceItem<T extends ThreadItem>(items: ThreadItem[], kind: T["kind"], id: string, fn: (item: T) => T): ThreadItem[] | null {
  const i = items.findIndex((it) => it.kind === kind && it.id === id);
  if (i < 0) return null;
  const next = items.slice();
  next[i] = fn(items[i] as T);
  return next;
}

function endStreaming(items: ThreadItem[]): ThreadItem[] {
  if (!items.some((it) => it.kind === "assistant" && it.streaming)) return items;
  return items.map((it) => (it.kind === "assistant" && it.streaming ? { ...it, streaming: false } : it));
}

function fillUserSlots(view: ThreadView): ThreadView {
  // Fill empty user slots, in order, from the transcript's user messages.
  let k = 0;
  let changed = false;
  const items = view.items.map((it) => {
    if (it.kind !== "user" || it.pending) return it;
    const text = view.transcriptUsers[k++];
    if (!it.content && text) {
      changed = true;
      return { ...it, content: text };
    }
    return it;
  });
  return changed ? { ...view, items } : view;
}

function interruptItem(event: InterruptEvent): InterruptItem {
  return { kind: "interrupt", id: event.interrupt_id, event, status: "pending" };
}

/** Apply one event. Unknown fields are ignored; a seq at or below lastSeq is a no-op. */
export function reduceEvent(view: ThreadView, event: ThreadEvent): ThreadView {
  if (typeof event.seq === "number") {
    if (event.seq <= view.lastSeq) return view;
    view = { ...view, lastSeq: event.seq };
  }
  switch (event.type) {
    case "run_start": {
      let v: ThreadView = { ...view, status: "running", runId: event.run_id ?? null, error: null, pendingSources: [] };
      if (event.trigger === "message") {
        const slot = v.userSlots;
        let content = event.content ?? "";
        let outbox = v.outbox;
        const pendingIdx = v.items.findIndex((it) => it.kind === "user" && it.pending);
        if (!content && outbox.length > 0) {
          content = outbox[0].content;
          outbox = outbox.slice(1);
        }
        if (!content) content = v.transcriptUsers[slot] ?? "";
        const item: UserItem = { kind: "user", id: `run:${event.run_id ?? event.seq ?? slot}`, content };
        let items = v.items;
        if (pendingIdx >= 0 && (!event.content || (items[pendingIdx] as UserItem).content === content)) {
          // the optimistic bubble becomes the confirmed one, in place
          items = items.slice();
          items[pendingIdx] = { ...item, content: content || (items[pendingIdx] as UserItem).content };
        } else items = [...items, item];
        v = { ...v, items, outbox, userSlots: slot + 1 };
      }
      return v;
    }
    case "intent":
      return { ...view, activeAgent: event.agent, intent: { intent: event.intent, confidence: event.confidence } };
    case "token": {
      const items =
        replaceItem<AssistantItem>(view.items, "assistant", event.message_id, (it) => ({
          ...it,
          content: it.content + event.content,
          streaming: true,
        })) ?? [
          ...view.items,
          {
            kind: "assistant",
            id: event.message_id,
            agent: event.agent,
            content: event.content,
            streaming: true,
            runId: event.run_id,
            ...(view.pendingSources.length ? { sources: view.pendingSources } : {}),
          } satisfies AssistantItem,
        ];
      const claimed = items.length > view.items.length ? [] : view.pendingSources;
      return { ...view, items, pendingSources: claimed, activeAgent: event.agent || view.activeAgent, status: view.status === "idle" ? "running" : view.status };
    }
    case "message_complete": {
      const done = (it: AssistantItem): AssistantItem => ({
        ...it,
        agent: event.agent || it.agent,
        content: event.content,
        streaming: false,
        usage: event.usage,
        ...(!it.sources && view.pendingSources.length ? { sources: view.pendingSources } : {}),
      });
      const items =
        replaceItem<AssistantItem>(view.items, "assistant", event.message_id, done) ?? [
          ...view.items,
          done({ kind: "assistant", id: event.message_id, agent: event.agent, content: "", streaming: false, runId: event.run_id }),
        ];
      return { ...view, items: endStreaming(items), pendingSources: [], status: view.status === "handoff" ? "handoff" : "idle", activeAgent: event.agent || view.activeAgent };
    }
    case "tool_call": {
      const e: ToolCallEvent = event;
      if (view.items.some((it) => it.kind === "tool" && it.id === e.call_id)) return view;
      return {
        ...view,
        items: [...endStreaming(view.items), { kind: "tool", id: e.call_id, tool: e.tool, agent: e.agent, args: e.args ?? {} }],
      };
    }
    case "tool_result": {
      const items =
        replaceItem<ToolItem>(view.items, "tool", event.call_id, (it) => ({ ...it, result: { ok: event.ok, content: event.content } })) ?? [
          ...view.items,
          { kind: "tool", id: event.call_id, tool: event.tool, agent: "", args: {}, result: { ok: event.ok, content: event.content } },
        ];
      return { ...view, items };
    }
    case "interrupt": {
      const exists = view.items.some((it) => it.kind === "interrupt" && it.id === event.interrupt_id);
      const items = exists ? view.items : [...endStreaming(view.items), interruptItem(event)];
      return { ...view, items, status: "interrupted", pendingInterruptId: event.interrupt_id, activeAgent: event.agent || view.activeAgent };
    }
    case "interrupt_decided": {
      const status: InterruptStatus =
        event.outcome === "superseded"
          ? "superseded"
          : event.approved
            ? event.outcome === "edited"
              ? "edited"
              : "approved"
            : "rejected";
      const items =
        replaceItem<InterruptItem>(view.items, "interrupt", event.interrupt_id, (it) => ({
          ...it,
          status,
          decidedBy: event.decided_by,
          reason: event.reason,
          decidedArgs: event.args,
          decidedAt: event.ts,
        })) ?? view.items;
      const pending = view.pendingInterruptId === event.interrupt_id ? null : view.pendingInterruptId;
      return { ...view, items, pendingInterruptId: pending, status: view.status === "interrupted" && !pending ? "idle" : view.status };
    }
    case "interrupt_warning": {
      const items =
        replaceItem<InterruptItem>(view.items, "interrupt", event.interrupt_id, (it) => ({
          ...it,
          warningSecondsLeft: event.seconds_left,
          event: { ...it.event, expires_at: event.expires_at || it.event.expires_at },
        })) ?? view.items;
      return { ...view, items };
    }
    case "interrupt_expired": {
      const items =
        replaceItem<InterruptItem>(view.items, "interrupt", event.interrupt_id, (it) => ({
          ...it,
          status: "expired",
          expiredMessage: event.message,
        })) ?? view.items;
      const pending = view.pendingInterruptId === event.interrupt_id ? null : view.pendingInterruptId;
      return { ...view, items, pendingInterruptId: pending, status: view.status === "interrupted" && !pending ? "idle" : view.status };
    }
    case "citation": {
      const source: Source = { title: event.title, url: event.url ?? null };
      if (view.pendingSources.some((x) => x.title === source.title && x.url === source.url)) return view;
      return { ...view, pendingSources: [...view.pendingSources, source] };
    }
    case "handoff":
      return {
        ...view,
        status: "handoff",
        items: [...endStreaming(view.items), { kind: "handoff", id: `handoff:${event.seq ?? view.items.length}`, reason: event.reason, queue: event.queue }],
      };
    case "customer_message": {
      // the customer's own optimistic bubble is confirmed in place; others see a new message
      const local = view.outbox.find((o) => o.id === event.client_msg_id) ?? view.outbox.find((o) => o.content === event.content);
      const item: UserItem = { kind: "user", id: `cm:${event.message_id}`, content: event.content };
      const i = local ? view.items.findIndex((it) => it.kind === "user" && it.id === `local:${local.id}`) : -1;
      const items = i >= 0 ? view.items.map((it, k) => (k === i ? item : it)) : [...view.items, item];
      return { ...view, items, outbox: local ? view.outbox.filter((o) => o !== local) : view.outbox };
    }
    case "agent_joined":
      return {
        ...view,
        holder: { userId: event.user_id, name: event.name },
        status: view.status === "idle" ? "handoff" : view.status,
        items: [
          ...endStreaming(view.items),
          { kind: "presence", id: `joined:${event.seq ?? view.items.length}`, change: "joined", name: event.name, text: `${event.name} from support joined` },
        ],
      };
    case "human_message":
      if (view.items.some((it) => it.kind === "human" && it.id === event.message_id)) return view;
      return {
        ...view,
        status: view.status === "idle" ? "handoff" : view.status,
        items: [...view.items, { kind: "human", id: event.message_id, userId: event.user_id, name: event.name, content: event.content }],
      };
    case "agent_left": {
      const name = view.holder?.name ?? "The support agent";
      const text = event.outcome === "resolved" ? `${name} marked the conversation resolved` : "The assistant is back";
      return {
        ...view,
        holder: null,
        status: view.status === "handoff" ? "idle" : view.status,
        items: [...view.items, { kind: "presence", id: `left:${event.seq ?? view.items.length}`, change: "left", name, text }],
      };
    }
    case "thread_imported":
      return view; // the imported turns come with the transcript (GET /api/threads/{id})
    case "handoff_notice":
      return {
        ...view,
        items: [...view.items, { kind: "notice", id: `wait:${event.seq ?? view.items.length}`, level: "info", text: event.message }],
      };
    case "run_cancelled":
      return {
        ...view,
        status: view.status === "handoff" ? "handoff" : "idle",
        items: [...endStreaming(view.items), { kind: "notice", id: `cancel:${event.seq ?? view.items.length}`, level: "info", text: "Stopped. The partial answer is kept." }],
      };
    case "run_error":
      return {
        ...view,
        status: view.status === "handoff" ? "handoff" : "idle",
        items: [
          ...endStreaming(view.items),
          { kind: "notice", id: `error:${event.seq ?? view.items.length}`, level: "error", text: event.message || "Something went wrong.", code: event.code },
        ],
      };
    default:
      return assertNever(event);
  }
}

/** Apply an event or a local action (the hooks' useReducer entry point). */
export function threadReducer(view: ThreadView, action: ThreadAction): ThreadView {
  switch (action.type) {
    case "local/send":
      return {
        ...view,
        outbox: [...view.outbox, { id: action.id, content: action.content }],
        items: [...view.items, { kind: "user", id: `local:${action.id}`, content: action.content, pending: true }],
        error: null,
      };
    case "local/transcript":
      return fillUserSlots({
        ...view,
        transcriptUsers: action.messages.filter((m) => m.role === "user" || m.role === "human").map((m) => m.content),
      });
    case "local/sync": {
      const s = action.sync;
      let v: ThreadView = { ...view, replaying: false };
      if (typeof s.last_seq === "number" && s.last_seq > v.lastSeq) v = { ...v, lastSeq: s.last_seq };
      if (s.pending_interrupt && !v.items.some((it) => it.kind === "interrupt" && it.id === s.pending_interrupt!.interrupt_id)) {
        v = { ...v, items: [...v.items, interruptItem(s.pending_interrupt)] };
      }
      const status: ThreadStatus = s.status ?? v.status;
      v = {
        ...v,
        status,
        pendingInterruptId: status === "interrupted" ? (s.pending_interrupt?.interrupt_id ?? v.pendingInterruptId) : null,
      };
      if (status !== "running") v = { ...v, items: endStreaming(v.items) };
      return v;
    }
    case "local/deciding": {
      const items = replaceItem<InterruptItem>(view.items, "interrupt", action.interruptId, (it) =>
        it.status === "pending" ? { ...it, status: "deciding" } : it,
      );
      return items ? { ...view, items } : view;
    }
    case "local/error": {
      if (!action.error) return { ...view, error: null };
      // A refused decision puts the card back so it can be decided again.
      let items = view.items;
      const code = action.error.code;
      if (code === "interrupt_expired")
        items = items.map((it) => (it.kind === "interrupt" && it.status === "deciding" ? { ...it, status: "expired" } : it));
      else if (code !== "no_pending_interrupt")
        items = items.map((it) => (it.kind === "interrupt" && it.status === "deciding" ? { ...it, status: "pending" } : it));
      // A refused message drops its optimistic bubble.
      const refused = ["run_active", "rate_limited", "content_too_long", "session_expired", "forbidden"].includes(action.error.code);
      let outbox = view.outbox;
      if (refused && outbox.length > 0) {
        const last = outbox[outbox.length - 1];
        outbox = outbox.slice(0, -1);
        items = items.filter((it) => !(it.kind === "user" && it.id === `local:${last.id}`));
      }
      return { ...view, items, outbox, error: action.error };
    }
    case "local/feedback":
      return { ...view, feedback: { ...view.feedback, [action.messageId]: action.rating } };
    case "local/replay":
      return { ...view, replaying: action.replaying };
    case "local/reset":
      return emptyThread(action.threadId);
    default:
      return reduceEvent(view, action);
  }
}

/** Fold a list of events (a replay) into a view. */
export function foldEvents(threadId: string, events: ThreadEvent[], start?: ThreadView): ThreadView {
  return events.reduce(reduceEvent, start ?? emptyThread(threadId));
}

/** The assistant message that is currently streaming, if any. */
export function streamingMessage(view: ThreadView): AssistantItem | undefined {
  for (let i = view.items.length - 1; i >= 0; i--) {
    const it = view.items[i];
    if (it.kind === "assistant" && it.streaming) return it;
  }
  return undefined;
}
