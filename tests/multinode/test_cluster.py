"""Three real nodes, one redis-server, one shared store: fan-out, presence and faults across nodes."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid

import httpx
import pytest

from tests.support.clients import Recorder, disconnect_all, unique
from tests.support.follower import Follower

from .conftest import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.slow]


async def open_direct(client: Recorder, peer: str) -> str:
    ack = await client.ok("join_chat", {"recipientId": peer})
    return str(ack["chat"]["id"])


async def test_messages_and_read_receipts_cross_nodes(cluster: Cluster) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await Recorder(cluster.url(0), cluster.token(alice_id), name="alice").connect()
    bob = await Recorder(cluster.url(1), cluster.token(bob_id), name="bob").connect()
    bob_tab = await Recorder(cluster.url(2), cluster.token(bob_id), name="bob-tab").connect()
    try:
        chat_id = await open_direct(alice, bob_id)
        sent = await alice.ok("send_message", {"chatId": chat_id, "content": "hi", "clientMessageId": "x1"})
        for tab in (bob, bob_tab):
            message = await tab.wait_for("new_message")
            assert message == sent["message"]
            unread = await tab.wait_for("unread_count", lambda d: d["unreadCount"] == 1)
            assert unread == {"chatId": chat_id, "unreadCount": 1, "totalUnread": 1}
        read = await bob.ok("mark_messages_read", {"chatId": chat_id})
        assert read["readSeq"] == 1 and read["unreadCount"] == 0
        receipt = await alice.wait_for("messages_read")
        assert receipt == {"chatId": chat_id, "userId": bob_id, "readSeq": 1}
        await bob_tab.wait_for("unread_count", lambda d: d["unreadCount"] == 0)
    finally:
        await disconnect_all(alice, bob, bob_tab)


async def test_a_burst_through_one_node_arrives_complete_and_in_order_on_another(cluster: Cluster) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await Recorder(cluster.url(0), cluster.token(alice_id), name="alice").connect()
    bob = await Recorder(cluster.url(2), cluster.token(bob_id), name="bob").connect()
    try:
        chat_id = await open_direct(alice, bob_id)
        acks = await asyncio.gather(
            *(
                alice.ok(
                    "send_message", {"chatId": chat_id, "content": f"m{i}", "clientMessageId": f"b{i}"}, timeout=60
                )
                for i in range(200)
            )
        )
        assert sorted(a["message"]["seq"] for a in acks) == list(range(1, 201))
        received = await bob.wait_count("new_message", 200, timeout=20)
        assert [m["seq"] for m in received] == list(range(1, 201))
        # one more through the same node: a copy of any of the 200 would arrive before it
        last = await alice.ok("send_message", {"chatId": chat_id, "content": "last", "clientMessageId": "b-last"})
        await bob.wait_for("new_message", lambda m: m["id"] == last["message"]["id"])
        assert [m["seq"] for m in bob.of("new_message")] == list(range(1, 202))
    finally:
        await disconnect_all(alice, bob)


async def test_an_http_send_on_one_node_reaches_a_socket_on_another(cluster: Cluster) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = await Recorder(cluster.url(1), cluster.token(bob_id), name="bob").connect()
    try:
        async with httpx.AsyncClient(base_url=cluster.url(0)) as http:
            headers = {"authorization": f"Bearer {cluster.token(alice_id)}"}
            created = await http.post("/v1/chats", json={"type": "direct", "recipientId": bob_id}, headers=headers)
            assert created.status_code == 201
            chat_id = created.json()["id"]
            sent = await http.post(
                f"/v1/chats/{chat_id}/messages", json={"content": "over http", "clientMessageId": "h1"}, headers=headers
            )
            assert sent.status_code == 201
        message = await bob.wait_for("new_message")
        assert message == sent.json()
    finally:
        await disconnect_all(bob)


async def test_presence_is_announced_once_for_the_whole_cluster(cluster: Cluster) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = await Recorder(cluster.url(1), cluster.token(bob_id), name="bob").connect()
    seed = await Recorder(cluster.url(0), cluster.token(alice_id), name="seed").connect()
    await open_direct(seed, bob_id)
    await seed.disconnect()
    await bob.wait_for("user_offline", lambda d: d["userId"] == alice_id, timeout=5)
    bob.clear()
    tabs = [Recorder(cluster.url(i), cluster.token(alice_id), name=f"alice-{i}") for i in (0, 2)]
    try:
        await asyncio.gather(*(t.connect() for t in tabs))
        await bob.wait_for("user_online", lambda d: d["userId"] == alice_id)
        await disconnect_all(*tabs)
        await bob.wait_for("user_offline", lambda d: d["userId"] == alice_id, timeout=5)
        await asyncio.sleep(1.0)  # past the other node's 0.5 s grace timer: a real timer
        # then a message through each node that held a tab: what they announced is ahead of it
        for node in (0, 2):
            sent = await send_over_http(cluster, node, unique("carol"), bob_id, f"via node {node}")
            await bob.wait_for("new_message", lambda m, i=sent["id"]: m["id"] == i)
        assert len(bob.of("user_online", lambda d: d["userId"] == alice_id)) == 1
        assert len(bob.of("user_offline", lambda d: d["userId"] == alice_id)) == 1
    finally:
        await disconnect_all(bob, *tabs)


async def send_over_http(cluster: Cluster, node: int, sender: str, recipient: str, content: str) -> dict[str, str]:
    """A message from `sender` to `recipient` through node `node`'s HTTP API."""
    async with httpx.AsyncClient(base_url=cluster.url(node), timeout=10) as http:
        headers = {"authorization": f"Bearer {cluster.token(sender)}"}
        chat = await http.post("/v1/chats", json={"type": "direct", "recipientId": recipient}, headers=headers)
        assert chat.status_code in (200, 201), chat.text
        sent = await http.post(
            f"/v1/chats/{chat.json()['id']}/messages",
            json={"content": content, "clientMessageId": uuid.uuid4().hex},
            headers=headers,
        )
        assert sent.status_code == 201, sent.text
        return dict(sent.json())


