"""Counts the DynamoDB requests and capacity units each store operation costs.

Requests are counted with botocore's `provide-client-params` / `after-call` hooks on the store's
client. Units are computed from item sizes with DynamoDB's published rules, because moto's
ConsumedCapacity is not DynamoDB's (it reports 0.5 for an UpdateItem):

- a write is ceil(max(old, new item size) / 1 KB) units, at least 1 (a conditional write that
  fails costs the same), twice that inside a transaction;
- gsi1 (KEYS_ONLY): 1 unit per index entry put or deleted (2 when its key changes), nothing when
  an update leaves the key alone;
- lsi1 and lsi2 (ALL): the index entry is the whole item, ceil(size / 1 KB) units; putting or
  deleting an entry costs its size, changing its key costs both, and any change to an item that
  stays in the index under the same key rewrites the entry (ALL projects every attribute); an item
  without the index's sort key is not in it;
- a strongly consistent read is ceil(size / 4 KB) per item (GetItem, BatchGetItem) or per Query
  page total, half for eventually consistent reads and for gsi1 (which cannot be read strongly
  consistent); lsi1 and lsi2 can. A Query is charged for the whole items it reads, whatever its
  ProjectionExpression or FilterExpression returns, so such a Query is sized again without them.

The numbers go to a temporary file, so that a test run leaves the tree as it was; `make cost` runs
this test with CHAT_COST_OUTPUT=docs/cost-measured.json to refresh the committed figures, which
docs/cost.md explains.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import re
import uuid
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

from chat_core.ids import direct_chat_id, group_chat_id, ulid
from chat_core.models import Attachment, Chat, ChatUpdate, ConnectionRef, Message, MessageChange, ReplyRef
from chat_core.stores.dynamodb import INBOX_STEP_MS, DynamoStore
from chat_core.stores.dynamodb_items import chat_pk
from chat_core.stores.dynamodb_items import message_item as _message_item
from chat_core.stores.dynamodb_schema import GSI1_PK, GSI1_SK, LSI1, LSI1_SK, LSI2, LSI2_SK

from .conftest import TABLE, OpenStore

#: where `make cost` asks for the measurements (a test run writes them to a temporary file)
OUTPUT_ENV = "CHAT_COST_OUTPUT"
T0 = 1_764_000_000_000
pytestmark = [pytest.mark.dynamodb, pytest.mark.slow]
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
CONTENT = "A typical chat message of about one hundred characters, sent between two people who chat a lot."
LONG = 4000


def user(name: str) -> str:
    """A realistic user id: 36 characters, as a UUID subject of an identity provider."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def cmid(n: int) -> str:
    """A clientMessageId as the web client makes it (crypto.randomUUID: 36 characters)."""
    return str(uuid.UUID(int=n))


ALICE, BOB = user("alice"), user("bob")


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


def write_units(item: dict[str, Any] | None) -> int:
    return max(1, math.ceil(item_size(item) / 1024))


def _gsi_key(item: dict[str, Any] | None) -> tuple[str, str] | None:
    if not item or GSI1_PK not in item:
        return None
    return item[GSI1_PK]["S"], item[GSI1_SK]["S"]


def _lsi_key(item: dict[str, Any] | None, sort_key: str) -> str | None:
    if not item or sort_key not in item:
        return None
    return str(item[sort_key]["S"])


def lsi_write_units(before: dict[str, Any] | None, after: dict[str, Any] | None, sort_key: str = LSI1_SK) -> int:
    """A local index projecting ALL: its entry is the item; an unchanged item writes nothing."""
    old, new = _lsi_key(before, sort_key), _lsi_key(after, sort_key)
    if before == after or (old is None and new is None):
        return 0
    if old is not None and old == new:
        return max(1, math.ceil(max(item_size(before), item_size(after)) / 1024))
    return (write_units(before) if old else 0) + (write_units(after) if new else 0)


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    write_units: float = 0.0
    gsi_write_units: float = 0.0
    lsi_write_units: float = 0.0
    lsi2_write_units: float = 0.0
    read_units: float = 0.0

    def as_json(self) -> dict[str, Any]:
        writes = sum(n for op, n in self.requests.items() if op in WRITES)
        index = self.gsi_write_units + self.lsi_write_units + self.lsi2_write_units
        return {
            "write_requests": writes,
            "read_requests": sum(self.requests.values()) - writes,
            "by_api": dict(sorted(self.requests.items())),
            "write_units": self.write_units,
            "index_write_units": index,
            "index_write_units_by_index": {
                "gsi1": self.gsi_write_units,
                "lsi1": self.lsi_write_units,
                "lsi2": self.lsi2_write_units,
            },
            "read_units": self.read_units,
            "total_write_units": self.write_units + index,
        }


