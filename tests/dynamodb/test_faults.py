"""Throttling, transaction conflicts, lost answers and crashes, injected with botocore's event hooks.

moto never throttles, so a `before-send` handler answers chosen requests with DynamoDB's own
error responses. They then go through botocore's real retry logic (standard mode) and the
store's own transaction retries, exactly as a real 400 from DynamoDB would.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from chat_core.errors import Unavailable
from chat_core.ids import message_id
from chat_core.models import Chat, ConnectionRef, Message, MessageChange, UnreadEntry
from chat_core.stores.dynamodb import DynamoStore
from chat_core.stores.dynamodb_schema import LSI1
from tests.contract.conftest import serialize_moto

from .conftest import TABLE, OpenStore

T0 = 1_764_000_000_000
pytestmark = pytest.mark.dynamodb


@dataclass
class Rule:
    operation: str
    code: str
    remaining: float
    when: Callable[[dict[str, Any]], bool] | None
    reason: str | None
    applied: bool


class Faults:
    """Answers matching requests with a DynamoDB error before they reach moto."""

    def __init__(self, store: DynamoStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rules: list[Rule] = []
        self.sent: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        store.client.meta.events.register_first("before-send.dynamodb", self._before_send)
        # botocore runs every before-send handler and takes the first answer: moto's handler
        # must skip a request that was answered here, or moto would apply it as well
        original = BotocoreStubber.__call__

        def stubber(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            fault = getattr(request, "injected_fault", None)
            if fault == "applied":
                original(self, event_name, request, **kwargs)
            if fault is not None:
                return None
            return original(self, event_name, request, **kwargs)

        monkeypatch.setattr(BotocoreStubber, "__call__", stubber)

    def fail(
        self,
        operation: str,
        code: str = "ProvisionedThroughputExceededException",
        *,
        times: float = math.inf,
        when: Callable[[dict[str, Any]], bool] | None = None,
        reason: str | None = None,
        applied: bool = False,
    ) -> None:
        """reason: a cancellation reason code; the error is then TransactionCanceledException.
        applied: the request still reaches moto and is applied; only its answer is the error."""
        self.rules.append(Rule(operation, code, times, when, reason, applied))

    def clear(self) -> None:
        self.rules.clear()

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
        self.sent[operation] += 1
        body = json.loads(request.body or b"{}")
        for rule in self.rules:
            if rule.operation != operation or rule.remaining <= 0:
                continue
            if rule.when is not None and not rule.when(body):
                continue
            rule.remaining -= 1
            self.injected[operation] += 1
            request.injected_fault = "applied" if rule.applied else "refused"
            error: dict[str, Any] = {
                "__type": f"com.amazonaws.dynamodb.v20120810#{rule.code}",
                "message": "injected",
            }
            if rule.reason is not None:
                error["__type"] = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
                error["Message"] = f"Transaction cancelled [{rule.reason}]"
                error["CancellationReasons"] = [
                    {"Code": rule.reason, "Message": "injected"} for _ in body.get("TransactItems", [])
                ]
            headers = {"x-amzn-requestid": "injected", "content-type": "application/x-amz-json-1.0"}
            status = 500 if rule.code == "InternalServerError" else 400
            return AWSResponse(request.url, status, headers, MockRawResponse(json.dumps(error)))
        return None


def lose_answers(store: DynamoStore, operation: str, times: int = 1) -> list[int]:
    """The request reaches DynamoDB and is applied, but its answer never comes back."""
    left = [times]

    def after_call(**_: Any) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise ReadTimeoutError(endpoint_url="https://dynamodb.injected")

    store.client.meta.events.register(f"after-call.dynamodb.{operation}", after_call)
    return left


@pytest.fixture(autouse=True)
def instant_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda *_: 0.0)


async def faulty(open_store: OpenStore, monkeypatch: pytest.MonkeyPatch) -> tuple[DynamoStore, Faults]:
    store = await open_store(max_attempts=3, txn_attempts=4, backoff_base_s=0.0001)
    await store.create_chat(Chat("c1", "direct", None, ("alice", "bob"), T0, 0, T0, None, {}))
    await store.create_chat(Chat("c2", "group", "g", ("alice", "bob"), T0, 0, T0, None, {}))
    return store, Faults(store, monkeypatch)


def table_items(client: Any, prefix: str, chat_id: str = "c1") -> list[dict[str, Any]]:
    """The chat's items whose sort key starts with prefix (all of them for "")."""
    values = {":pk": {"S": f"CHAT#{chat_id}"}}
    condition = "pk = :pk"
    if prefix:
        condition += " AND begins_with(sk, :p)"
        values[":p"] = {"S": prefix}
    answer = client.query(
        TableName=TABLE, KeyConditionExpression=condition, ExpressionAttributeValues=values, ConsistentRead=True
    )
    items: list[dict[str, Any]] = answer["Items"]
    return items