async def test_a_killed_node_is_reaped_and_its_users_announced_offline(cluster: Cluster) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await Recorder(cluster.url(0), cluster.token(alice_id), name="alice").connect()
    bob = await Recorder(cluster.url(2), cluster.token(bob_id), name="bob").connect()
    try:
        chat_id = await open_direct(alice, bob_id)
        active = await alice.ok("get_active_users", {"chatId": chat_id})
        assert {u["userId"]: u["online"] for u in active["users"]} == {alice_id: True, bob_id: True}
        assert cluster.nodes[2].stop(signal.SIGKILL) == -signal.SIGKILL
        # TTL 3 s + one 0.5 s cleanup interval, plus scheduling slack
        offline = await alice.wait_for("user_offline", lambda d: d["userId"] == bob_id, timeout=8)
        assert offline["lastSeen"]
        active = await alice.ok("get_active_users", {"chatId": chat_id})
        assert {u["userId"]: u["online"] for u in active["users"]} == {alice_id: True, bob_id: False}
    finally:
        await disconnect_all(alice, bob)


async def paced_sends(sender: Recorder, chat_id: str, count: int, every_s: float) -> set[int]:
    acked: set[int] = set()
    for i in range(count):
        ack = await sender.call(
            "send_message", {"chatId": chat_id, "content": f"n{i}", "clientMessageId": uuid.uuid4().hex}
        )
        assert ack["ok"], ack
        acked.add(ack["message"]["seq"])
        await asyncio.sleep(every_s)
    return acked


async def test_a_sigtermed_node_loses_nothing(cluster: Cluster) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await Recorder(cluster.url(0), cluster.token(alice_id), name="alice").connect()
    chat_id = await open_direct(alice, bob_id)
    bob = Follower([n.url for n in cluster.nodes], cluster.token(bob_id), chat_id, name="bob")
    await bob.connect(1)
    try:
        sending = asyncio.create_task(paced_sends(alice, chat_id, 80, 0.02))
        await asyncio.sleep(0.6)
        stopping = asyncio.get_running_loop().run_in_executor(None, cluster.nodes[1].stop)
        acked = await sending
        assert await stopping == 0
        await bob.settle(acked)
        assert bob.drains == 1 and bob.moves >= 1 and bob.live_duplicates == 0
        assert "drained" in cluster.nodes[1].log_text()
    finally:
        await bob.close()
        await disconnect_all(alice)


