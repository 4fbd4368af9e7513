"""Live-server fixtures of the engine's integration tests: real uvicorn servers in the test's event
loop (WebSockets handed to picows through uvicorn's `ws=` slot), and real clients that are all
closed before the servers stop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
import uvicorn
import uvloop
from starlette.types import ASGIApp

from chat_core.engine import Server

WAIT_S = 10.0  # generous: the machine may be busy

#: test files that also run on uvloop, the loop `chat serve` runs on (transport hand-over semantics)
UVLOOP_TOO = frozenset({"test_websocket_handover.py"})


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.path.name in UVLOOP_TOO:
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(predicate: Callable[[], bool], what: str, within: float = WAIT_S) -> None:
    """Polls predicate until it holds; fails the test with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Live:
    """One Server (plus any others sharing its port) behind one uvicorn on a free port."""

    server: Server
    port: int
    uvicorn: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str = "/socket.io/", query: str = "EIO=4&transport=websocket") -> str:
        return f"ws://127.0.0.1:{self.port}{path}?{query}"

    def polling_url(self, path: str = "/socket.io/") -> str:
        return f"{self.url}{path}"


@dataclass
class Client:
    """A python-socketio AsyncClient that records every event it gets (per namespace)."""

    sio: socketio.AsyncClient
    events: dict[str, list[tuple[str, tuple[Any, ...]]]] = field(default_factory=dict)
    connects: int = 0
    disconnects: list[str] = field(default_factory=list)
    connect_errors: list[Any] = field(default_factory=list)

    def record(self, namespace: str) -> None:
        self.events.setdefault(namespace, [])

        async def catch_all(event: str, *args: Any) -> None:
            self.events[namespace].append((event, args))

        async def on_connect() -> None:
            self.connects += 1

        async def on_disconnect(reason: Any = None) -> None:
            self.disconnects.append(str(reason))

        async def on_connect_error(data: Any = None) -> None:
            self.connect_errors.append(data)

        self.sio.on("*", catch_all, namespace=namespace)
        self.sio.on("connect", on_connect, namespace=namespace)
        self.sio.on("disconnect", on_disconnect, namespace=namespace)
        self.sio.on("connect_error", on_connect_error, namespace=namespace)

    def got(self, event: str, namespace: str = "/") -> list[tuple[Any, ...]]:
        return [args for name, args in self.events.get(namespace, []) if name == event]

    def names(self, namespace: str = "/") -> list[str]:
        return [name for name, _ in self.events.get(namespace, [])]

    async def wait_event(self, event: str, count: int = 1, namespace: str = "/") -> list[tuple[Any, ...]]:
        await wait_until(lambda: len(self.got(event, namespace)) >= count, f"{count} x {event!r} on {namespace}")
        return self.got(event, namespace)

    def sid(self, namespace: str = "/") -> str:
        sid = self.sio.get_sid(namespace)
        assert sid is not None
        return str(sid)


class Harness:
    def __init__(self) -> None:
        self.lives: list[Live] = []
        self.clients: list[Client] = []

    async def serve(self, server: Server, other: ASGIApp | None = None, *also: Server) -> Live:
        port = free_port()
        config = uvicorn.Config(
            server.asgi(other),
            host="127.0.0.1",
            port=port,
            ws=server.uvicorn_websocket_protocol(*also),
            lifespan="off",
            log_level="warning",
        )
        userver = uvicorn.Server(config)
        task = asyncio.create_task(userver.serve())
        live = Live(server, port, userver, task)
        self.lives.append(live)
        await wait_until(lambda: userver.started or task.done(), "uvicorn to start")
        if task.done():
            task.result()
            pytest.fail("uvicorn stopped at once")
        return live

    def client(self, *, reconnection: bool = False, namespaces: tuple[str, ...] = ("/",), **kwargs: Any) -> Client:
        """A client with recording handlers, not connected yet (register more handlers, then connect)."""
        sio = socketio.AsyncClient(
            reconnection=reconnection, reconnection_delay=0.05, reconnection_delay_max=0.2, **kwargs
        )
        client = Client(sio)
        for namespace in namespaces:
            client.record(namespace)
        self.clients.append(client)
        return client

    async def connect(
        self,
        live: Live,
        *,
        transports: list[str] | None = None,
        auth: Any = None,
        namespaces: tuple[str, ...] = ("/",),
        reconnection: bool = False,
        client: Client | None = None,
    ) -> Client:
        """A connected client; with transports None (polling, then the upgrade), only once upgraded."""
        if client is None:
            client = self.client(reconnection=reconnection, namespaces=namespaces)
        await client.sio.connect(
            live.url, transports=transports, auth=auth, namespaces=list(namespaces), wait_timeout=WAIT_S
        )
        if transports is None:
            await wait_until(lambda: client.sio.transport() == "websocket", "the upgrade to websocket")
        return client

    async def aclose(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.sio.disconnect(), WAIT_S)
        for live in self.lives:
            live.server.close_all()
            live.uvicorn.should_exit = True
        for live in self.lives:
            await asyncio.wait_for(live.task, WAIT_S)
            await live.server.wait_tasks()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        await h.aclose()


# transports for python-socketio's client: WebSocket only, polling only, polling then the upgrade
TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling"], "upgrade": None}


@pytest.fixture(params=list(TRANSPORTS))
def transports(request: pytest.FixtureRequest) -> list[str] | None:
    value: list[str] | None = TRANSPORTS[request.param]
    return value
