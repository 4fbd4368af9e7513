"""The Socket.IO side of the engine against python-socketio's client (the reference client), over
WebSocket, long-polling, and polling upgraded to WebSocket: connecting, events and acks, rooms,
binary attachments, refusals, and the ways a connection ends."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import socketio
import websockets
from websockets.exceptions import ConnectionClosed

from chat_core.engine import ConnectRefused, EngineOptions, Namespace, Server, Socket
from chat_core.engine.eio_session import OVERFLOW

from .conftest import WAIT_S, Client, Harness, Live, wait_until


class AppNamespace(Namespace):
    def __init__(self, name: str = "/", *, accepts_binary: bool = True) -> None:
        super().__init__(name)
        self.accepts_binary = accepts_binary
        self.auths: list[Any] = []
        self.received: list[tuple[str, list[Any], int | None]] = []
        self.disconnects: list[tuple[str, str]] = []

    async def on_connect(self, socket: Socket, auth: Any) -> None:
        self.auths.append(auth)
        if isinstance(auth, dict) and "refuse" in auth:
            raise ConnectRefused(auth["refuse"], auth.get("data"))

    def on_event(self, socket: Socket, event: str, args: list[Any], ack_id: int | None) -> None:
        self.received.append((event, args, ack_id))
        answer: list[Any] = []
        if event == "echo":
            socket.emit("echo", *args)
        elif event == "join":
            socket.join(args[0])
        elif event == "leave":
            socket.leave(args[0])
        elif event == "add":
            answer = [args[0] + args[1]]
        elif event == "ack-back":
            answer = args
        if ack_id is not None:
            socket.ack(ack_id, *answer)

    def on_disconnect(self, socket: Socket, reason: str) -> None:
        self.disconnects.append((socket.sid, reason))


def build(options: EngineOptions | None = None) -> tuple[Server, AppNamespace]:
    server = Server(options)
    namespace = AppNamespace()
    server.register(namespace)
    return server, namespace


async def call(client: Client, event: str, *args: Any, namespace: str = "/") -> Any:
    return await client.sio.call(event, args if len(args) != 1 else args[0], namespace=namespace, timeout=WAIT_S)


async def settle(server: Server, *clients: Client) -> None:
    """A marker broadcast after everything emitted so far: once a client has it, whatever was
    emitted before has reached that client (one ordered transport per client)."""
    server.emit("marker")
    for client in clients:
        await client.wait_event("marker")


def before_marker(client: Client, event: str) -> list[str]:
    names = client.names()
    assert "marker" in names
    return [name for name in names[: names.index("marker")] if name == event]


# --- connecting ---------------------------------------------------------------------------------------
async def test_connect_with_auth(harness: Harness, transports: list[str] | None) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    client = await harness.connect(live, transports=transports, auth={"token": "abc", "n": 1})
    assert namespace.auths == [{"token": "abc", "n": 1}]
    assert client.connects == 1
    assert list(namespace.sockets) == [client.sid()]
    # without auth python-socketio sends an empty object
    other = await harness.connect(live, transports=transports)
    assert namespace.auths[1] == {}
    assert set(namespace.sockets) == {client.sid(), other.sid()}


async def test_connect_refused_with_message_and_data(harness: Harness, transports: list[str] | None) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    client = harness.client()
    with pytest.raises(socketio.exceptions.ConnectionError) as refused:
        await harness.connect(
            live, transports=transports, auth={"refuse": "not allowed", "data": {"code": 42}}, client=client
        )
    # python-socketio raises a generic ConnectionError and hands the CONNECT_ERROR payload to the
    # "connect_error" handler
    assert "failed to connect" in str(refused.value)
    assert client.connect_errors == [{"message": "not allowed", "data": {"code": 42}}]
    assert namespace.sockets == {}
    # without data the payload has the message alone
    bare = harness.client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await harness.connect(live, transports=transports, auth={"refuse": "go away"}, client=bare)
    assert bare.connect_errors == [{"message": "go away"}]


async def test_unknown_namespace_is_refused(harness: Harness, transports: list[str] | None) -> None:
    server, _ = build()
    live = await harness.serve(server)
    client = harness.client(namespaces=("/nope",))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await harness.connect(live, transports=transports, namespaces=("/nope",), client=client)
    assert client.connect_errors == [{"message": "Invalid namespace"}]


# --- events and acks --------------------------------------------------------------------------------------
async def test_events_with_and_without_ack(harness: Harness, transports: list[str] | None) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    client = await harness.connect(live, transports=transports)
    await client.sio.emit("echo", {"text": "hello", "n": [1, 2]})
    assert await client.wait_event("echo") == [({"text": "hello", "n": [1, 2]},)]
    assert namespace.received[0] == ("echo", [{"text": "hello", "n": [1, 2]}], None)
    assert await call(client, "add", 2, 40) == 42
    assert namespace.received[1][:2] == ("add", [2, 40])
    assert namespace.received[1][2] is not None
    # several arguments each way; an ack with no arguments
    assert await call(client, "ack-back", "a", {"b": None}, [3]) == ("a", {"b": None}, [3])
    assert await call(client, "noop") is None
    # several in flight at once come back to the right callers (no more than 16 packets in one polling
    # response: python-engineio's client refuses a longer payload, Payload.max_decode_packets)
    answers = await asyncio.gather(*(call(client, "add", i, 1000) for i in range(10)))
    assert answers == [i + 1000 for i in range(10)]


async def test_server_emit_with_ack_gets_the_client_answer(harness: Harness, transports: list[str] | None) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    client = harness.client()

    async def question(value: int, label: str) -> tuple[int, str]:
        return value * 2, label.upper()

    client.sio.on("question", question)
    await harness.connect(live, transports=transports, client=client)
    socket = namespace.sockets[client.sid()]
    answer = await asyncio.wait_for(socket.emit_with_ack("question", 21, "yes"), WAIT_S)
    assert answer == [42, "YES"]
    second = await asyncio.wait_for(socket.emit_with_ack("question", 5, "again"), WAIT_S)
    assert second == [10, "AGAIN"]


async def test_pending_server_ack_is_cancelled_when_the_socket_ends(harness: Harness) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    client = harness.client()
    asked = asyncio.Event()

    async def question() -> None:
        asked.set()
        await asyncio.sleep(3600)  # never answers

    client.sio.on("question", question)
    await harness.connect(live, transports=["websocket"], client=client)
    socket = namespace.sockets[client.sid()]
    future = socket.emit_with_ack("question")
    await asyncio.wait_for(asked.wait(), WAIT_S)
    socket.disconnect()
    await wait_until(future.done, "the ack future to end")
    assert future.cancelled()
    assert socket.emit_with_ack("question").cancelled()


async def test_order_is_kept_across_the_upgrade(harness: Harness) -> None:
    """Server events and client events keep flowing, in order, while the client moves from polling
    to WebSocket (no more than 16 packets per poll: python-engineio's client limit)."""
    server, namespace = build()
    live = await harness.serve(server)
    client = harness.client()
    await client.sio.connect(live.url, wait_timeout=WAIT_S)  # polling first; the upgrade runs meanwhile
    sent = 0
    batches_on_websocket = 0
    while batches_on_websocket < 5:
        if client.sio.transport() == "websocket":
            batches_on_websocket += 1
        for _ in range(5):
            server.emit("seq", sent)
            sent += 1
        await client.sio.emit("up", sent)
        await client.wait_event("seq", sent)
        assert sent < 2000, "never upgraded"
    assert [args[0] for args in client.got("seq")] == list(range(sent))
    assert await call(client, "add", 1, 2) == 3
    assert [args[0] for event, args, _ in namespace.received if event == "up"] == list(range(5, sent + 1, 5))


# --- rooms ----------------------------------------------------------------------------------------------
async def test_emit_to_rooms_with_join_and_leave(harness: Harness, transports: list[str] | None) -> None:
    server, _ = build()
    live = await harness.serve(server)
    a = await harness.connect(live, transports=transports)
    b = await harness.connect(live, transports=transports)
    await call(a, "join", "r1")
    server.emit("news", 1, to="r1")
    await settle(server, a, b)
    assert a.got("news") == [(1,)]
    assert before_marker(b, "news") == []
    await call(a, "leave", "r1")
    await call(b, "join", "r1")
    server.emit("news", 2, to="r1")
    server.emit("direct", "to a", to=a.sid())  # a socket's sid addresses it
    await b.wait_event("news")
    await call(b, "leave", "r1")
    server.emit("news", 3, to="r1")  # nobody is in r1 any more
    server.emit("later")
    await a.wait_event("later")
    await b.wait_event("later")
    assert a.got("news") == [(1,)]
    assert a.got("direct") == [("to a",)]
    assert b.got("news") == [(2,)]
    assert b.got("direct") == []


async def test_emit_to_several_rooms_reaches_each_socket_once(harness: Harness, transports: list[str] | None) -> None:
    server, _ = build()
    live = await harness.serve(server)
    both = await harness.connect(live, transports=transports)
    one = await harness.connect(live, transports=transports)
    none = await harness.connect(live, transports=transports)
    await call(both, "join", "r1")
    await call(both, "join", "r2")
    await call(one, "join", "r2")
    server.emit("news", "x", to=["r1", "r2"])
    server.emit("by-sid", to=[one.sid(), "r2"])  # a sid and a room holding that sid: still once
    await settle(server, both, one, none)
    assert before_marker(both, "news") == ["news"]
    assert before_marker(one, "news") == ["news"]
    assert before_marker(none, "news") == []
    assert before_marker(one, "by-sid") == ["by-sid"]
    assert before_marker(both, "by-sid") == ["by-sid"]
    assert before_marker(none, "by-sid") == []
    server.emit("nothing", to=[])  # an empty list of rooms is nobody, not everybody
    server.emit("after")
    await none.wait_event("after")
    assert none.got("nothing") == []


async def test_skip_excludes_sockets(harness: Harness, transports: list[str] | None) -> None:
    server, _ = build()
    live = await harness.serve(server)
    a = await harness.connect(live, transports=transports)
    b = await harness.connect(live, transports=transports)
    c = await harness.connect(live, transports=transports)
    for client in (a, b):
        await call(client, "join", "room")
    server.emit("in-room", to="room", skip=[a.sid()])
    server.emit("everyone", skip={b.sid(), c.sid()})
    await settle(server, a, b, c)
    assert before_marker(a, "in-room") == []
    assert before_marker(b, "in-room") == ["in-room"]
    assert before_marker(c, "in-room") == []
    assert before_marker(a, "everyone") == ["everyone"]
    assert before_marker(b, "everyone") == []
    assert before_marker(c, "everyone") == []


# --- binary -------------------------------------------------------------------------------------------
async def test_binary_arguments_round_trip(harness: Harness, transports: list[str] | None) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    client = await harness.connect(live, transports=transports)
    blob = bytes(range(256)) * 4
    await client.sio.emit("echo", {"blob": blob, "nested": [b"\x00\xff", "text"]})
    (args,) = await client.wait_event("echo")
    assert args == ({"blob": blob, "nested": [b"\x00\xff", "text"]},)
    event, received, _ = namespace.received[0]
    assert event == "echo"
    assert received == [{"blob": blob, "nested": [b"\x00\xff", "text"]}]
    assert isinstance(received[0]["blob"], bytes)
    # a binary ack both ways: BINARY_EVENT with an ack id in, BINARY_ACK out
    assert await call(client, "ack-back", b"one", b"", b"three") == (b"one", b"", b"three")
    # the server emits bytes of its own
    server.emit("from-server", b"\x01\x02\x03", {"also": b"\x04"})
    assert await client.wait_event("from-server") == [(b"\x01\x02\x03", {"also": b"\x04"})]


async def test_namespace_refusing_binary_drops_a_client_that_sends_bytes(
    harness: Harness, transports: list[str] | None
) -> None:
    server, _ = build()
    text_only = AppNamespace("/text", accepts_binary=False)
    server.register(text_only)
    live = await harness.serve(server)
    client = await harness.connect(live, transports=transports, namespaces=("/text",))
    assert await call(client, "add", 1, 2, namespace="/text") == 3  # text is fine
    await client.sio.emit("echo", b"bytes", namespace="/text")
    await wait_until(lambda: bool(client.disconnects), "the client to see the disconnect")
    await wait_until(lambda: not server.connections, "the server to drop the connection")
    assert [name for name, _, _ in text_only.received] == ["add"]
    assert [reason for _, reason in text_only.disconnects] == ["parse error"]


# --- ending -------------------------------------------------------------------------------------------
async def test_connect_timeout_closes_a_websocket_that_never_connects(harness: Harness) -> None:
    server, namespace = build(EngineOptions(connect_timeout_ms=300))
    live = await harness.serve(server)
    started = time.monotonic()  # before the server's timer starts
    async with websockets.connect(live.ws_url(), compression=None) as ws:
        opened = await asyncio.wait_for(ws.recv(), WAIT_S)
        assert isinstance(opened, str) and opened.startswith("0{")
        assert len(server.connections) == 1
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), WAIT_S)
        assert time.monotonic() - started >= 0.25
    await wait_until(lambda: not server.connections, "the server to forget the connection")
    # a client that does connect in time is not affected
    client = await harness.connect(live, transports=["websocket"])
    await asyncio.sleep(0.5)  # past the connect timeout: the timer must have been cancelled
    assert await call(client, "add", 1, 1) == 2
    assert list(namespace.sockets) == [client.sid()]


