"""Rate limits shared by the cluster: one user's sockets on three nodes (and the HTTP API) spend
one send budget kept in the redis-server, not one budget per node."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import Recorder, disconnect_all, unique

from .conftest import LIMITED_SEND_BURST, Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.slow]


async def test_one_users_sockets_on_three_nodes_share_one_send_budget(limited_cluster: Cluster) -> None:
    cluster = limited_cluster
    alice_id, bob_id = unique("alice"), unique("bob")
    tabs = [await Recorder(cluster.url(i), cluster.token(alice_id), name=f"alice-{i}").connect() for i in range(3)]
    bob = await Recorder(cluster.url(1), cluster.token(bob_id), name="bob").connect()
    try:
        chat_id = str((await tabs[0].ok("join_chat", {"recipientId": bob_id}))["chat"]["id"])
        for i in range(LIMITED_SEND_BURST):
            await tabs[i % 3].ok("send_message", {"chatId": chat_id, "content": f"m{i}", "clientMessageId": f"c{i}"})
        for i, tab in enumerate(tabs):  # the 7th send, through any node, is refused
            ack = await tab.call("send_message", {"chatId": chat_id, "content": "over", "clientMessageId": f"x{i}"})
            assert ack["ok"] is False and ack["error"]["code"] == "RATE_LIMITED", ack
            assert "retry in" in ack["error"]["message"]
        async with httpx.AsyncClient(base_url=cluster.url(2)) as http:
            refused = await http.post(
                f"/v1/chats/{chat_id}/messages",
                json={"content": "over", "clientMessageId": "h1"},
                headers={"authorization": f"Bearer {cluster.token(alice_id)}"},
            )
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "RATE_LIMITED"
        assert int(refused.headers["retry-after"]) >= 1
        # nothing over the budget was stored, and another user's budget is untouched
        info = await bob.ok("get_chat_info", {"chatId": chat_id})
        assert info["chat"]["lastSeq"] == LIMITED_SEND_BURST
        await bob.ok("send_message", {"chatId": chat_id, "content": "bob", "clientMessageId": "b1"})
    finally:
        await disconnect_all(*tabs, bob)
