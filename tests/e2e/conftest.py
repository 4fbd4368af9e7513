"""End-to-end fixtures: one real `chat serve` per test module (override its environment with a
module-level SERVER_ENV dict), recording Socket.IO clients, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.clients import Recorder, disconnect_all, unique
from tests.support.moto_server import MotoServer
from tests.support.server import GENEROUS_LIMITS, ServerProcess

#: generous limits so that bursts in protocol tests are not rate limited (tests of the limits set
#: their own values in SERVER_ENV)
E2E_ENV: dict[str, str | None] = {
    **GENEROUS_LIMITS,
    # the python client puts every queued packet into one polling POST
    "CHAT_MAX_DECODE_PACKETS": "1000",
}

TRANSPORTS = [pytest.param(["websocket"], id="websocket"), pytest.param(["polling"], id="polling")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[MotoServer]:
    """One moto_server process for the DynamoDB leg of the whole e2e session (a table per module)."""
    moto = MotoServer().start()
    yield moto
    moto.close()


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings that put a test's own server on SQLite (its temp file) or on DynamoDB (moto_server)."""
    if request.param == "sqlite":
        return {}
    moto: MotoServer = request.getfixturevalue("moto_endpoint")
    table = "e2e-" + unique("t").lower()
    moto.create_table(table)
    return {**moto.env(), "CHAT_STORE": "dynamodb", "CHAT_DYNAMODB_TABLE": table}


@pytest.fixture(scope="module", params=["sqlite", "dynamodb"])
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """The same protocol suite against both stores: SQLite, and DynamoDB through moto_server."""
    env = {**E2E_ENV, **getattr(request.module, "SERVER_ENV", {})}
    if request.param == "dynamodb":
        moto: MotoServer = request.getfixturevalue("moto_endpoint")
        table = "e2e-" + request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
        moto.create_table(table)
        env.update({**moto.env(), "CHAT_STORE": "dynamodb", "CHAT_DYNAMODB_TABLE": table})
    proc = ServerProcess(env)
    proc.start()
    yield proc
    code = proc.stop()
    log = proc.log_text()
    proc.close()
    assert code == 0, f"server exited with {code}:\n{log[-4000:]}"
    at = log.find("Traceback")
    assert at < 0, f"server logged a traceback:\n{log[max(0, at - 1500) : at + 4000]}"


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


ClientFactory = Callable[..., Awaitable[Recorder]]


@pytest.fixture
async def clients(server: ServerProcess) -> AsyncIterator[ClientFactory]:
    """`await clients("alice", transports)`: a connected Recorder for that user (token from the
    server's secret), disconnected after the test."""
    made: list[Recorder] = []

    async def make(
        user_id: str,
        transports: list[str] | None = None,
        *,
        connect: bool = True,
        token: str | object | None = ...,
        **kwargs: Any,
    ) -> Recorder:
        tok = server.token(user_id) if token is ... else token
        client = Recorder(server.url, tok, transports, name=user_id, **kwargs)  # type: ignore[arg-type]
        made.append(client)
        if connect:
            await client.connect()
        return client

    yield make
    await disconnect_all(*made)


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture
def uid() -> Callable[[str], str]:
    return unique


def bearer(server: ServerProcess, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(user_id)}"}
