"""Two Servers in one process, each with its own RedisAdapter on the Redis at 127.0.0.1:6379 and
its own uvicorn, driven by python-socketio clients: broadcasts across nodes, their order, `skip`,
the write-only RedisPublisher, no local double delivery, and resync after a lost subscription.

Each test has a channel of its own. No Redis there is a failure, not a skip (CI starts one)."""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from chat_core.engine import Namespace, Server, Socket
from chat_core.engine.pubsub import RESYNC_EVENT, RedisAdapter, RedisPublisher
from tests.support.redis_server import SHARED_REDIS_URL, shared_redis_client

from .conftest import WAIT_S, Client, Harness, Live

pytestmark = pytest.mark.redis

REDIS_URL = SHARED_REDIS_URL


class RoomNamespace(Namespace):
    def on_event(self, socket: Socket, event: str, args: list[Any], ack_id: int | None) -> None:
        if event == "join":
            socket.join(args[0])
        if ack_id is not None:
            socket.ack(ack_id)


@dataclass
class Node:
    name: str
    server: Server
    adapter: RedisAdapter
    live: Live
    reconnects: list[str]

    async def client(self, harness: Harness, *rooms: str) -> Client:
        client = await harness.connect(self.live, transports=["websocket"])
        for room in rooms:
            await client.sio.call("join", room, timeout=WAIT_S)
        return client


@dataclass
class Cluster:
    a: Node
    b: Node
    channel: str

    async def settle(self, *clients: Client) -> None:
        """Once every client has both markers, everything emitted before has arrived: A's marker
        follows A's earlier publishes on B's subscription, B's marker follows all of them (A's
        own too, were they looped back) on A's."""
        self.a.server.emit("marker-a")
        await asyncio.wait_for(self.a.adapter.flush(), WAIT_S)
        self.b.server.emit("marker-b")
        await asyncio.wait_for(self.b.adapter.flush(), WAIT_S)
        for client in clients:
            await client.wait_event("marker-a")
            await client.wait_event("marker-b")


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    async for client in shared_redis_client("the engine's pub/sub tests"):
        yield client


@pytest.fixture
async def cluster(harness: Harness, redis_client: aioredis.Redis) -> AsyncIterator[Cluster]:
    channel = "test-engine-" + secrets.token_hex(8)
    nodes: list[Node] = []
    try:
        for name in ("a", "b"):
            server = Server()
            server.register(RoomNamespace())
            reconnects: list[str] = []
            client_name = f"{channel}-{name}"  # to find this node's connections in CLIENT LIST
            adapter = RedisAdapter(
                server,
                f"{REDIS_URL}?client_name={client_name}",
                channel=channel,
                node_id=f"node-{name}-{channel}",
                on_reconnect=functools.partial(reconnects.append, "reconnected"),
            )
            await adapter.start()
            node = Node(name, server, adapter, await harness.serve(server), reconnects)
            nodes.append(node)
            await asyncio.wait_for(adapter.subscribed.wait(), WAIT_S)
        yield Cluster(nodes[0], nodes[1], channel)
    finally:
        for node in nodes:
            await node.adapter.stop()


async def test_emit_on_one_node_reaches_each_room_member_once(harness: Harness, cluster: Cluster) -> None:
    a1 = await cluster.a.client(harness, "room")
    a2 = await cluster.a.client(harness)
    b1 = await cluster.b.client(harness, "room")
    b2 = await cluster.b.client(harness)
    cluster.a.server.emit("news", {"from": "a"}, to="room")
    cluster.b.server.emit("news", {"from": "b"}, to="room")
    await cluster.settle(a1, a2, b1, b2)
    for client in (a1, b1):  # the local one first, then the other node's
        assert sorted(args[0]["from"] for args in client.got("news")) == ["a", "b"]
    assert a2.got("news") == []
    assert b2.got("news") == []
    # a socket's sid addresses it across nodes too
    cluster.a.server.emit("direct", "to b2", to=b2.sid())
    cluster.b.server.emit("direct", "to a2", to=[a2.sid()])
    await cluster.settle(a1, a2, b1, b2)
    assert b2.got("direct") == [("to b2",)]
    assert a2.got("direct") == [("to a2",)]
    assert a1.got("direct") == b1.got("direct") == []


async def test_order_of_many_emits_is_kept_across_nodes(harness: Harness, cluster: Cluster) -> None:
    a1 = await cluster.a.client(harness, "room")
    b1 = await cluster.b.client(harness, "room")
    count = 200
    for i in range(count):
        cluster.a.server.emit("seq", i, {"pad": "x" * (i % 7)}, to="room")
    await b1.wait_event("seq", count)
    await cluster.settle(a1, b1)
    assert [args[0] for args in b1.got("seq")] == list(range(count))
    assert [args[0] for args in a1.got("seq")] == list(range(count))


