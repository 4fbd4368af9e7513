"""Browser origins: the allow-list and the server's own origin pass on polling, websocket and HTTP;
everything else is refused, and a spoofed X-Forwarded-Host does not widen it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import socketio

from tests.support.clients import Recorder, unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

ALLOWED = "https://app.example.com"
SERVER_ENV = {"CHAT_CORS_ORIGINS": f"{ALLOWED},http://localhost:5173"}

REFUSED = [
    "https://evil.example.com",
    "null",
    "https://app.example.com.evil.net",
    "https://evilapp.example.com",
    "http://app.example.com",  # other scheme
    "https://app.example.com:8443",  # other port
    "https://sub.app.example.com",
    "file://",
]


def own_origin(server: ServerProcess) -> str:
    return f"http://{server.host}:{server.port}"


async def test_http_allowed_origins(server: ServerProcess, http: httpx.AsyncClient) -> None:
    for origin in (ALLOWED, own_origin(server), None):
        headers = {"Origin": origin} if origin else {}
        r = await http.get("/healthz", headers=headers)
        assert r.status_code == 200, (origin, r.text)
        if origin:
            assert r.headers.get("access-control-allow-origin") == origin
    pre = await http.options(
        "/v1/chats",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert pre.status_code in (200, 204) and pre.headers["access-control-allow-origin"] == ALLOWED
    user = unique("web")
    r = await http.get("/v1/chats", headers={"Origin": ALLOWED, "Authorization": f"Bearer {server.token(user)}"})
    assert r.status_code == 200


@pytest.mark.parametrize("origin", REFUSED)
async def test_http_refused_origins(server: ServerProcess, http: httpx.AsyncClient, origin: str) -> None:
    token = server.token(unique("web"))
    for method, path in (
        ("GET", "/healthz"),
        ("GET", "/v1/chats"),
        ("POST", "/v1/chats"),
        ("OPTIONS", "/v1/chats"),
    ):
        headers = {"Origin": origin, "Authorization": f"Bearer {token}"}
        if method == "OPTIONS":
            headers["Access-Control-Request-Method"] = "POST"
        r = await http.request(method, path, headers=headers, json={"type": "direct", "recipientId": "x"})
        assert r.status_code == 403, (origin, method, path, r.status_code)
        assert r.json()["error"]["code"] == "FORBIDDEN"
        assert "access-control-allow-origin" not in r.headers


async def test_forwarded_host_does_not_widen(server: ServerProcess, http: httpx.AsyncClient) -> None:
    evil = "https://evil.example.com"
    for headers in (
        {"Origin": evil, "X-Forwarded-Host": "evil.example.com", "X-Forwarded-Proto": "https"},
        {"Origin": evil, "Forwarded": "host=evil.example.com;proto=https"},
    ):
        r = await http.get("/healthz", headers=headers)
        assert r.status_code == 403
        r = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"}, headers=headers)
        assert r.status_code >= 400 and "access-control-allow-origin" not in r.headers
        c = Recorder(server.url, server.token(unique("x")), ["websocket"], headers=headers)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await c.connect()
        await c.disconnect()


async def test_polling_handshake_origins(server: ServerProcess, http: httpx.AsyncClient) -> None:
    params = {"EIO": "4", "transport": "polling"}
    for origin in (ALLOWED, own_origin(server)):
        r = await http.get("/socket.io/", params=params, headers={"Origin": origin})
        assert r.status_code == 200 and r.text.startswith("0{"), (origin, r.text)
        assert r.headers.get("access-control-allow-origin") == origin
    for origin in REFUSED:
        r = await http.get("/socket.io/", params=params, headers={"Origin": origin})
        assert r.status_code >= 400, (origin, r.status_code, r.text)
        assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_socket_origins(server: ServerProcess, transports: list[str]) -> None:
    good = Recorder(server.url, server.token(unique("ok")), transports, headers={"Origin": ALLOWED})
    await good.connect()
    assert (await good.call("ping", {"t": 1}))["ok"] is True
    await good.disconnect()
    for origin in ("https://evil.example.com", "null", "https://app.example.com.evil.net"):
        bad = Recorder(server.url, server.token(unique("bad")), transports, headers={"Origin": origin})
        with pytest.raises(socketio.exceptions.ConnectionError):
            await bad.connect(timeout=3)
        if transports == ["polling"]:
            # the client read the refusal itself: status and body reach it in one piece
            assert bad.connect_errors == [{"code": 4, "message": "Forbidden"}], bad.events
        assert bad.of("connected") == []
        await bad.disconnect()
        if transports == ["polling"]:  # and the refusal itself, read in full
            async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
                r = await http.get(
                    "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": origin}
                )
            assert r.status_code == 403 and r.json() == {"code": 4, "message": "Forbidden"}, (origin, r.text)
            assert "access-control-allow-origin" not in r.headers


async def test_a_refused_polling_handshake_is_written_in_one_piece(server: ServerProcess) -> None:
    """Status line, headers and body in one write: a client that acts on the status before it reads
    the body (python-engineio's closes its session first) still gets the body. Written in two, the
    first read here held only the head for most of these requests."""
    request = (
        f"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        "Origin: https://evil.example.com\r\nConnection: close\r\n\r\n"
    ).encode()
    for _ in range(20):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            writer.write(request)
            first = await asyncio.wait_for(reader.read(65536), 5)
        finally:
            writer.close()
        assert first.startswith(b"HTTP/1.1 403 "), first
        assert b'{"code":4,"message":"Forbidden"}' in first, first


async def test_raw_websocket_upgrade_refused(server: ServerProcess) -> None:
    import websockets

    url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket"
    with pytest.raises(Exception) as refused:
        async with websockets.connect(url, origin="https://evil.example.com") as ws:  # type: ignore[arg-type]
            await ws.recv()  # a refused upgrade may also be accepted then closed at once
            await ws.recv()
    assert not isinstance(refused.value, AssertionError)
    async with websockets.connect(url, origin=ALLOWED) as ws:  # type: ignore[arg-type]
        opening = await ws.recv()
        assert isinstance(opening, str) and opening.startswith("0{")


async def test_still_serving(server: ServerProcess, clients: Any) -> None:
    c = await clients(unique("last"))
    assert (await c.call("ping"))["ok"] is True


async def test_credentials_are_allowed_for_allowed_origins_only_and_never_with_a_wildcard(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    """The browser client sends cookies (withCredentials) so a load balancer's stickiness cookie
    comes back: CORS must name the origin and allow credentials for it, and only for it."""
    polling = {"EIO": "4", "transport": "polling"}
    for origin in (ALLOWED, own_origin(server)):
        for r in (
            await http.get("/socket.io/", params=polling, headers={"Origin": origin}),
            await http.get("/healthz", headers={"Origin": origin}),
            await http.options("/v1/chats", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}),
        ):
            assert r.status_code in (200, 204), (origin, r.request.url, r.text)
            assert r.headers["access-control-allow-origin"] == origin
            assert r.headers["access-control-allow-credentials"] == "true"
    for r in (
        await http.get("/socket.io/", params=polling, headers={"Origin": "https://evil.example.com"}),
        await http.get("/healthz", headers={"Origin": "https://evil.example.com"}),
    ):
        assert r.status_code == 403
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-credentials" not in r.headers
