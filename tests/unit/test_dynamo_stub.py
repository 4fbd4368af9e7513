"""StubDynamoClient answers as moto does on the same requests (the tricky cases DynamoStore relies
on), and where moto is known to differ from DynamoDB the stub follows DynamoDB."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chat_core.stores.dynamodb_schema import table_definition
from tests.support.dynamo_stub import StubDynamoClient
from tests.support.moto_server import use_dummy_aws

pytestmark = pytest.mark.dynamodb

TABLE = "stub-vs-moto"
NUMBERS = "numbers"
_DROP = {"ResponseMetadata", "ConsumedCapacity", "ItemCollectionMetrics"}


def _numbers_table() -> dict[str, Any]:
    return {
        "TableName": NUMBERS,
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def outcome(client: Any, operation: str, **kwargs: Any) -> tuple[Any, ...]:
    """What the caller sees: the answer, or the error code, message and extra error fields."""
    try:
        answer = getattr(client, operation)(**kwargs)
    except ClientError as error:
        extra = {k: v for k, v in error.response.items() if k not in _DROP | {"Error", "message", "Message"}}
        return ("error", error.response["Error"]["Code"], error.response["Error"]["Message"], extra)
    return ("ok", {k: v for k, v in answer.items() if k not in _DROP})


class Pair:
    def __init__(self, moto: Any, stub: StubDynamoClient) -> None:
        self.moto = moto
        self.stub = stub

    def same(self, operation: str, **kwargs: Any) -> tuple[Any, ...]:
        """Send one request to both; they must answer identically. Returns the answer."""
        expected = outcome(self.moto, operation, **kwargs)
        actual = outcome(self.stub, operation, **kwargs)
        assert actual == expected, f"{operation} {kwargs}"
        return actual


@pytest.fixture
def pair(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    from moto import mock_aws

    use_dummy_aws(monkeypatch)
    with mock_aws():
        moto = boto3.client("dynamodb")
        stub = StubDynamoClient(latency_s=0)
        for client in (moto, stub):
            client.create_table(**table_definition(TABLE))
            client.create_table(**_numbers_table())
        yield Pair(moto, stub)


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def message(chat: str, seq: int, sender: str) -> dict[str, Any]:
    return {
        **key(f"CHAT#{chat}", f"CMID#{sender}#k{seq}"),
        "lsi1sk": {"S": f"MSG#{seq:016d}"},
        "seq": {"N": str(seq)},
        "senderId": {"S": sender},
        "content": {"S": f"text {seq}"},
    }


def test_condition_failures_return_the_old_item_only_when_asked(pair: Pair) -> None:
    stored = {**key("CHAT#c", "CMID#a#k1"), "seq": {"N": "1"}, "content": {"S": "first"}}
    pair.same("put_item", TableName=TABLE, Item=stored)
    again = {**stored, "content": {"S": "second"}}
    failed = pair.same(
        "put_item",
        TableName=TABLE,
        Item=again,
        ConditionExpression="attribute_not_exists(pk)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    assert failed[1] == "ConditionalCheckFailedException" and failed[3] == {"Item": stored}
    failed = pair.same("put_item", TableName=TABLE, Item=again, ConditionExpression="attribute_not_exists(pk)")
    assert failed[1] == "ConditionalCheckFailedException" and failed[3] == {}

    # mark_read: a read mark never goes backwards, the stored one comes back
    member = {**key("CHAT#c", "MEMBER#a"), "readSeq": {"N": "7"}}
    pair.same("put_item", TableName=TABLE, Item=member)
    mark = {
        "TableName": TABLE,
        "UpdateExpression": "SET readSeq = :seq",
        "ConditionExpression": "attribute_exists(pk) AND readSeq < :seq",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    backwards = pair.same(
        "update_item", Key=key("CHAT#c", "MEMBER#a"), ExpressionAttributeValues={":seq": {"N": "5"}}, **mark
    )
    assert backwards[3] == {"Item": member}
    missing = pair.same(
        "update_item", Key=key("CHAT#c", "MEMBER#z"), ExpressionAttributeValues={":seq": {"N": "5"}}, **mark
    )
    assert missing[1] == "ConditionalCheckFailedException" and missing[3] == {}
    pair.same("update_item", Key=key("CHAT#c", "MEMBER#a"), ExpressionAttributeValues={":seq": {"N": "10"}}, **mark)
    pair.same(
        "delete_item",
        TableName=TABLE,
        Key=key("CHAT#c", "MEMBER#a"),
        ConditionExpression="readSeq = :seq",
        ExpressionAttributeValues={":seq": {"N": "7"}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    pair.same("get_item", TableName=TABLE, Key=key("CHAT#c", "MEMBER#a"), ConsistentRead=True)


def test_transaction_cancellation_reasons_and_all_or_nothing(pair: Pair) -> None:
    def create(chat: str, members: list[str]) -> list[dict[str, Any]]:
        meta = {**key(f"CHAT#{chat}", "META"), "lastSeq": {"N": "0"}}
        put_meta = {
            "TableName": TABLE,
            "Item": meta,
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        return [
            {"Put": put_meta},
            *({"Put": {"TableName": TABLE, "Item": {**key(f"CHAT#{chat}", f"MEMBER#{m}")}}} for m in members),
        ]

    assert pair.same("transact_write_items", TransactItems=create("c1", ["a", "b"])) == ("ok", {})
    cancelled = pair.same("transact_write_items", TransactItems=create("c1", ["a", "x"]))
    assert cancelled[1] == "TransactionCanceledException"
    assert [r["Code"] for r in cancelled[3]["CancellationReasons"]] == ["ConditionalCheckFailed", "None", "None"]
    assert cancelled[3]["CancellationReasons"][0]["Item"] == {**key("CHAT#c1", "META"), "lastSeq": {"N": "0"}}
    pair.same("get_item", TableName=TABLE, Key=key("CHAT#c1", "MEMBER#x"))  # not written

    mixed = [
        {
            "Update": {
                "TableName": TABLE,
                "Key": key("CHAT#c1", "META"),
                "UpdateExpression": "SET lastSeq = lastSeq + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": key("CHAT#c1", "MEMBER#zz"),
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
        {"Delete": {"TableName": TABLE, "Key": key("CHAT#c1", "MEMBER#a")}},
    ]
    cancelled = pair.same("transact_write_items", TransactItems=mixed)
    assert [r["Code"] for r in cancelled[3]["CancellationReasons"]] == ["None", "ConditionalCheckFailed", "None"]
    pair.same(
        "query", TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "CHAT#c1"}}
    )
    duplicate = [
        {"Put": {"TableName": TABLE, "Item": key("CHAT#d", "META")}},
        {"Delete": {"TableName": TABLE, "Key": key("CHAT#d", "META")}},
    ]
    assert pair.same("transact_write_items", TransactItems=duplicate)[1] == "ValidationException"


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("limit", [2, 3, 4])
def test_lsi_paging_with_limit_and_exclusive_start_key(pair: Pair, forward: bool, limit: int) -> None:
    for seq in range(1, 9):
        pair.same("put_item", TableName=TABLE, Item=message("c", seq, "a" if seq % 3 else "b"))
    pair.same("put_item", TableName=TABLE, Item={**key("CHAT#c", "META"), "lastSeq": {"N": "8"}})
    request: dict[str, Any] = {
        "TableName": TABLE,
        "IndexName": "lsi1",
        "KeyConditionExpression": "pk = :pk AND #seq BETWEEN :lo AND :hi",
        "ExpressionAttributeNames": {"#seq": "lsi1sk"},
        "ExpressionAttributeValues": {
            ":pk": {"S": "CHAT#c"},
            ":lo": {"S": f"MSG#{2:016d}"},
            ":hi": {"S": f"MSG#{8:016d}"},
        },
        "ScanIndexForward": forward,
        "ConsistentRead": True,
        "Limit": limit,
    }
    # 7 messages in range and no limit divides 7: the last page is never full, the one case where
    # moto (looks ahead) and DynamoDB (does not) differ, see test_a_full_page_has_a_next_key...
    seqs: list[int] = []
    while True:
        answer = pair.same("query", **request)[1]
        seqs += [int(i["seq"]["N"]) for i in answer["Items"]]
        if "LastEvaluatedKey" not in answer:
            break
        assert set(answer["LastEvaluatedKey"]) == {"pk", "sk", "lsi1sk"}
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    assert seqs == (list(range(2, 9)) if forward else list(range(8, 1, -1)))

    # unread counting's projection, and a filter applied after Limit
    pair.same(
        "query",
        TableName=TABLE,
        IndexName="lsi1",
        KeyConditionExpression="pk = :pk AND #seq BETWEEN :lo AND :hi",
        ProjectionExpression="#n, senderId",
        ExpressionAttributeNames={"#seq": "lsi1sk", "#n": "seq"},
        ExpressionAttributeValues={
            ":pk": {"S": "CHAT#c"},
            ":lo": {"S": f"MSG#{3:016d}"},
            ":hi": {"S": f"MSG#{6:016d}"},
        },
        ConsistentRead=True,
    )
    pair.same(
        "query",
        TableName=TABLE,
        IndexName="lsi1",
        KeyConditionExpression="pk = :pk",
        FilterExpression="senderId = :b",
        ExpressionAttributeValues={":pk": {"S": "CHAT#c"}, ":b": {"S": "b"}},
        ScanIndexForward=forward,
        Limit=limit + 2,
    )


def test_sparse_global_index_pages_in_key_order(pair: Pair) -> None:
    for user in ("u1", "u3", "u2", "u5", "u4"):
        item = {**key(f"USER#{user}", "PRESENCE"), "gsi1pk": {"S": "IDLE"}, "gsi1sk": {"S": f"USER#{user}"}}
        pair.same("put_item", TableName=TABLE, Item=item)
    pair.same("put_item", TableName=TABLE, Item={**key("USER#u9", "PRESENCE"), "online": {"BOOL": True}})
    request: dict[str, Any] = {
        "TableName": TABLE,
        "IndexName": "gsi1",
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "gsi1pk"},
        "ExpressionAttributeValues": {":pk": {"S": "IDLE"}},
        "Limit": 2,
    }
    users: list[str] = []
    while True:
        answer = pair.same("query", **request)[1]
        users += [i["pk"]["S"] for i in answer["Items"]]
        if "LastEvaluatedKey" not in answer:
            break
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    assert users == [f"USER#u{n}" for n in range(1, 6)]
    assert pair.same("query", **{**request, "ConsistentRead": True})[1] == "ValidationException"


def test_numbers_compare_numerically_and_strings_by_code_point(pair: Pair) -> None:
    numbers = ["9", "10", "-3", "2.5", "100", "0", "-0.5"]
    strings = ["Z", "a", "ab", "a b", "é", "~", "Ā", "😀", ""]
    for i, text in enumerate(numbers):
        pair.same("put_item", TableName=TABLE, Item={**key("NUM", f"n{i}"), "v": {"N": text}})
        pair.same("put_item", TableName=NUMBERS, Item={"pk": {"S": "p"}, "sk": {"N": text}})
    for i, text in enumerate(strings):
        pair.same("put_item", TableName=TABLE, Item={**key("STR", f"s{i}"), "v": {"S": text}})
        if text:
            pair.same("put_item", TableName=TABLE, Item={**key("SORT", text)})
    for op in ("<", "<=", ">", ">=", "=", "<>"):
        # a string against a number: never equal; moto crashes on ordering it (DynamoDB: false)
        bounds = [{"N": "10"}, {"N": "2.50"}, {"N": "-1"}] + ([{"S": "9"}] if op in ("=", "<>") else [])
        for bound in bounds:
            for i in range(len(numbers)):
                pair.same(
                    "update_item",
                    TableName=TABLE,
                    Key=key("NUM", f"n{i}"),
                    UpdateExpression="SET hit = :one",
                    ConditionExpression=f"v {op} :b",
                    ExpressionAttributeValues={":b": bound, ":one": {"N": "1"}},
                )
        for text_bound in ("a", "ab", "é", "Z"):
            for i in range(len(strings)):
                pair.same(
                    "update_item",
                    TableName=TABLE,
                    Key=key("STR", f"s{i}"),
                    UpdateExpression="SET hit = :one",
                    ConditionExpression=f"v {op} :b",
                    ExpressionAttributeValues={":b": {"S": text_bound}, ":one": {"N": "1"}},
                )
    for forward in (True, False):
        pair.same(
            "query",
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "SORT"}},
            ScanIndexForward=forward,
        )
        answer = pair.same(
            "query",
            TableName=NUMBERS,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":pk": {"S": "p"}, ":lo": {"N": "-1"}, ":hi": {"N": "10"}},
            ScanIndexForward=forward,
        )[1]
        in_order = [i["sk"]["N"] for i in answer["Items"]]
        assert in_order == (["-0.5", "0", "2.5", "9", "10"] if forward else ["10", "9", "2.5", "0", "-0.5"])


def test_presence_updates_answer_alike(pair: Pair) -> None:
    presence = key("USER#u", "PRESENCE")
    first = {
        "TableName": TABLE,
        "Key": presence,
        "UpdateExpression": "SET conns = :set, #o = :t, lastSeen = :now",
        "ConditionExpression": "attribute_not_exists(conns)",
        "ExpressionAttributeNames": {"#o": "online"},
        "ExpressionAttributeValues": {":set": {"M": {"c1": {"S": "n1"}}}, ":t": {"BOOL": True}, ":now": {"N": "1"}},
        "ReturnValues": "ALL_OLD",
    }
    pair.same("update_item", **first)
    assert pair.same("update_item", **first)[1] == "ConditionalCheckFailedException"
    for connection, returns in (("c2", "ALL_OLD"), ("c3", "ALL_NEW")):
        pair.same(
            "update_item",
            TableName=TABLE,
            Key=presence,
            UpdateExpression="SET conns.#c = :node, #o = :t, lastSeen = :now REMOVE #gpk, #gsk",
            ConditionExpression="attribute_exists(conns)",
            ExpressionAttributeNames={"#o": "online", "#c": connection, "#gpk": "gsi1pk", "#gsk": "gsi1sk"},
            ExpressionAttributeValues={":t": {"BOOL": True}, ":now": {"N": "2"}, ":node": {"S": "n1"}},
            ReturnValues=returns,
        )
    for connection in ("c1", "c2", "c3", "c3"):
        last = {
            "TableName": TABLE,
            "Key": presence,
            "UpdateExpression": "REMOVE conns.#c SET lastSeen = :now, #gpk = :idle, #gsk = :user",
            "ConditionExpression": "attribute_exists(conns.#c) AND size(conns) = :one",
            "ExpressionAttributeNames": {"#c": connection, "#gpk": "gsi1pk", "#gsk": "gsi1sk"},
            "ExpressionAttributeValues": {
                ":now": {"N": "3"},
                ":idle": {"S": "IDLE"},
                ":user": {"S": "USER#u"},
                ":one": {"N": "1"},
            },
        }
        pair.same("update_item", **last)
        pair.same(
            "update_item",
            TableName=TABLE,
            Key=presence,
            UpdateExpression="REMOVE conns.#c SET lastSeen = :now",
            ConditionExpression="attribute_exists(conns.#c) AND size(conns) > :one",
            ExpressionAttributeNames={"#c": connection},
            ExpressionAttributeValues={":now": {"N": "4"}, ":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
    settle = {
        "TableName": TABLE,
        "Key": presence,
        "UpdateExpression": "SET #o = :f REMOVE #gpk, #gsk",
        "ConditionExpression": "#o = :t AND size(conns) = :zero",
        "ExpressionAttributeNames": {"#o": "online", "#gpk": "gsi1pk", "#gsk": "gsi1sk"},
        "ExpressionAttributeValues": {":t": {"BOOL": True}, ":f": {"BOOL": False}, ":zero": {"N": "0"}},
    }
    pair.same("update_item", **settle)
    pair.same("update_item", **settle)
    pair.same("get_item", TableName=TABLE, Key=presence, ConsistentRead=True)
    counter = {
        "TableName": TABLE,
        "Key": key("CHAT#c", "META"),
        "UpdateExpression": "SET lastSeq = lastSeq + :one, lastActivity = :now",
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":now": {"N": "5"}},
        "ReturnValues": "UPDATED_NEW",
    }
    assert pair.same("update_item", **counter)[1] == "ConditionalCheckFailedException"
    pair.same("put_item", TableName=TABLE, Item={**key("CHAT#c", "META"), "lastSeq": {"N": "41"}})
    assert pair.same("update_item", **counter)[1] == {
        "Attributes": {"lastSeq": {"N": "42"}, "lastActivity": {"N": "5"}}
    }


def test_batches_answer_alike(pair: Pair) -> None:
    puts = [{"PutRequest": {"Item": {**key("B", f"k{i}"), "v": {"N": str(i)}}}} for i in range(25)]
    pair.same("batch_write_item", RequestItems={TABLE: puts})
    keys = [key("B", f"k{i}") for i in range(0, 30, 3)]
    pair.same("batch_get_item", RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})
    pair.same("batch_get_item", RequestItems={TABLE: {"Keys": [*keys, keys[0]]}})
    pair.same("batch_write_item", RequestItems={TABLE: [{"DeleteRequest": {"Key": k}} for k in keys]})
    pair.same(
        "query", TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "B"}}
    )


def test_inbox_index_requests_answer_alike(pair: Pair) -> None:
    """The conversations requests (docs/dynamodb.md): the send's seq update with ALL_NEW, member
    entries moved under seq tags, old CHAT# entries migrated, the inbox read newest first."""
    meta = {
        **key("CHAT#g", "META"),
        "lastSeq": {"N": "4"},
        "lastActivity": {"N": "1000"},
        "indexedAt": {"N": "900"},
        "indexedSeq": {"N": "3"},
        "admins": {"L": [{"S": "a"}, {"S": "b"}]},
        "title": {"NULL": True},
    }
    pair.same("put_item", TableName=TABLE, Item=meta)
    pair.same(
        "update_item",
        TableName=TABLE,
        Key=key("CHAT#g", "META"),
        UpdateExpression="SET lastSeq = lastSeq + :one, lastActivity = :now",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": "1500"}},
        ReturnValues="ALL_NEW",
    )
    for i, (user, entry) in enumerate(
        [("a", "ACT#0000000000000900#g"), ("b", "CHAT#g"), ("c", "ACT#0000000000000900#g")]
    ):
        member = {
            **key("CHAT#g", f"MEMBER#{user}"),
            "userId": {"S": user},
            "idx": {"N": str(i)},
            "gsi1pk": {"S": f"USER#{user}"},
            "gsi1sk": {"S": entry},
        }
        if user == "c":
            member["indexedSeq"] = {"N": "7"}
        pair.same("put_item", TableName=TABLE, Item=member)
    for user, seq in (("a", "5"), ("b", "5"), ("c", "5"), ("zz", "5")):
        pair.same(
            "update_item",
            TableName=TABLE,
            Key=key("CHAT#g", f"MEMBER#{user}"),
            UpdateExpression="SET #sk = :entry, indexedSeq = :seq",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(indexedSeq) OR indexedSeq < :seq)",
            ExpressionAttributeNames={"#sk": "gsi1sk"},
            ExpressionAttributeValues={":entry": {"S": "ACT#0000000000001500#g"}, ":seq": {"N": seq}},
        )
    migrate = {
        "TableName": TABLE,
        "UpdateExpression": "SET #sk = :entry, indexedSeq = :seq",
        "ConditionExpression": "begins_with(#sk, :old)",
        "ExpressionAttributeNames": {"#sk": "gsi1sk"},
        "ExpressionAttributeValues": {
            ":entry": {"S": "ACT#0000000000000001#g"},
            ":seq": {"N": "0"},
            ":old": {"S": "CHAT#"},
        },
    }
    assert pair.same("update_item", Key=key("CHAT#g", "MEMBER#a"), **migrate)[1] == "ConditionalCheckFailedException"
    pair.same(
        "put_item",
        TableName=TABLE,
        Item={**key("CHAT#h", "MEMBER#a"), "gsi1pk": {"S": "USER#a"}, "gsi1sk": {"S": "CHAT#h"}},
    )
    pair.same("update_item", Key=key("CHAT#h", "MEMBER#a"), **migrate)
    reindexed = {
        "TableName": TABLE,
        "Key": key("CHAT#g", "META"),
        "UpdateExpression": "SET indexedAt = :at, indexedSeq = :seq",
        "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(version) OR version = :v) AND "
        "(attribute_not_exists(indexedSeq) OR indexedSeq < :seq)",
        "ExpressionAttributeValues": {":at": {"N": "1500"}, ":seq": {"N": "5"}, ":v": {"N": "0"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    pair.same("update_item", **reindexed)
    failed = pair.same("update_item", **reindexed)
    assert failed[1] == "ConditionalCheckFailedException" and failed[3]["Item"]["indexedSeq"] == {"N": "5"}
    for user in ("a", "b", "c"):
        pair.same("get_item", TableName=TABLE, Key=key("CHAT#g", f"MEMBER#{user}"), ConsistentRead=True)
    pair.same(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
        ProjectionExpression="userId",
        ExpressionAttributeValues={":pk": {"S": "CHAT#g"}, ":m": {"S": "MEMBER#"}},
        ConsistentRead=True,
    )

    # a user's entries, newest first, a chunk at a time; the old form on its own
    for n, (chat, at) in enumerate([("c1", 5), ("c2", 30), ("c3", 30), ("c4", 7), ("c5", 400), ("c6", 12)]):
        entry = f"ACT#{at:016d}#{chat}" if n != 3 else f"CHAT#{chat}"
        item = {**key(f"CHAT#{chat}", "MEMBER#u"), "gsi1pk": {"S": "USER#u"}, "gsi1sk": {"S": entry}}
        pair.same("put_item", TableName=TABLE, Item=item)
    # no last page is full: moto looks ahead there, DynamoDB (and the stub) do not
    for high, limit in ((f"ACT#{9999999999999999}$", 2), (f"ACT#{30:016d}$", 3), (f"ACT#{29:016d}$", 4)):
        request: dict[str, Any] = {
            "TableName": TABLE,
            "IndexName": "gsi1",
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#pk": "gsi1pk", "#sk": "gsi1sk"},
            "ExpressionAttributeValues": {":pk": {"S": "USER#u"}, ":lo": {"S": "ACT#"}, ":hi": {"S": high}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        read: list[str] = []
        while True:
            answer = pair.same("query", **request)[1]
            read += [i["gsi1sk"]["S"] for i in answer["Items"]]
            if "LastEvaluatedKey" not in answer:
                break
            assert set(answer["LastEvaluatedKey"]) == {"pk", "sk", "gsi1pk", "gsi1sk"}
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        assert read == sorted(read, reverse=True) and "CHAT#c4" not in read
    pair.same(
        "query",
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="#pk = :pk AND begins_with(#sk, :chat)",
        ExpressionAttributeNames={"#pk": "gsi1pk", "#sk": "gsi1sk"},
        ExpressionAttributeValues={":pk": {"S": "USER#u"}, ":chat": {"S": "CHAT#"}},
    )


def test_membership_and_block_transactions_answer_alike(pair: Pair) -> None:
    """update_chat's transaction (META under its version, member Puts and Deletes) and
    set_block's (string set ADD/DELETE under a version that may be absent)."""
    meta = {**key("CHAT#g", "META"), "lastSeq": {"N": "3"}, "memberCount": {"N": "2"}, "indexedSeq": {"N": "2"}}
    pair.same("put_item", TableName=TABLE, Item=meta)
    pair.same("put_item", TableName=TABLE, Item={**key("CHAT#g", "MEMBER#a"), "userId": {"S": "a"}})
    pair.same("put_item", TableName=TABLE, Item={**key("CHAT#g", "MEMBER#b"), "userId": {"S": "b"}})

    def change(version: int, index_seq: int, add: str, remove: str) -> list[dict[str, Any]]:
        exists = "version = :v" if version else "(attribute_not_exists(version) OR version = :v)"
        return [
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key("CHAT#g", "META"),
                    "UpdateExpression": "SET version = :next, memberCount = :count, admins = :admins, title = :title",
                    "ConditionExpression": f"attribute_exists(pk) AND {exists} AND indexedSeq = :iseq",
                    "ExpressionAttributeValues": {
                        ":v": {"N": str(version)},
                        ":next": {"N": str(version + 1)},
                        ":count": {"N": "2"},
                        ":admins": {"L": [{"S": add}]},
                        ":title": {"NULL": True},
                        ":iseq": {"N": str(index_seq)},
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {**key("CHAT#g", f"MEMBER#{add}"), "userId": {"S": add}, "joinedSeq": {"N": "3"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Delete": {
                    "TableName": TABLE,
                    "Key": key("CHAT#g", f"MEMBER#{remove}"),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]

    assert pair.same("transact_write_items", TransactItems=change(0, 2, "c", "b")) == ("ok", {})
    for stale in (change(0, 2, "d", "a"), change(1, 1, "d", "a"), change(1, 2, "c", "a"), change(1, 2, "d", "b")):
        cancelled = pair.same("transact_write_items", TransactItems=stale)
        assert cancelled[1] == "TransactionCanceledException"
    pair.same(
        "query", TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "CHAT#g"}}
    )

    direct = {**key("CHAT#d", "META"), "gsi1pk": {"S": "PAIR#a#b"}, "gsi1sk": {"S": "CHAT#d"}}
    pair.same("put_item", TableName=TABLE, Item=direct)
    for verb, who, version in (
        ("ADD", "a", 0),
        ("ADD", "b", 1),
        ("ADD", "b", 1),
        ("DELETE", "a", 2),
        ("DELETE", "b", 3),
    ):
        exists = "version = :v" if version else "(attribute_not_exists(version) OR version = :v)"
        pair.same(
            "transact_write_items",
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("CHAT#d", "META"),
                        "UpdateExpression": f"{verb} blockedBy :who SET version = :next",
                        "ConditionExpression": f"attribute_exists(pk) AND {exists}",
                        "ExpressionAttributeValues": {
                            ":who": {"SS": [who]},
                            ":v": {"N": str(version)},
                            ":next": {"N": str(version + 1)},
                        },
                    }
                }
            ],
        )
        pair.same("get_item", TableName=TABLE, Key=key("CHAT#d", "META"), ConsistentRead=True)
    pair.same(
        "query",
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": "gsi1pk"},
        ExpressionAttributeValues={":pk": {"S": "PAIR#a#b"}},
    )


# --- the stub alone --------------------------------------------------------------------------
@pytest.fixture
def stub() -> StubDynamoClient:
    client = StubDynamoClient(latency_s=0)
    client.create_table(**table_definition(TABLE))
    return client


def test_a_full_page_has_a_next_key_as_in_dynamodb(stub: StubDynamoClient) -> None:
    """DynamoDB stops at Limit without looking ahead (moto looks ahead): the next page is empty."""
    for seq in (1, 2):
        stub.put_item(TableName=TABLE, Item=message("c", seq, "a"))
    request: dict[str, Any] = {
        "TableName": TABLE,
        "IndexName": "lsi1",
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "CHAT#c"}},
        "Limit": 2,
    }
    first = stub.query(**request)
    assert first["Count"] == 2 and "LastEvaluatedKey" in first
    last = stub.query(**request, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert last["Items"] == [] and "LastEvaluatedKey" not in last


def test_unsupported_requests_are_refused(stub: StubDynamoClient) -> None:
    with pytest.raises(ClientError, match="StubDynamoClient does not support Select"):
        stub.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "x"}},
            Select="COUNT",
        )
    with pytest.raises(ClientError, match="StubDynamoClient does not support Expected"):
        stub.put_item(TableName=TABLE, Item=key("a", "b"), Expected={})
    with pytest.raises(AttributeError):
        stub.scan(TableName=TABLE)  # type: ignore[attr-defined]


