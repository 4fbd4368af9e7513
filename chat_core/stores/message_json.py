"""A message's reply, attachments and reactions as JSON text (the SQLite store's columns)."""

from __future__ import annotations

from typing import Any

import orjson

from ..message_changes import reactions_in_order
from ..models import Attachment, Reaction, ReplyRef


def reply_text(reply: ReplyRef | None) -> str | None:
    if reply is None:
        return None
    return orjson.dumps({"id": reply.id, "senderId": reply.sender_id, "snippet": reply.snippet}).decode()


def reply_from(text: str | None) -> ReplyRef | None:
    if not text:
        return None
    data = orjson.loads(text)
    return ReplyRef(data["id"], data["senderId"], data["snippet"])


def attachment_fields(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "chatId": a.chat_id,
        "uploaderId": a.uploader_id,
        "name": a.name,
        "contentType": a.content_type,
        "size": a.size,
        "createdAt": a.created_at_ms,
        "width": a.width,
        "height": a.height,
    }


def attachment_from(data: dict[str, Any]) -> Attachment:
    return Attachment(
        id=data["id"],
        chat_id=data["chatId"],
        uploader_id=data["uploaderId"],
        name=data["name"],
        content_type=data["contentType"],
        size=int(data["size"]),
        created_at_ms=int(data["createdAt"]),
        width=None if data.get("width") is None else int(data["width"]),
        height=None if data.get("height") is None else int(data["height"]),
    )


def attachments_text(attachments: tuple[Attachment, ...]) -> str | None:
    if not attachments:
        return None
    return orjson.dumps([attachment_fields(a) for a in attachments]).decode()


def attachments_from(text: str | None) -> tuple[Attachment, ...]:
    if not text:
        return ()
    return tuple(attachment_from(item) for item in orjson.loads(text))


def reactions_text(reactions: tuple[Reaction, ...]) -> str | None:
    if not reactions:
        return None
    return orjson.dumps({r.emoji: list(r.user_ids) for r in reactions}).decode()


def reactions_from(text: str | None) -> tuple[Reaction, ...]:
    if not text:
        return ()
    by_emoji: dict[str, list[str]] = orjson.loads(text)
    return reactions_in_order(by_emoji)