async def test_server_disconnect_is_not_followed_by_a_reconnect(harness: Harness, transports: list[str] | None) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    client = await harness.connect(live, transports=transports, reconnection=True)
    socket = namespace.sockets[client.sid()]
    socket.disconnect()
    await wait_until(lambda: bool(client.disconnects), "the client to see the disconnect")
    assert client.disconnects == ["server disconnect"]
    # AsyncClient.wait() returns once the connection ended and no reconnection is under way
    await asyncio.wait_for(client.sio.wait(), WAIT_S)
    assert not client.sio.connected
    assert client.connects == 1
    assert len(namespace.auths) == 1
    assert namespace.disconnects == [(socket.sid, "server namespace disconnect")]
    # the client then closed its Engine.IO connection too
    await wait_until(lambda: not server.connections, "the server to end the connection")


async def test_close_all_without_notice_makes_the_client_reconnect(
    harness: Harness, transports: list[str] | None
) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    client = await harness.connect(live, transports=transports, reconnection=True)
    first_sid = client.sid()
    server.close_all(notify=False)
    await wait_until(lambda: client.connects == 2, "the client to reconnect")
    assert len(client.disconnects) == 1
    assert await call(client, "add", 20, 22) == 42
    assert client.sid() != first_sid
    assert list(namespace.sockets) == [client.sid()]
    assert namespace.disconnects[0][0] == first_sid


