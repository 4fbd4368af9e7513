"""python-socketio's Redis manager, plus what it lacks for "nothing acked is lost":

- it gives up a publish silently after two tries, and a subscriber misses whatever was published
  while its link was down. So when this node's subscription comes back after a drop, it sends
  `resync` to its own sockets; and when one of its publishes was given up, the next publish that
  goes through is followed by a cluster-wide `resync`. Clients answer `resync` by fetching
  `get_messages {afterSeq}` for their open chats (PROTOCOL.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import socketio

log = logging.getLogger("chat.redis")

MAX_RETRY_SLEEP_S = 5.0


class ResyncingRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    connected: bool
    def __init__(self, url: str, *, on_reconnect: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._on_reconnect = on_reconnect
        self._publish_lost = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def _publish(self, data: Any) -> Any:
        for attempt in (1, 2):
            try:
                if not self.connected:
                    self._redis_connect()
                result = await self.redis.publish(self.channel, self.json.dumps(data))
            except Exception as exc:
                self.connected = False
                log.error("redis publish failed", extra={"attempt": attempt, "error": str(exc)})
                continue
            if self._publish_lost:
                self._publish_lost = False
                await self.redis.publish(self.channel, self.json.dumps(self._resync_message("publish_lost")))
                self._spawn(self._resync_local("publish_lost"))
            return result
        self._publish_lost = True  # delivered locally only; remote sockets resync once the link is back
        return None

    def _resync_message(self, reason: str) -> dict[str, Any]:
        return {
            "method": "emit",
            "event": "resync",
            "data": [{"reason": reason}],
            "binary": False,
            "namespace": "/",
            "room": None,
            "skip_sid": None,
            "callback": None,
            "host_id": self.host_id,
        }

    async def _resync_local(self, reason: str) -> None:
        log.warning("asking local sockets to resync", extra={"reason": reason})
        await socketio.AsyncManager.emit(self, "resync", {"reason": reason}, namespace="/")

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        retry_sleep = 0.5
        subscribed = False
        link_was_lost = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    retry_sleep = 0.5
                    if link_was_lost:
                        link_was_lost = False
                        if self._on_reconnect is not None:
                            self._on_reconnect()
                        self._spawn(self._resync_local("pubsub_reconnected"))
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                log.error("redis subscription lost", extra={"error": str(exc), "retry_in_s": retry_sleep})
                subscribed = False
                link_was_lost = True
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, MAX_RETRY_SLEEP_S)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