def stored(client: Any) -> list[tuple[str, int]]:
    """(message id, seq) of every message of c1, in seq order (read through lsi1)."""
    answer = client.query(
        TableName=TABLE,
        IndexName=LSI1,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "CHAT#c1"}},
        ConsistentRead=True,
    )
    return [(i["id"]["S"], int(i["seq"]["N"])) for i in answer["Items"]]


def last_seq(client: Any) -> int:
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": "CHAT#c1"}, "sk": {"S": "META"}})["Item"]
    return int(item["lastSeq"]["N"])


def targets_meta(body: dict[str, Any]) -> bool:
    return bool(body.get("Key", {}).get("sk", {}).get("S") == "META")


class Crash(Exception):
    """The process dies at this point (raised from on_seq: after the seq, before the message)."""


def crash(_: int) -> None:
    raise Crash

M0 = message_id("c1", "bob", "k0")
M1 = message_id("c1", "alice", "k1")
M2 = message_id("c1", "bob", "k2")


# --- sending ----------------------------------------------------------------------------------
async def test_send_is_two_requests_and_announces_its_seq_before_the_message_write(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    announced: list[tuple[int, int]] = []
    sent = await store.append_message(
        "c1", "alice", "hi", "k1", T0 + 1, on_seq=lambda seq: announced.append((seq, faults.sent["PutItem"]))
    )
    assert sent.created and sent.message.seq == 1
    assert announced == [(1, 0)]  # before the message's PutItem was sent
    assert faults.sent == {"UpdateItem": 1, "PutItem": 1}
    # the one message item: keyed by its id (derived from its idempotency key), in lsi1 by its seq
    (item,) = table_items(aws, "MSG#")
    assert item["sk"]["S"] == f"MSG#{M1}" and item["lsi1sk"]["S"] == "MSG#0000000000000001"
    assert [i["sk"]["S"] for i in table_items(aws, "")] == ["MEMBER#alice", "MEMBER#bob", "META", f"MSG#{M1}"]
    repeat_announced: list[int] = []
    repeat = await store.append_message("c1", "alice", "hi", "k1", T0 + 2, on_seq=repeat_announced.append)
    assert not repeat.created and repeat.message == sent.message
    assert repeat_announced == [2] and last_seq(aws) == 2  # the repeat's seq stays a gap
    assert faults.sent == {"UpdateItem": 2, "PutItem": 2}


async def test_throttled_send_is_retried_then_succeeds(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("UpdateItem", "ThrottlingException", times=2)
    faults.fail("PutItem", "ProvisionedThroughputExceededException", times=2)
    sent = await store.append_message("c1", "alice", "hi", "k1", T0 + 1)
    assert sent.created and sent.message.seq == 1
    assert faults.injected == {"UpdateItem": 2, "PutItem": 2}
    assert stored(aws) == [(M1, 1)]
    chat = await store.get_chat("c1")
    assert chat is not None and chat.last_seq == 1 and chat.last_message == sent.message
    assert dict(chat.read_seqs) == {"alice": 0, "bob": 0}


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"],
)
async def test_exhausted_message_put_leaves_a_gap_and_nothing_half_visible(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any, code: str
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    await store.append_message("c1", "bob", "before", "k0", T0)
    faults.fail("PutItem", code)
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "lost", "k1", T0 + 1)
    assert faults.injected["PutItem"] == 3
    assert stored(aws) == [(M0, 1)]
    # seq 2 was handed out (META's counter) but no message has it: a gap, invisible to readers
    chat = await store.get_chat("c1")
    assert chat is not None and last_seq(aws) == 2 and chat.last_seq == 1 and chat.last_message is not None
    assert chat.last_message.id == M0 and dict(chat.read_seqs) == {"alice": 0, "bob": 0}
    page = await store.list_messages("c1", before_seq=None, after_seq=0, limit=10)
    assert [m.id for m in page.messages] == [M0]
    assert (await store.unread_entries("bob", ["c1"]))["c1"] == UnreadEntry(0, 0, 2, frozenset({2}))
    assert (await store.unread_entries("alice", ["c1"]))["c1"] == UnreadEntry(0, 1, 2, frozenset({2}))
    faults.clear()
    retried = await store.append_message("c1", "alice", "lost", "k1", T0 + 2)
    assert retried.created and retried.message.seq == 3
    assert stored(aws) == [(M0, 1), (M1, 3)]


async def test_crash_between_the_two_writes_leaves_a_gap_only(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    with pytest.raises(Crash):
        await store.append_message("c1", "alice", "x", "k1", T0 + 5, on_seq=crash)
    assert faults.sent == {"UpdateItem": 1}
    chat = await store.get_chat("c1")
    assert chat is not None and (chat.last_seq, chat.last_message, chat.last_activity_ms) == (0, None, T0 + 5)
    assert last_seq(aws) == 1
    assert (await store.list_messages("c1", before_seq=None, after_seq=None, limit=10)).messages == ()
    assert (await store.unread_entries("bob"))["c1"] == UnreadEntry(0, 0, 1, frozenset({1}))
    retried = await store.append_message("c1", "alice", "x", "k1", T0 + 6)
    assert retried.created and retried.message.seq == 2
    assert (await store.unread_entries("bob"))["c1"] == UnreadEntry(0, 1, 2, frozenset({1}))


async def test_exhausted_seq_allocation_writes_nothing(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("UpdateItem", "ThrottlingException")
    announced: list[int] = []
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "x", "k1", T0, on_seq=announced.append)
    assert faults.sent == {"UpdateItem": 3} and announced == []
    assert stored(aws) == [] and last_seq(aws) == 0


async def test_put_whose_answer_was_lost_and_that_botocore_resent_is_created(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("PutItem", "InternalServerError", times=1, applied=True)
    sent = await store.append_message("c1", "alice", "x", "k1", T0)
    # the resent put failed its condition on our own item: same seq, so this call created it
    assert sent.created and sent.message == Message(M1, "c1", 1, "alice", "x", "k1", T0)
    assert faults.sent["PutItem"] == 2 and stored(aws) == [(M1, 1)] and last_seq(aws) == 1


async def test_change_whose_answer_was_lost_and_that_botocore_resent_is_changed(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    # GIVEN a stored message, and the update of the message (not META's seq) applied but
    # answered with a 500, so botocore sends it again and its condition fails on our own change
    store, faults = await faulty(open_store, monkeypatch)
    await store.append_message("c1", "alice", "x", "k1", T0)
    faults.fail("UpdateItem", "InternalServerError", times=1, applied=True, when=lambda body: not targets_meta(body))
    # WHEN alice edits it
    result = await store.change_message("c1", M1, MessageChange("edit", "alice", content="y"), T0 + 1)
    # THEN the call reports its change made (the service announces it), at the seq it took
    assert result.changed and (result.message.content, result.message.change_seq) == ("y", 2)
    assert faults.injected["UpdateItem"] == 1 and last_seq(aws) == 2
    assert (await store.get_message("c1", M1)) == result.message


async def test_committed_send_whose_retries_were_throttled_is_found_by_the_clients_retry(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("PutItem", "InternalServerError", times=1, applied=True)
    faults.fail("PutItem", "ThrottlingException")
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "x", "k1", T0)
    assert faults.injected["PutItem"] == 3
    # the message is complete: in history and the chat's last message
    chat = await store.get_chat("c1")
    assert chat is not None and chat.last_seq == 1 and chat.last_message is not None
    assert chat.last_message.id == M1
    faults.clear()
    retried = await store.append_message("c1", "alice", "x", "k1", T0 + 1)
    assert not retried.created and (retried.message.id, retried.message.seq) == (M1, 1)
    following = await store.append_message("c1", "bob", "y", "k2", T0 + 2)
    assert following.created and following.message.seq == 3  # the retry's seq is a gap
    assert stored(aws) == [(M1, 1), (M2, 3)]


async def test_lost_answer_of_a_committed_send_never_reuses_its_seq(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, _ = await faulty(open_store, monkeypatch)
    lose_answers(store, "PutItem")
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "x", "k1", T0)
    assert last_seq(aws) == 1 and stored(aws) == [(M1, 1)]
    retried = await store.append_message("c1", "alice", "x", "k1", T0 + 1)
    assert not retried.created and (retried.message.id, retried.message.seq) == (M1, 1)
    following = await store.append_message("c1", "bob", "y", "k2", T0 + 2)
    assert following.created and following.message.seq == 3


async def test_lost_answer_of_a_seq_allocation_leaves_a_gap_not_a_reuse(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, _ = await faulty(open_store, monkeypatch)
    lose_answers(store, "UpdateItem")
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "x", "k1", T0)
    sent = await store.append_message("c1", "alice", "x", "k1", T0)
    assert sent.created and sent.message.seq == 2
    assert (await store.unread_entries("bob", ["c1"]))["c1"] == UnreadEntry(0, 1, 2, frozenset({1}))


async def test_concurrent_repeats_under_throttling_store_one_message(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    serialize_moto(monkeypatch)  # each moto request atomic, as each DynamoDB request is
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("PutItem", "ThrottlingException", times=4)
    results = await asyncio.gather(
        *(store.append_message("c1", "alice", "x", "same", T0 + i) for i in range(6)),
        return_exceptions=True,
    )
    done = [r for r in results if not isinstance(r, BaseException)]
    assert all(isinstance(r, Unavailable) for r in results if isinstance(r, BaseException))
    assert sum(r.created for r in done) <= 1 and len({r.message for r in done}) <= 1
    assert len(stored(aws)) <= 1 and last_seq(aws) == 6
    again = await store.append_message("c1", "alice", "x", "same", T0 + 9)
    assert stored(aws) == [(again.message.id, again.message.seq)]
    assert all(r.message == again.message for r in done)


# --- chat creation (the one transaction) ------------------------------------------------------
async def test_transaction_conflicts_are_retried_then_succeed(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("TransactWriteItems", reason="TransactionConflict", times=3)
    chat, created = await store.create_chat(Chat("g", "group", "t", ("a", "b"), T0, 0, T0, None))
    assert created and chat.members == ("a", "b")
    assert faults.injected["TransactWriteItems"] == 3
    assert [i["sk"]["S"] for i in table_items(aws, "", "g")] == ["MEMBER#a", "MEMBER#b", "META"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("ProvisionedThroughputExceededException", None),
        ("ThrottlingException", None),
        ("RequestLimitExceeded", None),
        ("TransactionCanceledException", "TransactionConflict"),
        ("TransactionCanceledException", "ThrottlingError"),
    ],
)
async def test_exhausted_transaction_leaves_nothing(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any, code: str, reason: str | None
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("TransactWriteItems", code, reason=reason)
    group = Chat("g", "group", "t", ("a", "b"), T0, 0, T0, None)
    with pytest.raises(Unavailable):
        await store.create_chat(group)
    assert table_items(aws, "", "g") == [] and await store.get_chat("g") is None
    assert await store.unread_entries("a") == {}
    faults.clear()
    assert (await store.create_chat(group))[1] is True


# --- every method -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("Query", lambda s: s.get_chat("c1")),
        ("Query", lambda s: s.list_messages("c1", before_seq=None, after_seq=None, limit=5)),
        ("Query", lambda s: s.list_chats("alice", 10, None)),
        ("Query", lambda s: s.unread_entries("alice")),
        ("BatchGetItem", lambda s: s.unread_entries("alice", ["c1"])),
        ("BatchGetItem", lambda s: s.presence(["alice"])),
        ("UpdateItem", lambda s: s.append_message("c1", "alice", "x", "k", T0)),
        ("PutItem", lambda s: s.append_message("c1", "alice", "x", "k", T0)),
        ("UpdateItem", lambda s: s.mark_read("c1", "bob", 1)),
        ("UpdateItem", lambda s: s.settle_offline("alice", T0)),
        ("UpdateItem", lambda s: s.touch_node("n1", T0)),
        ("PutItem", lambda s: s.open_connection(ConnectionRef("alice", "x", "n1"), T0)),
        ("TransactWriteItems", lambda s: s.create_chat(Chat("g", "group", "t", ("a", "b"), T0, 0, T0, None))),
    ],
)
async def test_every_method_raises_unavailable_when_throttling_outlasts_retries(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, operation: str, call: Callable[[DynamoStore], Any]
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail(operation, "ThrottlingException")
    with pytest.raises(Unavailable):
        await call(store)
    assert faults.injected[operation] >= 3
    faults.clear()
    await call(store)


async def test_throttled_reads_are_retried_then_succeed(open_store: OpenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    await store.append_message("c1", "alice", "x", "k1", T0)
    faults.fail("BatchGetItem", "ProvisionedThroughputExceededException", times=2)
    faults.fail("Query", "RequestLimitExceeded", times=2)
    entries = await store.unread_entries("bob")
    assert entries == {"c1": UnreadEntry(0, 1, 1), "c2": UnreadEntry(0, 0, 0)}
    assert faults.injected == {"BatchGetItem": 2, "Query": 2}


async def test_presence_survives_conflicting_throttles(open_store: OpenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("UpdateItem", "ThrottlingException", times=2)
    assert await store.open_connection(ConnectionRef("alice", "c-1", "n1"), T0) is True
    faults.fail("UpdateItem", "ThrottlingException", times=2)
    assert await store.close_connection(ConnectionRef("alice", "c-1", "n1"), T0 + 1) == 0
    assert await store.settle_offline("alice", T0 + 2) is True


async def test_unreachable_endpoint_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    store = await DynamoStore.open("nowhere", max_attempts=2)
    try:
        assert "127.0.0.1:9" in store.client.meta.endpoint_url
        with pytest.raises(Unavailable):
            await store.get_chat("c1")
    finally:
        await store.close()


# --- the inbox index ----------------------------------------------------------------------------
async def test_a_failed_inbox_reindex_does_not_fail_the_send_and_the_next_message_redoes_it(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    later = T0 + 10 * 60_000  # two steps after the chat's creation: the members' entries move

    def member_write(body: dict[str, Any]) -> bool:
        return str(body.get("Key", {}).get("sk", {}).get("S", "")).startswith("MEMBER#")

    faults.fail("UpdateItem", when=member_write)
    sent = await store.append_message("c2", "alice", "hi", "k1", later)
    assert sent.created and faults.injected["UpdateItem"] > 0

    def index_state() -> tuple[str, set[str]]:
        meta = aws.get_item(TableName=TABLE, Key={"pk": {"S": "CHAT#c2"}, "sk": {"S": "META"}})["Item"]
        entries = {i["gsi1sk"]["S"] for i in table_items(aws, "MEMBER#", "c2")}
        return meta["indexedAt"]["N"], entries

    assert index_state() == (str(T0), {f"ACT#{T0:016d}#c2"}), "nothing moved: META was not written"
    faults.clear()
    await store.append_message("c2", "bob", "yo", "k2", later + 1)
    assert index_state() == (str(later + 1), {f"ACT#{later + 1:016d}#c2"})


async def test_membership_and_block_transactions_retry_conflicts(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat_core.models import ChatUpdate

    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("TransactWriteItems", reason="TransactionConflict", times=2)
    after = await store.update_chat("c2", ChatUpdate(expected_version=0, now_ms=T0, add=("carol",)))
    assert after.members == ("alice", "bob", "carol") and after.version == 1
    faults.fail("TransactWriteItems", reason="TransactionConflict", times=2)
    (marked,) = await store.set_block("alice", "bob", True, T0)
    assert marked.id == "c1" and marked.blocked_by == {"alice"} and marked.version == 1
    assert faults.injected == {"TransactWriteItems": 4}
