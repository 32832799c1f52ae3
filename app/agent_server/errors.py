"""The Agent Server API's own errors: an option we do not support (422, naming it), a thread id taken (409)."""

from __future__ import annotations

from app.core.errors import AppError

__all__ = ["ThreadExists", "Unsupported"]


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
