"""A recording python-socketio AsyncClient for protocol tests."""

# ruff: noqa: ASYNC109  (timeouts are the point of these helpers)

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import engineio.payload
import socketio

# python-engineio's client refuses a polling response of more than 16 packets ("Unexpected packet
# from server, aborting"); the server batches whatever is queued, so a burst would cut the client
# off. The stock JavaScript client has no such limit.
engineio.payload.Payload.max_decode_packets = 100_000

_counter = itertools.count(1)

DEFAULT_TIMEOUT = 5.0


def unique(prefix: str) -> str:
    """A user id (or other name) no other test uses."""
    return f"{prefix}{next(_counter)}x{int(time.time() * 1000) % 10_000_000}"


class Recorder:
    """Wraps one AsyncClient and records every server event it receives, in order."""

    def __init__(
        self,
        url: str,
        token: str | None,
        transports: list[str] | None = None,
        *,
        reconnection: bool = False,
        headers: dict[str, str] | None = None,
        name: str = "",
    ) -> None:
        self.url = url
        self.token = token
        self.transports = transports or ["websocket"]
        self.headers = headers or {}
        self.name = name
        self.sio = socketio.AsyncClient(
            reconnection=reconnection,
            reconnection_delay=0.1,
            reconnection_delay_max=0.5,
            randomization_factor=0.1,
            logger=False,
            engineio_logger=False,
        )
        self.events: list[tuple[str, Any]] = []
        self.disconnect_reasons: list[str] = []
        self.connect_errors: list[Any] = []
        self.connects = 0
        self._changed = asyncio.Event()

        @self.sio.on("*")  # type: ignore[untyped-decorator]
        async def _any(event: str, *args: Any) -> None:
            self._record(event, args[0] if len(args) == 1 else list(args) if args else None)

        @self.sio.event  # type: ignore[untyped-decorator]
        async def connect() -> None:
            self.connects += 1
            self._record("__connect", None)

        @self.sio.event  # type: ignore[untyped-decorator]
        async def connect_error(data: Any) -> None:
            self.connect_errors.append(data)
            self._record("__connect_error", data)

        @self.sio.event  # type: ignore[untyped-decorator]
        async def disconnect(reason: str = "") -> None:
            self.disconnect_reasons.append(reason)
            self._record("__disconnect", reason)

    def _record(self, event: str, data: Any) -> None:
        self.events.append((event, data))
        self._changed.set()

    # --- connection ---------------------------------------------------------------------------
    async def connect(self, *, wait_connected: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Recorder:
        auth = {"token": self.token} if self.token is not None else None
        await self.sio.connect(
            self.url,
            auth=auth,
            transports=self.transports,
            headers=self.headers,
            wait_timeout=timeout,
        )
        if wait_connected:
            await self.wait_for("connected", timeout=timeout)
        return self

    async def disconnect(self) -> None:
        """Disconnect like sio.disconnect(), without waiting for a pending long-poll GET (which
        the server holds for up to a ping interval)."""
        if self.sio.connected:
            for namespace in list(self.sio.namespaces):
                await self.sio._send_packet(
                    self.sio.packet_class(socketio.packet.DISCONNECT, namespace=namespace)
                )
            await self.sio.eio.disconnect(abort=True)
        else:
            await self.sio.shutdown()  # stops reconnection attempts
        await asyncio.sleep(0)

    @property
    def sid(self) -> str | None:
        return self.sio.get_sid()

    # --- requests -----------------------------------------------------------------------------
    async def call(self, event: str, data: Any = None, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Emit with an ack callback; returns the ack."""
        if data is None:
            return await self.sio.call(event, timeout=timeout)
        return await self.sio.call(event, data, timeout=timeout)

    async def ok(self, event: str, data: Any = None, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        ack = await self.call(event, data, timeout)
        assert isinstance(ack, dict) and ack.get("ok") is True, f"{event} {data!r} -> {ack!r}"
        return ack

    async def emit(self, event: str, data: Any = None) -> None:
        """Emit with no ack callback."""
        await self.sio.emit(event, data)

    # --- events -------------------------------------------------------------------------------
    def of(self, event: str, where: Callable[[Any], bool] | None = None) -> list[Any]:
        return [d for e, d in self.events if e == event and (where is None or where(d))]

    def clear(self) -> None:
        self.events.clear()

    async def wait_for(
        self,
        event: str,
        where: Callable[[Any], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """The `count`-th matching event (the first by default), waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.of(event, where)
            if len(found) >= count:
                return found[count - 1]
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [e for e, _ in self.events]
                raise AssertionError(
                    f"{self.name or 'client'}: no {count}x {event!r} within {timeout}s "
                    f"(got {len(found)}; events seen: {seen[-30:]})"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.25))

    async def wait_count(
        self,
        event: str,
        count: int,
        where: Callable[[Any], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[Any]:
        await self.wait_for(event, where, count=count, timeout=timeout)
        return self.of(event, where)

    # --- "nothing arrived" without a sleep --------------------------------------------------------
    async def barrier(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """One round trip on this socket: a `ping` and its ack, then its `pong` (so nothing of the
        barrier arrives later). The server writes to one connection in order and this client
        records in order, so when this returns every event the server wrote to this socket before
        it answered is in `events`.

        Enough for "nothing came back to my own request" (the request was answered first) and for
        events the server emits while handling an earlier, answered request on one node. For an
        event that would come through another path (another node, a timer, a flush), use
        `none_before` with a later event this socket is entitled to, sent through that path."""
        token = -next(_counter)  # the ping payload echoed back: no other ping sends a negative t
        ack = await self.call("ping", {"t": token}, timeout)
        assert isinstance(ack, dict) and ack.get("ok") is True and ack.get("t") == token, f"barrier ping -> {ack!r}"
        await self.wait_for("pong", lambda d: isinstance(d, dict) and d.get("t") == token, timeout=timeout)

    async def assert_none(self, event: str, where: Callable[[Any], bool] | None = None) -> None:
        """No matching event arrived before a round trip on this socket (see `barrier`)."""
        await self.barrier()
        found = self.of(event, where)
        assert not found, f"{self.name or 'client'}: unexpected {event!r}: {found!r}"

    async def none_before(
        self,
        event: str,
        marker: str,
        marker_where: Callable[[Any], bool] | None = None,
        *,
        where: Callable[[Any], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """Waits for the first `marker` event matching `marker_where` and asserts that no `event`
        matching `where` was recorded before it; returns the marker's data.

        The marker is something this socket is entitled to that the server sends after the action
        under test, through the same path an unwanted event would take: anything that action made
        the server send here arrives before it."""
        await self.wait_for(marker, marker_where, timeout=timeout)
        at = next(i for i, (e, d) in enumerate(self.events) if e == marker and (not marker_where or marker_where(d)))
        found = [d for e, d in self.events[:at] if e == event and (where is None or where(d))]
        assert not found, f"{self.name or 'client'}: unexpected {event!r} before {marker!r}: {found!r}"
        return self.events[at][1]


async def connect_all(*clients: Recorder) -> None:
    await asyncio.gather(*(c.connect() for c in clients))


async def disconnect_all(*clients: Recorder) -> None:
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