async def polling_session(live: Live, http: httpx.AsyncClient) -> str:
    """A raw long-polling session joined to "/" whose client never GETs again: its eio sid."""
    opened = await http.get(live.polling_url(), params={"EIO": "4", "transport": "polling"})
    assert opened.status_code == 200
    sid: str = json.loads(opened.text[1:])["sid"]
    posted = await http.post(live.polling_url(), params={"EIO": "4", "transport": "polling", "sid": sid}, content="40")
    assert posted.status_code == 200
    return sid


async def test_slow_polling_consumer_is_dropped_and_others_keep_being_served(
    harness: Harness, transports: list[str] | None
) -> None:
    server, namespace = build(EngineOptions(max_buffered_frames=5))
    live = await harness.serve(server)
    fast = await harness.connect(live, transports=transports)
    async with httpx.AsyncClient(timeout=WAIT_S) as http:
        slow_sid = await polling_session(live, http)
        await wait_until(lambda: len(namespace.sockets) == 2, "the slow client's socket")
        (slow_socket,) = (s for s in namespace.sockets.values() if s.conn.sid == slow_sid)
        for i in range(20):  # paced by the fast client, which is polling too in one case
            server.emit("tick", i)
            await fast.wait_event("tick", i + 1)
            if i < 4:
                assert slow_sid in server.connections  # the CONNECT answer and 4 ticks: 5 frames
        assert slow_sid not in server.connections
        assert [args[0] for args in fast.got("tick")] == list(range(20))
        assert (slow_socket.sid, OVERFLOW) in namespace.disconnects
        assert list(namespace.sockets) == [fast.sid()]
        # its next poll finds no session
        late = await http.get(live.polling_url(), params={"EIO": "4", "transport": "polling", "sid": slow_sid})
        assert late.status_code == 400
    assert await call(fast, "add", 1, 2) == 3
