"""How a message and an attachment record are laid out as DynamoDB items (docs/dynamodb.md), in
the low-level wire format ({"S": ...}, {"N": ...}), both ways. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..message_changes import reactions_in_order
from ..models import Attachment, Message, MessageChange, ReplyRef
from ..ports import MAX_REACTION_KINDS
from .dynamodb_schema import LSI1_SK, LSI2_SK, TTL_ATTRIBUTE

Item = dict[str, Any]

SEQ_DIGITS: Final = 16
ATTACHMENT_TTL_S: Final = 2 * 24 * 3600
"""An upload slot's record is gone (TTL) about this long after it was handed out; a message keeps
its own copy of what it refers to."""


def chat_pk(chat_id: str) -> str:
    return f"CHAT#{chat_id}"


def message_sk(message_id: str) -> str:
    """A message's sort key: its id, which is derived from its idempotency key (ids.message_id),
    so one conditional PutItem both stores a message and refuses a repeat."""
    return f"MSG#{message_id}"


def seq_key(seq: int) -> str:
    """A message's lsi1 sort key: seq order is string order."""
    return f"MSG#{seq:0{SEQ_DIGITS}d}"


def change_key(seq: int) -> str:
    """A changed message's lsi2 sort key: the seq of its latest change."""
    return f"CHG#{seq:0{SEQ_DIGITS}d}"


def attachment_sk(attachment_id: str) -> str:
    return f"ATT#{attachment_id}"


# --- the inbox index (docs/conversations.md, "The inbox") ----------------------------------------
ACTIVITY_PREFIX: Final = "ACT#"
LEGACY_ENTRY_PREFIX: Final = "CHAT#"
"""A membership entry written before the inbox was ordered by the index: gsi1sk = CHAT#<chat>."""
_MAX_TIME: Final = 10**SEQ_DIGITS - 1


def activity_key(activity_ms: int, chat_id: str) -> str:
    """A member item's gsi1sk: the chat's indexed activity time, then the chat (newest first is
    descending string order)."""
    return f"{ACTIVITY_PREFIX}{min(max(activity_ms, 0), _MAX_TIME):0{SEQ_DIGITS}d}#{chat_id}"


def activity_bound(activity_ms: int) -> str:
    """The greatest gsi1sk of any entry at or before activity_ms ('$' sorts right after '#')."""
    return f"{ACTIVITY_PREFIX}{min(max(activity_ms, 0), _MAX_TIME):0{SEQ_DIGITS}d}$"


def activity_of(entry_key: str) -> int | None:
    """The time in an ACT# entry key; None for an old CHAT# entry."""
    if not entry_key.startswith(ACTIVITY_PREFIX):
        return None
    return int(entry_key[len(ACTIVITY_PREFIX) : len(ACTIVITY_PREFIX) + SEQ_DIGITS])


def pair_pk(user_a: str, user_b: str) -> str:
    """pk of the pair's links to their direct chats (sk CHAT#<chat>), whatever the topics:
    base-table items, so set_block reads them strongly consistent."""
    low, high = sorted((user_a, user_b))
    return f"PAIR#{low}#{high}"


BLOCKS_PREFIX = "BLOCK"
"""Both kinds of block item in a user's partition sort under it (a strongly consistent Query)."""


def block_sk(blocked_id: str) -> str:
    """In the blocker's partition: whom they block."""
    return f"BLOCK#{blocked_id}"


def blocked_by_sk(blocker_id: str) -> str:
    """In the blocked user's partition: who blocks them (written with block_sk, one transaction)."""
    return f"BLOCKEDBY#{blocker_id}"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def key(pk: str, sk: str) -> Item:
    return {"pk": s(pk), "sk": s(sk)}


def integer(item: Mapping[str, Any], name: str, default: int = 0) -> int:
    value = item.get(name)
    return int(value["N"]) if value is not None else default


def text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return str(value["S"]) if value is not None and "S" in value else None


# --- messages ------------------------------------------------------------------------------------
def message_item(message: Message) -> Item:
    """The one item of a new message: keyed by its id, in lsi1 by its seq, not in lsi2 (it has
    not changed). `rx` (reactions: emoji -> string set of user ids) starts as an empty map so a
    reaction is one `ADD rx.#emoji :user`."""
    item: Item = {
        **key(chat_pk(message.chat_id), message_sk(message.id)),
        LSI1_SK: s(seq_key(message.seq)),
        "id": s(message.id),
        "chatId": s(message.chat_id),
        "seq": n(message.seq),
        "changeSeq": n(message.change_seq),
        "senderId": s(message.sender_id),
        "content": s(message.content),
        "clientMessageId": s(message.client_message_id),
        "createdAt": n(message.created_at_ms),
        "rx": {"M": {}},
    }
    if message.reply_to is not None:
        item["replyTo"] = reply_map(message.reply_to)
    if message.attachments:
        item["attachments"] = {"L": [{"M": attachment_map(a)} for a in message.attachments]}
    return item


