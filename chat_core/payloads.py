"""Parsing of client payloads into typed requests: the one place that decides what is well-formed.

Every function takes untrusted JSON (anything) and returns a frozen request or raises Invalid.
Business limits that depend on state (membership, last seq) are the service's.
"""

from __future__ import annotations

import re
import unicodedata
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
MAX_ATTACHMENTS = 10
MAX_EMOJI_CHARS = 32
MAX_FILE_NAME_CHARS = 255
MAX_CONTENT_TYPE_CHARS = 127
MAX_TOPIC_CHARS = 128
MAX_ADDED_AT_ONCE = 50
"""Users one add_members call adds (the DynamoDB store writes them in one transaction)."""
MAX_ADMINS = 20
INBOX_PAGE = 20
MAX_CURSOR_CHARS = 512

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
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class SendMessage:
    chat_id: str
    content: str
    client_message_id: str
    reply_to: str | None = None
    attachment_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EditMessage:
    chat_id: str
    message_id: str
    content: str


@dataclass(frozen=True, slots=True)
class MessageRef:
    chat_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class React:
    chat_id: str
    message_id: str
    emoji: str
    add: bool


@dataclass(frozen=True, slots=True)
class RequestUpload:
    chat_id: str
    file_name: str
    content_type: str
    size: int


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
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class AddMembers:
    chat_id: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MemberRef:
    chat_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class UpdateChat:
    chat_id: str
    title: str | None
    set_title: bool
    admins: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class ListChats:
    limit: int
    cursor: str | None


