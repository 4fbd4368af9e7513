"""Counts the DynamoDB requests and capacity units each store operation costs.

Requests are counted with botocore's `provide-client-params` / `after-call` hooks on the store's
client. Units are computed from item sizes with DynamoDB's published rules, because moto's
ConsumedCapacity is not DynamoDB's (it reports 0.5 for an UpdateItem): a write is
ceil(max(old, new item size) / 1 KB) units (twice that inside a transaction) plus one unit per
index entry written (two when an index key changes); a strongly consistent read is
ceil(size / 4 KB) per item (GetItem, BatchGetItem) or per Query page total, half for eventually
consistent reads and index queries. The numbers go to a temporary file, so that a test run
leaves the tree as it was; `make cost` runs this test with CHAT_COST_OUTPUT=docs/cost-measured.json
to refresh the committed figures, which docs/cost.md explains.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest

from chat_core.models import Chat, ConnectionRef, Message
from chat_core.stores.dynamodb import DynamoStore, _message_map, chat_pk, message_sk
from chat_core.stores.dynamodb_schema import GSI1_PK, GSI1_SK

from .conftest import TABLE, OpenStore

#: where `make cost` asks for the measurements (a test run writes them to a temporary file)
OUTPUT_ENV = "CHAT_COST_OUTPUT"
T0 = 1_764_000_000_000
pytestmark = [pytest.mark.dynamodb, pytest.mark.slow]
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
CONTENT = "A typical chat message of about one hundred characters, sent between two people who chat a lot."


def _value_size(value: dict[str, Any]) -> int:
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in raw)
    if kind == "SS":
        return sum(len(s.encode()) for s in raw)
    raise AssertionError(f"unsized type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _index_key(item: dict[str, Any] | None) -> tuple[str, str] | None:
    if not item or GSI1_PK not in item:
        return None
    return item[GSI1_PK]["S"], item[GSI1_SK]["S"]


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    write_units: float = 0.0
    index_write_units: float = 0.0
    read_units: float = 0.0

    def as_json(self) -> dict[str, Any]:
        writes = sum(n for op, n in self.requests.items() if op in WRITES)
        return {
            "write_requests": writes,
            "read_requests": sum(self.requests.values()) - writes,
            "by_api": dict(sorted(self.requests.items())),
            "write_units": self.write_units,
            "index_write_units": self.index_write_units,
            "read_units": self.read_units,
            "total_write_units": self.write_units + self.index_write_units,
        }


class Meter:
    """Hooks on the store's client; a plain client reads item states before and after writes."""

    def __init__(self, store: DynamoStore, probe: Any) -> None:
        self.probe = probe
        self.current: Tally | None = None
        self.results: dict[str, dict[str, Any]] = {}
        store.client.meta.events.register("provide-client-params.dynamodb", self._before)
        store.client.meta.events.register("after-call.dynamodb", self._after)

    @contextmanager
    def measure(self, name: str) -> Iterator[Tally]:
        self.current = Tally()
        yield self.current
        self.results[name] = self.current.as_json()
        self.current = None

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.probe.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get(
            "Item"
        )
        return item

    @staticmethod
    def _written_keys(operation: str, params: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
        """(key, transactional) of every item a write request touches."""

        def key_of(entry: dict[str, Any]) -> dict[str, Any]:
            source = entry.get("Item") or entry["Key"]
            return {"pk": source["pk"], "sk": source["sk"]}

        if operation == "TransactWriteItems":
            return [(key_of(next(iter(t.values()))), True) for t in params["TransactItems"]]
        if operation == "BatchWriteItem":
            return [
                (key_of(r.get("PutRequest") or r["DeleteRequest"]), False)
                for requests in params["RequestItems"].values()
                for r in requests
            ]
        return [(key_of(params), False)]

    def _before(self, params: dict[str, Any], context: dict[str, Any], model: Any, **_: Any) -> None:
        if self.current is None:
            return
        operation = model.name
        context["meter_params"] = dict(params)
        if operation in WRITES:
            context["meter_before"] = [
                (key, txn, self._get(key)) for key, txn in self._written_keys(operation, params)
            ]

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], model: Any, **_: Any) -> None:
        tally = self.current
        if tally is None or "meter_params" not in context:
            return
        operation = model.name
        params = context["meter_params"]
        tally.requests[operation] += 1
        if operation in WRITES:
            for key, transactional, before in context["meter_before"]:
                after = self._get(key)
                units = max(1, math.ceil(max(item_size(before), item_size(after)) / 1024))
                tally.write_units += units * (2 if transactional else 1)
                old, new = _index_key(before), _index_key(after)
                if old != new:
                    tally.index_write_units += 2 if old and new else 1
            return
        factor = 1.0 if params.get("ConsistentRead") and "IndexName" not in params else 0.5
        if operation == "GetItem":
            tally.read_units += factor * max(1, math.ceil(item_size(parsed.get("Item")) / 4096))
        elif operation == "Query":
            total = sum(item_size(i) for i in parsed.get("Items", []))
            tally.read_units += factor * max(1, math.ceil(total / 4096))
        elif operation == "BatchGetItem":
            asked = sum(len(r["Keys"]) for r in params["RequestItems"].values())
            found = [i for items in parsed.get("Responses", {}).values() for i in items]
            each = sum(max(1, math.ceil(item_size(i) / 4096)) for i in found)
            tally.read_units += factor * (each + asked - len(found))


