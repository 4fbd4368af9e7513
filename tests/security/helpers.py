# ruff: noqa: ASYNC109 - test helpers take explicit timeouts, like tests/support/clients.py
"""Raw Engine.IO / Socket.IO clients, database snapshots and process measurements for the
security suite."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import time
from typing import Any

import httpx
import websockets

from tests.support.clients import Recorder, unique
from tests.support.server import ServerProcess

EIO_PATH = "/socket.io/?EIO=4&transport="


def assert_no_traceback(log: str) -> None:
    at = log.find("Traceback")
    assert at < 0, f"server logged a traceback:\n{log[max(0, at - 1500) : at + 3000]}"


def bearer(server: ServerProcess, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(user_id)}"}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def db_snapshot(path: str) -> tuple[Any, ...]:
    """Everything a request could write that matters: chats, members with their read marks,
    messages. (Presence, connection and node rows change with every connect and heartbeat.)"""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return tuple(
            tuple(conn.execute(sql).fetchall())
            for sql in (
                "SELECT * FROM chats ORDER BY id",
                "SELECT * FROM members ORDER BY chat_id, user_id",
                "SELECT * FROM messages ORDER BY chat_id, seq",
            )
        )
    finally:
        conn.close()


async def round_trip(client: Recorder, timeout: float = 5.0) -> float:
    """A ping with an ack; returns the round-trip time in seconds."""
    started = time.perf_counter()
    ack = await client.call("ping", {"t": 7}, timeout=timeout)
    assert ack["ok"] is True and ack["t"] == 7, ack
    return time.perf_counter() - started


async def fresh_round_trip(server: ServerProcess, transports: list[str] | None = None) -> None:
    """A new, well-behaved client can still connect, join, send and read its ack."""
    me, peer = unique("ok"), unique("peer")
    client = await Recorder(server.url, server.token(me), transports).connect()
    try:
        chat = (await client.ok("join_chat", {"recipientId": peer}))["chat"]["id"]
        sent = await client.ok(
            "send_message", {"chatId": chat, "content": "still here", "clientMessageId": "c1"}
        )
        assert sent["message"]["senderId"] == me
        await round_trip(client)
    finally:
        await client.disconnect()


class RawSocket:
    """An Engine.IO v4 websocket spoken by hand, to send what no real client would."""

    def __init__(
        self, server: ServerProcess, *, origin: str | None = None, headers: dict[str, str] | None = None
    ):
        self.server = server
        self.origin = origin
        self.headers = headers or {}
        self.ws: Any = None
        self.sid: str | None = None
        self._ids = itertools.count(1)

    async def open(self) -> RawSocket:
        extra = dict(self.headers)
        if self.origin is not None:
            extra["Origin"] = self.origin
        self.ws = await websockets.connect(
            self.server.ws_url + EIO_PATH + "websocket",
            additional_headers=extra,
            max_size=None,
            open_timeout=5,
            compression=None,
        )
        hello = await self.recv()
        assert isinstance(hello, str) and hello.startswith("0"), hello
        self.sid = json.loads(hello[1:])["sid"]
        return self

    async def recv(self, timeout: float = 5.0) -> str | bytes:
        return await asyncio.wait_for(self.ws.recv(), timeout)

    async def send(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def connect_ns(self, token: str) -> str:
        await self.send("40" + json.dumps({"token": token}))
        while True:
            frame = await self.recv()
            if isinstance(frame, str) and frame.startswith("40"):
                return str(json.loads(frame[2:])["sid"])
            if isinstance(frame, str) and frame.startswith("44"):
                raise ConnectionRefusedError(frame)

    async def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        ack_id = next(self._ids)
        args = [event] if data is None else [event, data]
        await self.send(f"42{ack_id}" + json.dumps(args))
        prefix = f"43{ack_id}["
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(0.05, deadline - time.monotonic()))
            if isinstance(frame, str) and frame.startswith(prefix):
                return json.loads(frame[len(prefix) - 1 :])[0]
            if frame == "2":
                await self.send("3")

    async def closed(self, timeout: float = 5.0) -> bool:
        """True once the server ended the connection (reading and answering pings until then)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                frame = await self.recv(max(0.05, deadline - time.monotonic()))
                if frame == "1":  # Engine.IO CLOSE
                    return True
                if frame == "2":
                    await self.send("3")
        except (websockets.ConnectionClosed, OSError):
            return True
        except TimeoutError:
            return False
        return False

    async def answered_or_closed(self, token: str | None = None, timeout: float = 5.0) -> str:
        """A barrier after a frame the server may refuse: a request it must answer (a namespace
        CONNECT with `token`, else a `ping` event with an ack), read until its answer comes
        ("answered") or the server ends the connection ("closed"). Either way the server has dealt
        with every frame sent before it; a server that does neither within `timeout` fails."""
        ack_id = next(self._ids)
        if token is not None:
            request, answers = "40" + json.dumps({"token": token}), ("40", "44")
        else:
            request, answers = f"42{ack_id}" + json.dumps(["ping", {"t": ack_id}]), (f"43{ack_id}[",)
        deadline = time.monotonic() + timeout
        try:
            await self.send(request)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"neither an answer to {request[:40]!r} nor a close within {timeout}s")
                try:
                    frame = await self.recv(left)
                except TimeoutError:
                    continue
                if frame == "1":  # Engine.IO CLOSE
                    return "closed"
                if frame == "2":
                    await self.send("3")
                elif isinstance(frame, str) and frame.startswith(answers):
                    return "answered"
        except (websockets.ConnectionClosed, OSError):
            return "closed"

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


class RawPolling:
    """An Engine.IO v4 long-polling session spoken by hand."""

    def __init__(self, server: ServerProcess, client: httpx.AsyncClient):
        self.server = server
        self.http = client
        self.sid: str | None = None

    def _url(self) -> str:
        return self.server.url + EIO_PATH + "polling" + (f"&sid={self.sid}" if self.sid else "")

    async def open(self, headers: dict[str, str] | None = None) -> httpx.Response:
        response = await self.http.get(self._url(), headers=headers or {})
        if response.status_code == 200:
            self.sid = json.loads(response.text[1:])["sid"]
        return response

    async def post(self, body: str | bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.post(self._url(), content=body, headers=headers or {})

    async def get(self, timeout: float = 5.0) -> httpx.Response:
        return await self.http.get(self._url(), timeout=timeout)