def _referenced(params: dict[str, Any], kind: str, pattern: str) -> dict[str, Any]:
    used = set(re.findall(pattern, params.get("KeyConditionExpression", "")))
    return {k: v for k, v in params.get(kind, {}).items() if k in used}


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
        item: dict[str, Any] | None = self.probe.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")
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

    def _read_items(self, params: dict[str, Any], parsed: dict[str, Any]) -> list[dict[str, Any]]:
        """The whole items a Query read (what it is charged for), whatever it returned."""
        if not {"ProjectionExpression", "FilterExpression", "Select"} & params.keys():
            items: list[dict[str, Any]] = parsed.get("Items", [])
            return items
        again = {k: v for k, v in params.items() if k not in ("ProjectionExpression", "FilterExpression", "Select")}
        for kind, pattern in (("ExpressionAttributeNames", r"#\w+"), ("ExpressionAttributeValues", r":\w+")):
            again.pop(kind, None)
            if used := _referenced(params, kind, pattern):
                again[kind] = used
        found: list[dict[str, Any]] = self.probe.query(**again).get("Items", [])
        return found

    def _before(self, params: dict[str, Any], context: dict[str, Any], model: Any, **_: Any) -> None:
        if self.current is None:
            return
        operation = model.name
        context["meter_params"] = dict(params)
        if operation in WRITES:
            context["meter_before"] = [(key, txn, self._get(key)) for key, txn in self._written_keys(operation, params)]

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
                old, new = _gsi_key(before), _gsi_key(after)
                if old != new:
                    tally.gsi_write_units += 2 if old and new else 1
                tally.lsi_write_units += lsi_write_units(before, after)
                tally.lsi2_write_units += lsi_write_units(before, after, LSI2_SK)
            return
        strongly = bool(params.get("ConsistentRead")) and params.get("IndexName") in (None, LSI1, LSI2)
        factor = 1.0 if strongly else 0.5
        if operation == "GetItem":
            tally.read_units += factor * max(1, math.ceil(item_size(parsed.get("Item")) / 4096))
        elif operation == "Query":
            total = sum(item_size(i) for i in self._read_items(params, parsed))
            tally.read_units += factor * max(1, math.ceil(total / 4096))
        elif operation == "BatchGetItem":
            # BatchGetItem asks for consistency per table, not at the top level
            strongly = all(r.get("ConsistentRead") for r in params["RequestItems"].values())
            factor = 1.0 if strongly else 0.5
            asked = sum(len(r["Keys"]) for r in params["RequestItems"].values())
            found = [i for items in parsed.get("Responses", {}).values() for i in items]
            each = sum(max(1, math.ceil(item_size(i) / 4096)) for i in found)
            tally.read_units += factor * (each + asked - len(found))


def chat(chat_id: str, members: list[str], type_: str = "group", at: int = T0, topic: str | None = None) -> Chat:
    admins = () if type_ == "direct" else tuple(members[:1])
    made = Chat(chat_id, type_, None if type_ == "direct" else "t", tuple(members), at, 0, at, None)  # type: ignore[arg-type]
    return dataclasses.replace(made, admins=admins, topic=topic)


_sent = iter(range(1, 10**9))


async def send(store: DynamoStore, chat_id: str, sender: str, content: str = CONTENT) -> Message:
    n = next(_sent)
    result = await store.append_message(chat_id, sender, content, cmid(n), T0 + n)
    assert result.created
    return result.message


