"""Per-user token buckets. `RateLimiter` counts in this process (a user's connections on this
node); `limits_redis.RedisRateLimiter` counts in Redis/Valkey, shared by every node and Lambda.
Both refuse with RateLimited carrying how long until a token is available."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .errors import RateLimited


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: float


class Limiter(Protocol):
    async def take(self, user_id: str, kind: str) -> None:
        """Spend one token of the user's `kind` bucket, or raise RateLimited (spending nothing).
        Kinds without a rate are not limited."""
        ...

    def prune(self) -> int:
        """Forget idle state held in this process; the number of entries dropped."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def refused(kind: str, tokens: float, rate: Rate) -> RateLimited:
    """The error for a bucket holding `tokens` (< 1): when the next token is there, if ever."""
    if rate.per_second <= 0:
        return RateLimited(f"too many {kind} requests")
    wait_s = (1.0 - tokens) / rate.per_second
    return RateLimited(f"too many {kind} requests; retry in {wait_s:.1f} s", retry_after_s=wait_s)


class RateLimiter:
    def __init__(self, rates: Mapping[str, Rate], clock: Callable[[], float] = time.monotonic) -> None:
        self._rates = dict(rates)
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    async def take(self, user_id: str, kind: str) -> None:
        """Spend one token of the user's `kind` bucket, or raise RateLimited (spending nothing)."""
        rate = self._rates.get(kind)
        if rate is None:
            return
        now = self._clock()
        key = (user_id, kind)
        tokens, updated = self._buckets.get(key, (rate.burst, now))
        tokens = min(rate.burst, tokens + (now - updated) * rate.per_second)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise refused(kind, tokens, rate)
        self._buckets[key] = (tokens - 1.0, now)

    def prune(self) -> int:
        """Forget buckets that have refilled (idle users): memory stays bounded by active users."""
        now = self._clock()
        full = [
            key
            for key, (tokens, updated) in self._buckets.items()
            if tokens + (now - updated) * self._rates[key[1]].per_second >= self._rates[key[1]].burst
        ]
        for key in full:
            del self._buckets[key]
        return len(full)

    async def aclose(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._buckets)
