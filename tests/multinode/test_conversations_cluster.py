"""Conversations across three real nodes, on DynamoDB (moto_server) and on one shared SQLite file:
threads per topic, group membership that changes under live sockets on every node, blocking,
and the inbox (list_chats) moving with the messages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.clients import Recorder, disconnect_all, unique

from .conftest import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.slow]


async def send(client: Recorder, chat_id: str, content: str, cmid: str) -> dict[str, Any]:
    ack = await client.ok("send_message", {"chatId": chat_id, "content": content, "clientMessageId": cmid})
    return dict(ack["message"])


def in_chat(chat_id: str) -> Any:
    return lambda m: m["chatId"] == chat_id


async def test_two_buyers_and_one_seller_get_a_thread_per_listing(cluster: Cluster) -> None:
    seller_id, buyer1_id, buyer2_id = unique("seller"), unique("buyer1"), unique("buyer2")
    seller = await Recorder(cluster.url(0), cluster.token(seller_id), name="seller").connect()
    buyer1 = await Recorder(cluster.url(1), cluster.token(buyer1_id), name="buyer1").connect()
    buyer2 = await Recorder(cluster.url(2), cluster.token(buyer2_id), name="buyer2").connect()
    try:
        lamp = (await buyer1.ok("join_chat", {"recipientId": seller_id, "topic": "listing-lamp"}))["chat"]
        sofa = (await buyer2.ok("join_chat", {"recipientId": seller_id, "topic": "listing-sofa"}))["chat"]
        lamp_again = (await buyer1.ok("join_chat", {"recipientId": seller_id, "topic": "listing-lamp"}))["chat"]
        assert lamp["id"] != sofa["id"] and lamp_again["id"] == lamp["id"]
        assert (lamp["topic"], sofa["topic"], lamp["type"]) == ("listing-lamp", "listing-sofa", "direct")

        await send(buyer1, lamp["id"], "is the lamp available?", "b1-1")
        await send(buyer2, sofa["id"], "is the sofa available?", "b2-1")
        await seller.wait_for("new_message", in_chat(sofa["id"]))
        inbox = await seller.ok("list_chats", {"limit": 10})
        assert [c["id"] for c in inbox["chats"]] == [sofa["id"], lamp["id"]]
        assert [c["lastMessage"]["content"] for c in inbox["chats"]] == [
            "is the sofa available?",
            "is the lamp available?",
        ]
        assert [c["unreadCount"] for c in inbox["chats"]] == [1, 1] and inbox["nextCursor"] is None

        await send(buyer1, lamp["id"], "I can pick it up today", "b1-2")
        await seller.wait_for("new_message", lambda m: m["clientMessageId"] == "b1-2")
        first = await seller.ok("list_chats", {"limit": 1})
        assert [c["id"] for c in first["chats"]] == [lamp["id"]] and first["chats"][0]["unreadCount"] == 2
        rest = await seller.ok("list_chats", {"limit": 1, "cursor": first["nextCursor"]})
        assert [c["id"] for c in rest["chats"]] == [sofa["id"]] and rest["nextCursor"] is None
        # buyer2 has nothing of buyer1's thread
        assert [c["id"] for c in (await buyer2.ok("list_chats", {}))["chats"]] == [sofa["id"]]
    finally:
        await disconnect_all(seller, buyer1, buyer2)


async def test_a_removed_member_stops_receiving_within_one_event_on_every_node(cluster: Cluster) -> None:
    alice_id, bob_id, carol_id, dave_id = unique("alice"), unique("bob"), unique("carol"), unique("dave")
    alice = await Recorder(cluster.url(0), cluster.token(alice_id), name="alice").connect()
    bob = await Recorder(cluster.url(1), cluster.token(bob_id), name="bob").connect()
    carol = await Recorder(cluster.url(2), cluster.token(carol_id), name="carol").connect()
    carol_tab = await Recorder(cluster.url(1), cluster.token(carol_id), name="carol-tab").connect()
    dave = await Recorder(cluster.url(2), cluster.token(dave_id), name="dave").connect()
    try:
        async with httpx.AsyncClient(base_url=cluster.url(0)) as http:
            created = await http.post(
                "/v1/chats",
                json={"type": "group", "title": "Team", "members": [bob_id, carol_id]},
                headers={"Authorization": f"Bearer {cluster.token(alice_id)}"},
            )
        assert created.status_code == 201
        group = created.json()
        assert group["admins"] == [alice_id] and group["version"] == 0
        for socket in (carol, carol_tab):
            await socket.ok("join_chat", {"chatId": group["id"]})
        await send(bob, group["id"], "before carol goes", "b1")
        for socket in (carol, carol_tab):
            await socket.wait_for("new_message", lambda m: m["clientMessageId"] == "b1")
        direct = (await bob.ok("join_chat", {"recipientId": carol_id}))["chat"]

        removed = (await alice.ok("remove_member", {"chatId": group["id"], "userId": carol_id}))["chat"]
        assert carol_id not in removed["members"] and removed["version"] == 1
        for socket in (carol, carol_tab):
            assert (await socket.wait_for("removed_from_chat")) == {"chatId": group["id"]}
        for socket in (alice, bob):
            update = await socket.wait_for("chat_updated", lambda u: u["chat"]["version"] == 1)
            assert update["change"] == {"type": "member_removed", "by": alice_id, "userId": carol_id}
            assert "unreadCount" not in update["chat"]

        await send(bob, group["id"], "after carol left", "b2")
        await send(bob, direct["id"], "marker", "b3")  # the same path, after the group message
        for socket in (carol, carol_tab):
            await socket.none_before(
                "new_message",
                "new_message",
                lambda m: m["clientMessageId"] == "b3",
                where=lambda m: m["clientMessageId"] == "b2",
            )
        refused = await carol.call("get_messages", {"chatId": group["id"]})
        assert refused["error"]["code"] == "NOT_FOUND"
        refused = await carol_tab.call(
            "send_message", {"chatId": group["id"], "content": "hi?", "clientMessageId": "c1"}
        )
        assert refused["error"]["code"] == "NOT_FOUND"
        assert group["id"] not in [c["id"] for c in (await carol.ok("list_chats", {}))["chats"]]

        # a member added later sees the group from their joining on, live on every node
        added = (await alice.ok("add_members", {"chatId": group["id"], "userIds": [dave_id]}))["chat"]
        assert dave_id in added["members"] and added["version"] == 2
        update = await dave.wait_for("chat_updated", lambda u: u["chat"]["version"] == 2)
        assert update["change"] == {"type": "members_added", "by": alice_id, "userIds": [dave_id]}
        assert update["chat"]["lastMessage"] is None
        joined = await dave.ok("join_chat", {"chatId": group["id"]})
        assert joined["messages"] == [] and joined["chat"]["unreadCount"] == 0
        await send(bob, group["id"], "welcome dave", "b4")
        welcome = await dave.wait_for("new_message", lambda m: m["clientMessageId"] == "b4")
        assert welcome["chatId"] == group["id"]
        history = await dave.ok("get_messages", {"chatId": group["id"], "afterSeq": 0})
        assert [m["content"] for m in history["messages"]] == ["welcome dave"]
    finally:
        await disconnect_all(alice, bob, carol, carol_tab, dave)


async def test_leaving_renaming_and_admins_over_http_reach_sockets_on_other_nodes(cluster: Cluster) -> None:
    alice_id, bob_id, carol_id = unique("alice"), unique("bob"), unique("carol")
    bob = await Recorder(cluster.url(1), cluster.token(bob_id), name="bob").connect()
    carol = await Recorder(cluster.url(2), cluster.token(carol_id), name="carol").connect()
    try:
        async with httpx.AsyncClient(base_url=cluster.url(0)) as http:
            auth = {"Authorization": f"Bearer {cluster.token(alice_id)}"}
            group = (
                await http.post("/v1/chats", json={"type": "group", "members": [bob_id, carol_id]}, headers=auth)
            ).json()
            promoted = await http.patch(f"/v1/chats/{group['id']}", json={"admins": [alice_id, bob_id]}, headers=auth)
            assert promoted.status_code == 200 and promoted.json()["admins"] == [alice_id, bob_id]
            renamed = await http.patch(f"/v1/chats/{group['id']}", json={"title": "Weekend"}, headers=auth)
            assert renamed.json()["title"] == "Weekend"
            for socket in (bob, carol):
                update = await socket.wait_for("chat_updated", lambda u: u["change"]["type"] == "chat_renamed")
                assert update["chat"]["title"] == "Weekend" and update["chat"]["version"] == 2
            left = await http.delete(f"/v1/chats/{group['id']}/members/{alice_id}", headers=auth)
            assert left.status_code == 204
            gone = await http.get(f"/v1/chats/{group['id']}", headers=auth)
            assert gone.status_code == 404
        update = await carol.wait_for("chat_updated", lambda u: u["change"]["type"] == "member_left")
        assert update["chat"]["members"] == [bob_id, carol_id] and update["chat"]["admins"] == [bob_id]
        refused = await carol.call("add_members", {"chatId": group["id"], "userIds": [alice_id]})
        assert refused["error"]["code"] == "FORBIDDEN"
        back = (await bob.ok("add_members", {"chatId": group["id"], "userIds": [alice_id]}))["chat"]
        assert back["members"] == [bob_id, carol_id, alice_id]
    finally:
        await disconnect_all(bob, carol)


async def test_a_blocked_user_cannot_reach_the_blocker_through_any_node(cluster: Cluster) -> None:
    seller_id, buyer_id = unique("seller"), unique("buyer")
    seller = await Recorder(cluster.url(0), cluster.token(seller_id), name="seller").connect()
    buyer = await Recorder(cluster.url(1), cluster.token(buyer_id), name="buyer").connect()
    buyer_tab = await Recorder(cluster.url(2), cluster.token(buyer_id), name="buyer-tab").connect()
    try:
        chat = (await buyer.ok("join_chat", {"recipientId": seller_id, "topic": "order-1"}))["chat"]
        await send(buyer_tab, chat["id"], "hello", "b1")  # node 2 knows the chat before the block
        await seller.ok("block_user", {"userId": buyer_id})
        assert (await seller.ok("get_blocked"))["userIds"] == [buyer_id]
        for socket in (buyer, buyer_tab):
            update = await socket.wait_for("chat_updated", lambda u: u["change"]["type"] == "blocked")
            assert update["chat"]["blocked"] is True
        for socket, cmid in ((buyer, "b2"), (buyer_tab, "b3")):
            refused = await socket.call(
                "send_message", {"chatId": chat["id"], "content": "hi?", "clientMessageId": cmid}
            )
            assert refused["error"]["code"] == "BLOCKED"
        refused = await buyer.call("join_chat", {"recipientId": seller_id, "topic": "order-2"})
        assert refused["error"]["code"] == "BLOCKED"
        async with httpx.AsyncClient(base_url=cluster.url(2)) as http:
            auth = {"Authorization": f"Bearer {cluster.token(buyer_id)}"}
            answer = await http.post(
                f"/v1/chats/{chat['id']}/messages", json={"content": "via http", "clientMessageId": "b4"}, headers=auth
            )
            assert answer.status_code == 403 and answer.json()["error"]["code"] == "BLOCKED"
        presence = await buyer.ok("get_active_users", {"chatId": chat["id"]})
        assert {p["userId"]: p["online"] for p in presence["users"]}[seller_id] is False
        history = await buyer.ok("get_messages", {"chatId": chat["id"]})
        assert [m["content"] for m in history["messages"]] == ["hello"]

        await seller.ok("unblock_user", {"userId": buyer_id})
        await buyer_tab.wait_for("chat_updated", lambda u: u["change"]["type"] == "unblocked")
        await send(buyer_tab, chat["id"], "hello again", "b5")
        assert (await seller.wait_for("new_message", lambda m: m["clientMessageId"] == "b5"))["chatId"] == chat["id"]
    finally:
        await disconnect_all(seller, buyer, buyer_tab)