async def test_a_redis_restart_mid_stream_loses_nothing_once_clients_resync(cluster: Cluster) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await Recorder(cluster.url(0), cluster.token(alice_id), name="alice").connect()
    chat_id = await open_direct(alice, bob_id)
    bob = Follower([n.url for n in cluster.nodes], cluster.token(bob_id), chat_id, name="bob")
    await bob.connect(1)
    try:
        sending = asyncio.create_task(paced_sends(alice, chat_id, 100, 0.03))
        await asyncio.sleep(0.8)
        cluster.redis.stop()  # sends keep being stored and acked meanwhile
        await asyncio.sleep(1.0)
        cluster.redis.start()
        acked = await sending
        assert len(acked) == 100
        await bob.settle(acked, within=20)
        assert bob.resyncs >= 1 and bob.live_duplicates == 0
        async with httpx.AsyncClient(base_url=cluster.url(1)) as http:
            metrics = (await http.get("/metrics")).text
        reconnects = re.search(r"^chat_pubsub_reconnects_total (\S+)$", metrics, re.MULTILINE)
        assert reconnects is not None and float(reconnects.group(1)) >= 1
    finally:
        await bob.close()
        await disconnect_all(alice)


@pytest.mark.parametrize("cluster", ["dynamodb"], indirect=True)
async def test_one_chat_sent_to_from_two_nodes_at_once_overlaps_its_sends(cluster: Cluster) -> None:
    """Sends to one chat overlap their store round trips (no per-chat queue behind three writes
    each): 100 at once from each of two nodes, on DynamoDB (moto server), all ack sooner than
    200 sends one after another would;
    each node emits its own in seq order, and the history holds each message once."""
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await Recorder(cluster.url(0), cluster.token(alice_id), name="alice").connect()
    bob = await Recorder(cluster.url(1), cluster.token(bob_id), name="bob").connect()
    try:
        chat_id = await open_direct(alice, bob_id)
        await bob.ok("join_chat", {"chatId": chat_id})

        async def burst(client: Recorder, tag: str) -> list[dict[str, object]]:
            return await asyncio.gather(
                *(
                    client.ok(
                        "send_message",
                        {"chatId": chat_id, "content": f"{tag}{i}", "clientMessageId": f"{tag}{i}"},
                        timeout=30,
                    )
                    for i in range(100)
                )
            )

        # relative, not a wall-clock bound (the machine may be busy): 200 overlapping sends take
        # less than the same number one after another (measured here on 20); moto answers one
        # request at a time, so overlap gains about a third there, and a per-chat queue none
        clock = asyncio.get_running_loop().time
        started = clock()
        for i in range(20):
            await alice.ok("send_message", {"chatId": chat_id, "content": f"s{i}", "clientMessageId": f"s{i}"})
        one_by_one = (clock() - started) / 20
        await bob.wait_count("new_message", 20, timeout=20)
        bob.events.clear()
        started = clock()
        acks = await asyncio.gather(burst(alice, "a"), burst(bob, "b"))
        elapsed = clock() - started
        assert elapsed < 200 * one_by_one, (
            f"200 sends into one chat took {elapsed:.1f} s; one after another, each took {one_by_one * 1000:.0f} ms"
        )
        seqs = [int(a["message"]["seq"]) for acked in acks for a in acked]  # type: ignore[call-overload]
        assert len(set(seqs)) == 200
        for client, other in ((alice, "b"), (bob, "a")):
            received = await client.wait_count("new_message", 100, timeout=20)
            assert [m["content"][0] for m in received] == [other] * 100
            assert [m["seq"] for m in received] == sorted(m["seq"] for m in received)
        stored: list[str] = []
        after, more = 0, True
        while more:
            page = await alice.ok("get_messages", {"chatId": chat_id, "afterSeq": after, "limit": 100})
            stored += [m["clientMessageId"] for m in page["messages"]]
            after, more = page["messages"][-1]["seq"], page["hasMore"]
        expected = [f"s{i}" for i in range(20)] + [f"a{i}" for i in range(100)] + [f"b{i}" for i in range(100)]
        assert sorted(stored) == sorted(expected)
    finally:
        await disconnect_all(alice, bob)
