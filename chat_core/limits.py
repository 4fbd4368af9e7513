"""Per-user token buckets, counted across a user's connections on this node."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import RateLimited


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: float


class RateLimiter:
    def __init__(self, rates: Mapping[str, Rate], clock: Callable[[], float] = time.monotonic) -> None:
        self._rates = dict(rates)
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, user_id: str, kind: str) -> None:
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
            raise RateLimited(f"too many {kind} requests; slow down")
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

    def __len__(self) -> int:
        return len(self._buckets)
