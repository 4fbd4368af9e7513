"""Three real `chat serve` nodes sharing one store and a private redis-server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
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
    # a burst of 200 through moto_server on a busy machine keeps a send's store work longer than
    # the 5 s after which a node stops holding a chat's order for it (clients order by seq, but
    # the burst test checks the order a socket receives)
    "CHAT_SEND_ORDER_TIMEOUT_S": "60",
}
LIMITED_SEND_BURST = 6


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


@contextlib.contextmanager
def running_cluster(
    store: str, redis_server: RedisServer, tmp_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[Cluster]:
    """Three nodes on `store` ("dynamodb" through a moto_server process, or one shared SQLite
    file) and the redis-server, with NODE_ENV and then `env`."""
    store_env: dict[str, str | None] = {}
    moto: MotoServer | None = None
    if store == "dynamodb":
        moto = MotoServer().start()
        moto.create_table("chat-cluster")
        store_env = {**moto.env(), "CHAT_STORE": "dynamodb", "CHAT_DYNAMODB_TABLE": "chat-cluster"}
    db = tmp_path / "shared.db"
    nodes = [
        ServerProcess(
            {
                **NODE_ENV,
                **store_env,
                **(env or {}),
                "CHAT_REDIS_URL": redis_server.url,
                "CHAT_NODE_ID": f"node-{i}",
            },
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


@pytest.fixture(params=["dynamodb", "sqlite"])
def cluster(request: pytest.FixtureRequest, redis_server: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    """Production shape (DynamoDB through a moto_server process) and one shared SQLite file."""
    with running_cluster(request.param, redis_server, tmp_path) as running:
        yield running


@pytest.fixture
def limited_cluster(redis_server: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    """Three nodes with a small send budget (burst LIMITED_SEND_BURST, no refill to speak of),
    shared through the redis-server: the budget is the user's, not each node's."""
    with running_cluster(
        "sqlite", redis_server, tmp_path, {"CHAT_SEND_RATE": "0.01", "CHAT_SEND_BURST": str(LIMITED_SEND_BURST)}
    ) as running:
        yield running
