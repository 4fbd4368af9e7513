"""The signature on every request we send a platform (the offline webhook, the policy check), so
it can tell ours from anyone else's who knows its URL, and a replayed one from a fresh one.

    X-Chat-Timestamp: <unix seconds>
    X-Chat-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

`body` is the request body exactly as sent (UTF-8 JSON bytes). The timestamp is signed with it:
a platform refuses a request whose timestamp is more than a few minutes from its clock (`verify`,
300 s by default), so a captured request cannot be replayed later. The `v1=` prefix leaves room
for another scheme; a platform may receive several comma-separated signatures (one per secret
while a secret is rotated) and accepts the request if any one matches.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Chat-Timestamp"
SIGNATURE_HEADER = "X-Chat-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300.0


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _body(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


def signature(secret: str | bytes, timestamp: int, body: str | bytes) -> str:
    """The hex HMAC-SHA256 of `f"{timestamp}.{body}"` (without the `v1=` prefix)."""
    return hmac.new(_key(secret), str(timestamp).encode() + b"." + _body(body), hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: str | bytes, now: float | None = None) -> dict[str, str]:
    """The two headers to send with `body` at `now` (unix seconds; default: the clock)."""
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={signature(secret, timestamp, body)}",
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (a plain dict is not case-insensitive; httpx's and
    Starlette's header objects are, and iterate the same way)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, found in headers.items():
        if key.lower() == wanted:
            return found
    return None


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: str | bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when `headers` carry a valid v1 signature of `body` with `secret`, made within
    `tolerance_s` of `now` (unix seconds; default: the clock). For platforms receiving our hooks,
    and for our tests. The comparison takes the same time whatever the signatures' contents."""
    raw_timestamp = _header(headers, TIMESTAMP_HEADER)
    raw_signatures = _header(headers, SIGNATURE_HEADER)
    if raw_timestamp is None or raw_signatures is None:
        return False
    try:
        timestamp = int(raw_timestamp.strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = f"{SCHEME}={signature(secret, timestamp, body)}".encode()
    matched = False
    for candidate in raw_signatures.split(","):
        # every candidate is compared, so the time taken does not tell which one matched
        matched |= hmac.compare_digest(candidate.strip().encode(), expected)
    return matched