async def test_skip_applies_on_every_node(harness: Harness, cluster: Cluster) -> None:
    a1 = await cluster.a.client(harness, "room")
    a2 = await cluster.a.client(harness, "room")
    b1 = await cluster.b.client(harness, "room")
    b2 = await cluster.b.client(harness, "room")
    cluster.a.server.emit("news", to="room", skip=[a1.sid(), b1.sid()])
    cluster.b.server.emit("everyone", skip={a2.sid(), b2.sid()})
    await cluster.settle(a1, a2, b1, b2)
    assert [len(c.got("news")) for c in (a1, a2, b1, b2)] == [0, 1, 0, 1]
    assert [len(c.got("everyone")) for c in (a1, a2, b1, b2)] == [1, 0, 1, 0]


async def test_publisher_reaches_sockets_on_both_nodes(harness: Harness, cluster: Cluster) -> None:
    a1 = await cluster.a.client(harness, "room")
    a2 = await cluster.a.client(harness)
    b1 = await cluster.b.client(harness, "room")
    b2 = await cluster.b.client(harness)
    publisher = RedisPublisher(REDIS_URL, channel=cluster.channel)
    try:
        await publisher.emit("pub", {"x": 1, "blob": b"\x00\x01"}, to="room")
        await publisher.emit("all", [1, 2])
        await publisher.emit("skipped", "s", skip=[a1.sid(), b2.sid()])
        await publisher.emit("nobody", "n", to=[])
    finally:
        await publisher.close()
    await cluster.settle(a1, a2, b1, b2)
    for client in (a1, b1):
        assert client.got("pub") == [({"x": 1, "blob": b"\x00\x01"},)]
    for client in (a2, b2):
        assert client.got("pub") == []
    for client in (a1, a2, b1, b2):
        assert client.got("all") == [([1, 2],)]
        assert client.got("nobody") == []
    assert [len(c.got("skipped")) for c in (a1, a2, b1, b2)] == [0, 1, 1, 0]


async def test_own_publishes_are_not_delivered_twice_locally(harness: Harness, cluster: Cluster) -> None:
    a1 = await cluster.a.client(harness)
    b1 = await cluster.b.client(harness)
    for i in range(20):
        cluster.a.server.emit("from-a", i)
        cluster.b.server.emit("from-b", i)
    await cluster.settle(a1, b1)
    for client in (a1, b1):
        assert [args[0] for args in client.got("from-a")] == list(range(20))
        assert [args[0] for args in client.got("from-b")] == list(range(20))


async def test_server_events_reach_the_other_nodes_servers_in_order_with_broadcasts(
    harness: Harness, cluster: Cluster
) -> None:
    """server_emit reaches every other node's handler (not its own, not any socket), in the same
    ordered stream as broadcasts; a publisher's reaches every node."""
    seen: dict[str, list[Any]] = {"a": [], "b": []}
    for node in (cluster.a, cluster.b):
        node.server.server_event_handlers["note"] = seen[node.name].append
    b1 = await cluster.b.client(harness)
    for i in range(10):
        cluster.a.server.server_emit("note", {"i": i})
        cluster.a.server.emit("after", i)
    cluster.a.server.server_emit("unhandled", {"dropped": True})
    await asyncio.wait_for(cluster.a.adapter.flush(), WAIT_S)  # the publisher's comes after
    publisher = RedisPublisher(REDIS_URL, channel=cluster.channel)
    try:
        await publisher.server_emit("note", {"from": "publisher"})
    finally:
        await publisher.close()
    await cluster.settle(b1)
    assert seen["b"] == [{"i": i} for i in range(10)] + [{"from": "publisher"}]
    assert seen["a"] == [{"from": "publisher"}]
    assert [args[0] for args in b1.got("after")] == list(range(10))
    assert b1.got("note") == []


async def pubsub_client_ids(redis: aioredis.Redis, name: str) -> list[str]:
    return [str(entry["id"]) for entry in await redis.client_list(_type="pubsub") if entry.get("name") == name]


async def test_lost_subscription_makes_local_sockets_resync(
    harness: Harness, cluster: Cluster, redis_client: aioredis.Redis
) -> None:
    a1 = await cluster.a.client(harness)
    b1 = await cluster.b.client(harness)
    ids = await pubsub_client_ids(redis_client, f"{cluster.channel}-a")
    assert len(ids) == 1, f"node A's subscription in CLIENT LIST: {ids}"
    for client_id in ids:
        await redis_client.client_kill_filter(_id=client_id)
    (args,) = await a1.wait_event(RESYNC_EVENT)
    assert args == ({"reason": "pubsub_reconnected"},)
    assert cluster.a.reconnects == ["reconnected"]
    # node A is subscribed again: B's broadcasts reach it; B's sockets were not asked to resync
    await cluster.settle(a1, b1)
    assert b1.got(RESYNC_EVENT) == []
    assert cluster.b.reconnects == []
    assert len(await pubsub_client_ids(redis_client, f"{cluster.channel}-a")) == 1