def test_counters_and_conditional_puts_are_atomic_across_threads() -> None:
    stub = StubDynamoClient(latency_s=0.001)
    stub.create_table(**table_definition(TABLE))
    stub.put_item(TableName=TABLE, Item={**key("C", "META"), "n": {"N": "0"}})
    created: list[bool] = []

    def work(worker: int) -> None:
        for _ in range(50):
            stub.update_item(
                TableName=TABLE,
                Key=key("C", "META"),
                UpdateExpression="SET n = n + :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        try:
            stub.put_item(
                TableName=TABLE,
                Item={**key("C", "ONCE"), "by": {"N": str(worker)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            created.append(True)
        except stub.exceptions.ConditionalCheckFailedException:
            created.append(False)

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(work, range(32)))
    assert stub.get_item(TableName=TABLE, Key=key("C", "META"))["Item"]["n"] == {"N": str(32 * 50)}
    assert created.count(True) == 1


def test_latency_is_slept_outside_the_lock() -> None:
    stub = StubDynamoClient(latency_s=0.05)
    stub.create_table(**table_definition(TABLE))
    started = time.perf_counter()
    threads = [
        threading.Thread(target=stub.get_item, kwargs={"TableName": TABLE, "Key": key("a", "b")}) for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert 0.05 <= elapsed < 0.4


def test_cpu_cost_per_request_is_far_below_a_millisecond(stub: StubDynamoClient) -> None:
    stub.put_item(TableName=TABLE, Item={**key("CHAT#c", "META"), "lastSeq": {"N": "0"}})
    count = 2000
    started = time.process_time()
    for seq in range(1, count + 1):
        stub.update_item(
            TableName=TABLE,
            Key=key("CHAT#c", "META"),
            UpdateExpression="SET lastSeq = lastSeq + :one, lastActivity = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": "1790000000000"}},
            ReturnValues="UPDATED_NEW",
        )
        stub.put_item(
            TableName=TABLE,
            Item=message("c", seq, "a"),
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    per_request_us = (time.process_time() - started) / (2 * count) * 1e6
    assert per_request_us < 200  # about 30 us on a developer machine; moto takes 1500-3000
