"""The service a Lambda handler calls: the configured store and a write-only fan-out publisher.

Built on first use inside the invocation's event loop (Mangum keeps one loop per container), then
kept for the container's life. The Redis publisher is imported only here, when CHAT_REDIS_URL is set,
so importing the HTTP handler stays light.
"""

from __future__ import annotations

import asyncio

from chat_core.config import Settings
from chat_core.ports import Fanout
from chat_core.service import ChatService
from chat_core.stores import open_store


class LambdaRuntime:
    def __init__(self, settings: Settings, node_id: str) -> None:
        self.settings = settings
        self.node_id = node_id
        self._service: ChatService | None = None
        self._lock: asyncio.Lock | None = None

    def _fanout(self) -> Fanout:
        if self.settings.redis_url:
            from chat_core.realtime.fanout import PublisherFanout

            return PublisherFanout.redis(self.settings.redis_url)
        from chat_core.realtime.fanout import NullFanout

        return NullFanout()

    async def service(self) -> ChatService:
        if self._service is not None:
            return self._service
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._service is None:
                store = await open_store(self.settings)
                self._service = ChatService(
                    store,
                    self._fanout(),
                    node_id=self.node_id,
                    presence_grace_s=self.settings.presence_grace_s,
                    presence_ttl_s=self.settings.presence_ttl_s,
                )
        return self._service
