"""Three real `chat serve` nodes sharing one store and a private redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.moto_server import MotoServer
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess

NODE_ENV = {
    "CHAT_PRESENCE_GRACE_S": "0.5",
    "CHAT_PRESENCE_TTL_S": "3",
    "CHAT_CLEANUP_INTERVAL_S": "0.5",
    "CHAT_DRAIN_TIMEOUT_S": "5",
    # the burst test sends 200 at once: a script's rate, which the default limits refuse on purpose
    "CHAT_SEND_RATE": "1000",
    "CHAT_SEND_BURST": "1000",
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


@pytest.fixture(params=["dynamodb", "sqlite"])
def cluster(request: pytest.FixtureRequest, redis_server: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    """Production shape (DynamoDB through a moto_server process) and one shared SQLite file."""
    store_env: dict[str, str | None] = {}
    moto: MotoServer | None = None
    if request.param == "dynamodb":
        moto = MotoServer().start()
        moto.create_table("chat-cluster")
        store_env = {**moto.env(), "CHAT_STORE": "dynamodb", "CHAT_DYNAMODB_TABLE": "chat-cluster"}
    db = tmp_path / "shared.db"
    nodes = [
        ServerProcess(
            {**NODE_ENV, **store_env, "CHAT_REDIS_URL": redis_server.url, "CHAT_NODE_ID": f"node-{i}"},
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
        if moto is not None:
            moto.close()
