/**
 * SupportSocket: the one WebSocket a tab (or the widget) keeps to the server.
 *
 * No React here. It connects to `/ws?token=…`, waits for `connected`, keeps the
 * link alive with application pings, and reconnects on its own with exponential
 * backoff and jitter. Every thread it has joined is re-subscribed after a
 * reconnect with `after_seq` = the last seq it applied, and no event with a seq at
 * or below that is ever handed on, so text is neither lost nor doubled. Replies
 * without a `thread_id` (`replay_start`, `replay_end`, `session_sync`) are matched
 * to subscribes in the order they were sent.
 */
import { describeClose } from "./errors";
import { isServerFrame, isThreadEvent } from "./events";
import type {
  ClientFrame,
  ConnectedFrame,
  ErrorFrame,
  ServerFrame,
  SessionSyncFrame,
  ThreadEvent,
} from "./protocol";

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed" | "unauthorized";

/** The part of the browser's WebSocket this class uses (tests pass a fake). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketFactory = (url: string) => WebSocketLike;

export interface BackoffOptions {
  /** First delay, in ms. */
  initialMs: number;
  /** Upper bound of any delay, in ms. */
  maxMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /** 0..1: how much of each delay is randomised away (0 = none, 1 = full jitter). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.5 };

/** Delay before reconnect attempt `attempt` (0-based): capped exponential, jittered downwards. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.maxMs, opts.initialMs * Math.pow(opts.factor, Math.max(0, attempt)));
  const jitter = Math.min(1, Math.max(0, opts.jitter));
  return Math.round(ceiling * (1 - jitter * random()));
}

export interface ThreadListener {
  /** An event with a seq above every seq applied so far for the thread. */
  onEvent?(event: ThreadEvent): void;
  onSync?(sync: SessionSyncFrame): void;
  onReplay?(phase: "start" | "end", count?: number): void;
  onError?(error: ErrorFrame): void;
}

export interface SupportSocketOptions {
  /** `ws://host/ws`, `https://host` (the widget's data-server), or a path like `/ws`. */
  url: string;
  token?: string | null;
  createSocket?: WebSocketFactory;
  backoff?: Partial<BackoffOptions>;
  random?: () => number;
  /** Overrides the app-level ping interval (default: the server's heartbeat_interval_s). */
  pingIntervalMs?: number;
  now?: () => number;
}

interface ThreadEntry {
  lastSeq: number;
  /** The socket should be subscribed to it (after a reconnect too). */
  joined: boolean;
  replaying: boolean;
  /** A subscribe to fill a seq gap is on its way. */
  resyncing: boolean;
  /** Seen a session_sync since the last (re)subscribe: live gap checks apply. */
  synced: boolean;
  listeners: Set<ThreadListener>;
}

export interface SocketStats {
  duplicatesDropped: number;
  gapsResynced: number;
  reconnects: number;
}

