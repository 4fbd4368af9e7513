"""Fixtures shared by every suite. Keep this small: suite-specific fixtures live beside the suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server import ServerProcess


@pytest.fixture
def server_factory() -> Iterator[type[ServerProcess]]:
    """Build ServerProcess objects that are stopped and cleaned up after the test:
    `server = server_factory({"CHAT_DEV": "1"}).start()`."""
    made: list[ServerProcess] = []

    class _Tracked(ServerProcess):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    yield _Tracked
    for server in made:
        server.close()