def message_item_size(chat_id: str, sender: str, content: str) -> int:
    """Sized with a seq of 6 digits and a time of 13 significant digits: DynamoDB strips a
    number's leading and trailing zeros, so T0 itself or seq 1000 would be smaller than most."""
    return item_size(_message_item(Message(ulid(T0), chat_id, 987_654, sender, content, cmid(1), T0 + 123_457)))


def max_content_at_3_units(chat_id: str, sender: str) -> int:
    """The longest ASCII content whose message item still fits in 1 KB (1 unit, 1 index unit)."""
    n = 0
    while message_item_size(chat_id, sender, "x" * (n + 1)) <= 1024:
        n += 1
    return n


def bulk_history(probe: Any, chat_id: str, sender: str, count: int) -> None:
    """Write `count` messages straight into the table, as the store writes them (one PutItem
    each through the store would do the same, slower)."""
    items = [
        _message_item(Message(ulid(T0 + seq), chat_id, seq, sender, CONTENT, cmid(10**6 + seq), T0 + seq))
        for seq in range(1, count + 1)
    ]
    for start in range(0, count, 25):
        probe.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]})
    probe.update_item(
        TableName=TABLE,
        Key={"pk": {"S": chat_pk(chat_id)}, "sk": {"S": "META"}},
        UpdateExpression="SET lastSeq = :n, lastActivity = :t",
        ExpressionAttributeValues={":n": {"N": str(count)}, ":t": items[-1]["createdAt"]},
    )


