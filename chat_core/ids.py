"""Identifiers: time-ordered message ids, the one id of a direct chat, random group ids."""

from __future__ import annotations

import hashlib
import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds, 80 random bits, Crockford base32."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def direct_chat_id(user_a: str, user_b: str) -> str:
    """The same id whichever of the two asks first (user ids cannot contain a newline)."""
    low, high = sorted((user_a, user_b))
    digest = hashlib.sha256(f"{low}\n{high}".encode()).hexdigest()
    return "d_" + digest[:32]


def group_chat_id() -> str:
    return "g_" + ulid().lower()