def message_from(item: Mapping[str, Any]) -> Message:
    reply = item.get("replyTo")
    attachments = item.get("attachments", {}).get("L", [])
    reactions = {emoji: users.get("SS", []) for emoji, users in item.get("rx", {}).get("M", {}).items()}
    edited = item.get("editedAt")
    return Message(
        id=item["id"]["S"],
        chat_id=item["chatId"]["S"],
        seq=integer(item, "seq"),
        sender_id=item["senderId"]["S"],
        content=item["content"]["S"],
        client_message_id=item["clientMessageId"]["S"],
        created_at_ms=integer(item, "createdAt"),
        change_seq=integer(item, "changeSeq"),
        edited_at_ms=int(edited["N"]) if edited is not None else None,
        deleted=bool(item.get("deleted", {}).get("BOOL", False)),
        reply_to=reply_from(reply["M"]) if reply is not None else None,
        attachments=tuple(attachment_from(a["M"]) for a in attachments),
        reactions=reactions_in_order(reactions),
    )


def reply_map(reply: ReplyRef) -> Item:
    return {"M": {"id": s(reply.id), "senderId": s(reply.sender_id), "snippet": s(reply.snippet)}}


def reply_from(fields: Mapping[str, Any]) -> ReplyRef:
    return ReplyRef(fields["id"]["S"], fields["senderId"]["S"], fields["snippet"]["S"])


# --- attachments ---------------------------------------------------------------------------------
def attachment_map(a: Attachment) -> Item:
    fields: Item = {
        "id": s(a.id),
        "chatId": s(a.chat_id),
        "uploaderId": s(a.uploader_id),
        "name": s(a.name),
        "contentType": s(a.content_type),
        "size": n(a.size),
        "createdAt": n(a.created_at_ms),
    }
    if a.width is not None and a.height is not None:
        fields["width"] = n(a.width)
        fields["height"] = n(a.height)
    return fields


def attachment_from(fields: Mapping[str, Any]) -> Attachment:
    return Attachment(
        id=fields["id"]["S"],
        chat_id=fields["chatId"]["S"],
        uploader_id=fields["uploaderId"]["S"],
        name=fields["name"]["S"],
        content_type=fields["contentType"]["S"],
        size=integer(fields, "size"),
        created_at_ms=integer(fields, "createdAt"),
        width=integer(fields, "width") if "width" in fields else None,
        height=integer(fields, "height") if "height" in fields else None,
    )


def attachment_item(a: Attachment) -> Item:
    """An upload slot's record, in its chat's partition, gone by TTL after ATTACHMENT_TTL_S."""
    return {
        **key(chat_pk(a.chat_id), attachment_sk(a.id)),
        **attachment_map(a),
        TTL_ATTRIBUTE: n(a.created_at_ms // 1000 + ATTACHMENT_TTL_S),
    }


# --- changes -------------------------------------------------------------------------------------
def change_update(change: MessageChange, seq: int, now_ms: int) -> dict[str, Any]:
    """UpdateItem arguments applying the change under `seq` to a message item, conditioned on
    message_changes.apply_change's rules (so a failed condition means: a rule refuses it, it
    would change nothing, or a newer change got there first) and on the item existing."""
    names: dict[str, str] = {}
    values: Item = {":seq": n(seq), ":chg": s(change_key(seq))}
    conditions = ["attribute_exists(pk)", "changeSeq < :seq"]
    sets = ["changeSeq = :seq", f"{LSI2_SK} = :chg"]
    action = ""
    if change.kind in ("edit", "delete"):
        conditions += ["senderId = :user", "attribute_not_exists(deleted)"]
        values[":user"] = s(change.user_id)
    if change.kind == "edit":
        assert change.content is not None
        conditions.append("content <> :content")
        values[":content"] = s(change.content)
        values[":now"] = n(now_ms)
        sets += ["content = :content", "editedAt = :now"]
        if change.created_after_ms is not None:
            conditions.append("createdAt >= :after")
            values[":after"] = n(change.created_after_ms)
    elif change.kind == "delete":
        values[":true"] = {"BOOL": True}
        values[":empty"] = s("")
        values[":none"] = {"M": {}}
        sets += ["deleted = :true", "content = :empty", "rx = :none"]
        action = " REMOVE replyTo, attachments"
    else:
        assert change.emoji is not None
        names["#e"] = change.emoji
        values[":user"] = s(change.user_id)
        values[":users"] = {"SS": [change.user_id]}
        if change.kind == "react":
            values[":kinds"] = n(MAX_REACTION_KINDS)
            conditions += [
                "attribute_not_exists(deleted)",
                "NOT contains(rx.#e, :user)",
                "(size(rx) < :kinds OR attribute_exists(rx.#e))",
            ]
            action = " ADD rx.#e :users"
        else:
            conditions.append("contains(rx.#e, :user)")
            action = " DELETE rx.#e :users"
    update: dict[str, Any] = {
        "UpdateExpression": "SET " + ", ".join(sets) + action,
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeValues": values,
    }
    if names:
        update["ExpressionAttributeNames"] = names
    return update
