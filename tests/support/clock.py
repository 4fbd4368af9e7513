"""A clock the test moves: `now` in epoch milliseconds, what the code under test reads."""

from __future__ import annotations


class Clock:
    def __init__(self, start_ms: int = 1_790_000_000_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms
