"""uvicorn hands WebSocket upgrades to picows on the port of the HTTP app: routing, refusals, frame
limits, large frames, many sessions, and the end of a connection when the client's WebSocket goes."""

from __future__ import annotations

import asyncio
import json
import os
import random
import string
from typing import Any

import httpx
import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat_core.engine import EngineOptions, Namespace, Server, Socket

from .conftest import WAIT_S, Harness, Live, wait_until


class EchoNamespace(Namespace):
    """An "echo" event comes back as "echo" with the same arguments (and an empty ack when asked)."""

    def __init__(self, name: str = "/") -> None:
        super().__init__(name)
        self.disconnects: list[tuple[str, str]] = []

    def on_event(self, socket: Socket, event: str, args: list[Any], ack_id: int | None) -> None:
        if event == "echo":
            socket.emit("echo", *args)
        if ack_id is not None:
            socket.ack(ack_id)

    def on_disconnect(self, socket: Socket, reason: str) -> None:
        self.disconnects.append((socket.sid, reason))


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok from the other app")


OTHER_APP = Starlette(routes=[Route("/health", health)])


def build(options: EngineOptions | None = None) -> tuple[Server, EchoNamespace]:
    server = Server(options)
    namespace = EchoNamespace()
    server.register(namespace)
    return server, namespace


async def open_ws(live: Live, **kwargs: Any) -> ClientConnection:
    return await asyncio.wait_for(websockets.connect(live.ws_url(), compression=None, **kwargs), WAIT_S)


async def recv_text(ws: ClientConnection) -> str:
    message = await asyncio.wait_for(ws.recv(), WAIT_S)
    assert isinstance(message, str), message
    return message


async def open_session(live: Live, **kwargs: Any) -> tuple[ClientConnection, str]:
    """A raw WebSocket session joined to "/": the socket's sid."""
    ws = await open_ws(live, **kwargs)
    opened = await recv_text(ws)
    assert opened.startswith("0{"), opened
    assert json.loads(opened[1:])["upgrades"] == []
    await ws.send("40")
    answer = await recv_text(ws)
    assert answer.startswith("40{"), answer
    return ws, json.loads(answer[2:])["sid"]


async def echo(ws: ClientConnection, payload: Any) -> Any:
    await ws.send("42" + json.dumps(["echo", payload]))
    answer = await recv_text(ws)
    assert answer.startswith("42"), answer
    event, value = json.loads(answer[2:])
    assert event == "echo"
    return value


async def test_http_route_and_websocket_sessions_share_the_port(harness: Harness) -> None:
    server, _ = build()
    live = await harness.serve(server, OTHER_APP)
    ws, _ = await open_session(live)
    try:
        async with httpx.AsyncClient(timeout=WAIT_S) as http:
            page = await http.get(f"{live.url}/health")
            assert (page.status_code, page.text) == (200, "ok from the other app")
            missing = await http.get(f"{live.url}/not-there")
            assert missing.status_code == 404
            handshake = await http.get(live.polling_url(), params={"EIO": "4", "transport": "polling"})
            assert handshake.status_code == 200
            assert json.loads(handshake.text[1:])["upgrades"] == ["websocket"]
        # the WebSocket session lived through the HTTP traffic on the same port
        assert await echo(ws, "still here") == "still here"
        transports = sorted(conn.session.transport for conn in server.connections.values())
        assert transports == ["polling", "websocket"]
    finally:
        await ws.close()


async def test_websocket_upgrade_to_an_unknown_path_is_404(harness: Harness) -> None:
    server, _ = build()
    live = await harness.serve(server, OTHER_APP)
    for path in ("/elsewhere/", "/health", "/socket.iox/"):
        with pytest.raises(InvalidStatus) as refused:
            await open_ws_at(live, path)
        assert refused.value.response.status_code == 404, path
    assert server.connections == {}


async def open_ws_at(live: Live, path: str, query: str = "EIO=4&transport=websocket") -> ClientConnection:
    return await asyncio.wait_for(websockets.connect(live.ws_url(path, query), compression=None), WAIT_S)


async def test_websocket_query_errors_are_answered_like_polling(harness: Harness) -> None:
    server, _ = build()
    live = await harness.serve(server)
    cases = {"EIO=3&transport=websocket": 5, "EIO=4&transport=polling": 0, "EIO=4&transport=websocket&sid=nope": 1}
    for query, code in cases.items():
        with pytest.raises(InvalidStatus) as refused:
            await open_ws_at(live, "/socket.io/", query)
        assert refused.value.response.status_code == 400, query
        assert json.loads(refused.value.response.body or b"{}")["code"] == code, query


def only_good_origin(origin: str | None, scheme: str, host: str | None) -> bool:
    return origin is None or origin == "http://good.example"


async def test_refused_origin_gets_403_on_both_transports(harness: Harness) -> None:
    server, _ = build(EngineOptions(allow_origin=only_good_origin))
    live = await harness.serve(server)
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(live, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    async with httpx.AsyncClient(timeout=WAIT_S) as http:
        query = {"EIO": "4", "transport": "polling"}
        bad = await http.get(live.polling_url(), params=query, headers={"Origin": "http://evil.example"})
        assert bad.status_code == 403
        assert bad.json() == {"code": 4, "message": "Forbidden"}
        assert "access-control-allow-origin" not in bad.headers
        assert server.connections == {}
        # the allowed origin passes on both
        good = await http.get(live.polling_url(), params=query, headers={"Origin": "http://good.example"})
        assert good.status_code == 200
        assert good.headers["access-control-allow-origin"] == "http://good.example"
    ws, _ = await open_session(live, origin="http://good.example")
    await ws.close()


async def test_frame_over_max_payload_closes_the_websocket_with_1009(harness: Harness) -> None:
    server, namespace = build(EngineOptions(max_payload=300_000))
    live = await harness.serve(server)
    ws, sid = await open_session(live)
    opened_conn = next(iter(server.connections.values()))
    assert opened_conn.session.max_payload == 300_000
    await ws.send("42" + json.dumps(["echo", "x" * 400_000]))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), WAIT_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    await wait_until(lambda: not server.connections, "the server to drop the connection")
    await wait_until(lambda: len(namespace.disconnects) == 1, "on_disconnect")
    assert namespace.disconnects[0][0] == sid


def random_text(size: int) -> str:
    rng = random.Random(size)
    return "".join(rng.choices(string.ascii_letters + string.digits + "éß€", k=size))


async def test_a_large_frame_arrives_intact_in_both_directions(harness: Harness) -> None:
    server, _ = build(EngineOptions(max_payload=1_000_000))
    live = await harness.serve(server)
    ws, _ = await open_session(live)
    try:
        text = random_text(200_000)
        assert await echo(ws, text) == text
        # a binary attachment of 200 KB: BINARY_EVENT in, BINARY_EVENT out
        blob = os.urandom(200_000)
        await ws.send('451-["echo",{"_placeholder":true,"num":0}]')
        await ws.send(blob)
        header = await recv_text(ws)
        assert header == '451-["echo",{"_placeholder":true,"num":0}]'
        attachment = await asyncio.wait_for(ws.recv(), WAIT_S)
        assert attachment == blob
    finally:
        await ws.close()


async def test_many_concurrent_websocket_sessions_each_echo(harness: Harness) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    count = 200

    async def one(index: int) -> tuple[ClientConnection, str]:
        ws, sid = await open_session(live)
        payload = {"client": index, "text": f"hello from {index}"}
        assert await echo(ws, payload) == payload
        return ws, sid

    sessions = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), 60)
    try:
        assert len(server.connections) == count
        assert len(namespace.sockets) == count
        assert len({sid for _, sid in sessions}) == count
        # a second round on every session, all in flight at once
        answers = await asyncio.gather(*(echo(ws, i) for i, (ws, _) in enumerate(sessions)))
        assert answers == list(range(count))
    finally:
        await asyncio.gather(*(ws.close() for ws, _ in sessions))
    await wait_until(lambda: not server.connections, "every connection to end")
    await wait_until(lambda: len(namespace.disconnects) == count, "every on_disconnect")


