"""Broadcasts between nodes over one Redis/Valkey pub/sub channel (JSON, never pickle).

`RedisAdapter` is a server's adapter: `Server.emit` delivers to its own sockets, then hands the
already-encoded frames here; one writer task publishes them in call order (pipelined), and one
listener task delivers what other nodes published to this node's sockets. `Server.server_emit`
events (for the other nodes' servers, not their sockets) travel in the same ordered stream. `RedisPublisher` is the
write-only side for processes that hold no sockets (Lambda, a CLI).

Pub/sub keeps nothing for a subscriber that was away. So when this node's subscription comes back
after a loss, its sockets get `resync` (clients then fetch what they missed); and when publishes
had to be dropped (Redis unreachable), the first publish that goes through afterwards is followed
by a cluster-wide `resync`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis

from . import sio_packets as sio
from .eio_packets import Binary, Frame
from .rooms import as_rooms

if TYPE_CHECKING:
    from .server import Server

log = logging.getLogger("chat.engine.pubsub")

DEFAULT_CHANNEL = "chat-engine#v1"
MAX_RETRY_SLEEP_S = 5.0
PUBLISH_ATTEMPTS = 2
RESYNC_EVENT = "resync"


def encode_broadcast(
    node_id: str, namespace: str, frames: list[Frame], rooms: list[str] | None, skip: Collection[str]
) -> bytes:
    wire = ["b" + base64.b64encode(f).decode() if type(f) is Binary else "t" + f.decode() for f in frames]
    return orjson.dumps({"node": node_id, "nsp": namespace, "rooms": rooms, "skip": list(skip), "frames": wire})


def encode_server_event(node_id: str, event: str, data: Any) -> bytes:
    return orjson.dumps({"node": node_id, "server": event, "data": data})


def decode_frames(wire: list[str]) -> list[Frame]:
    return [Binary(base64.b64decode(w[1:])) if w[0] == "b" else w[1:].encode() for w in wire]


class RedisPublisher:
    """Publishes broadcasts for the nodes to deliver; holds no sockets, subscribes to nothing."""

    def __init__(self, url: str, *, channel: str = DEFAULT_CHANNEL, node_id: str | None = None) -> None:
        self.redis = aioredis.Redis.from_url(url)
        self.channel = channel
        self.node_id = node_id or "publisher-" + secrets.token_hex(6)

    async def emit(
        self,
        event: str,
        data: Any,
        *,
        to: str | list[str] | None = None,
        skip: Collection[str] = (),
        namespace: str = "/",
    ) -> None:
        rooms = as_rooms(to)
        if rooms is not None and not rooms:
            return
        frames = sio.encode_event(namespace, event, (data,))
        await self.redis.publish(self.channel, encode_broadcast(self.node_id, namespace, frames, rooms, skip))

    async def server_emit(self, event: str, data: Any) -> None:
        """To every node's server (Server.server_event_handlers), as Server.server_emit does."""
        await self.redis.publish(self.channel, encode_server_event(self.node_id, event, data))

    async def close(self) -> None:
        await self.redis.aclose()


class RedisAdapter:
    def __init__(
        self,
        server: Server,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        node_id: str | None = None,
        on_reconnect: Callable[[], None] | None = None,
        on_resync: Callable[[str], None] | None = None,
    ) -> None:
        """on_reconnect: the subscription came back after a loss. on_resync: this node's sockets
        are told to resync (the application drops state that events may have missed)."""
        self.server = server
        self.redis = aioredis.Redis.from_url(url)
        self.channel = channel
        self.node_id = node_id or "node-" + secrets.token_hex(6)
        self._on_reconnect = on_reconnect
        self._on_resync = on_resync
        self._queue: list[bytes] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._publish_lost = False
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._write_loop()), asyncio.create_task(self._listen_loop())]
        self.server.adapter = self

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout=2)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server.adapter is self:
            self.server.adapter = None
        await self.redis.aclose()

    # --- publishing ---------------------------------------------------------------------------
    def publish(self, namespace: str, frames: list[Frame], rooms: list[str] | None, skip: Collection[str]) -> None:
        self._enqueue(encode_broadcast(self.node_id, namespace, frames, rooms, skip))

    def publish_server_event(self, event: str, data: Any) -> None:
        self._enqueue(encode_server_event(self.node_id, event, data))

    def _enqueue(self, message: bytes) -> None:
        self._queue.append(message)
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Until everything queued so far was published (or given up)."""
        await self._idle.wait()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                await self._publish_batch(batch)
            self._idle.set()

    async def _publish_batch(self, batch: list[bytes]) -> None:
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                pipe = self.redis.pipeline(transaction=False)
                for message in batch:
                    pipe.publish(self.channel, message)
                if self._publish_lost:
                    pipe.publish(self.channel, self._resync_message("publish_lost"))
                await pipe.execute()
            except Exception as exc:
                log.error("redis publish failed", extra={"attempt": attempt, "error": str(exc)})
                continue
            if self._publish_lost:
                self._publish_lost = False
                self._resync_local("publish_lost")
            return
        # delivered on this node only; the other nodes' sockets resync once Redis is back
        self._publish_lost = True

    def _resync_message(self, reason: str) -> bytes:
        return orjson.dumps({"node": self.node_id, "resync": reason})

    def _resync_local(self, reason: str) -> None:
        log.warning("asking local sockets to resync", extra={"reason": reason})
        if self._on_resync is not None:
            self._on_resync(reason)
        self.server.emit_local(RESYNC_EVENT, {"reason": reason})

    # --- listening -----------------------------------------------------------------------------
    async def _listen_loop(self) -> None:
        retry_sleep = 0.5
        link_was_lost = False
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                retry_sleep = 0.5
                self.subscribed.set()
                if link_was_lost:
                    link_was_lost = False
                    if self._on_reconnect is not None:
                        self._on_reconnect()
                    self._resync_local("pubsub_reconnected")
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._receive(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("redis subscription lost", extra={"error": str(exc), "retry_in_s": retry_sleep})
                self.subscribed.clear()
                link_was_lost = True
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, MAX_RETRY_SLEEP_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _receive(self, raw: bytes) -> None:
        try:
            message = orjson.loads(raw)
            if message.get("node") == self.node_id:
                return
            reason = message.get("resync")
            if reason is not None:
                self._resync_local(str(reason))
                return
            server_event = message.get("server")
            if server_event is not None:
                self.server.receive_server_event(str(server_event), message.get("data"))
                return
            self.server.deliver(
                message["nsp"],
                decode_frames(message["frames"]),
                message.get("rooms"),
                frozenset(message.get("skip") or ()),
            )
        except Exception:
            log.exception("undecodable pub/sub message dropped")
