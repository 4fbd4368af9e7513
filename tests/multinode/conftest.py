"""Three real `chat serve` nodes sharing one store and a private redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess

NODE_ENV = {
    "CHAT_PRESENCE_GRACE_S": "0.5",
    "CHAT_PRESENCE_TTL_S": "3",
    "CHAT_CLEANUP_INTERVAL_S": "0.5",
    "CHAT_DRAIN_TIMEOUT_S": "5",
}


class Cluster:
    def __init__(self, redis: RedisServer, nodes: list[ServerProcess]) -> None:
        self.redis = redis
        self.nodes = nodes

    def url(self, index: int) -> str:
        return self.nodes[index].url

    def token(self, user_id: str) -> str:
        return self.nodes[0].token(user_id)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def cluster(redis_server: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    db = tmp_path / "shared.db"
    nodes = [
        ServerProcess(
            {**NODE_ENV, "CHAT_REDIS_URL": redis_server.url, "CHAT_NODE_ID": f"node-{i}"},
            db_path=db,
        )
        for i in range(3)
    ]
    try:
        for node in nodes:
            node.start()
        yield Cluster(redis_server, nodes)
    finally:
        for node in nodes:
            node.close()
