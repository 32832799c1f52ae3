"""Structured logs with structlog: JSON in production, readable in a terminal.

`configure_logging()` is called once by the CLI. Request and run lines carry
thread_id, run_id and timings; `correlation_id()` names an `internal` error so the
message sent to a client can point at its log line. Tokens never reach a log line:
`install_log_redaction()` (called by the app factory, whoever launches uvicorn)
filters uvicorn's access and error loggers, and a structlog processor does the same
for ours, replacing the value of `token=` / `access_token=` in any URL.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any

import structlog

__all__ = ["configure_logging", "correlation_id", "get_logger", "install_log_redaction", "redact"]

_SECRET_PARAM = re.compile(r"((?:^|[?&;])(?:access_)?token=)[^&\s\"';]*", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the value of every token query parameter replaced."""
    return _SECRET_PARAM.sub(r"\1[redacted]", text) if "token=" in text.lower() else text


class RedactTokens(logging.Filter):
    """Rewrites a record's message and string arguments (uvicorn logs the path with its query as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


_FILTER = RedactTokens()


def install_log_redaction() -> None:
    """Filter uvicorn's loggers (access lines, and the "WebSocket /ws?token=..." lines of uvicorn.error)."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _redact_event(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]


def correlation_id() -> str:
    return uuid.uuid4().hex[:12]
