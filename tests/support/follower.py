"""A client that follows PROTOCOL.md's recovery rules, as the web hook does: it orders by seq, fills
gaps with get_messages {afterSeq}, answers `resync` by fetching, and after losing its node joins
another one with sinceSeq. Used to prove "nothing acked is lost" under faults."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio


class Follower:
    def __init__(self, urls: list[str], token: str, chat_id: str, name: str = "follower") -> None:
        self.urls = urls
        self.token = token
        self.chat_id = chat_id
        self.name = name
        self.messages: dict[int, str] = {}  # seq -> message id
        self.live_seqs: set[int] = set()  # seqs that arrived as new_message events
        self.live_duplicates = 0  # the server pushed one message twice
        self.resyncs = 0
        self.drains = 0
        self.moves = 0
        self.node = 0
        self.client: socketio.AsyncClient | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.follow_moves = True

    @property
    def last_contiguous(self) -> int:
        seq = 0
        while seq + 1 in self.messages:
            seq += 1
        return seq

    def _record(self, message: dict[str, Any]) -> bool:
        seq = int(message["seq"])
        if seq in self.messages:
            assert self.messages[seq] == message["id"], f"seq {seq} names two messages"
            return False
        self.messages[seq] = message["id"]
        return True

    async def connect(self, node: int) -> None:
        self.node = node
        client = socketio.AsyncClient(reconnection=False)
        self.client = client

        @client.on("new_message")  # type: ignore[untyped-decorator]
        async def on_message(message: dict[str, Any]) -> None:
            if message.get("chatId") != self.chat_id:
                return
            seq = int(message["seq"])
            if seq in self.live_seqs:
                self.live_duplicates += 1
            self.live_seqs.add(seq)
            if self._record(message) and seq > self.last_contiguous + 1:
                self._spawn(self.catch_up())

        @client.on("resync")  # type: ignore[untyped-decorator]
        async def on_resync(data: Any) -> None:
            self.resyncs += 1
            self._spawn(self.catch_up())

        @client.on("server_draining")  # type: ignore[untyped-decorator]
        async def on_draining(data: Any) -> None:
            self.drains += 1

        @client.event  # type: ignore[untyped-decorator]
        async def disconnect(reason: str = "") -> None:
            if self.follow_moves and client is self.client:
                self._spawn(self._move())

        await client.connect(self.urls[node], auth={"token": self.token}, transports=["websocket"])
        ack = await client.call("join_chat", {"chatId": self.chat_id, "sinceSeq": self.last_contiguous})
        assert ack["ok"], ack
        for message in ack["messages"]:
            self._record(message)
        if ack["hasMore"]:
            await self.catch_up()

    async def _move(self) -> None:
        """Our node went away: join the next one and recover with sinceSeq."""
        self.moves += 1
        for attempt in range(50):
            target = (self.node + 1 + attempt) % len(self.urls)
            try:
                await self.connect(target)
                return
            except Exception:
                await asyncio.sleep(0.2)

    async def catch_up(self) -> None:
        client = self.client
        if client is None or not client.connected:
            return
        while True:
            after = self.last_contiguous
            ack = await client.call("get_messages", {"chatId": self.chat_id, "afterSeq": after, "limit": 100})
            assert ack["ok"], ack
            for message in ack["messages"]:
                self._record(message)
            if not ack["hasMore"]:
                return

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self, expected: set[int], within: float = 15.0) -> None:
        """Wait until every expected seq was seen, by live events and the recovery rules alone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not expected <= set(self.messages):
            if loop.time() > deadline:
                missing = sorted(expected - set(self.messages))
                raise AssertionError(f"{self.name} is missing {len(missing)} messages: {missing[:20]}")
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.follow_moves = False
        for task in list(self._tasks):
            task.cancel()
        if self.client is not None and self.client.connected:
            await self.client.disconnect()
