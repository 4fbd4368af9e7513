"""Identifiers: message ids derived from the idempotency key, the one id of a direct chat, random
group and attachment ids, time-ordered ULIDs."""

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


def direct_chat_id(user_a: str, user_b: str, topic: str | None = None) -> str:
    """The same id whichever of the two asks first (user ids and topics cannot contain a
    newline); each topic of the pair its own chat, no topic the pair's v1 chat."""
    low, high = sorted((user_a, user_b))
    key = f"{low}\n{high}" if topic is None else f"{low}\n{high}\n{topic}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return "d_" + digest[:32]


def group_chat_id() -> str:
    return "g_" + ulid().lower()


def message_id(chat_id: str, sender_id: str, client_message_id: str) -> str:
    """The id of the message a sender stores in a chat under clientMessageId: 26 Crockford base32
    characters of a SHA-256 of the three (130 bits: no collision in practice). Derived, so a
    store finds a message by its id and by its idempotency key with one key (no index), and a
    retried send has the same id whichever node stores it. User ids cannot contain a newline;
    a clientMessageId cannot either (printable), so the joined form is unambiguous."""
    digest = hashlib.sha256(f"{chat_id}\n{sender_id}\n{client_message_id}".encode()).digest()
    value = int.from_bytes(digest[:17], "big") >> 6  # 130 bits
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def attachment_id() -> str:
    return "a_" + ulid().lower()
