/** Type guards over untrusted frames: narrow before anything renders them. */
import { EVENT_TYPES, REPLY_TYPES, RUN_END_TYPES as RUN_END_TYPE_LIST } from "./protocol";
import type {
  InterruptEvent,
  ServerFrame,
  SocketReply,
  ThreadEvent,
  ThreadEventType,
} from "./protocol";

const EVENT_TYPE_SET: ReadonlySet<string> = new Set<ThreadEventType>(EVENT_TYPES);
const REPLY_TYPE_SET: ReadonlySet<string> = new Set<SocketReply["type"]>(REPLY_TYPES);

/** Run-ending events: exactly one per run. */
export const RUN_END_TYPES: ReadonlySet<string> = new Set(RUN_END_TYPE_LIST);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isThreadEvent(value: unknown): value is ThreadEvent {
  return isObject(value) && typeof value.type === "string" && EVENT_TYPE_SET.has(value.type);
}

export function isSocketReply(value: unknown): value is SocketReply {
  return isObject(value) && typeof value.type === "string" && REPLY_TYPE_SET.has(value.type);
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