def chat(chat_id: str, members: list[str], type_: str = "group") -> Chat:
    return Chat(chat_id, type_, None if type_ == "direct" else "t", tuple(members), T0, 0, T0, None)  # type: ignore[arg-type]


async def fill(store: DynamoStore, chat_id: str, sender: str, count: int, tag: str) -> None:
    for i in range(count):
        await store.append_message(chat_id, sender, CONTENT, f"{tag}-{i}", f"{tag}-m{i}", T0 + i)


def bulk_history(probe: Any, chat_id: str, sender: str, count: int) -> None:
    """Write `count` messages straight into the table (moto copies the whole table on every
    transaction, so sending 500 through the store would take minutes)."""
    items = [
        {
            "pk": {"S": chat_pk(chat_id)},
            "sk": {"S": message_sk(seq)},
            **_message_map(Message(f"h{seq}", chat_id, seq, sender, CONTENT, f"h{seq}", T0 + seq)),
        }
        for seq in range(1, count + 1)
    ]
    for start in range(0, count, 25):
        probe.batch_write_item(
            RequestItems={TABLE: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        )
    last = items[-1]
    probe.update_item(
        TableName=TABLE,
        Key={"pk": {"S": chat_pk(chat_id)}, "sk": {"S": "SEQ"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": str(count)}},
    )
    probe.update_item(
        TableName=TABLE,
        Key={"pk": {"S": chat_pk(chat_id)}, "sk": {"S": "META"}},
        UpdateExpression="SET lastSeq = :n, lastActivity = :t, lastMessage = :m",
        ExpressionAttributeValues={
            ":n": {"N": str(count)},
            ":t": last["createdAt"],
            ":m": {"M": {k: v for k, v in last.items() if k not in ("pk", "sk")}},
        },
    )


async def test_request_counts_per_operation(open_store: OpenStore, aws: Any, tmp_path: Path) -> None:
    store = await open_store()
    meter = Meter(store, boto3.client("dynamodb"))
    measure = meter.measure

    with measure("create_direct_chat"):
        await store.create_chat(chat("d1", ["alice", "bob"], "direct"))
    await fill(store, "d1", "bob", 3, "warm")
    with measure("direct_message"):
        sent = await store.append_message("d1", "alice", CONTENT, "k-direct", "m-direct", T0 + 10)
    assert sent.created
    with measure("direct_message_repeat"):
        repeat = await store.append_message("d1", "alice", CONTENT, "k-direct", "m-again", T0 + 12)
    assert not repeat.created
    with measure("unread_counts_direct_2_members"):
        await store.unread_counts("d1", ["alice", "bob"])
    with measure("mark_read"):
        await store.mark_read("d1", "bob", 5)
    for i in range(20):
        await store.create_chat(chat(f"bob{i}", ["bob", f"pal{i}"], "direct"))
    with measure("unread_counts_direct_recipient_in_21_chats"):
        await store.unread_counts("d1", ["alice", "bob"])
    with measure("direct_message_4000_chars"):
        await store.append_message("d1", "alice", "x" * 4000, "k-long", "m-long", T0 + 11)

    for size in (2, 20, 500):
        members = [f"g{size}-u{i:03d}" for i in range(size)]
        with measure(f"create_group_{size}"):
            await store.create_chat(chat(f"g{size}", members))
        await fill(store, f"g{size}", members[0], 2, f"g{size}")
        with measure(f"group_message_{size}_members"):
            await store.append_message(f"g{size}", members[1], CONTENT, "k", "m", T0 + 100)
        with measure(f"unread_counts_group_{size}_members"):
            await store.unread_counts(f"g{size}", members)
        with measure(f"get_chat_group_{size}_members"):
            await store.get_chat(f"g{size}")

    await store.create_chat(chat("hist", ["alice", "bob"], "direct"))
    bulk_history(meter.probe, "hist", "bob", 520)
    for missed in (10, 100, 500):
        with measure(f"join_with_recovery_of_{missed}"):
            joined = await store.get_chat("hist")
            assert joined is not None
            page = await store.list_messages(
                "hist", before_seq=None, after_seq=joined.last_seq - missed, limit=500
            )
        assert len(page.messages) == missed
    with measure("join_latest_50"):
        await store.get_chat("hist")
        await store.list_messages("hist", before_seq=None, after_seq=None, limit=50)
    with measure("history_page_50"):
        page = await store.list_messages("hist", before_seq=300, after_seq=None, limit=50)
    assert len(page.messages) == 50

    for i in range(30):
        await store.create_chat(chat(f"inbox{i}", ["carol", f"friend{i}"], "direct"))
    with measure("list_chats_page_20_of_30"):
        await store.list_chats("carol", 20, None)

    ref = ConnectionRef("dave", "sock-1", "node-1")
    with measure("presence_open_first"):
        assert await store.open_connection(ref, T0) is True
    with measure("presence_open_second"):
        await store.open_connection(ConnectionRef("dave", "sock-2", "node-1"), T0)
    with measure("presence_close_not_last"):
        await store.close_connection(ConnectionRef("dave", "sock-2", "node-1"), T0 + 1)
    with measure("presence_close_last"):
        assert await store.close_connection(ref, T0 + 2) == 0
    with measure("presence_settle_offline"):
        assert await store.settle_offline("dave", T0 + 3) is True
    with measure("presence_open_returning_user"):
        assert await store.open_connection(ConnectionRef("dave", "sock-3", "node-1"), T0 + 5) is True
    with measure("presence_heartbeat"):
        await store.touch_node("node-1", T0 + 4)
    with measure("presence_lookup_20_users"):
        await store.presence([f"friend{i}" for i in range(20)])

    results = meter.results
    direct = results["direct_message"]
    # the design target of issue 3: a direct message costs at most 3 writes and no read
    assert direct["write_requests"] <= 3 and direct["read_requests"] == 0
    assert direct["by_api"] == {"TransactWriteItems": 1, "UpdateItem": 2}
    for size in (2, 20, 500):
        assert results[f"group_message_{size}_members"]["by_api"] == direct["by_api"]
        assert results[f"group_message_{size}_members"]["total_write_units"] == direct["total_write_units"]
    assert results["mark_read"]["by_api"] == {"UpdateItem": 1}
    assert results["presence_heartbeat"]["by_api"] == {"UpdateItem": 1}

    write_measurements(Path(os.environ.get(OUTPUT_ENV) or tmp_path / "cost-measured.json"), results)


def write_measurements(output: Path, results: dict[str, Any]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).strftime("%Y-%m-%d"),
                "how": "tests/dynamodb/test_request_costs.py against moto "
                f"{moto.__version__} (Python {platform.python_version()}); units computed from item "
                "sizes with DynamoDB's rules, see the module docstring",
                "message_content_chars": len(CONTENT),
                "operations": results,
            },
            indent=2,
        )
        + "\n"
    )
