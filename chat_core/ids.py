"""Identifiers: time-ordered message ids, the one id of a direct chat, random group ids."""

from __future__ import annotations

import hashlib
import random
import time

# ids are unique, not secret (access is by membership): a fast PRNG seeded from the OS will do
_random_bits = random.Random().getrandbits

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> two characters


def ulid(now_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds, 80 random bits, Crockford base32."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = (ms << 80) | _random_bits(80)
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in range(120, -1, -10)])[-26:]


def direct_chat_id(user_a: str, user_b: str) -> str:
    """The same id whichever of the two asks first (user ids cannot contain a newline)."""
    low, high = sorted((user_a, user_b))
    digest = hashlib.sha256(f"{low}\n{high}".encode()).hexdigest()
    return "d_" + digest[:32]


def group_chat_id() -> str:
    return "g_" + ulid().lower()
