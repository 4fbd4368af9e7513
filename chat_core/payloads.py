"""Parsing of client payloads into typed requests: the one place that decides what is well-formed.

Every function takes untrusted JSON (anything) and returns a frozen request or raises Invalid.
Business limits that depend on state (membership, last seq) are the service's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import Invalid

MAX_CONTENT_CHARS = 4000
MAX_CLIENT_MESSAGE_ID_CHARS = 64
MAX_TITLE_CHARS = 200
MAX_GROUP_MEMBERS = 1000
MAX_SEQ = 2**53 - 1
DEFAULT_PAGE = 50
MAX_PAGE = 100

_ID = re.compile(r"[A-Za-z0-9_.@-]{1,128}")


def _object(data: object) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Invalid("payload must be an object")
    return data


def user_id(value: object, field: str = "userId") -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise Invalid(f"{field} must be 1-128 characters of A-Z a-z 0-9 _ . @ -")
    return value


def chat_id(value: object, field: str = "chatId") -> str:
    if value is None:
        raise Invalid(f"{field} is required")
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise Invalid(f"{field} must be a chat id string")
    return value


def _seq(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise Invalid(f"{field} must be an integer between 0 and {MAX_SEQ}")
    return value


def seq_param(raw: str | None, field: str) -> int | None:
    """A seq from a query string."""
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit():
        raise Invalid(f"{field} must be a non-negative integer")
    return _seq(int(raw), field)


def limit_value(value: object, default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise Invalid(f"limit must be an integer from 1 to {maximum}")
    return value


def limit_param(raw: str | None, default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise Invalid(f"limit must be an integer from 1 to {maximum}")
    return limit_value(int(raw), default, maximum)


def content(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("content must be a string")
    if len(value) > MAX_CONTENT_CHARS:
        raise Invalid(f"content must be at most {MAX_CONTENT_CHARS} characters")
    if not value.strip():
        raise Invalid("content must not be blank")
    return value


def client_message_id(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CLIENT_MESSAGE_ID_CHARS:
        raise Invalid(f"clientMessageId must be a string of 1-{MAX_CLIENT_MESSAGE_ID_CHARS} characters")
    if not value.isprintable() or not value.strip():
        raise Invalid("clientMessageId must be printable and not blank")
    return value


@dataclass(frozen=True, slots=True)
class JoinChat:
    chat_id: str | None
    recipient_id: str | None
    since_seq: int | None


@dataclass(frozen=True, slots=True)
class SendMessage:
    chat_id: str
    content: str
    client_message_id: str


@dataclass(frozen=True, slots=True)
class MarkRead:
    chat_id: str
    up_to_seq: int | None


@dataclass(frozen=True, slots=True)
class GetMessages:
    chat_id: str
    before_seq: int | None
    after_seq: int | None
    limit: int


@dataclass(frozen=True, slots=True)
class Typing:
    chat_id: str
    is_typing: bool


@dataclass(frozen=True, slots=True)
class CreateChat:
    type: str
    title: str | None
    members: tuple[str, ...]
    recipient_id: str | None


def join_chat(data: object) -> JoinChat:
    body = _object(data)
    has_chat, has_recipient = body.get("chatId") is not None, body.get("recipientId") is not None
    if has_chat == has_recipient:
        raise Invalid("give exactly one of chatId or recipientId")
    return JoinChat(
        chat_id=chat_id(body["chatId"]) if has_chat else None,
        recipient_id=user_id(body["recipientId"], "recipientId") if has_recipient else None,
        since_seq=_seq(body.get("sinceSeq"), "sinceSeq"),
    )


def chat_ref(data: object) -> str:
    return chat_id(_object(data).get("chatId"))


def send_message(
    data: object, chat: str | None = None, *, assign_missing_id: Callable[[], str] | None = None
) -> SendMessage:
    """assign_missing_id: the original client's `send_message` has no clientMessageId (PROTOCOL.md
    1.1, compatibility); the socket handler then assigns one (such a send is not retry-safe)."""
    body = _object(data)
    raw_id = body.get("clientMessageId")
    if raw_id is None and "clientMessageId" not in body and assign_missing_id is not None:
        raw_id = assign_missing_id()
    return SendMessage(
        chat_id=chat if chat is not None else chat_id(body.get("chatId")),
        content=content(body.get("content")),
        client_message_id=client_message_id(raw_id),
    )


def optional_chat_ref(data: object) -> str | None:
    """`{chatId}` or, from the original client, `{}`/no payload at all (None)."""
    if data is None:
        return None
    body = _object(data)
    return chat_id(body["chatId"]) if "chatId" in body else None


def mark_read(data: object, chat: str | None = None) -> MarkRead:
    body = _object(data)
    return MarkRead(
        chat_id=chat if chat is not None else chat_id(body.get("chatId")),
        up_to_seq=_seq(body.get("upToSeq"), "upToSeq"),
    )


def get_messages(data: object) -> GetMessages:
    body = _object(data)
    return GetMessages(
        chat_id=chat_id(body.get("chatId")),
        before_seq=_seq(body.get("beforeSeq"), "beforeSeq"),
        after_seq=_seq(body.get("afterSeq"), "afterSeq"),
        limit=limit_value(body.get("limit")),
    )


def typing(data: object) -> Typing:
    body = _object(data)
    is_typing = body.get("isTyping")
    if not isinstance(is_typing, bool):
        raise Invalid("isTyping must be true or false")
    return Typing(chat_id=chat_id(body.get("chatId")), is_typing=is_typing)


def ping(data: object) -> object:
    return _object(data).get("t")


def create_chat(data: object) -> CreateChat:
    body = _object(data)
    kind = body.get("type")
    if kind == "direct":
        return CreateChat("direct", None, (), user_id(body.get("recipientId"), "recipientId"))
    if kind != "group":
        raise Invalid("type must be 'group' or 'direct'")
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > MAX_TITLE_CHARS or not title.strip()):
        raise Invalid(f"title must be a non-blank string of at most {MAX_TITLE_CHARS} characters")
    members = body.get("members")
    if not isinstance(members, list) or not members:
        raise Invalid("members must be a non-empty list of user ids")
    if len(members) > MAX_GROUP_MEMBERS:
        raise Invalid(f"a group has at most {MAX_GROUP_MEMBERS} members")
    parsed = tuple(dict.fromkeys(user_id(m, "members[]") for m in members))
    return CreateChat("group", title, parsed, None)
