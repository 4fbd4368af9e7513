"""One busy chat on DynamoDB-like latency: sends overlap their store round trips, and every
socket still sees the chat's messages in seq order.

The store is DynamoStore on StubDynamoClient (tests/support/dynamo_stub.py; in memory, 5 ms per
request, checked against the store contract like moto): moto cannot carry this rate (about 500
write requests/s in process, 250-300 as a server) and each message takes two requests.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.clients import Recorder, disconnect_all, unique
from tests.support.server import GENEROUS_LIMITS, REPO, ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SENDERS = 5
PER_SENDER = 300
TARGET_PER_S = 500


@pytest.fixture
def stub_node() -> Iterator[ServerProcess]:
    node = ServerProcess(
        {
            **GENEROUS_LIMITS,
            "CHAT_STORE": "dynamodb",
            "CHAT_DYNAMODB_TABLE": "chat-hot",
            "CHAT_STUB_LATENCY_S": "0.005",
            "PYTHONPATH": str(REPO),
            "CHAT_LOG_LEVEL": "WARNING",
        },
        command=[sys.executable, "-m", "tests.support.stub_node"],
    )
    node.start()
    try:
        yield node
    finally:
        node.close()


async def test_one_chat_takes_500_messages_per_second_in_seq_order(stub_node: ServerProcess) -> None:
    users = [unique(f"u{i}") for i in range(SENDERS)]
    async with httpx.AsyncClient(base_url=stub_node.url) as http:
        created = await http.post(
            "/v1/chats",
            json={"type": "group", "title": "hot", "members": users[1:]},
            headers={"authorization": f"Bearer {stub_node.token(users[0])}"},
        )
        assert created.status_code == 201, created.text
    chat_id = created.json()["id"]
    sockets = [await Recorder(stub_node.url, stub_node.token(u), name=u).connect() for u in users]
    try:

        async def burst(index: int) -> list[dict[str, Any]]:
            return await asyncio.gather(
                *(
                    sockets[index].ok(
                        "send_message",
                        {"chatId": chat_id, "content": f"{index}:{n}", "clientMessageId": f"{index}-{n}"},
                        timeout=60,
                    )
                    for n in range(PER_SENDER)
                )
            )

        loop = asyncio.get_running_loop()
        started = loop.time()
        acks = await asyncio.gather(*(burst(i) for i in range(SENDERS)))
        elapsed = loop.time() - started
        total = SENDERS * PER_SENDER
        rate = total / elapsed
        assert rate >= TARGET_PER_S, f"{total} messages into one chat in {elapsed:.2f} s: {rate:.0f}/s"
        seqs = sorted(int(a["message"]["seq"]) for acked in acks for a in acked)
        assert len(set(seqs)) == total
        for socket in sockets:
            received = await socket.wait_count("new_message", total - PER_SENDER, timeout=30)
            got = [m["seq"] for m in received]
            assert got == sorted(got), f"{socket.name} saw the chat out of seq order"
            assert len(set(got)) == len(got) == total - PER_SENDER
    finally:
        await disconnect_all(*sockets)
