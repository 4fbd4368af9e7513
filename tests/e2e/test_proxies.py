"""Behind a load balancer: X-Forwarded-Proto counts only from trusted proxies (CHAT_TRUSTED_PROXIES),
on polling, WebSocket and the HTTP API alike; /metrics on its own port stays off the public one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.e2e

#: an https page served by the same host name as the server (what a page behind an ALB is)
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def page_origin(server: ServerProcess) -> str:
    return f"https://{server.host}:{server.port}"


async def polling_handshake(server: ServerProcess, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"}, headers=headers)
        return r.status_code


async def http_api(server: ServerProcess, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return (await http.get("/healthz", headers=headers)).status_code


async def websocket_upgrade(server: ServerProcess, headers: dict[str, str]) -> int:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    lines = [
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
        f"Host: {server.host}:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status.split()[1])


CHECKS = [polling_handshake, http_api, websocket_upgrade]


@pytest.fixture
def untrusting() -> Iterator[ServerProcess]:
    server = ServerProcess({"CHAT_CORS_ORIGINS": "https://app.example.com"}).start()
    yield server
    server.close()


@pytest.fixture
def behind_a_proxy() -> Iterator[ServerProcess]:
    metrics_port = free_port()
    server = ServerProcess(
        {
            "CHAT_CORS_ORIGINS": "https://app.example.com",
            "CHAT_TRUSTED_PROXIES": "127.0.0.1",
            "CHAT_METRICS_PORT": str(metrics_port),
        }
    ).start()
    server.metrics_port = metrics_port  # type: ignore[attr-defined]
    yield server
    server.close()


async def test_forged_forwarded_headers_from_an_untrusted_peer_change_nothing(untrusting: ServerProcess) -> None:
    headers = {"Origin": page_origin(untrusting), **FORWARDED}
    for check in CHECKS:
        assert await check(untrusting, headers) == 403, check.__name__
    # the same server's own plain-http origin passes, forwarded headers or not
    for check in CHECKS:
        own = {"Origin": f"http://{untrusting.host}:{untrusting.port}", **FORWARDED}
        assert await check(untrusting, own) in (101, 200), check.__name__


async def test_a_trusted_proxy_tells_the_scheme_of_the_page(behind_a_proxy: ServerProcess) -> None:
    headers = {"Origin": page_origin(behind_a_proxy), **FORWARDED}
    for check in CHECKS:
        assert await check(behind_a_proxy, headers) in (101, 200), check.__name__
    # without the header, the https page is another origin than the plain-http server
    for check in CHECKS:
        assert await check(behind_a_proxy, {"Origin": page_origin(behind_a_proxy)}) == 403, check.__name__


async def test_metrics_on_their_own_port_only(behind_a_proxy: ServerProcess) -> None:
    port = behind_a_proxy.metrics_port  # type: ignore[attr-defined]
    async with httpx.AsyncClient() as http:
        public = await http.get(f"{behind_a_proxy.url}/metrics")
        private = await http.get(f"http://{behind_a_proxy.host}:{port}/metrics")
    assert public.status_code == 404
    assert private.status_code == 200 and "chat_connections" in private.text
