"""Timers grouped by duration, as Node keeps its timer lists.

Every connection has a heartbeat deadline and, until it joins a namespace, a connect deadline;
all deadlines of one kind lie the same delay after they were set, so they are set in deadline
order. One list per delay, one event-loop timer for its earliest entry: setting a deadline is an
append, instead of an event-loop timer (and, on uvloop, a libuv handle) per connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class Deadline:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerList:
    __slots__ = ("_entries", "_handle", "_loop", "delay_s")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay_s: float) -> None:
        self._loop = loop
        self.delay_s = delay_s
        self._entries: deque[Deadline] = deque()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, callback: Callable[[], None]) -> Deadline:
        """callback runs once delay_s from now, unless the returned deadline is cancelled first.
        A cancelled entry stays in the list until its time comes (at most delay_s)."""
        entry = Deadline(self._loop.time() + self.delay_s, callback)
        self._entries.append(entry)
        if self._handle is None:
            self._handle = self._loop.call_at(entry.when, self._fire)
        return entry

    def __len__(self) -> int:
        return len(self._entries)

    def _fire(self) -> None:
        self._handle = None
        entries = self._entries
        now = self._loop.time()
        while entries and entries[0].when <= now:
            entry = entries.popleft()
            if not entry.cancelled:
                entry.callback()
        while entries and entries[0].cancelled:
            entries.popleft()
        if entries and self._handle is None:
            self._handle = self._loop.call_at(entries[0].when, self._fire)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._entries.clear()
