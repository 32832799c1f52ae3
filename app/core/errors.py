"""The server's error tree. Each class carries the protocol `code` it maps to.

    AppError                     code
    ├── FrameError               invalid_json, frame_too_large, unknown_type,
    │                            missing_field, invalid_thread_id, content_too_long
    ├── RunActive                run_active
    ├── NoPendingInterrupt       no_pending_interrupt
    ├── NoActiveRun              no_active_run      (cancel with nothing running)
    ├── InterruptExpired         (answered with an interrupt_expired event)
    ├── Forbidden                forbidden          (REST 403)
    ├── NotFound                 (REST 404)
    ├── BadRequest               (REST 400)
    ├── SessionExpired           session_expired
    ├── RateLimited              rate_limited       (carries retry_after_s)
    ├── TooManyRuns              too_many_runs      (MAX_ACTIVE_RUNS_PER_USER reached; REST 429)
    ├── Unauthorized             (close 4001, REST 401)
    └── DatabaseUnavailable      (start-up: exit 2; health: 503)

Messages say what was tried, why it failed and what to do.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppError",
    "BadRequest",
    "DatabaseUnavailable",
    "Forbidden",
    "FrameError",
    "InterruptExpired",
    "NoActiveRun",
    "NoPendingInterrupt",
    "NotFound",
    "RateLimited",
    "RunActive",
    "SessionExpired",
    "TooManyRuns",
    "Unauthorized",
]


class AppError(Exception):
    code: str = "internal"
    http_status: int = 500

    def __init__(self, message: str, *, thread_id: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.thread_id = thread_id
        self.extra = extra


class FrameError(AppError):
    http_status = 400

    def __init__(self, code: str, message: str, *, thread_id: str | None = None) -> None:
        super().__init__(message, thread_id=thread_id)
        self.code = code


class RunActive(AppError):
    code = "run_active"
    http_status = 409


class NoPendingInterrupt(AppError):
    code = "no_pending_interrupt"
    http_status = 409


class NoActiveRun(AppError):
    code = "no_active_run"
    http_status = 409


class InterruptExpired(AppError):
    code = "interrupt_expired"
    http_status = 410


class Forbidden(AppError):
    code = "forbidden"
    http_status = 403


class NotFound(AppError):
    code = "not_found"
    http_status = 404


class BadRequest(AppError):
    code = "bad_request"
    http_status = 400


class SessionExpired(AppError):
    code = "session_expired"
    http_status = 410


class RateLimited(AppError):
    code = "rate_limited"
    http_status = 429


class TooManyRuns(AppError):
    code = "too_many_runs"
    http_status = 429


class Unauthorized(AppError):
    code = "unauthorized"
    http_status = 401


class DatabaseUnavailable(AppError):
    code = "database_unavailable"
    http_status = 503