/** Build the socket URL from a server address or path, with the token as a query parameter. */
export function buildSocketUrl(url: string, token?: string | null, base?: string): string {
  let u: URL;
  if (/^wss?:\/\//i.test(url)) u = new URL(url);
  else {
    const origin = base ?? (typeof location !== "undefined" ? location.href : "http://localhost/");
    u = new URL(url, origin);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  }
  if (!/\/ws\/?$/.test(u.pathname)) u.pathname = u.pathname.replace(/\/?$/, "/ws");
  if (token) u.searchParams.set("token", token);
  return u.toString();
}

const OPEN = 1;

export class SupportSocket {
  private readonly opts: SupportSocketOptions;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private readonly now: () => number;
  private ws: WebSocketLike | null = null;
  private stateValue: ConnectionState = "idle";
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;
  private readonly threads = new Map<string, ThreadEntry>();
  /** Threads whose subscribe awaits its session_sync, oldest first. */
  private pendingSubscribes: string[] = [];
  private outbox: ClientFrame[] = [];
  private readonly stateListeners = new Set<(s: ConnectionState, detail?: string) => void>();
  private readonly frameListeners = new Set<(f: ServerFrame) => void>();
  private closeDetail: string | undefined;
  connected: ConnectedFrame | null = null;
  readonly stats: SocketStats = { duplicatesDropped: 0, gapsResynced: 0, reconnects: 0 };
  /** Delay of the reconnect that is scheduled, for the UI and tests. */
  nextRetryMs: number | null = null;

  constructor(opts: SupportSocketOptions) {
    this.opts = opts;
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? (() => Date.now());
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get detail(): string | undefined {
    return this.closeDetail;
  }

  // ---- lifecycle ---------------------------------------------------------

  connect(): void {
    if (this.ws || this.stateValue === "unauthorized") return;
    this.clearReconnect();
    this.setState(this.attempt === 0 && this.stateValue !== "reconnecting" ? "connecting" : "reconnecting");
    const url = buildSocketUrl(this.opts.url, this.opts.token);
    const create: WebSocketFactory = this.opts.createSocket ?? ((u) => new WebSocket(u) as unknown as WebSocketLike);
    let ws: WebSocketLike;
    try {
      ws = create(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.handleRaw(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.handleClose(ev.code, ev.reason);
    };
    ws.onerror = () => {
      /* a close follows */
    };
  }

  /** Close for good (no reconnect). */
  close(): void {
    this.clearReconnect();
    this.stopPing();
    const ws = this.ws;
    this.ws = null;
    this.setState("closed");
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(1000, "client closed");
      } catch {
        /* already closed */
      }
    }
  }

  /** Reconnect now, skipping any backoff wait (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this.stateValue === "open" || this.stateValue === "unauthorized" || this.stateValue === "closed") return;
    if (this.ws) return;
    this.clearReconnect();
    this.connect();
  }

  /** Replace the token (sign-in) and reconnect. */
  setToken(token: string | null): void {
    this.opts.token = token;
    const ws = this.ws;
    this.ws = null;
    this.stopPing();
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(1000, "token changed");
      } catch {
        /* ignore */
      }
    }
    this.stateValue = "idle";
    this.attempt = 0;
    this.connect();
  }

  onState(listener: (s: ConnectionState, detail?: string) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Every frame from the server, after dedup (duplicate events are not passed on). */
  onFrame(listener: (f: ServerFrame) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  // ---- threads -------------------------------------------------------------

  /**
   * Follow a thread. With `afterSeq` (default 0: the whole history) the socket
   * subscribes now; with `afterSeq: null` it only listens (a new thread, which the
   * first `message` subscribes to). Returns a function that stops listening.
   */
  watch(threadId: string, listener: ThreadListener, opts: { afterSeq?: number | null } = {}): () => void {
    const entry = this.entry(threadId);
    entry.listeners.add(listener);
    if (opts.afterSeq !== null) {
      const after = opts.afterSeq ?? entry.lastSeq;
      if (after < entry.lastSeq) entry.lastSeq = after;
      entry.joined = true;
      this.sendSubscribe(threadId, entry.lastSeq);
    }
    return () => {
      entry.listeners.delete(listener);
    };
  }

  /** Stop following a thread and tell the server. */
  forget(threadId: string): void {
    const entry = this.threads.get(threadId);
    if (!entry) return;
    this.threads.delete(threadId);
    if (entry.joined) this.sendNow({ type: "unsubscribe", thread_id: threadId });
  }

  lastSeq(threadId: string): number {
    return this.threads.get(threadId)?.lastSeq ?? 0;
  }

  isReplaying(threadId: string): boolean {
    return this.threads.get(threadId)?.replaying ?? false;
  }

  // ---- client frames -------------------------------------------------------

  sendMessage(threadId: string, content: string, clientMsgId?: string): void {
    this.entry(threadId).joined = true;
    this.send({ type: "message", thread_id: threadId, content, ...(clientMsgId ? { client_msg_id: clientMsgId } : {}) });
  }

  respondInterrupt(
    threadId: string,
    decision: { approved: boolean; interruptId?: string; args?: Record<string, unknown>; reason?: string },
  ): void {
    const frame: ClientFrame = { type: "interrupt_response", thread_id: threadId, approved: decision.approved };
    if (decision.interruptId) frame.interrupt_id = decision.interruptId;
    if (decision.approved && decision.args) frame.args = decision.args;
    if (decision.reason) frame.reason = decision.reason;
    this.send(frame);
  }

  submitForm(threadId: string, formId: string, values: Record<string, unknown>): void {
    this.entry(threadId).joined = true;
    this.send({ type: "form_submit", thread_id: threadId, form_id: formId, values });
  }

  cancelRun(threadId: string): void {
    this.send({ type: "cancel", thread_id: threadId });
  }

  subscribe(threadId: string, afterSeq?: number): void {
    const entry = this.entry(threadId);
    entry.joined = true;
    if (afterSeq != null && afterSeq < entry.lastSeq) entry.lastSeq = afterSeq;
    this.sendSubscribe(threadId, afterSeq ?? entry.lastSeq);
  }

  unsubscribe(threadId: string): void {
    const entry = this.threads.get(threadId);
    if (entry) entry.joined = false;
    this.sendNow({ type: "unsubscribe", thread_id: threadId });
  }

  sendFeedback(threadId: string, messageId: string, rating: "up" | "down", comment?: string): void {
    this.send({ type: "feedback", thread_id: threadId, message_id: messageId, rating, ...(comment ? { comment } : {}) });
  }

  ping(): void {
    this.sendNow({ type: "ping" });
  }

  /** Send now if connected, else queue until the next `connected`. */
  send(frame: ClientFrame): void {
    if (this.isOpen()) this.raw(frame);
    else this.outbox.push(frame);
  }

  // ---- internals -----------------------------------------------------------

  private isOpen(): boolean {
    return this.stateValue === "open" && !!this.ws && this.ws.readyState === OPEN;
  }

  /** Send only if connected: subscribes and pings are rebuilt after a reconnect. */
  private sendNow(frame: ClientFrame): void {
    if (this.isOpen()) this.raw(frame);
  }

  private raw(frame: ClientFrame): void {
    try {
      this.ws?.send(JSON.stringify(frame));
    } catch {
      /* the close handler reconnects */
    }
  }

  private sendSubscribe(threadId: string, afterSeq: number): void {
    if (!this.isOpen()) return; // the `connected` handler subscribes every joined thread
    const entry = this.entry(threadId);
    entry.synced = false;
    this.pendingSubscribes.push(threadId);
    this.raw({ type: "subscribe", thread_id: threadId, after_seq: afterSeq });
  }

  private entry(threadId: string): ThreadEntry {
    let e = this.threads.get(threadId);
    if (!e) {
      e = { lastSeq: 0, joined: false, replaying: false, resyncing: false, synced: false, listeners: new Set() };
      this.threads.set(threadId, e);
    }
    return e;
  }

  private setState(s: ConnectionState, detail?: string): void {
    this.closeDetail = detail;
    if (s === this.stateValue && detail === undefined) return;
    this.stateValue = s;
    for (const l of [...this.stateListeners]) l(s, detail);
  }

  private handleRaw(data: unknown): void {
    this.lastFrameAt = this.now();
    let frame: unknown;
    try {
      frame = typeof data === "string" ? JSON.parse(data) : data;
    } catch {
      return;
    }
    if (!isServerFrame(frame)) return;
    this.handleFrame(frame);
  }

  private emit(frame: ServerFrame): void {
    for (const l of [...this.frameListeners]) l(frame);
  }

  private handleFrame(frame: ServerFrame): void {
    if (isThreadEvent(frame)) {
      this.handleEvent(frame);
      return;
    }
    switch (frame.type) {
      case "connected":
        this.onConnected(frame);
        this.emit(frame);
        return;
      case "replay_start":
      case "replay_end": {
        const tid = frame.thread_id ?? this.pendingSubscribes[0];
        const entry = tid ? this.threads.get(tid) : undefined;
        if (entry) {
          entry.replaying = frame.type === "replay_start";
          for (const l of [...entry.listeners])
            l.onReplay?.(frame.type === "replay_start" ? "start" : "end", frame.type === "replay_start" ? frame.count : undefined);
        }
        this.emit(frame);
        return;
      }
      case "session_sync": {
        let tid: string | undefined = frame.thread_id;
        if (tid) {
          const i = this.pendingSubscribes.indexOf(tid);
          if (i >= 0) this.pendingSubscribes.splice(i, 1);
        } else tid = this.pendingSubscribes.shift();
        const entry = tid ? this.threads.get(tid) : undefined;
        if (entry && tid) {
          entry.replaying = false;
          entry.resyncing = false;
          entry.synced = true;
          if (typeof frame.last_seq === "number" && frame.last_seq > entry.lastSeq) entry.lastSeq = frame.last_seq;
          const sync = { ...frame, thread_id: tid };
          for (const l of [...entry.listeners]) l.onSync?.(sync);
        }
        this.emit(frame);
        return;
      }
      case "error": {
        if (frame.thread_id) {
          const entry = this.threads.get(frame.thread_id);
          if (entry) for (const l of [...entry.listeners]) l.onError?.(frame);
          // a refused subscribe gets no session_sync: stop waiting for it
          const i = this.pendingSubscribes.indexOf(frame.thread_id);
          if (i >= 0 && ["forbidden", "not_found", "session_expired", "invalid_thread_id"].includes(frame.code))
            this.pendingSubscribes.splice(i, 1);
        }
        this.emit(frame);
        return;
      }
      default:
        this.emit(frame);
    }
  }

  private handleEvent(event: ThreadEvent): void {
    const tid = event.thread_id;
    if (!tid) {
      this.emit(event);
      return;
    }
    const entry = this.entry(tid);
    if (typeof event.seq === "number") {
      if (event.seq <= entry.lastSeq) {
        this.stats.duplicatesDropped += 1;
        return;
      }
      if (event.seq > entry.lastSeq + 1 && entry.synced && !entry.replaying) {
        // A live event skipped some: fetch the missing ones instead of applying out of order.
        if (!entry.resyncing) {
          entry.resyncing = true;
          this.stats.gapsResynced += 1;
          this.sendSubscribe(tid, entry.lastSeq);
        }
        return;
      }
      if (entry.resyncing && !entry.replaying) return; // the replay brings it
      entry.lastSeq = event.seq;
    }
    for (const l of [...entry.listeners]) l.onEvent?.(event);
    this.emit(event);
  }

  private onConnected(frame: ConnectedFrame): void {
    const wasReconnect = this.connected !== null;
    this.connected = frame;
    this.attempt = 0;
    this.nextRetryMs = null;
    if (wasReconnect) this.stats.reconnects += 1;
    this.pendingSubscribes = [];
    this.setState("open");
    this.startPing((frame.heartbeat_interval_s || 30) * 1000);
    for (const [tid, entry] of this.threads) {
      entry.replaying = false;
      entry.resyncing = false;
      if (entry.joined) this.sendSubscribe(tid, entry.lastSeq);
    }
    const queued = this.outbox;
    this.outbox = [];
    for (const f of queued) this.raw(f);
  }

  private handleClose(code: number, reason: string): void {
    this.ws = null;
    this.stopPing();
    this.pendingSubscribes = [];
    for (const entry of this.threads.values()) {
      entry.replaying = false;
      entry.resyncing = false;
      entry.synced = false;
    }
    if (code === 4001) {
      this.clearReconnect();
      this.setState("unauthorized", describeClose(code, reason) ?? undefined);
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.clearReconnect();
    const delay = backoffDelay(this.attempt, this.backoff, this.random);
    this.attempt += 1;
    this.nextRetryMs = delay;
    this.setState("reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private startPing(serverIntervalMs: number): void {
    this.stopPing();
    const interval = this.opts.pingIntervalMs ?? serverIntervalMs;
    this.lastFrameAt = this.now();
    this.pingTimer = setInterval(() => {
      if (this.now() - this.lastFrameAt > interval * 2) {
        // Nothing heard for two intervals: the link is dead even if the browser has not noticed.
        const ws = this.ws;
        this.ws = null;
        if (ws) {
          ws.onclose = null;
          ws.onmessage = null;
          try {
            ws.close(4000, "heartbeat timeout");
          } catch {
            /* ignore */
          }
        }
        this.handleClose(1006, "heartbeat timeout");
        return;
      }
      this.ping();
    }, interval);
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
