"""Store adapters behind the `Store` port; `open_store` picks one from the settings."""

from __future__ import annotations

from ..config import Settings
from ..ports import Store


async def open_store(settings: Settings) -> Store:
    if settings.store == "dynamodb":
        from .dynamodb import DynamoStore

        return await DynamoStore.open(settings.dynamodb_table)
    from .sqlite import SqliteStore

    return await SqliteStore.open(settings.sqlite_path)
