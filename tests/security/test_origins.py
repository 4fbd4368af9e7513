"""CHAT_CORS_ORIGINS is enforced on polling and websocket handshakes and on HTTP: foreign, `null`
and look-alike origins are refused; a spoofed X-Forwarded-Host does not widen the list."""

from __future__ import annotations

import httpx
import pytest
import websockets

from tests.support.server import ServerProcess

from .helpers import EIO_PATH, RawSocket, bearer, fresh_round_trip

ALLOWED = ["https://chat.example.com", "http://localhost:5173"]
REFUSED = [
    "https://evil.example.com",
    "null",
    "https://chat.example.com.evil.com",
    "https://chat-example.com",
    "http://chat.example.com",  # scheme differs
    "https://chat.example.com:8443",
    "http://localhost:51730",
    "https://xn--chat-xyz.example.com",
    "file://",
]


def spoof(server: ServerProcess, origin: str) -> dict[str, str]:
    host = origin.split("://", 1)[-1]
    return {"Origin": origin, "X-Forwarded-Host": host, "X-Forwarded-Proto": origin.split(":", 1)[0]}


@pytest.mark.parametrize("origin", REFUSED)
async def test_foreign_origins_are_refused_everywhere(server: ServerProcess, origin: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        for headers in ({"Origin": origin}, spoof(server, origin)):
            polling = await http.get(EIO_PATH + "polling", headers=headers)
            assert polling.status_code == 403, (origin, polling.text)  # Engine.IO's "Forbidden", code 4
            assert polling.json() == {"code": 4, "message": "Forbidden"}
            api = await http.get("/v1/chats", headers={**headers, **bearer(server, "alice")})
            assert api.status_code == 403 and api.json()["error"]["code"] == "FORBIDDEN"
            assert "access-control-allow-origin" not in api.headers
            preflight = await http.options(
                "/v1/chats", headers={**headers, "Access-Control-Request-Method": "POST"}
            )
            assert preflight.status_code == 403
            with pytest.raises(websockets.InvalidStatus):
                await RawSocket(
                    server, origin=origin, headers={k: v for k, v in headers.items() if k != "Origin"}
                ).open()


@pytest.mark.parametrize("origin", ALLOWED)
async def test_listed_origins_are_served(server: ServerProcess, origin: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        polling = await http.get(EIO_PATH + "polling", headers={"Origin": origin})
        assert polling.status_code == 200 and polling.text.startswith("0")
        api = await http.get("/v1/chats", headers={"Origin": origin, **bearer(server, "alice")})
        assert api.status_code == 200 and api.headers["access-control-allow-origin"] == origin
        preflight = await http.options(
            "/v1/chats", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 204
    raw = await RawSocket(server, origin=origin).open()
    await raw.connect_ns(server.token("alice"))
    assert (await raw.call("ping", {"t": 1}))["ok"] is True
    await raw.close()


async def test_own_origin_and_no_origin_are_served(server: ServerProcess) -> None:
    own = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        assert (
            await http.get("/v1/chats", headers={"Origin": own, **bearer(server, "a")})
        ).status_code == 200
        assert (await http.get("/v1/chats", headers=bearer(server, "a"))).status_code == 200
        assert (await http.get(EIO_PATH + "polling", headers={"Origin": own})).status_code == 200
    raw = await RawSocket(server, origin=own).open()
    await raw.close()
    await fresh_round_trip(server)
