"""The Agent Server API's own errors: an option we do not support (422, naming it), a thread id
taken (409), a wait that outlasted LG_WAIT_TIMEOUT_S (504: the run goes on)."""

from __future__ import annotations

from app.core.errors import AppError

__all__ = ["RunStillGoing", "ThreadExists", "Unsupported"]


class Unsupported(AppError):
    """A request field (or value of one) this server does not support: refused, never dropped."""

    code = "unsupported"
    http_status = 422

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field


class ThreadExists(AppError):
    code = "thread_exists"
    http_status = 409


class RunStillGoing(AppError):
    code = "run_still_going"
    http_status = 504
