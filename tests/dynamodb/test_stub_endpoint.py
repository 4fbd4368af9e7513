"""The stub DynamoDB endpoint (tests/support/stub_dynamo_server.py) the long soak runs on: a real
DynamoStore over boto3 and HTTP, through the calls whose answers matter most (conditional writes
that fail with ALL_OLD, transactions, index queries, errors botocore must parse)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from chat_core.errors import NotFound
from chat_core.models import Chat, MessageChange
from chat_core.stores.dynamodb import DynamoStore
from tests.support.moto_server import use_dummy_aws
from tests.support.stub_dynamo_server import StubDynamoServer

pytestmark = [pytest.mark.dynamodb]
TABLE = "stub-endpoint"
T0 = 1_764_000_000_000


@pytest.fixture(scope="module")
def endpoint() -> Iterator[StubDynamoServer]:
    server = StubDynamoServer().start()
    server.create_table(TABLE)
    yield server
    server.close()


@pytest.fixture
async def store(endpoint: StubDynamoServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DynamoStore]:
    use_dummy_aws(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint.endpoint)
    opened = await DynamoStore.open(TABLE)
    yield opened
    await opened.close()


async def test_the_store_works_through_the_endpoint(store: DynamoStore) -> None:
    chat = Chat("c-stub", "group", "t", ("alice", "bob"), T0, 0, T0, None)
    created, fresh = await store.create_chat(chat)  # a transaction
    assert fresh and created.members == ("alice", "bob")
    again, fresh = await store.create_chat(chat)  # the transaction refused: TransactionCanceledException
    assert not fresh and again.id == chat.id
    first = await store.append_message("c-stub", "alice", "hi", "k1", T0 + 1)
    repeat = await store.append_message("c-stub", "alice", "hi", "k1", T0 + 2)  # ALL_OLD of a failed put
    assert first.created and not repeat.created and repeat.message == first.message
    edited = await store.change_message("c-stub", first.message.id, MessageChange("edit", "alice", content="hey"), T0)
    assert edited.changed and edited.message.content == "hey"
    same = await store.change_message("c-stub", first.message.id, MessageChange("edit", "alice", content="hey"), T0)
    assert not same.changed  # a failed conditional update, told apart by its ALL_OLD item
    page = await store.list_messages("c-stub", before_seq=None, after_seq=first.message.seq, limit=10)
    assert page.updates == (edited.message,)
    with pytest.raises(NotFound):
        await store.append_message("c-missing", "alice", "hi", "k1", T0)
    assert (await store.unread_entries("bob"))["c-stub"].count == 1


def test_errors_parse_as_botocore_errors(endpoint: StubDynamoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    use_dummy_aws(monkeypatch)
    client = boto3.client("dynamodb", endpoint_url=endpoint.endpoint)
    with pytest.raises(ClientError) as missing:
        client.get_item(TableName="no-such-table", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    key = {"pk": {"S": "x"}, "sk": {"S": "y"}}
    client.put_item(TableName=TABLE, Item={**key, "n": {"N": "1"}})
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as failed:
        client.put_item(
            TableName=TABLE,
            Item={**key, "n": {"N": "2"}},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failed.value.response["Item"]["n"] == {"N": "1"}
    with pytest.raises(ClientError) as unsupported:
        client.scan(TableName=TABLE)
    assert unsupported.value.response["Error"]["Code"] == "UnknownOperationException"  # never answered wrongly


async def test_conversations_work_through_the_endpoint(store: DynamoStore) -> None:
    """update_chat's cancelled transaction must come back with the META item (CancellationReasons
    with Item, through JSON), set_block's string sets, list_chats' index reads newest first."""
    from chat_core.errors import Conflict
    from chat_core.ids import direct_chat_id
    from chat_core.models import ChatUpdate

    await store.create_chat(Chat("g-conv", "group", "t", ("ann", "bob"), T0, 0, T0, None, admins=("ann",)))
    after = await store.update_chat("g-conv", ChatUpdate(expected_version=0, now_ms=T0, add=("carol",)))
    assert after.members == ("ann", "bob", "carol") and after.version == 1
    with pytest.raises(Conflict):
        await store.update_chat("g-conv", ChatUpdate(expected_version=0, now_ms=T0, add=("dave",)))
    pair = direct_chat_id("ann", "erin", "topic")
    await store.create_chat(Chat(pair, "direct", None, ("ann", "erin"), T0 + 1, 0, T0 + 1, None, topic="topic"))
    (marked,) = await store.set_block("erin", "ann", True, T0)
    assert marked.blocked_by == {"erin"} and (await store.blocks("ann")).blocked_by == {"erin"}
    await store.append_message("g-conv", "bob", "hi", "k-conv", T0 + 3_600_000)  # re-indexes the group
    assert [c.id for c in (await store.list_chats("ann", 10, None)).chats][:2] == ["g-conv", pair]
