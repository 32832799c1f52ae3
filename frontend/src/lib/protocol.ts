/**
 * The wire contract as TypeScript: a thin layer over the generated types.
 *
 * `src/client/schema.ts` and `src/client/wire.ts` are generated (`npm run generate:types`)
 * from the server's OpenAPI document (`python -m app.schema_dump`), which carries the
 * `graphs.events` Event union and the socket's frames. Only narrowing happens here: the
 * server leaves unset fields out of every event (it never sends `null` in one), and a
 * few strings are known to be one of a set.
 */
import type { components } from "../client/schema";

export { CLIENT_TYPES, EVENT_TYPES, REPLY_TYPES, RUN_END_TYPES, THREAD_ID_PATTERN } from "../client/wire";

type Schemas = components["schemas"];

/** An event as it is on the wire: unset fields are absent, never null. */
type Wire<T> = { [K in keyof T]: Exclude<T[K], null> };

export type Risk = Schemas["InterruptEvent"]["risk"];
export type Approver = Schemas["InterruptEvent"]["approver"];
export type Role = Schemas["Connected"]["role"];
export type ThreadStatus = "idle" | "running" | "interrupted" | "handoff";

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

// ---- events ----------------------------------------------------------------

export type RunStart = Wire<Schemas["RunStart"]>;
export type IntentEvent = Wire<Schemas["IntentEvent"]>;
export type TokenEvent = Wire<Schemas["Token"]>;
export type ToolCallEvent = Wire<Schemas["ToolCall"]>;
export type ToolResultEvent = Wire<Schemas["ToolResult"]>;
export type InterruptEvent = Omit<Wire<Schemas["InterruptEvent"]>, "args_schema"> & { args_schema?: JsonSchema };
export type InterruptDecided = Wire<Schemas["InterruptDecided"]>;
export type InterruptExpired = Wire<Schemas["InterruptExpired"]>;
export type InterruptWarning = Wire<Schemas["InterruptWarning"]>;
export type HandoffEvent = Wire<Schemas["Handoff"]>;
export type MessageComplete = Wire<Schemas["MessageComplete"]>;
export type RunCancelled = Wire<Schemas["RunCancelled"]>;
export type RunError = Wire<Schemas["RunError"]>;
/** A customer's message while people have the thread (no run). */
export type CustomerMessageEvent = Wire<Schemas["CustomerMessage"]>;
export type AgentJoinedEvent = Wire<Schemas["AgentJoined"]>;
/** A person's reply (not the assistant's). */
export type HumanMessageEvent = Wire<Schemas["HumanMessageEvent"]>;
export type ReleaseOutcome = Schemas["AgentLeft"]["outcome"];
export type AgentLeftEvent = Wire<Schemas["AgentLeft"]>;
/** Nobody claimed a waiting thread in time (added by this server). */
export type HandoffNoticeEvent = Wire<Schemas["HandoffNotice"]>;
/** A source the run's answer draws on (a knowledge-base article), sent after its search's tool_result. */
export type CitationEvent = Wire<Schemas["Citation"]>;
/** The first event of an imported thread: what was imported, by whom. */
export type ThreadImportedEvent = Wire<Schemas["ThreadImported"]>;

/** Every event about a thread: live frames and `GET /api/replay/{id}` alike. */
export type ThreadEvent =
  | RunStart
  | ThreadImportedEvent
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
  | CustomerMessageEvent
  | AgentJoinedEvent
  | HumanMessageEvent
  | AgentLeftEvent
  | HandoffNoticeEvent
  | MessageComplete
  | RunCancelled
  | RunError;

export type ThreadEventType = ThreadEvent["type"];

// ---- socket-only replies -------------------------------------------------

export type ConnectedFrame = Wire<Schemas["Connected"]>;
export type ErrorFrame = Wire<Schemas["ErrorFrame"]>;
export type PongFrame = Wire<Schemas["Pong"]>;
export type ReplayStartFrame = Wire<Schemas["ReplayStart"]>;
export type ReplayEndFrame = Wire<Schemas["ReplayEnd"]>;
/** `pending_interrupt` is sent as null when nothing waits. */
export type SessionSyncFrame = Omit<Schemas["SessionSync"], "status" | "pending_interrupt"> & {
  status: ThreadStatus;
  pending_interrupt: InterruptEvent | null;
};
export type RateLimitWarningFrame = Wire<Schemas["RateLimitWarning"]>;

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
  | Wire<Schemas["MessageFrame"]>
  | Wire<Schemas["InterruptResponseFrame"]>
  | Wire<Schemas["FormSubmitFrame"]>
  | Wire<Schemas["CancelFrame"]>
  | Wire<Schemas["SubscribeFrame"]>
  | Wire<Schemas["UnsubscribeFrame"]>
  | Wire<Schemas["FeedbackFrame"]>
  | Wire<Schemas["ClaimFrame"]>
  | Wire<Schemas["OperatorMessageFrame"]>
  | (Omit<Wire<Schemas["ReleaseFrame"]>, "outcome"> & { outcome: ReleaseOutcome })
  | Wire<Schemas["PingFrame"]>;

// ---- REST answers ----------------------------------------------------------

export type Timeline = Omit<Schemas["Timeline"], "events"> & { events: ThreadEvent[] };
export type Transcript = Schemas["Transcript"];
export type ThreadList = Schemas["ThreadList"];
export type InboxItem = Omit<Schemas["InboxItem"], "args_schema"> & { args_schema?: JsonSchema | null };
export type Inbox = Omit<Schemas["Inbox"], "data"> & { data: InboxItem[] };
export type Conversation = Schemas["Conversation"];
export type Conversations = Schemas["Conversations"];
export type AnalyticsSummary = Schemas["Summary"];
export type Spec = Schemas["Spec"];
export type SpecDetail = Schemas["SpecDetail"];
export type Endpoint = Schemas["Endpoint"];
/** The knowledge base (`/api/knowledge/...`). */
export type KbArticle = Schemas["ArticleOut"];
export type KbArticleList = Schemas["ArticleList"];
export type KbImportSummary = Schemas["ImportResponse"];
export type KbSearchHit = Schemas["SearchHit"];
export type KbSearchResponse = Schemas["SearchResponse"];
