/** Type guards over untrusted frames: narrow before anything renders them. */
import type {
  InterruptEvent,
  ServerFrame,
  SocketReply,
  ThreadEvent,
  ThreadEventType,
} from "./protocol";

const EVENT_TYPES: ReadonlySet<string> = new Set<ThreadEventType>([
  "run_start",
  "intent",
  "token",
  "tool_call",
  "tool_result",
  "interrupt",
  "interrupt_decided",
  "interrupt_expired",
  "interrupt_warning",
  "handoff",
  "citation",
  "message_complete",
  "run_cancelled",
  "run_error",
]);

const REPLY_TYPES: ReadonlySet<string> = new Set<SocketReply["type"]>([
  "connected",
  "error",
  "pong",
  "replay_start",
  "replay_end",
  "session_sync",
  "rate_limit_warning",
]);

/** Run-ending events: exactly one per run. */
export const RUN_END_TYPES: ReadonlySet<string> = new Set([
  "message_complete",
  "interrupt",
  "run_cancelled",
  "run_error",
]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isThreadEvent(value: unknown): value is ThreadEvent {
  return isObject(value) && typeof value.type === "string" && EVENT_TYPES.has(value.type);
}

export function isSocketReply(value: unknown): value is SocketReply {
  return isObject(value) && typeof value.type === "string" && REPLY_TYPES.has(value.type);
}

export function isServerFrame(value: unknown): value is ServerFrame {
  return isThreadEvent(value) || isSocketReply(value);
}

export function isInterruptEvent(value: unknown): value is InterruptEvent {
  return (
    isObject(value) &&
    value.type === "interrupt" &&
    typeof value.interrupt_id === "string" &&
    typeof value.action === "string" &&
    isObject(value.args)
  );
}

export function assertNever(value: never): never {
  throw new Error(`Expected a known event type but got ${JSON.stringify(value)}`);
}
