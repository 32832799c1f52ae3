"""Settings: every knob of the server, read once from the environment.

One typed object, `Settings`, built by `get_settings()`. Every limit the product
enforces has a field here with a sane default; `docs/configuration.md` lists them.
A bad value raises `SettingsError` naming the variable, which the CLI prints as one
line before exiting with code 2.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, computed_field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ModelPrice", "Settings", "SettingsError", "get_settings", "load_settings"]

LLMProvider = Literal["demo", "openai", "anthropic", "ollama", "openai_compatible"]


class SettingsError(Exception):
    """A setting from the environment is missing or malformed."""


class ModelPrice(BaseModel):
    """What one model costs, in USD per 1,000 tokens."""

    input_per_1k: float = Field(ge=0)
    output_per_1k: float = Field(ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # Storage
    database_url: str | None = Field(
        default=None,
        description="Postgres URL. Unset: an embedded Postgres (pgserver) in DATA_DIR/pg.",
    )
    database_direct_url: str | None = Field(
        default=None,
        description="Postgres URL that bypasses a connection pooler, for what is bound to a session (LISTEN, the "
                    "checkpointer's set-up lock). Set it when DATABASE_URL points at PgBouncer, RDS Proxy or "
                    "Supavisor in transaction mode; the pool then sends no prepared statements.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (redis://host:6379/0). Set: live events, cross-replica cancels and tool-cache "
                    "invalidations travel over Redis pub/sub instead of Postgres NOTIFY; Postgres stays the only "
                    "durable store.",
    )
    data_dir: Path = Field(default=Path(".support-agent"), description="Where local state lives.")
    db_pool_min: int = Field(default=2, ge=1, le=100, description="Connections the pool keeps open.")
    db_pool_max: int = Field(default=20, ge=1, le=500, description="Most connections the pool opens.")
    db_connect_timeout_s: float = Field(default=5.0, gt=0, le=120, description="How long start-up waits for Postgres.")
    db_check_idle_s: float = Field(
        default=1.0, ge=0, le=3600,
        description="A pooled connection not borrowed for this long is checked (one round trip) before use; "
                    "0 checks every borrow.")

    # Auth
    auth_secret: str | None = Field(default=None, description="HS256 secret for JWTs; unset = local mode.")
    allow_insecure_remote: bool = Field(
        default=False,
        description="Local mode (no AUTH_SECRET) on a non-loopback address: lets the server start there and "
                    "serve callers from other machines and any Host name, all as the admin. Origin is still checked.",
    )
    auth_leeway_s: float = Field(default=5.0, ge=0, le=600,
                                 description="Clock skew accepted on a token's exp, nbf and iat.")
    auth_issuer: str | None = Field(default=None, description="When set, a token's iss claim must equal it "
                                                              "(and `support-agent token` writes it).")
    auth_audience: str | None = Field(default=None, description="When set, a token's aud claim must contain it "
                                                                "(and `support-agent token` writes it).")
    token_max_ttl_s: int = Field(default=86_400, ge=60, description="Longest lifetime `support-agent token` issues.")

    # Model
    llm_provider: LLMProvider = Field(default="demo", description="demo, openai, anthropic, ollama or openai_compatible.")
    llm_model: str | None = Field(default=None, description="The model name for the provider, e.g. gpt-4o-mini.")
    llm_base_url: str | None = Field(default=None, description="Endpoint for ollama or openai_compatible servers.")
    llm_api_key: str | None = Field(default=None, description="The provider's API key (or its usual variable, e.g. OPENAI_API_KEY).")
    demo_token_delay_ms: int = Field(default=20, ge=0, le=10_000, description="Pause between the demo model's tokens.")
    demo_reply_tokens: int = Field(default=100, ge=1, le=100_000,
                                   description='Length of a demo "benchmark reply" that names no token count.')

    # Runs, sessions, interrupts
    session_ttl_s: int = Field(default=1800, ge=1, description="A thread idle this long is expired (a pending approval keeps it alive).")
    interrupt_ttl_s: int = Field(default=1800, ge=1, description="How long an approval waits before it expires as rejected.")
    interrupt_warning_s: int = Field(default=60, ge=0, description="Warn this long before expiry.")
    handoff_wait_notice_s: int = Field(default=300, ge=0, description="A thread waiting this long for a person with nobody claiming it: the customer is told the team is busy and their message is kept (0: never).")
    sweeper_interval_s: float = Field(default=1.0, gt=0, le=3600, description="How often expiry, warnings and run recovery are checked.")
    run_lease_s: float = Field(default=15.0, gt=0, description="A run whose owner stops renewing is orphaned after this.")
    run_timeout_s: float = Field(default=300.0, gt=0, description="A run longer than this stops with run_error.")
    shutdown_grace_s: float = Field(default=10.0, ge=0, description="On SIGTERM, how long active runs may take to finish.")

    # Rate limits and sizes
    rate_limit_messages: int = Field(default=10, ge=1, description="Messages one user may send per window.")
    rate_limit_window_s: float = Field(default=10.0, gt=0, description="The rate limit's sliding window.")
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024,
        description="Largest REST request body (413 past it); spec imports use OPENAPI_MAX_BYTES instead.")
    max_sockets_per_user: int = Field(
        default=20, ge=1, description="Open WebSockets one user may hold on one server process; one more is "
                                      "closed with 4029.")
    max_subscriptions_per_socket: int = Field(
        default=200, ge=1, description="Threads one socket may follow at once; one more gets error "
                                       "too_many_subscriptions.")
    max_active_runs_per_user: int = Field(
        default=3, ge=1, le=10_000,
        description="Runs one customer may have going at once over all their threads; one more is refused "
                    "with too_many_runs (staff are not capped).")
    max_frame_bytes: int = Field(default=32 * 1024, ge=256, description="Largest WebSocket frame accepted.")
    max_content_chars: int = Field(default=10_000, ge=1, description="Longest message content accepted.")
    heartbeat_interval_s: float = Field(default=30.0, gt=0, description="WebSocket ping interval; a peer silent for two is dropped.")
    socket_queue_max: int = Field(default=10_000, ge=10, description="Frames queued for one slow socket before it is dropped.")
    replay_page_size: int = Field(
        default=500, ge=1, le=100_000,
        description="Events read from the log at a time when a subscribe, GET /api/replay/{id} or a gap fill "
                    "replays a thread; a replay of any length holds at most this many in memory.")
    replay_concurrency: int = Field(
        default=8, ge=1, le=1000,
        description="Event-log pages one server process reads at once for replays and fills; more wait their turn.")
    token_merge_max_chars: int = Field(
        default=2000, ge=0, le=100_000,
        description="Token deltas produced while the previous batch is being written go out as one event of at most "
                    "this many characters; 0 sends every delta as its own event.")
    event_batch_interval_ms: int = Field(
        default=40, ge=0, le=1000,
        description="A batch of run events is written at most this often, unless a run waits for it (its first "
                    "words, its end); the deltas streamed meanwhile go out as one token event. 0 writes each "
                    "batch as soon as the previous one is done.")

    # Tools
    tool_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one tool HTTP call.")
    tool_max_retries: int = Field(default=2, ge=0, le=10, description="Retries (with backoff) of idempotent tool calls.")
    tool_max_response_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest tool response read.")
    shop_api_url: str | None = Field(default=None, description="Base URL of the demo shop; default: this server's /demo-shop.")
    shop_api_token: str | None = Field(
        default=None,
        description="Bearer token the configured tools send to the shop API; sent only to SHOP_API_URL (or the demo "
                    "shop), never to an imported spec's API.")
    tool_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Host names or IPs tool calls may reach although they resolve to loopback, private or link-local "
                    "addresses (JSON list), e.g. an internal API host. The shop base URL is trusted without this.",
    )
    tool_allow_private: bool = Field(
        default=False,
        description="Let tool calls reach every private, loopback and link-local address (off: refused, against "
                    "SSRF through an imported spec).",
    )

    # OpenAPI import (app/integrations/openapi/)
    openapi_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest spec accepted, uploaded or fetched.")
    openapi_fetch_timeout_s: float = Field(default=15.0, gt=0, le=300, description="Whole fetch of a spec URL, redirects included.")
    openapi_fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    openapi_fetch_allow_private: bool = Field(
        default=False,
        description="Let spec URLs reach private, loopback and link-local addresses (off: refused, against SSRF).",
    )
    openapi_fetch_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Host names or IPs trusted to resolve to private addresses (JSON list), e.g. an internal API host.",
    )
    openapi_max_nodes: int = Field(
        default=1_000_000, ge=1000, description="Nodes a spec may hold, YAML aliases expanded; stops alias bombs."
    )
    openapi_max_parsed_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024,
        description="Size a YAML spec may expand to (characters of text, each alias counted every time it repeats); "
                    "stops alias bombs of long strings.",
    )
    openapi_llm_classify: bool = Field(default=False, description="Ask the LLM to review risk too (it may only raise it).")
    openapi_agent_map: dict[str, str] = Field(
        default_factory=dict,
        description='Agent for imported operations by "tag:NAME" or "path:/prefix" (JSON object); default: tag or first path segment.',
    )

    # Knowledge base (app/knowledge, docs/knowledge.md)
    kb_default_language: str = Field(
        default="en", pattern=r"^[a-z]{2}$",
        description="Language of an imported article that names none (front matter `language`, <html lang>).")
    kb_max_document_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest file or page one article may come from.")
    kb_import_max_articles: int = Field(default=10_000, ge=1, description="Most documents one import (folder, sitemap) reads.")
    kb_chunk_max_chars: int = Field(default=1500, ge=200, le=20_000, description="Longest chunk; a longer section is split at paragraphs.")
    kb_search_limit: int = Field(default=3, ge=1, le=20, description="Chunks a knowledge-base search hands the model.")
    kb_min_score: float = Field(
        default=0.3, ge=0, le=1,
        description="A chunk answers a question when at least this share of the question's words (stemmed, stop "
                    "words dropped) is in it; below it for every chunk, the question is a content gap.")
    kb_answer_relative_score: float = Field(
        default=0.6, ge=0, le=1,
        description="The faq agent gets (and cites) only the passages scoring at least this share of the best "
                    "one's coverage (or similarity): a much weaker passage is noise.")
    kb_min_similarity: float = Field(
        default=0.75, ge=-1, le=1,
        description="With embeddings: a chunk whose cosine similarity to the question reaches this answers it too.")
    embeddings_provider: str | None = Field(
        default=None,
        description="Embedding provider for vector search (needs pgvector), as LangChain's init_embeddings names it "
                    "(openai, ollama, ...), or `hashing` (offline, word-hashing; for tests). Unset: full text only.")
    embeddings_model: str | None = Field(default=None, description="The embedding model, e.g. text-embedding-3-small.")
    embeddings_batch_size: int = Field(default=64, ge=1, le=2048, description="Chunks embedded per provider call.")

    # Analytics and retention
    retention_days: int | None = Field(
        default=None, ge=1,
        description="Delete conversations idle this long (events, records, checkpoints); unset keeps everything.",
    )
    retention_interval_s: float = Field(default=3600.0, gt=0, description="How often the retention pass runs.")
    retention_batch_size: int = Field(
        default=500, ge=1, le=100_000, description="Rows (threads or events) one retention statement deletes.",
    )
    model_prices: dict[str, ModelPrice] = Field(
        default={"demo": {"input_per_1k": 0.0005, "output_per_1k": 0.0015}},
        validate_default=True,
        description='USD per 1,000 tokens by model, as JSON: {"gpt-4o-mini": {"input_per_1k": 0.00015, '
        '"output_per_1k": 0.0006}}. A run\'s model is looked up by full name, last part, provider, '
        'then "default"; unpriced models cost 0. The demo model\'s price is nominal.',
    )

    # Server
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="Log verbosity.")
    log_format: Literal["auto", "json", "console"] = Field(default="auto", description="json, console, or auto (console on a terminal).")
    workers: int = Field(
        default=1, ge=1,
        description="Server processes sharing the port (`serve --workers N` overrides it), to use several cores of one machine.",
    )
    demo_mode: bool = Field(default=True, description="Mount the demo shop API.")
    demo_shop_public: bool = Field(
        default=False, description="Serve /demo-shop to callers that are not on this machine (off: 404 for them).")
    metrics_public: bool = Field(
        default=False, description="Serve /metrics to callers that are not on this machine (off: 404 for them).")
    cors_allow_origins: list[str] = Field(
        default=[],
        description='Origins whose pages may call the REST API (the embeddable widget), as a JSON list such as '
                    '["https://shop.example"]; empty: only this server\'s own pages. In local mode these are also '
                    'the only other origins let in at all.')
    lg_api_prefix: str = Field(
        default="/lg", pattern=r"^(/[A-Za-z0-9_-]+)+$",
        description="Path prefix of the LangGraph Agent Server API (for `get_client`, `useStream`, agent-chat-ui).")
    lg_heartbeat_s: float = Field(
        default=10.0, gt=0, le=300,
        description="An Agent Server API stream with nothing to send sends an SSE heartbeat comment this often.")
    lg_metadata_max_bytes: int = Field(
        default=16_384, ge=2,
        description="Largest `metadata` (as JSON) the Agent Server API stores with a thread or a run.")
    lg_wait_timeout_s: float = Field(
        default=300.0, gt=0,
        description="How long `runs/wait`, `join` and `multitask_strategy=interrupt` wait for a run to end.")
    frontend_dir: Path | None = Field(default=None, description="Built frontend to serve; default: the packaged one.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @field_validator("database_url", "database_direct_url")
    @classmethod
    def _postgres_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (for example postgresql://user:pass@host:5432/db)")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis:// or rediss:// (for example redis://redis:6379/0)")
        return v

    @field_validator("auth_secret")
    @classmethod
    def _secret_length(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if len(v) < 16:
            raise ValueError("must be at least 16 characters; generate one with `openssl rand -hex 32`")
        return v

    @computed_field  # type: ignore[prop-decorator]
    @property
    def auth_enabled(self) -> bool:
        return self.auth_secret is not None


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "?"
        raise SettingsError(f"invalid setting {name}: {err['msg']}") from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