@pytest.mark.parametrize("how", ["close frame", "tcp abort"])
async def test_closing_the_client_websocket_ends_the_connection(harness: Harness, how: str) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    ws, sid = await open_session(live)
    keep, keep_sid = await open_session(live)
    try:
        assert len(server.connections) == 2
        if how == "close frame":
            await ws.close()
        else:
            ws.transport.abort()
        await wait_until(lambda: len(server.connections) == 1, "the server to end the connection")
        await wait_until(lambda: len(namespace.disconnects) == 1, "on_disconnect")
        assert namespace.disconnects == [(sid, "transport close")]
        assert list(namespace.sockets) == [keep_sid]
        assert await echo(keep, "other session unaffected") == "other session unaffected"
    finally:
        await keep.close()
    await wait_until(lambda: not server.connections, "the server to end the other connection")


async def test_a_fragmented_message_is_reassembled(harness: Harness) -> None:
    """RFC 6455 lets a client split a message into fragments; picows hands over each one."""
    server, _ = build()
    live = await harness.serve(server)
    ws, _ = await open_session(live)
    try:
        await ws.send(["42", '["echo","frag', "mén", 'ted"]'])
        answer = await recv_text(ws)
        assert json.loads(answer[2:]) == ["echo", "fragménted"]
        # a binary attachment in fragments, after its header
        await ws.send('451-["echo",{"_placeholder":true,"num":0}]')
        await ws.send([b"\x00\x01", b"\x02", b"\x03"])
        assert await recv_text(ws) == '451-["echo",{"_placeholder":true,"num":0}]'
        assert await asyncio.wait_for(ws.recv(), WAIT_S) == b"\x00\x01\x02\x03"
        assert await echo(ws, "whole again") == "whole again"
    finally:
        await ws.close()


async def test_fragments_over_max_payload_close_with_1009(harness: Harness) -> None:
    server, namespace = build(EngineOptions(max_payload=10_000))
    live = await harness.serve(server)
    ws, sid = await open_session(live)
    await ws.send(["42", '["echo","' + "x" * 6_000, "y" * 6_000 + '"]'])
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), WAIT_S)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    await wait_until(lambda: not server.connections, "the server to drop the connection")
    await wait_until(lambda: [s for s, _ in namespace.disconnects] == [sid], "on_disconnect")


async def test_a_text_frame_that_is_not_utf8_ends_only_that_connection(harness: Harness) -> None:
    server, namespace = build()
    live = await harness.serve(server)
    bystander, _ = await open_session(live)
    ws, sid = await open_session(live)
    try:
        await ws.send(b'42["echo","\xff\xfe"]', text=True)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT_S)
        await wait_until(lambda: [s for s, _ in namespace.disconnects] == [sid], "on_disconnect")
        assert await echo(bystander, "unharmed") == "unharmed"
    finally:
        await bystander.close()


class SlowConnectNamespace(EchoNamespace):
    """on_connect waits until the test lets it go, and counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.release = asyncio.Event()

    async def on_connect(self, socket: Socket, auth: Any) -> None:
        self.calls += 1
        await self.release.wait()


async def test_a_repeated_connect_while_the_first_is_decided_changes_nothing(harness: Harness) -> None:
    """A second CONNECT to a namespace whose on_connect is still running is ignored: on_connect runs
    once, one CONNECT answer comes back (an application that counts connections stays right)."""
    server = Server()
    namespace = SlowConnectNamespace()
    server.register(namespace)
    live = await harness.serve(server)
    ws = await open_ws(live)
    try:
        assert (await recv_text(ws)).startswith("0{")
        await ws.send("40")
        await ws.send("40")
        await wait_until(lambda: namespace.calls >= 1, "on_connect")
        namespace.release.set()
        answer = await recv_text(ws)
        assert answer.startswith("40{"), answer
        assert await echo(ws, "once") == "once"  # the next frame is the echo: no second CONNECT answer
        assert namespace.calls == 1
        assert len(namespace.sockets) == 1
    finally:
        await ws.close()
