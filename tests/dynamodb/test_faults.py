"""Throttling, transaction conflicts and lost answers, injected with botocore's event hooks.

moto never throttles, so a `before-send` handler answers chosen requests with DynamoDB's own
error responses. They then go through botocore's real retry logic (standard mode) and the
store's own transaction retries, exactly as a real 400 from DynamoDB would.
"""

from __future__ import annotations

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
from chat_core.models import Chat, ConnectionRef
from chat_core.stores.dynamodb import DynamoStore

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


def table_items(client: Any, prefix: str) -> list[dict[str, Any]]:
    answer = client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": "CHAT#c1"}, ":p": {"S": prefix}},
        ConsistentRead=True,
    )
    items: list[dict[str, Any]] = answer["Items"]
    return items


def counter(client: Any) -> int:
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": "CHAT#c1"}, "sk": {"S": "SEQ"}})["Item"]
    return int(item["n"]["N"])


def is_transaction(body: dict[str, Any]) -> bool:
    return "TransactItems" in body


def targets_meta(body: dict[str, Any]) -> bool:
    return bool(body.get("Key", {}).get("sk", {}).get("S") == "META")


async def test_throttled_send_is_retried_then_succeeds(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("UpdateItem", "ThrottlingException", times=2)
    faults.fail("TransactWriteItems", "ProvisionedThroughputExceededException", times=2)
    sent = await store.append_message("c1", "alice", "hi", "k1", "m1", T0 + 1)
    assert sent.created and sent.message.seq == 1
    assert faults.injected == {"UpdateItem": 2, "TransactWriteItems": 2}
    assert len(table_items(aws, "MSG#")) == 1 and len(table_items(aws, "CMID#")) == 1
    chat = await store.get_chat("c1")
    assert chat is not None and chat.last_seq == 1 and chat.read_seqs["alice"] == 1


async def test_transaction_conflicts_are_retried_then_succeed(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("TransactWriteItems", reason="TransactionConflict", times=3)
    sent = await store.append_message("c1", "alice", "hi", "k1", "m1", T0 + 1)
    assert sent.created and sent.message.seq == 1
    assert faults.injected["TransactWriteItems"] == 3
    assert len(table_items(aws, "MSG#")) == 1


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
async def test_exhausted_transaction_leaves_nothing_and_reuses_no_seq(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any, code: str, reason: str | None
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    await store.append_message("c1", "bob", "before", "k0", "m0", T0)
    faults.fail("TransactWriteItems", code, reason=reason)
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "lost", "k1", "m1", T0 + 1)
    assert [i["id"]["S"] for i in table_items(aws, "MSG#")] == ["m0"]
    assert [i["sk"]["S"] for i in table_items(aws, "CMID#")] == ["CMID#bob#k0"]
    chat = await store.get_chat("c1")
    assert chat is not None and chat.last_seq == 1 and dict(chat.read_seqs) == {"alice": 0, "bob": 1}
    assert counter(aws) == 1  # the seq that reached no item went back to the counter
    faults.clear()
    retried = await store.append_message("c1", "alice", "lost", "k1", "m1", T0 + 2)
    assert retried.created and retried.message.seq == 2
    assert [i["id"]["S"] for i in table_items(aws, "MSG#")] == ["m0", "m1"]


async def test_exhausted_seq_allocation_writes_nothing(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("UpdateItem", "ThrottlingException")
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "x", "k1", "m1", T0)
    assert faults.sent["UpdateItem"] == 3 and faults.sent["TransactWriteItems"] == 0
    assert table_items(aws, "MSG#") == [] and table_items(aws, "CMID#") == [] and counter(aws) == 0


async def test_publish_failure_is_healed_by_the_clients_retry(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("UpdateItem", "ProvisionedThroughputExceededException", when=targets_meta)
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "x", "k1", "m1", T0 + 5)
    # the message is durable with its idempotency record; only the chat summary lags
    assert len(table_items(aws, "MSG#")) == 1 and len(table_items(aws, "CMID#")) == 1
    chat = await store.get_chat("c1")
    assert chat is not None and chat.last_seq == 0
    faults.clear()
    retried = await store.append_message("c1", "alice", "x", "k1", "m-retry", T0 + 9)
    assert not retried.created and retried.message.id == "m1" and retried.message.seq == 1
    chat = await store.get_chat("c1")
    assert chat is not None and chat.last_seq == 1 and chat.last_message == retried.message
    assert chat.last_activity_ms == T0 + 5


async def test_lost_answer_of_a_committed_send_never_reuses_its_seq(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, _ = await faulty(open_store, monkeypatch)
    lose_answers(store, "TransactWriteItems")
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "x", "k1", "m1", T0)
    assert counter(aws) == 1  # an ambiguous failure never gives its seq back
    retried = await store.append_message("c1", "alice", "x", "k1", "m-retry", T0 + 1)
    assert not retried.created and (retried.message.id, retried.message.seq) == ("m1", 1)
    following = await store.append_message("c1", "bob", "y", "k2", "m2", T0 + 2)
    assert following.created and following.message.seq == 2


async def test_committed_send_whose_retries_were_throttled_counts_as_sent(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    faults.fail("TransactWriteItems", "InternalServerError", times=1, applied=True)
    faults.fail("TransactWriteItems", "ThrottlingException")
    sent = await store.append_message("c1", "alice", "x", "k1", "m1", T0)
    assert sent.created and sent.message.seq == 1
    assert faults.injected["TransactWriteItems"] == 3 and counter(aws) == 1
    chat = await store.get_chat("c1")
    assert chat is not None and chat.last_seq == 1 and chat.last_message == sent.message


async def test_lost_answer_of_a_seq_allocation_leaves_a_gap_not_a_reuse(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    store, _ = await faulty(open_store, monkeypatch)
    lose_answers(store, "UpdateItem")
    with pytest.raises(Unavailable):
        await store.append_message("c1", "alice", "x", "k1", "m1", T0)
    sent = await store.append_message("c1", "alice", "x", "k1", "m1", T0)
    assert sent.created and sent.message.seq == 2


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("Query", lambda s: s.get_chat("c1")),
        ("Query", lambda s: s.list_messages("c1", before_seq=None, after_seq=None, limit=5)),
        ("Query", lambda s: s.list_chats("alice", 10, None)),
        ("BatchGetItem", lambda s: s.unread_counts("c1", ["alice", "bob"])),
        ("BatchGetItem", lambda s: s.presence(["alice"])),
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


async def test_throttled_reads_are_retried_then_succeed(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, faults = await faulty(open_store, monkeypatch)
    await store.append_message("c1", "alice", "x", "k1", "m1", T0)
    faults.fail("BatchGetItem", "ProvisionedThroughputExceededException", times=2)
    faults.fail("Query", "RequestLimitExceeded", times=2)
    counts = await store.unread_counts("c1", ["bob"])
    assert counts["bob"].chat_unread == 1 and counts["bob"].total_unread == 1
    assert faults.injected == {"BatchGetItem": 2, "Query": 2}


async def test_presence_survives_conflicting_throttles(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
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
