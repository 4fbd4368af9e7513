"""Wall-clock time as integer milliseconds, and its wire form."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_last_second = -1
_last_prefix = ""


def iso_ms(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds: 2026-11-26T07:01:47.123Z (the second's text is cached)."""
    global _last_second, _last_prefix
    second, millis = divmod(epoch_ms, 1000)
    if second != _last_second:
        _last_prefix = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _last_second = second
    return f"{_last_prefix}{millis:03d}Z"
