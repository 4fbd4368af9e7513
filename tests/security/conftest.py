"""Security suite: every test talks to a real `chat serve` on 127.0.0.1 (plus in-process property
tests of the service). Heavy tests are marked `slow`; the default `pytest` run includes them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.server import GENEROUS_LIMITS, ServerProcess

from .helpers import assert_no_traceback

#: generous limits, so tests that are not about a limit never meet one
OPEN_LIMITS: dict[str, str | None] = {
    **GENEROUS_LIMITS,
    "CHAT_MAX_FRAME_BYTES": "16384",
    "CHAT_MAX_HTTP_BODY_BYTES": "16384",
    "CHAT_CORS_ORIGINS": "https://chat.example.com,http://localhost:5173",
    "CHAT_LOG_LEVEL": "INFO",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/security/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """One server per module (a module overrides its environment with SERVER_ENV); at the end it
    must exit 0 and must not have logged a traceback."""
    env = {**OPEN_LIMITS, **getattr(request.module, "SERVER_ENV", {})}
    proc = ServerProcess(env)
    proc.start()
    yield proc
    code = proc.stop()
    log = proc.log_text()
    proc.close()
    assert code == 0, f"server exited with {code}:\n{log[-4000:]}"
    assert_no_traceback(log)


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client