def topic(value: object) -> str | None:
    """A direct chat's subject: the platform's (a listing or order id), opaque to us."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_TOPIC_CHARS or not value.isprintable():
        raise Invalid(f"topic must be 1-{MAX_TOPIC_CHARS} printable characters")
    return value


def title(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_TITLE_CHARS or not value.strip()):
        raise Invalid(f"title must be null or a non-blank string of at most {MAX_TITLE_CHARS} characters")
    return value


def _user_ids(value: object, field: str, most: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid(f"{field} must be a non-empty list of user ids")
    if len(value) > most:
        raise Invalid(f"{field} holds at most {most} user ids")
    return tuple(dict.fromkeys(user_id(u, f"{field}[]") for u in value))


def add_members(data: object, chat: str | None = None) -> AddMembers:
    body = _object(data)
    return AddMembers(
        chat if chat is not None else chat_id(body.get("chatId")),
        _user_ids(body.get("userIds"), "userIds", MAX_ADDED_AT_ONCE),
    )


def member_ref(data: object) -> MemberRef:
    body = _object(data)
    return MemberRef(chat_id(body.get("chatId")), user_id(body.get("userId")))


def update_chat(data: object, chat: str | None = None) -> UpdateChat:
    body = _object(data)
    admins = body.get("admins")
    if "title" not in body and admins is None:
        raise Invalid("give title or admins")
    return UpdateChat(
        chat if chat is not None else chat_id(body.get("chatId")),
        title(body.get("title")),
        "title" in body,
        None if admins is None else _user_ids(admins, "admins", MAX_ADMINS),
    )


def leave_chat(data: object) -> tuple[str, bool]:
    """`{chatId}` (stop viewing, v1) or `{chatId, leaveGroup: true}` (leave the group for good)."""
    body = _object(data)
    leave_group = body.get("leaveGroup", False)
    if not isinstance(leave_group, bool):
        raise Invalid("leaveGroup must be a boolean")
    return chat_id(body.get("chatId")), leave_group


def user_ref(data: object) -> str:
    return user_id(_object(data).get("userId"))


def cursor_value(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CURSOR_CHARS:
        raise Invalid("cursor must be a string from nextCursor")
    return value


def list_chats(data: object) -> ListChats:
    body = _object(data)
    return ListChats(limit_value(body.get("limit"), INBOX_PAGE, MAX_PAGE), cursor_value(body.get("cursor")))


def join_chat(data: object) -> JoinChat:
    body = _object(data)
    has_chat, has_recipient = body.get("chatId") is not None, body.get("recipientId") is not None
    if has_chat == has_recipient:
        raise Invalid("give exactly one of chatId or recipientId")
    return JoinChat(
        chat_id=chat_id(body["chatId"]) if has_chat else None,
        recipient_id=user_id(body["recipientId"], "recipientId") if has_recipient else None,
        since_seq=_seq(body.get("sinceSeq"), "sinceSeq"),
        topic=_topic_of_recipient(body, has_recipient),
    )


def _topic_of_recipient(body: dict[str, Any], has_recipient: bool) -> str | None:
    found = topic(body.get("topic"))
    if found is not None and not has_recipient:
        raise Invalid("topic goes with recipientId")
    return found


def chat_ref(data: object) -> str:
    return chat_id(_object(data).get("chatId"))


def send_message(
    data: object, chat: str | None = None, *, assign_missing_id: Callable[[], str] | None = None
) -> SendMessage:
    """assign_missing_id: the original client's `send_message` has no clientMessageId (PROTOCOL.md
    1.1, compatibility); the socket handler then assigns one (such a send is not retry-safe).
    With attachments the content may be empty."""
    body = _object(data)
    raw_id = body.get("clientMessageId")
    if raw_id is None and "clientMessageId" not in body and assign_missing_id is not None:
        raw_id = assign_missing_id()
    attachment_ids = _attachment_ids(body.get("attachmentIds"))
    raw_content = body.get("content")
    text = "" if attachment_ids and raw_content in (None, "") else content(raw_content)
    reply_to = body.get("replyTo")
    return SendMessage(
        chat_id=chat if chat is not None else chat_id(body.get("chatId")),
        content=text,
        client_message_id=client_message_id(raw_id),
        reply_to=None if reply_to is None else message_id(reply_to, "replyTo"),
        attachment_ids=attachment_ids,
    )


def message_id(value: object, field: str = "messageId") -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise Invalid(f"{field} must be a message id string")
    return value


def _attachment_ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ATTACHMENTS:
        raise Invalid(f"attachmentIds must be a list of 1-{MAX_ATTACHMENTS} attachment ids")
    for item in value:
        if not isinstance(item, str) or not _ID.fullmatch(item):
            raise Invalid("attachmentIds must hold attachment id strings")
    return tuple(dict.fromkeys(value))


def edit_message(data: object, chat: str | None = None, message: str | None = None) -> EditMessage:
    body = _object(data)
    return EditMessage(
        chat_id=chat if chat is not None else chat_id(body.get("chatId")),
        message_id=message if message is not None else message_id(body.get("messageId")),
        content=content(body.get("content")),
    )


def message_ref(data: object) -> MessageRef:
    body = _object(data)
    return MessageRef(chat_id=chat_id(body.get("chatId")), message_id=message_id(body.get("messageId")))


def react(data: object) -> React:
    body = _object(data)
    add = body.get("add")
    if not isinstance(add, bool):
        raise Invalid("add must be true or false")
    return React(
        chat_id=chat_id(body.get("chatId")),
        message_id=message_id(body.get("messageId")),
        emoji=emoji(body.get("emoji")),
        add=add,
    )


_KEYCAP_BASES = frozenset("0123456789#*")
_JOINERS = frozenset({"\u200d", "\ufe0f", "\ufe0e", "\u20e3"})


def emoji(value: object) -> str:
    """1-32 code points of emoji: pictographs and symbols (Unicode So), with skin-tone modifiers
    (Sk), joiners, variation selectors, keycaps (a digit, # or * before U+20E3), regional
    indicators (flags) and tag characters (subdivision flags). No letters, spaces or controls."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_EMOJI_CHARS:
        raise Invalid(f"emoji must be a string of 1-{MAX_EMOJI_CHARS} characters")
    pictographs = 0
    for i, char in enumerate(value):
        category = unicodedata.category(char)
        after = value[i + 1 : i + 3]
        keycap = char in _KEYCAP_BASES and (after == "\ufe0f\u20e3" or after[:1] == "\u20e3")
        if category == "So" or keycap:
            pictographs += 1
        elif not (char in _JOINERS or category == "Sk" or 0xE0020 <= ord(char) <= 0xE007F):
            raise Invalid("emoji must be an emoji")
    if not pictographs:
        raise Invalid("emoji must be an emoji")
    return value


def request_upload(data: object, chat: str | None = None) -> RequestUpload:
    body = _object(data)
    name = body.get("fileName")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_FILE_NAME_CHARS or not name.strip():
        raise Invalid(f"fileName must be a non-blank string of 1-{MAX_FILE_NAME_CHARS} characters")
    if "/" in name or "\\" in name or not name.isprintable():
        raise Invalid("fileName must not contain / or \\ or control characters")
    kind = body.get("contentType")
    if not isinstance(kind, str) or not 1 <= len(kind) <= MAX_CONTENT_TYPE_CHARS:
        raise Invalid("contentType must be a media type such as image/png")
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise Invalid("size must be a positive integer (bytes)")
    return RequestUpload(
        chat_id=chat if chat is not None else chat_id(body.get("chatId")),
        file_name=name,
        content_type=kind.strip().lower(),
        size=size,
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
        recipient = user_id(body.get("recipientId"), "recipientId")
        return CreateChat("direct", None, (), recipient, topic(body.get("topic")))
    if kind != "group":
        raise Invalid("type must be 'group' or 'direct'")
    if body.get("topic") is not None:
        raise Invalid("topic is for direct chats")
    group_title = title(body.get("title"))
    members = body.get("members")
    if not isinstance(members, list) or not members:
        raise Invalid("members must be a non-empty list of user ids")
    if len(members) > MAX_GROUP_MEMBERS:
        raise Invalid(f"a group has at most {MAX_GROUP_MEMBERS} members")
    parsed = tuple(dict.fromkeys(user_id(m, "members[]") for m in members))
    return CreateChat("group", group_title, parsed, None)