@pytest.mark.timeout(600)  # every operation once, on moto: took 145 s beside a running soak
async def test_request_counts_per_operation(open_store: OpenStore, aws: Any, tmp_path: Path) -> None:
    store = await open_store()
    meter = Meter(store, boto3.client("dynamodb"))
    measure = meter.measure
    direct = direct_chat_id(ALICE, BOB)

    with measure("create_direct_chat"):
        await store.create_chat(chat(direct, [ALICE, BOB], "direct"))
    for _ in range(3):
        await send(store, direct, BOB)
    with measure("direct_message"):
        sent = await store.append_message(direct, ALICE, CONTENT, cmid(1), T0 + 10)
    assert sent.created
    with measure("direct_message_repeat"):
        repeat = await store.append_message(direct, ALICE, CONTENT, cmid(1), T0 + 12)
    assert not repeat.created and repeat.message == sent.message
    largest = max_content_at_3_units(direct, ALICE)
    with measure("direct_message_max_content_at_3_units"):
        await send(store, direct, ALICE, "x" * largest)
    with measure(f"direct_message_{LONG}_chars"):
        await send(store, direct, ALICE, "x" * LONG)
    with measure("mark_read"):
        await store.mark_read(direct, BOB, 5)

    for size in (2, 20, 500):
        members = [user(f"g{size}-{i}") for i in range(size)]
        group = group_chat_id()
        with measure(f"create_group_{size}"):
            await store.create_chat(chat(group, members))
        for _ in range(2):
            await send(store, group, members[0])
        with measure(f"group_message_{size}_members"):
            await send(store, group, members[1])
        with measure(f"get_chat_group_{size}_members"):
            await store.get_chat(group)
        # the chat's activity a step or more past its members' inbox entries: this message moves them
        n = next(_sent)
        with measure(f"group_message_reindexes_{size}_members"):
            await store.append_message(group, members[1], CONTENT, cmid(n), T0 + INBOX_STEP_MS + n)

    # a user's unread book load (a node does it once per user, when it first needs the counts):
    # every chat has news above the user's mark (5 messages by the friend, 1 by the user)
    erin = user("erin")
    chats = [direct_chat_id(erin, user(f"pal{i}")) for i in range(21)]
    for i, chat_id in enumerate(chats):
        await store.create_chat(chat(chat_id, [erin, user(f"pal{i}")], "direct"))
        for _ in range(5):
            await send(store, chat_id, user(f"pal{i}"))
        await send(store, chat_id, erin)
        if i == 0:
            with measure("unread_entries_user_in_1_chat"):
                entries = await store.unread_entries(erin)
            assert entries[chat_id].count == 5
    with measure("unread_entries_user_in_21_chats"):
        entries = await store.unread_entries(erin)
    assert len(entries) == 21 and {e.count for e in entries.values()} == {5}
    with measure("unread_entries_one_chat"):
        await store.unread_entries(erin, [chats[0]])
    for chat_id in chats:
        await store.mark_read(chat_id, erin, 6)
    with measure("unread_entries_user_in_21_chats_all_read"):
        entries = await store.unread_entries(erin)
    assert {e.count for e in entries.values()} == {0}
    hist = direct_chat_id(user("hist-a"), user("hist-b"))
    await store.create_chat(chat(hist, [user("hist-a"), user("hist-b")], "direct"))
    bulk_history(meter.probe, hist, user("hist-b"), 520)
    with measure("unread_entries_one_chat_520_unread"):
        entries = await store.unread_entries(user("hist-a"), [hist])
    assert entries[hist].count == 520

    for missed in (10, 100, 500):
        with measure(f"join_with_recovery_of_{missed}"):
            joined = await store.get_chat(hist)
            assert joined is not None
            page = await store.list_messages(hist, before_seq=None, after_seq=joined.last_seq - missed, limit=500)
        assert len(page.messages) == missed
    with measure("join_latest_50"):
        await store.get_chat(hist)
        await store.list_messages(hist, before_seq=None, after_seq=None, limit=50)
    with measure("history_page_50"):
        page = await store.list_messages(hist, before_seq=300, after_seq=None, limit=50)
    assert len(page.messages) == 50
    with measure("get_chat_direct"):
        await store.get_chat(direct)

    carol = user("carol")
    for i in range(30):
        await store.create_chat(chat(direct_chat_id(carol, user(f"friend{i}")), [carol, user(f"friend{i}")], "direct"))
        await send(store, direct_chat_id(carol, user(f"friend{i}")), user(f"friend{i}"))
    with measure("list_chats_page_20_of_30"):
        listed = await store.list_chats(carol, 20, None)
    assert len(listed.chats) == 20 and all(c.last_message is not None for c in listed.chats)

    # an inbox of 200 chats, 10 minutes of activity apart (issue 17: a page reads about a page)
    frank = user("frank")
    for i in range(200):
        pal = user(f"frank-pal{i}")
        await store.create_chat(chat(direct_chat_id(frank, pal), [frank, pal], "direct", at=T0 + i * 600_000))
    with measure("list_chats_page_20_of_200"):
        listed = await store.list_chats(frank, 20, None)
    assert len(listed.chats) == 20 and listed.next_cursor is not None
    with measure("list_chats_next_page_20_of_200"):
        listed = await store.list_chats(frank, 20, listed.next_cursor)
    assert len(listed.chats) == 20

    # membership over time (issue 17): one transaction each, then the chat read back
    crew = [user(f"crew{i}") for i in range(20)]
    team = group_chat_id()
    await store.create_chat(chat(team, crew))
    await send(store, team, crew[0])
    with measure("update_chat_add_1_member_to_20"):
        after = await store.update_chat(team, ChatUpdate(expected_version=0, now_ms=T0, add=(user("crew-new"),)))
    with measure("update_chat_add_50_members"):
        joiners = tuple(user(f"crew-more{i}") for i in range(50))
        after = await store.update_chat(team, ChatUpdate(expected_version=1, now_ms=T0, add=joiners))
    with measure("update_chat_remove_1_member"):
        after = await store.update_chat(team, ChatUpdate(expected_version=2, now_ms=T0, remove=(crew[5],)))
    with measure("update_chat_rename"):
        after = await store.update_chat(team, ChatUpdate(expected_version=3, now_ms=T0, title="crew", set_title=True))
    assert after.version == 4 and len(after.members) == 70

    # blocking: the pair's plain chat (direct) and two about a topic
    for topic in ("listing-1", "listing-2"):
        await store.create_chat(chat(direct_chat_id(ALICE, BOB, topic), [ALICE, BOB], "direct", topic=topic))
    with measure("set_block_pair_with_3_chats"):
        marked = await store.set_block(ALICE, BOB, True, T0)
    assert len(marked) == 3 and all(c.blocked_by == {ALICE} for c in marked)
    with measure("set_block_again_no_change"):
        await store.set_block(ALICE, BOB, True, T0)
    with measure("blocks_lookup"):
        assert (await store.blocks(BOB)).blocked_by == {ALICE}
    await store.set_block(ALICE, BOB, False, T0)

    dave = user("dave")
    ref = ConnectionRef(dave, "sock-1", "node-1")
    with measure("presence_open_first"):
        assert await store.open_connection(ref, T0) is True
    with measure("presence_open_second"):
        await store.open_connection(ConnectionRef(dave, "sock-2", "node-1"), T0)
    with measure("presence_close_not_last"):
        await store.close_connection(ConnectionRef(dave, "sock-2", "node-1"), T0 + 1)
    with measure("presence_close_last"):
        assert await store.close_connection(ref, T0 + 2) == 0
    with measure("presence_settle_offline"):
        assert await store.settle_offline(dave, T0 + 3) is True
    with measure("presence_open_returning_user"):
        assert await store.open_connection(ConnectionRef(dave, "sock-3", "node-1"), T0 + 5) is True
    assert await store.touch_node("node-1", T0 + 3) is False  # the first beat creates the record (2 requests)
    with measure("presence_heartbeat"):
        assert await store.touch_node("node-1", T0 + 4) is True
    with measure("presence_lookup_20_users"):
        await store.presence([user(f"friend{i}") for i in range(20)])

    # message changes (issue 16): each takes a seq (META) and rewrites the message, in both local indexes
    changed = await send(store, direct, ALICE)
    with measure("edit_message"):
        assert (
            await store.change_message(direct, changed.id, MessageChange("edit", ALICE, content="edited"), T0)
        ).changed
    with measure("edit_message_again"):
        assert (
            await store.change_message(direct, changed.id, MessageChange("edit", ALICE, content="again"), T0)
        ).changed
    with measure("react_add"):
        assert (await store.change_message(direct, changed.id, MessageChange("react", BOB, emoji="👍"), T0)).changed
    with measure("react_remove"):
        assert (await store.change_message(direct, changed.id, MessageChange("unreact", BOB, emoji="👍"), T0)).changed
    with measure("react_add_again_no_change"):
        await store.change_message(direct, changed.id, MessageChange("react", BOB, emoji="🎉"), T0)
        assert not (await store.change_message(direct, changed.id, MessageChange("react", BOB, emoji="🎉"), T0)).changed
    with measure("delete_message"):
        assert (await store.change_message(direct, changed.id, MessageChange("delete", ALICE), T0)).changed
    with measure("reply_lookup"):
        quoted = await store.get_message(direct, sent.message.id)
    assert quoted is not None
    with measure("direct_message_reply"):
        n = next(_sent)
        reply = ReplyRef(quoted.id, quoted.sender_id, quoted.content[:100])
        await store.append_message(direct, BOB, CONTENT, cmid(n), T0 + n, reply_to=reply)
    photo = Attachment("a_" + ulid(T0).lower(), direct, ALICE, "IMG_2041.jpg", "image/jpeg", 2_345_678, T0, 4032, 3024)
    with measure("request_upload_record"):
        await store.put_attachment(photo)
    with measure("attachment_lookup_1"):
        assert await store.get_attachments(direct, [photo.id]) == {photo.id: photo}
    with measure("direct_message_with_photo"):
        n = next(_sent)
        await store.append_message(direct, ALICE, "", cmid(n), T0 + n, attachments=(photo,))
    older = await store.list_messages(hist, before_seq=joined.last_seq - 10, after_seq=None, limit=10)
    for message in older.messages:  # 10 older messages changed after the client's last seq
        await store.change_message(hist, message.id, MessageChange("react", user("hist-a"), emoji="👍"), T0)
    with measure("join_with_recovery_of_10_and_10_updates"):
        page = await store.list_messages(hist, before_seq=None, after_seq=joined.last_seq - 10, limit=500)
    assert len(page.messages) == 10 and len(page.updates) == 10

    results = meter.results
    one = results["direct_message"]
    # issue 12: a send costs at most 3 write units (table + index), no read, no transaction
    assert one["by_api"] == {"PutItem": 1, "UpdateItem": 1}
    assert one["total_write_units"] == 3 and one["read_units"] == 0
    assert results["direct_message_max_content_at_3_units"]["total_write_units"] == 3
    for size in (2, 20, 500):
        assert results[f"group_message_{size}_members"]["by_api"] == one["by_api"]
        assert results[f"group_message_{size}_members"]["total_write_units"] == 3
        # once per step per chat: 3 units per member (the item, its gsi1 entry deleted and put
        # again) and 1 for META's indexedAt, after a read of the chat's members
        reindex = results[f"group_message_reindexes_{size}_members"]
        assert reindex["by_api"] == {"PutItem": 1, "UpdateItem": 2 + size, "Query": 1}
        assert reindex["total_write_units"] == 3 + 3 * size + 1
    # issue 17: a page of a large inbox reads about a page (META of limit + 2 chats), not every chat
    for name in ("list_chats_page_20_of_200", "list_chats_next_page_20_of_200"):
        # META of 22 chats (23 after a cursor: the cursor's own), 2 Queries per chat of the page
        # (members, last message), 2 index Queries (old entries, entries newest first)
        assert results[name]["read_units"] <= 23 + 2 * 20 + 2, results[name]
        assert results[name]["by_api"]["BatchGetItem"] == 1
    assert results["update_chat_add_1_member_to_20"]["by_api"] == {"GetItem": 1, "TransactWriteItems": 1, "Query": 2}
    # blocking again writes the two block items again (one transaction) and touches no chat
    assert results["set_block_again_no_change"]["by_api"]["TransactWriteItems"] == 1
    assert results["set_block_again_no_change"]["total_write_units"] == 4
    # a repeat: the seq allocation and the put that fails its condition, nothing read or indexed
    assert results["direct_message_repeat"]["by_api"] == {"PutItem": 1, "UpdateItem": 1}
    assert results["direct_message_repeat"]["total_write_units"] == 2
    assert results["direct_message_repeat"]["read_units"] == 0
    assert results["mark_read"]["by_api"] == {"UpdateItem": 1}
    assert results["mark_read"]["total_write_units"] == 1
    assert results["presence_heartbeat"]["by_api"] == {"UpdateItem": 1}
    # a change: the seq and one conditional update, no read, no transaction; a small message's
    # first change is 4 units (META, item, lsi1, its new lsi2 entry), later ones 5 (the lsi2 key moves)
    for name in ("edit_message", "react_add", "react_remove", "delete_message"):
        assert results[name]["by_api"] == {"UpdateItem": 2} and results[name]["read_units"] == 0
    assert results["edit_message"]["total_write_units"] == 4
    assert results["edit_message_again"]["total_write_units"] == 5
    assert results["react_add_again_no_change"]["by_api"] == {"UpdateItem": 4}
    assert results["direct_message_reply"]["total_write_units"] == 3

    sizes = {
        "user_id_chars": len(ALICE),
        "client_message_id_chars": len(cmid(1)),
        "message_id_chars": len(ulid(T0)),
        "direct_chat_id_chars": len(direct),
        "direct_message_item_bytes": message_item_size(direct, ALICE, CONTENT),
        "max_content_chars_at_3_units": largest,
        "chat_meta_item_bytes": item_size(meter._get({"pk": {"S": chat_pk(direct)}, "sk": {"S": "META"}})),
    }
    write_measurements(Path(os.environ.get(OUTPUT_ENV) or tmp_path / "cost-measured.json"), results, sizes)


def write_measurements(output: Path, results: dict[str, Any], sizes: dict[str, int]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).strftime("%Y-%m-%d"),
                "how": "tests/dynamodb/test_request_costs.py against moto "
                f"{moto.__version__} (Python {platform.python_version()}); units computed from item "
                "sizes with DynamoDB's rules, see the module docstring",
                "message_content_chars": len(CONTENT),
                "sizes": sizes,
                "operations": results,
            },
            indent=2,
        )
        + "\n"
    )
