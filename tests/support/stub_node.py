"""`python -m tests.support.stub_node`: a real chat node (uvicorn, the engine, the service, the
DynamoDB store) whose DynamoDB is `StubDynamoClient`: in memory, every request answered after
`CHAT_STUB_LATENCY_S` (default 5 ms, about DynamoDB's own latency). For load on one chat that
moto cannot carry; moto stays the store of the correctness tests."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from chat_core.config import load_settings
from chat_core.logs import configure_logging
from chat_core.realtime.node import ChatNode
from chat_core.stores.dynamodb import DynamoStore
from chat_core.stores.dynamodb_schema import table_definition
from tests.support.dynamo_stub import StubDynamoClient


async def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level)
    client = StubDynamoClient(latency_s=float(os.environ.get("CHAT_STUB_LATENCY_S", "0.005")))
    client.create_table(**table_definition(settings.dynamodb_table))
    executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="dynamodb")
    store = DynamoStore(client, settings.dynamodb_table, executor=executor)  # type: ignore[arg-type]
    await ChatNode(settings, store).serve()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
