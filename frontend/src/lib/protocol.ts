/**
 * The wire contract (shared/spec/protocol.md) as TypeScript types.
 *
 * Written by hand from `graphs/events.py` until the server publishes an
 * `openapi.json` that `src/client/` can be generated from. Server→client events
 * carry `thread_id` and `seq`; socket-only replies carry no `seq`.
 */

export type Risk = "low" | "medium" | "high" | "critical";
export type Approver = "customer" | "operator";
export type Role = "customer" | "operator" | "admin";
export type ThreadStatus = "idle" | "running" | "interrupted" | "handoff";

interface EventBase {
  thread_id?: string;
  seq?: number;
  run_id?: string;
  ts?: string;
}

export interface RunStart extends EventBase {
  type: "run_start";
  trigger: "message" | "form_submit" | "resume" | "retry";
  /** Not in the contract yet: the user's text, when the server adds it. */
  content?: string;
}
export interface IntentEvent extends EventBase {
  type: "intent";
  intent: string;
  confidence: number;
  agent: string;
}
export interface TokenEvent extends EventBase {
  type: "token";
  message_id: string;
  agent: string;
  content: string;
}
export interface ToolCallEvent extends EventBase {
  type: "tool_call";
  call_id: string;
  agent: string;
  tool: string;
  args: Record<string, unknown>;
}
export interface ToolResultEvent extends EventBase {
  type: "tool_result";
  call_id: string;
  tool: string;
  ok: boolean;
  content: string;
}
export interface InterruptEvent extends EventBase {
  type: "interrupt";
  interrupt_id: string;
  agent: string;
  action: string;
  args: Record<string, unknown>;
  risk: Risk;
  approver: Approver;
  message: string;
  expires_at: string;
  args_schema?: JsonSchema | null;
}
export interface InterruptDecided extends EventBase {
  type: "interrupt_decided";
  interrupt_id: string;
  approved: boolean;
  decided_by: string;
  args?: Record<string, unknown> | null;
  reason?: string | null;
  outcome?: "approved" | "edited" | "rejected" | "superseded" | null;
}
export interface InterruptExpired extends EventBase {
  type: "interrupt_expired";
  interrupt_id: string;
  action: string;
  message: string;
}
export interface InterruptWarning extends EventBase {
  type: "interrupt_warning";
  interrupt_id: string;
  expires_at: string;
  seconds_left: number;
}
export interface HandoffEvent extends EventBase {
  type: "handoff";
  reason: string;
  queue: string;
}
/** A source the run's answer draws on (a knowledge-base article), sent after its search's tool_result. */
export interface CitationEvent extends EventBase {
  type: "citation";
  call_id: string;
  title: string;
  url?: string | null;
  heading?: string | null;
}
export interface MessageComplete extends EventBase {
  type: "message_complete";
  message_id: string;
  agent: string;
  content: string;
  usage?: { input_tokens: number; output_tokens: number };
}
export interface RunCancelled extends EventBase {
  type: "run_cancelled";
}
export interface RunError extends EventBase {
  type: "run_error";
  code: string;
  message: string;
}

/** Every event about a thread: live frames and `GET /api/replay/{id}` alike. */
export type ThreadEvent =
  | RunStart
  | IntentEvent
  | TokenEvent
  | ToolCallEvent
  | ToolResultEvent
  | InterruptEvent
  | InterruptDecided
  | InterruptExpired
  | InterruptWarning
  | HandoffEvent
  | CitationEvent
  | MessageComplete
  | RunCancelled
  | RunError;

export type ThreadEventType = ThreadEvent["type"];

// ---- socket-only replies -------------------------------------------------

export interface ConnectedFrame {
  type: "connected";
  connection_id: string;
  user_id: string;
  role: Role;
  heartbeat_interval_s: number;
}
export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  thread_id?: string;
  retry_after_s?: number;
  interrupt_id?: string;
}
export interface PongFrame {
  type: "pong";
}
export interface ReplayStartFrame {
  type: "replay_start";
  count: number;
  thread_id?: string;
}
export interface ReplayEndFrame {
  type: "replay_end";
  thread_id?: string;
}
export interface SessionSyncFrame {
  type: "session_sync";
  thread_id?: string;
  status: ThreadStatus;
  last_seq: number;
  message_count?: number;
  pending_interrupt?: InterruptEvent | null;
}
export interface RateLimitWarningFrame {
  type: "rate_limit_warning";
  usage_percent: number;
  remaining: number;
}

export type SocketReply =
  | ConnectedFrame
  | ErrorFrame
  | PongFrame
  | ReplayStartFrame
  | ReplayEndFrame
  | SessionSyncFrame
  | RateLimitWarningFrame;

export type ServerFrame = ThreadEvent | SocketReply;

// ---- client → server -----------------------------------------------------

export type ClientFrame =
  | { type: "message"; thread_id: string; content: string; client_msg_id?: string }
  | {
      type: "interrupt_response";
      thread_id: string;
      approved: boolean;
      interrupt_id?: string;
      args?: Record<string, unknown>;
      reason?: string;
    }
  | { type: "form_submit"; thread_id: string; form_id: string; values: Record<string, unknown> }
  | { type: "cancel"; thread_id: string }
  | { type: "subscribe"; thread_id: string; after_seq?: number }
  | { type: "unsubscribe"; thread_id: string }
  | { type: "feedback"; thread_id: string; message_id: string; rating: "up" | "down"; comment?: string }
  | { type: "ping" };

// ---- JSON schema (the subset the args editor understands) ----------------

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  readOnly?: boolean;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  format?: string;
  [key: string]: unknown;
}

export const THREAD_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
