"""Edits, deletes, reactions and replies across three real nodes, on DynamoDB (moto_server) and on
one shared SQLite file: live to every member's sockets, and to a client that was away, through
recovery (join_chat {sinceSeq}, get_messages {afterSeq}, the HTTP history)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.clients import Recorder, disconnect_all, unique

from .conftest import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.slow]


async def send(client: Recorder, chat_id: str, content: str, cmid: str, **extra: Any) -> dict[str, Any]:
    ack = await client.ok("send_message", {"chatId": chat_id, "content": content, "clientMessageId": cmid, **extra})
    return dict(ack["message"])


async def test_changes_reach_every_member_socket_on_every_node(cluster: Cluster) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice = await Recorder(cluster.url(0), cluster.token(alice_id), name="alice").connect()
    bob = await Recorder(cluster.url(1), cluster.token(bob_id), name="bob").connect()
    bob_tab = await Recorder(cluster.url(2), cluster.token(bob_id), name="bob-tab").connect()
    try:
        chat_id = (await alice.ok("join_chat", {"recipientId": bob_id}))["chat"]["id"]
        sent = await send(alice, chat_id, "helo", "c1")
        assert (sent["editedAt"], sent["deleted"], sent["reactions"], sent["changeSeq"]) == (None, False, [], 1)

        edited = (await alice.ok("edit_message", {"chatId": chat_id, "messageId": sent["id"], "content": "hello"}))[
            "message"
        ]
        assert edited["content"] == "hello" and edited["editedAt"] and edited["seq"] == sent["seq"]
        for socket in (alice, bob, bob_tab):  # the acting socket too
            update = await socket.wait_for("message_updated", lambda u: u["seq"] == edited["changeSeq"])
            assert update["message"] == {**edited}
            assert update["change"] == {"type": "edit", "userId": alice_id}

        reacted = (await bob.ok("react", {"chatId": chat_id, "messageId": sent["id"], "emoji": "👍", "add": True}))[
            "message"
        ]
        assert reacted["reactions"] == [{"emoji": "👍", "count": 1, "userIds": [bob_id], "mine": True}]
        for socket in (alice, bob, bob_tab):
            update = await socket.wait_for("message_updated", lambda u: u["seq"] == reacted["changeSeq"])
            assert update["message"]["reactions"] == [{"emoji": "👍", "count": 1, "userIds": [bob_id]}]
            assert update["change"] == {"type": "react", "userId": bob_id, "emoji": "👍", "add": True}

        reply = await send(bob, chat_id, "thanks", "r1", replyTo=sent["id"])
        assert reply["replyTo"] == {"id": sent["id"], "senderId": alice_id, "snippet": "hello"}
        assert (await alice.wait_for("new_message", lambda m: m["id"] == reply["id"]))["replyTo"] == reply["replyTo"]

        refused = await bob.call("edit_message", {"chatId": chat_id, "messageId": sent["id"], "content": "mine"})
        assert refused["error"]["code"] == "FORBIDDEN"

        deleted = (await alice.ok("delete_message", {"chatId": chat_id, "messageId": sent["id"]}))["message"]
        assert (deleted["deleted"], deleted["content"], deleted["reactions"]) == (True, "", [])
        for socket in (alice, bob, bob_tab):
            update = await socket.wait_for("message_updated", lambda u: u["seq"] == deleted["changeSeq"])
            assert update["message"]["deleted"] and update["change"] == {"type": "delete", "userId": alice_id}
        # seqs: one per change, from the message counter, in the order things happened (a refused
        # change may leave a gap: DynamoDB hands its seq out before the rules refuse it)
        order = [sent["seq"], edited["changeSeq"], reacted["changeSeq"], reply["seq"], deleted["changeSeq"]]
        assert order == sorted(set(order))
        info = await bob.ok("get_chat_info", {"chatId": chat_id})
        assert info["chat"]["unreadCount"] == 1 and info["chat"]["lastSeq"] == reply["seq"]
    finally:
        await disconnect_all(alice, bob, bob_tab)


async def test_a_client_that_was_away_gets_every_change_through_recovery(cluster: Cluster) -> None:
    alice_id, bob_id, carol_id = unique("alice"), unique("bob"), unique("carol")
    alice = await Recorder(cluster.url(0), cluster.token(alice_id), name="alice").connect()
    carol = await Recorder(cluster.url(1), cluster.token(carol_id), name="carol").connect()
    bob = await Recorder(cluster.url(1), cluster.token(bob_id), name="bob").connect()
    try:
        async with httpx.AsyncClient(base_url=cluster.url(0)) as http:
            created = await http.post(
                "/v1/chats",
                json={"type": "group", "title": "t", "members": [bob_id, carol_id]},
                headers={"authorization": f"Bearer {cluster.token(alice_id)}"},
            )
            assert created.status_code == 201
            chat_id = created.json()["id"]
        sent = [await send(alice, chat_id, f"m{i}", f"k{i}") for i in range(4)]
        joined = await bob.ok("join_chat", {"chatId": chat_id})
        synced = max(m["seq"] for m in joined["messages"])
        assert synced == sent[-1]["seq"] and joined["updates"] == []
        await bob.disconnect()

        # while bob is away: an edit, a reaction, a delete of old messages, a new message edited
        await alice.ok("edit_message", {"chatId": chat_id, "messageId": sent[0]["id"], "content": "m0, edited"})
        await carol.ok("react", {"chatId": chat_id, "messageId": sent[1]["id"], "emoji": "🎉", "add": True})
        await alice.ok("delete_message", {"chatId": chat_id, "messageId": sent[2]["id"]})
        new = await send(carol, chat_id, "new", "n1")
        await carol.ok("edit_message", {"chatId": chat_id, "messageId": new["id"], "content": "new, edited"})

        # bob comes back through another node
        back = await Recorder(cluster.url(2), cluster.token(bob_id), name="bob-back").connect()
        try:
            recovered = await back.ok("join_chat", {"chatId": chat_id, "sinceSeq": synced})
            assert [(m["id"], m["content"]) for m in recovered["messages"]] == [(new["id"], "new, edited")]
            updates = {m["id"]: m for m in recovered["updates"]}
            assert list(updates) == [sent[0]["id"], sent[1]["id"], sent[2]["id"]]  # oldest change first
            assert updates[sent[0]["id"]]["content"] == "m0, edited"
            assert updates[sent[1]["id"]]["reactions"] == [
                {"emoji": "🎉", "count": 1, "userIds": [carol_id], "mine": False}
            ]
            assert updates[sent[2]["id"]]["deleted"] and updates[sent[2]["id"]]["content"] == ""
            assert not recovered["hasMore"]
            # the same through get_messages and the HTTP history, from any node
            page = await back.ok("get_messages", {"chatId": chat_id, "afterSeq": synced})
            assert (page["messages"], page["updates"]) == (recovered["messages"], recovered["updates"])
            async with httpx.AsyncClient(base_url=cluster.url(1)) as http:
                answer = await http.get(
                    f"/v1/chats/{chat_id}/messages",
                    params={"afterSeq": synced},
                    headers={"authorization": f"Bearer {cluster.token(bob_id)}"},
                )
            assert answer.status_code == 200
            assert (answer.json()["messages"], answer.json()["updates"]) == (
                recovered["messages"],
                recovered["updates"],
            )
            # from the highest seq bob now knows, nothing is left
            cursor = max(
                [m["seq"] for m in recovered["messages"]]
                + [m["changeSeq"] for m in recovered["updates"]]
                + [m["changeSeq"] for m in recovered["messages"]]
            )
            rest = await back.ok("get_messages", {"chatId": chat_id, "afterSeq": cursor})
            assert (rest["messages"], rest["updates"], rest["hasMore"]) == ([], [], False)
        finally:
            await back.disconnect()
    finally:
        await disconnect_all(alice, carol, bob)


async def test_http_changes_reach_sockets_on_other_nodes(cluster: Cluster) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    bob = await Recorder(cluster.url(2), cluster.token(bob_id), name="bob").connect()
    try:
        headers = {"authorization": f"Bearer {cluster.token(alice_id)}"}
        async with httpx.AsyncClient(base_url=cluster.url(0), headers=headers) as http:
            chat = (await http.post("/v1/chats", json={"type": "direct", "recipientId": bob_id})).json()
            sent = (
                await http.post(f"/v1/chats/{chat['id']}/messages", json={"content": "typo", "clientMessageId": "h1"})
            ).json()
            base = f"/v1/chats/{chat['id']}/messages/{sent['id']}"
            edited = await http.patch(base, json={"content": "fixed"})
            assert edited.status_code == 200 and edited.json()["content"] == "fixed"
            put = await http.put(f"{base}/reactions/%F0%9F%91%8D")
            assert put.status_code == 200
            assert put.json()["reactions"] == [{"emoji": "👍", "count": 1, "userIds": [alice_id], "mine": True}]
            removed = await http.delete(f"{base}/reactions/%F0%9F%91%8D")
            assert removed.status_code == 200 and removed.json()["reactions"] == []
            bad = await http.put(f"{base}/reactions/abc")
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID"
            gone = await http.delete(base)
            assert gone.status_code == 200 and gone.json()["deleted"] is True
        seqs = [u["seq"] for u in await bob.wait_count("message_updated", 4)]
        assert seqs == sorted(seqs)
        assert [u["change"]["type"] for u in bob.of("message_updated")] == ["edit", "react", "react", "delete"]
    finally:
        await bob.disconnect()
