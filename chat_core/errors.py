"""One error hierarchy for the whole core; each transport maps `code` in one place."""

from __future__ import annotations

from typing import ClassVar, Literal

ErrorCode = Literal[
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "INVALID",
    "BLOCKED",
    "TOO_LARGE",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "INTERNAL",
]


class ChatError(Exception):
    """A failure the client is told about, with a protocol error code."""

    code: ClassVar[ErrorCode] = "INTERNAL"
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class Unauthorized(ChatError):
    code = "UNAUTHORIZED"
    default_message = "authentication required"


class Forbidden(ChatError):
    code = "FORBIDDEN"
    default_message = "forbidden"


class NotFound(ChatError):
    code = "NOT_FOUND"
    default_message = "not found"


class Invalid(ChatError):
    code = "INVALID"
    default_message = "invalid request"


class Blocked(ChatError):
    """A send or a new direct chat between two users one of whom blocks the other."""

    code = "BLOCKED"
    default_message = "one of you blocks the other"


class Conflict(Exception):
    """Store.update_chat: the chat changed since the caller read it (not a wire error: the
    caller reads again and decides again)."""


class TooLarge(ChatError):
    code = "TOO_LARGE"
    default_message = "request too large"


class RateLimited(ChatError):
    code = "RATE_LIMITED"
    default_message = "too many requests"

    def __init__(self, message: str | None = None, *, retry_after_s: float | None = None) -> None:
        """`retry_after_s`: seconds until the request would be accepted, when known (HTTP
        answers it as `Retry-After`)."""
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(ChatError):
    code = "UNAVAILABLE"
    default_message = "service temporarily unavailable, retry"


class Internal(ChatError):
    code = "INTERNAL"
    default_message = "internal error"


HTTP_STATUS: dict[ErrorCode, int] = {
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "INVALID": 400,
    "BLOCKED": 403,
    "TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}
