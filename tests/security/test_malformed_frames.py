"""Malformed Engine.IO / Socket.IO input over a raw websocket and raw long-polling: every bad
frame ends at most the connection that sent it; a normal client still completes a round trip
afterwards; the server logs no traceback (checked when the module's server stops)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.clients import Recorder, unique
from tests.support.server import ServerProcess

from .helpers import RawPolling, RawSocket, fresh_round_trip, round_trip

SERVER_ENV = {"CHAT_MAX_FRAME_BYTES": "4096", "CHAT_MAX_DECODE_PACKETS": "16"}

DEEP = "[" * 3000 + "]" * 3000  # nested deeper than orjson's limit, under the frame limit

#: frames sent right after the Engine.IO handshake, before any Socket.IO CONNECT
BEFORE_CONNECT: list[Any] = [
    "",  # empty text frame: python-engineio raises out of the ASGI app on it
    b"",
    "x",
    "9",
    "7hello",
    "b!!!notbase64",
    "bAAAA",
    "4",
    "42",
    '42["ping",{"t":1}]',  # an event before the connect packet
    "43[]",
    "44{}",
    "45",
    '451-["ping",{"_placeholder":true,"num":0}]',
    '46["x"]',
    "47",
    "4{",
    "40{",
    '40"string auth"',
    "40[1,2,3]",
    "4" + DEEP,
    b"\x00\x01\xff\xfe",
    b"\x04garbage",
    "\x00\x00",
    "4\udc80".encode("utf-8", "surrogatepass"),  # invalid UTF-8 in a binary frame
]

#: frames sent after a successful CONNECT
AFTER_CONNECT: list[Any] = [
    "",
    "42",
    "42{}",
    "42[]",
    "42[5]",
    "42[null]",
    '42[{"a":1}]',
    '42["ping"',
    '42"ping"',
    "42" + DEEP,
    '42["ping",' + DEEP + "]",
    '451-["send_message",{"_placeholder":true,"num":0}]',
    '4599999999-["x",{"_placeholder":true,"num":0}]',
    '461-[{"_placeholder":true,"num":0}]',
    "44{}",
    '43999["x"]',
    '42/other,["ping",{"t":1}]',  # a namespace it never joined
    "4" + "9" * 120 + '["ping"]',  # an over-long ack id
    b"\xff" * 100,
    "2probe",
    "5",
    "6",
]


@pytest.mark.parametrize("frame", BEFORE_CONNECT, ids=lambda f: repr(f)[:40])
async def test_bad_frame_before_connect(server: ServerProcess, frame: Any) -> None:
    raw = await RawSocket(server).open()
    try:
        await raw.send(frame)
        # whatever it does to this connection, it has done it before the next check
        await raw.answered_or_closed(token=server.token(unique("raw")))
    finally:
        await raw.close()
    await fresh_round_trip(server)


@pytest.mark.parametrize("frame", AFTER_CONNECT, ids=lambda f: repr(f)[:40])
async def test_bad_frame_after_connect(server: ServerProcess, frame: Any) -> None:
    user = unique("raw")
    bystander = await Recorder(server.url, server.token(unique("by"))).connect()
    raw = await RawSocket(server).open()
    try:
        await raw.connect_ns(server.token(user))
        await raw.send(frame)
        await raw.answered_or_closed()  # the server has dealt with the frame, whatever it did
        await round_trip(bystander)
    finally:
        await raw.close()
        await bystander.disconnect()
    await fresh_round_trip(server)


async def test_reserved_event_names_do_not_reach_the_lifecycle(server: ServerProcess) -> None:
    """`42["disconnect"]` / `42["connect", ..., {token}]` from a client used to run the connect and
    disconnect hooks: the socket dropped its identity (escaping the connection cap and the token
    expiry) or took another user's. The Socket.IO spec reserves those names: such a packet is
    malformed, and (as in the reference server) ends that client's connection only."""
    bystander = await Recorder(server.url, server.token(unique("by"))).connect()
    try:
        for packet in ('42["disconnect"]', '421["connect",{"token":"' + server.token("mallory") + '"}]'):
            raw = await RawSocket(server).open()
            try:
                await raw.connect_ns(server.token(unique("alice")))
                await raw.send(packet)
                assert await raw.closed(timeout=5), packet
            finally:
                await raw.close()
            await round_trip(bystander)
        joined = await bystander.ok("join_chat", {"recipientId": unique("bob")})
        assert "mallory" not in joined["chat"]["members"]
    finally:
        await bystander.disconnect()


async def test_oversized_websocket_frame_closes_only_that_socket(server: ServerProcess) -> None:
    bystander = await Recorder(server.url, server.token(unique("by"))).connect()
    raw = await RawSocket(server).open()
    try:
        await raw.connect_ns(server.token(unique("big")))
        payload = json.dumps(["send_message", {"chatId": "x", "content": "y" * 5000, "clientMessageId": "c"}])
        await raw.send("42" + payload)
        assert await raw.closed(timeout=3), "a frame over CHAT_MAX_FRAME_BYTES must end the connection"
        await round_trip(bystander)
    finally:
        await raw.close()
        await bystander.disconnect()


async def test_polling_bad_bodies(server: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        bodies: list[str | bytes] = ["", "x", "9", "4\x1e\x1e", "b!!!", "\x1e", "40{", b"\xff\xfe\x00"]
        for body in bodies:
            session = RawPolling(server, client)
            assert (await session.open()).status_code == 200
            response = await session.post(body)
            assert response.status_code in (200, 400), (body, response.status_code, response.text)
        # over max_http_buffer_size: refused, and that session is over
        session = RawPolling(server, client)
        await session.open()
        assert (await session.post("4" + "x" * 5000)).status_code in (400, 413)
        # more packets in one POST than CHAT_MAX_DECODE_PACKETS
        session = RawPolling(server, client)
        await session.open()
        response = await session.post("\x1e".join(["2"] * 17))
        assert response.status_code in (200, 400)
        assert (await session.post("3")).status_code in (200, 400)
        # unknown session ids and transports
        for url in [
            "/socket.io/?EIO=4&transport=polling&sid=nope",
            "/socket.io/?EIO=3&transport=polling",
            "/socket.io/?EIO=4&transport=carrier-pigeon",
        ]:
            assert (await client.get(server.url + url)).status_code == 400
            assert (await client.post(server.url + url, content="40")).status_code == 400
    await fresh_round_trip(server, ["polling"])
    await fresh_round_trip(server)


async def test_decode_packet_limit_is_enforced(server: ServerProcess) -> None:
    """17 packets in one POST with CHAT_MAX_DECODE_PACKETS=16: none is processed."""
    async with httpx.AsyncClient(timeout=10) as client:
        session = RawPolling(server, client)
        await session.open()
        token = server.token(unique("p"))
        assert (await session.post("40" + json.dumps({"token": token}))).status_code == 200
        reply = (await session.get()).text
        assert reply.startswith("40"), reply
        many = "\x1e".join(f'42{i}["ping",{{"t":{i}}}]' for i in range(1, 18))
        await session.post(many)
        few = "\x1e".join(f'42{i}["ping",{{"t":{i}}}]' for i in range(100, 116))
        ok = await session.post(few)
        if ok.status_code == 200:  # the session survived the refused batch: only the 16 are answered
            text = ""
            for _ in range(5):
                text += (await session.get()).text
                if "43115" in text:
                    break
            assert "43115" in text and "431[" not in text.replace("4310", "").replace("4311", "")
