"""The one DynamoDB table of the chat store, as data, and the call that creates it.

template.yaml declares the same table for CloudFormation; tests/dynamodb/test_schema_template.py
proves the two agree. docs/dynamodb.md explains every key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

PK: Final = "pk"
SK: Final = "sk"
GSI1: Final = "gsi1"
GSI1_PK: Final = "gsi1pk"
GSI1_SK: Final = "gsi1sk"
LSI1: Final = "lsi1"
LSI1_SK: Final = "lsi1sk"
LSI2: Final = "lsi2"
LSI2_SK: Final = "lsi2sk"
TTL_ATTRIBUTE: Final = "expiresAt"
BILLING_MODE: Final = "PAY_PER_REQUEST"
_NOT_SUPPORTED: Final = {"UnknownOperationException", "NotImplementedException", "ValidationException"}

ATTRIBUTE_DEFINITIONS: Final[list[dict[str, str]]] = [
    {"AttributeName": PK, "AttributeType": "S"},
    {"AttributeName": SK, "AttributeType": "S"},
    {"AttributeName": GSI1_PK, "AttributeType": "S"},
    {"AttributeName": GSI1_SK, "AttributeType": "S"},
    {"AttributeName": LSI1_SK, "AttributeType": "S"},
    {"AttributeName": LSI2_SK, "AttributeType": "S"},
]

KEY_SCHEMA: Final[list[dict[str, str]]] = [
    {"AttributeName": PK, "KeyType": "HASH"},
    {"AttributeName": SK, "KeyType": "RANGE"},
]

# One sparse, overloaded index. Only items that carry gsi1pk appear in it:
#   membership  USER#<user>        / ACT#<time>#<chat>  a user's chats, newest first within a step
#                                                        (the inbox; contacts, unread loads); an
#                                                        older version wrote CHAT#<chat>
#   connection  NODE#<node>        / USER#<user>         a node's connection records (reaping)
#   presence    IDLE               / USER#<user>         users online with no connection
# (Blocks and a pair's direct chats are base-table items, read strongly consistent: docs/dynamodb.md.)
# KEYS_ONLY: read marks and presence change often; projecting them would add an index write to
# every mark_read. Callers read the base items (strongly consistent) after the index.
GLOBAL_SECONDARY_INDEXES: Final[list[dict[str, Any]]] = [
    {
        "IndexName": GSI1,
        "KeySchema": [
            {"AttributeName": GSI1_PK, "KeyType": "HASH"},
            {"AttributeName": GSI1_SK, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
]


# Two sparse local indexes over a chat's message items. A message's own sort key is MSG#<id>, its
# id derived from its idempotency key (ids.message_id), which is what lets one conditional
# PutItem both store a message and refuse a repeat, and an edit find it by id.
#   lsi1  lsi1sk = MSG#<seq, 16 digits>          every message, in seq order (history, the last
#                                                message, unread counting)
#   lsi2  lsi2sk = CHG#<change seq, 16 digits>   messages that changed (edit, delete, reaction),
#                                                in the order of their latest change: recovery
#                                                reads "changed after seq N" from here
# ALL: reads need every attribute, and an LSI (unlike a GSI) can be read strongly consistent,
# which recovery needs. A local index exists only if the table was created with it
# (docs/dynamodb.md).
LOCAL_SECONDARY_INDEXES: Final[list[dict[str, Any]]] = [
    {
        "IndexName": LSI1,
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": LSI1_SK, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
    {
        "IndexName": LSI2,
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": LSI2_SK, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
]


def _index(definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "IndexName": definition["IndexName"],
        "KeySchema": [dict(k) for k in definition["KeySchema"]],
        "Projection": dict(definition["Projection"]),
    }


def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments of CreateTable for the chat table."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": [dict(a) for a in ATTRIBUTE_DEFINITIONS],
        "KeySchema": [dict(k) for k in KEY_SCHEMA],
        "GlobalSecondaryIndexes": [_index(g) for g in GLOBAL_SECONDARY_INDEXES],
        "LocalSecondaryIndexes": [_index(index) for index in LOCAL_SECONDARY_INDEXES],
        "BillingMode": BILLING_MODE,
        "SSESpecification": {"Enabled": True},
    }


def create_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the table (on demand, encrypted), wait until it is active, enable TTL and PITR."""
    client.create_table(**table_definition(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    try:
        client.update_continuous_backups(
            TableName=table_name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    except ClientError as error:
        # DynamoDB Local and some emulators do not implement backups; the table works without.
        if error.response.get("Error", {}).get("Code") not in _NOT_SUPPORTED:
            raise
