"""The service a Lambda handler calls: the configured store and a write-only fan-out publisher
(chat_core.assembly builds both, as for the node and the CLI).

Built on first use inside the invocation's event loop (Mangum keeps one loop per container), then
kept for the container's life. The store's and the Redis publisher's modules are imported only
then, so importing the HTTP handler stays light.
"""

from __future__ import annotations

import asyncio

from chat_core.assembly import open_service
from chat_core.config import Settings
from chat_core.service import ChatService


class LambdaRuntime:
    def __init__(self, settings: Settings, node_id: str) -> None:
        self.settings = settings
        self.node_id = node_id
        self._service: ChatService | None = None
        self._lock: asyncio.Lock | None = None

    async def service(self) -> ChatService:
        if self._service is not None:
            return self._service
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._service is None:
                self._service = await open_service(self.settings, node_id=self.node_id)
        return self._service
