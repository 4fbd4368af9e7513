"""DynamoDB implementation of the Store port: one table, a sparse global index and a sparse local
index (see docs/dynamodb.md).

boto3 is synchronous; every call runs in a dedicated thread pool so the event loop never blocks.
Throttling is retried by botocore (standard/adaptive retry mode); transaction conflicts (chat
creation is the one transaction) by this module, with jittered exponential backoff. When retries
run out the caller gets Unavailable and nothing is half-written: a message is one item, stored by
one conditional PutItem keyed by its idempotency key, after its seq was handed out by one
UpdateItem of the chat; a seq whose message was never stored stays a gap.
"""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from .. import ids
from ..aws_client import client_config, open_client
from ..errors import NotFound, Unavailable
from ..message_changes import apply_change
from ..models import (
    AppendResult,
    Attachment,
    ChangeResult,
    Chat,
    ChatPage,
    ConnectionRef,
    HistoricMessage,
    Message,
    MessageChange,
    MessagePage,
    Presence,
    ReplyRef,
    UnreadEntry,
)
from ..ports import UPDATES_MAX
from .cursor import decode_inbox_cursor, encode_inbox_cursor
from .dynamodb_items import (
    SEQ_DIGITS,
    Item,
    attachment_from,
    attachment_item,
    attachment_sk,
    change_key,
    change_update,
    chat_pk,
    message_from,
    message_item,
    message_sk,
    seq_key,
)
from .dynamodb_items import integer as _int
from .dynamodb_items import key as _key
from .dynamodb_items import n as _n
from .dynamodb_items import s as _s
from .dynamodb_items import text as _str
from .dynamodb_schema import GSI1, GSI1_PK, GSI1_SK, LSI1, LSI1_SK, LSI2, LSI2_SK, TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from ..ports import Store

META: Final = "META"
PRESENCE: Final = "PRESENCE"
NODES_PK: Final = "NODES"
IDLE_PK: Final = "IDLE"
UNREAD_QUERIES: Final = 16
"""Concurrent Queries of one unread_entries call (one per chat with messages above the mark)."""
MAX_KEY_SEQ: Final = 10**SEQ_DIGITS - 1
CHANGE_ATTEMPTS: Final = 8
"""Seqs one message change takes at most while newer changes of the message keep landing first."""
MISSING_WINDOW: Final = 1024
"""An unread count treats a seq without a message as possibly a message still being written only
within this many seqs below the chat's last one (older ones are gaps or changes)."""
CONNECTION_TTL_S: Final = 7 * 24 * 3600
"""Garbage collection of connection records nobody reaped; presence never waits for it."""

THROTTLED: Final = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
TRANSIENT: Final = THROTTLED | {
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "LimitExceededException",
    "ResourceNotFoundException",
}
TRANSIENT_REASONS: Final = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def member_sk(user_id: str) -> str:
    return f"MEMBER#{user_id}"


class _Cancelled(Exception):
    """A transaction that DynamoDB refused for good (a condition failed)."""

    def __init__(self, reasons: Sequence[Mapping[str, Any]]) -> None:
        super().__init__([r.get("Code") for r in reasons])


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DynamoStore:
    """Store port on one DynamoDB table (docs/dynamodb.md has the item layout and costs)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        executor: ThreadPoolExecutor,
        txn_attempts: int = 8,
        backoff_base_s: float = 0.025,
        backoff_cap_s: float = 1.0,
    ) -> None:
        self._client = client
        self._table = table_name
        self._executor = executor
        self._txn_attempts = txn_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._closed = False

    @classmethod
    async def open(
        cls,
        table_name: str,
        *,
        max_attempts: int | None = None,
        workers: int = 32,
        txn_attempts: int = 8,
        backoff_base_s: float = 0.025,
    ) -> DynamoStore:
        """A store on an existing table; region, credentials and endpoint come from the
        environment (`AWS_ENDPOINT_URL_DYNAMODB` for a local endpoint), retry mode from
        `AWS_RETRY_MODE` (standard unless adaptive) and `AWS_MAX_ATTEMPTS`."""
        config = client_config(workers, max_attempts=max_attempts)
        client, executor = await open_client("dynamodb", config, workers)
        return cls(
            client,
            table_name,
            executor=executor,
            txn_attempts=txn_attempts,
            backoff_base_s=backoff_base_s,
        )

    @property
    def client(self) -> DynamoDBClient:
        return self._client

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._client.close)
        self._executor.shutdown(wait=True)

    # --- plumbing ----------------------------------------------------------------------------
    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method: Callable[..., dict[str, Any]] = getattr(self._client, operation)
        if "TransactItems" not in kwargs and "RequestItems" not in kwargs:
            kwargs.setdefault("TableName", self._table)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(method, **kwargs))
        except RuntimeError as closed:  # the executor was shut down: the store is closed
            raise Unavailable("store is closed") from closed
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in TRANSIENT:
                raise Unavailable(f"DynamoDB {operation}: {code}") from error
            raise
        except BotoCoreError as error:
            raise Unavailable(f"DynamoDB {operation}: {type(error).__name__}") from error

    async def _backoff(self, attempt: int) -> None:
        await asyncio.sleep(random.random() * min(self._backoff_cap_s, self._backoff_base_s * 2**attempt))

    async def _transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems, retried on conflicts; _Cancelled when a condition failed."""
        for attempt in range(self._txn_attempts):
            if attempt:
                await self._backoff(attempt)
            try:
                # one token per attempt: botocore's own retries of this attempt replay it, so an
                # attempt whose answer was lost is not applied twice
                await self._call("transact_write_items", TransactItems=items, ClientRequestToken=uuid.uuid4().hex)
                return
            except ClientError as error:
                # throttling of the request itself was retried by botocore already (Unavailable
                # propagates); conflicts and throttling inside a transaction are retried here
                code = error.response.get("Error", {}).get("Code", "")
                if code != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons", [])
                codes = {str(r.get("Code") or "None") for r in reasons}
                if "ConditionalCheckFailed" in codes or not codes & TRANSIENT_REASONS:
                    raise _Cancelled(reasons) from error
        raise Unavailable("DynamoDB transaction: retries exhausted")

    async def _get(self, pk: str, sk: str) -> Item | None:
        answer = await self._call("get_item", Key=_key(pk, sk), ConsistentRead=True)
        item: Item | None = answer.get("Item")
        return item

    async def _query_all(self, **kwargs: Any) -> list[Item]:
        items: list[Item] = []
        while True:
            answer = await self._call("query", **kwargs)
            items.extend(answer.get("Items", []))
            last = answer.get("LastEvaluatedKey")
            if not last:
                return items
            kwargs["ExclusiveStartKey"] = last

    async def _batch_get(
        self, keys: Sequence[tuple[str, str]], *, consistent: bool = True
    ) -> dict[tuple[str, str], Item]:
        """BatchGetItem of any number of keys; unprocessed keys retried."""
        unique = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], Item] = {}

        async def one_batch(batch: Sequence[tuple[str, str]]) -> None:
            request: dict[str, Any] = {
                self._table: {"Keys": [_key(pk, sk) for pk, sk in batch], "ConsistentRead": consistent}
            }
            for attempt in range(self._txn_attempts):
                if attempt:
                    await self._backoff(attempt)
                answer = await self._call("batch_get_item", RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    found[(item["pk"]["S"], item["sk"]["S"])] = item
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    return
            raise Unavailable("DynamoDB BatchGetItem: unprocessed keys left")

        await asyncio.gather(*(one_batch(batch) for batch in _chunks(unique, 100)))
        return found

    async def _batch_put(self, items: Sequence[Item]) -> None:
        for batch in _chunks(items, 25):
            request: dict[str, Any] = {self._table: [{"PutRequest": {"Item": i}} for i in batch]}
            for attempt in range(self._txn_attempts):
                if attempt:
                    await self._backoff(attempt)
                answer = await self._call("batch_write_item", RequestItems=request)
                request = answer.get("UnprocessedItems") or {}
                if not request:
                    break
            else:
                raise Unavailable("DynamoDB BatchWriteItem: unprocessed items left")

    async def _update_if(self, **kwargs: Any) -> dict[str, Any] | None:
        """UpdateItem whose ConditionExpression may fail; None when it did."""
        try:
            return await self._call("update_item", **kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise

    # --- chats -------------------------------------------------------------------------------
    async def create_chat(self, chat: Chat) -> tuple[Chat, bool]:
        pk = chat_pk(chat.id)
        members = tuple(dict.fromkeys(chat.members))
        meta: Item = {
            **_key(pk, META),
            "chatId": _s(chat.id),
            "type": _s(chat.type),
            "title": _s(chat.title) if chat.title is not None else {"NULL": True},
            "createdAt": _n(chat.created_at_ms),
            "lastActivity": _n(chat.last_activity_ms),
            "lastSeq": _n(0),
            "memberCount": _n(len(members)),
        }
        member_items = [
            {
                **_key(pk, member_sk(user)),
                "userId": _s(user),
                "idx": _n(index),
                "readSeq": _n(0),
                GSI1_PK: _s(user_pk(user)),
                GSI1_SK: _s(pk),
            }
            for index, user in enumerate(members)
        ]
        put_meta = {
            "TableName": self._table,
            "Item": meta,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        try:
            if len(member_items) <= 98:
                puts = [{"Put": {"TableName": self._table, "Item": i}} for i in member_items]
                await self._transact([{"Put": put_meta}, *puts])
            else:
                # Too many for one transaction: members first, META last. Readers ignore members
                # of a chat without META and a send needs META, so a crash in between shows nothing.
                if await self._get(pk, META) is not None:
                    raise _Cancelled([{"Code": "ConditionalCheckFailed"}])
                await self._batch_put(member_items)
                try:
                    await self._call("put_item", **put_meta)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                    raise _Cancelled([{"Code": "ConditionalCheckFailed"}]) from error
        except _Cancelled:
            existing = await self.get_chat(chat.id)
            if existing is None:
                raise Unavailable("chat creation raced; retry") from None
            return existing, False
        created = Chat(
            id=chat.id,
            type=chat.type,
            title=chat.title,
            members=members,
            created_at_ms=chat.created_at_ms,
            last_seq=0,
            last_activity_ms=chat.last_activity_ms,
            last_message=None,
            read_seqs=dict.fromkeys(members, 0),
        )
        return created, True

    async def get_chat(self, chat_id: str) -> Chat | None:
        items, last = await asyncio.gather(self._chat_items(chat_id), self._last_message(chat_id))
        if not items or items[-1]["sk"]["S"] != META:
            return None
        return self._chat_from(items[-1], items[:-1], last)

    async def _chat_items(self, chat_id: str) -> list[Item]:
        """The chat's MEMBER items then its META: MEMBER#... sorts just before META, one Query."""
        return await self._query_all(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":pk": _s(chat_pk(chat_id)), ":lo": _s("MEMBER#"), ":hi": _s(META)},
            ConsistentRead=True,
        )

    async def _last_message(self, chat_id: str) -> Message | None:
        """The newest stored message: the last entry of the chat in lsi1."""
        answer = await self._call(
            "query",
            IndexName=LSI1,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(chat_pk(chat_id))},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = answer.get("Items", [])
        return message_from(items[0]) if items else None

    @staticmethod
    def _chat_from(meta: Item, member_items: Sequence[Item], last: Message | None) -> Chat:
        ordered = sorted(member_items, key=lambda i: _int(i, "idx"))
        title = _str(meta, "title")
        chat_type = meta["type"]["S"]
        return Chat(
            id=meta["chatId"]["S"],
            type="direct" if chat_type == "direct" else "group",
            title=title,
            members=tuple(i["userId"]["S"] for i in ordered),
            created_at_ms=_int(meta, "createdAt"),
            # the seq of the last stored message; META's lastSeq is the last one handed out,
            # which may be a gap (a failed write, a repeat) or a write still in flight
            last_seq=last.seq if last is not None else 0,
            last_activity_ms=_int(meta, "lastActivity"),
            last_message=last,
            read_seqs={i["userId"]["S"]: _int(i, "readSeq") for i in ordered},
        )

    async def _user_chat_ids(self, user_id: str) -> list[str]:
        items = await self._query_all(
            IndexName=GSI1,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :chat)",
            ExpressionAttributeNames={"#pk": GSI1_PK, "#sk": GSI1_SK},
            ExpressionAttributeValues={":pk": _s(user_pk(user_id)), ":chat": _s("CHAT#")},
        )
        return [i["pk"]["S"].removeprefix("CHAT#") for i in items]

    async def _members(self, chat_id: str) -> list[Item]:
        return await self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
            ExpressionAttributeValues={":pk": _s(chat_pk(chat_id)), ":m": _s("MEMBER#")},
            ConsistentRead=True,
        )

    async def list_chats(self, user_id: str, limit: int, cursor: str | None) -> ChatPage:
        after = decode_inbox_cursor(cursor) if cursor is not None else None
        chat_ids = await self._user_chat_ids(user_id)
        metas = await self._batch_get([(chat_pk(c), META) for c in chat_ids])
        order = sorted(
            (m for m in metas.values()),
            key=lambda m: (-_int(m, "lastActivity"), m["chatId"]["S"]),
        )
        if after is not None:
            position = (-after[0], after[1])
            order = [m for m in order if (-_int(m, "lastActivity"), m["chatId"]["S"]) > position]
        page = order[: max(limit, 0)]
        ids = [m["chatId"]["S"] for m in page]
        member_lists, lasts = await asyncio.gather(
            asyncio.gather(*(self._members(c) for c in ids)),
            asyncio.gather(*(self._last_message(c) for c in ids)),
        )
        chats = tuple(self._chat_from(m, ms, last) for m, ms, last in zip(page, member_lists, lasts, strict=True))
        next_cursor = None
        if len(order) > len(page) and page:
            next_cursor = encode_inbox_cursor(_int(page[-1], "lastActivity"), page[-1]["chatId"]["S"])
        return ChatPage(chats=chats, next_cursor=next_cursor)

    # --- messages ----------------------------------------------------------------------------
    async def append_message(
        self,
        chat_id: str,
        sender_id: str,
        content: str,
        client_message_id: str,
        now_ms: int,
        on_seq: Callable[[int], None] | None = None,
        *,
        reply_to: ReplyRef | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> AppendResult:
        seq = await self._next_seq(chat_id, now_ms)
        if on_seq is not None:
            on_seq(seq)
        # 2. store the message under its id (derived from its idempotency key), unless that key
        # holds one already. Nothing is half-written: until this put the seq is a gap; after
        # it, the message is complete. Throttling or an error here leaves the seq a gap; the
        # client's retry (same clientMessageId) stores the message under a new seq or finds the
        # stored one.
        message = Message.first_stored(
            chat_id, seq, sender_id, content, client_message_id, now_ms, reply_to=reply_to, attachments=attachments
        )
        first = await self._put_message_once(message)
        # the same seq: this put (or an earlier attempt of it whose answer was lost) stored it
        return AppendResult(first, created=first.seq == seq)

    async def _next_seq(self, chat_id: str, now_ms: int | None) -> int:
        """1. hand out the chat's next seq: one UpdateItem of META (1 unit). A message also moves
        the chat's last activity (now_ms); a change does not (None)."""
        activity = ", lastActivity = :now" if now_ms is not None else ""
        values = {":one": _n(1), **({":now": _n(now_ms)} if now_ms is not None else {})}
        answer = await self._update_if(
            Key=_key(chat_pk(chat_id), META),
            UpdateExpression="SET lastSeq = lastSeq + :one" + activity,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values,
            ReturnValues="UPDATED_NEW",
        )
        if answer is None:
            raise NotFound("chat not found")
        return _int(answer["Attributes"], "lastSeq")

    async def get_message(self, chat_id: str, message_id: str) -> Message | None:
        item = await self._get(chat_pk(chat_id), message_sk(message_id))
        return message_from(item) if item is not None else None

    async def change_message(
        self,
        chat_id: str,
        message_id: str,
        change: MessageChange,
        now_ms: int,
        on_seq: Callable[[int], None] | None = None,
    ) -> ChangeResult:
        # the seq first (as for a message), then one conditional UpdateItem of the message whose
        # conditions are apply_change's rules; when one fails, the message as it was (ALL_OLD)
        # says which: a rule (raised), nothing to change, or a newer change applied first (take
        # a newer seq: a message's changeSeq only rises)
        for _ in range(CHANGE_ATTEMPTS):
            seq = await self._next_seq(chat_id, None)
            if on_seq is not None:
                on_seq(seq)
            update = change_update(change, seq, now_ms)
            try:
                answer = await self._call(
                    "update_item",
                    Key=_key(chat_pk(chat_id), message_sk(message_id)),
                    **update,
                    ReturnValues="ALL_OLD",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                old: Mapping[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
                if not old:
                    raise NotFound("message not found") from None
                current = message_from(old)
                if apply_change(current, change, seq, now_ms) is None:
                    return ChangeResult(current, changed=False)
                if current.change_seq < seq:  # no rule refused it, yet a condition failed
                    raise Unavailable("message change refused; retry") from None
                continue
            before = message_from(answer["Attributes"])
            # the update was atomic: the message now is exactly `before` with this change
            after = apply_change(before, change, seq, now_ms)
            assert after is not None
            return ChangeResult(after, changed=True, previous=before)
        raise Unavailable("message kept changing; retry")

    async def _put_message_once(self, message: Message) -> Message:
        """Put the message unless its key (its id: its idempotency key) holds one already; the
        message the key holds afterwards (this one, or the first stored under it)."""
        try:
            await self._call(
                "put_item",
                Item=message_item(message),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Mapping[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
            if not old:  # DynamoDB returns the item that failed the condition; never empty
                raise Unavailable("message put refused without the stored message; retry") from None
            return message_from(old)
        return message

    async def import_messages(self, chat_id: str, messages: Sequence[HistoricMessage]) -> tuple[AppendResult, ...]:
        if not messages:
            return ()
        pk = chat_pk(chat_id)
        keys = [message_sk(ids.message_id(chat_id, m.sender_id, m.client_message_id)) for m in messages]
        # 1. which are stored already (strongly consistent reads, no unit written): they take no seq
        found = await self._batch_get([(pk, sk) for sk in keys])
        stored = {sk: message_from(item) for (_, sk), item in found.items()}
        first_of_key: dict[str, HistoricMessage] = {}
        for sk, m in zip(keys, messages, strict=True):
            if sk not in stored:
                first_of_key.setdefault(sk, m)
        new = list(first_of_key.items())
        created: set[str] = set()
        if new:
            # 2. one seq range for all of them, and the chat's activity raised to the newest
            answer = await self._update_if(
                Key=_key(pk, META),
                UpdateExpression="SET lastSeq = lastSeq + :n",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":n": _n(len(new))},
                ReturnValues="ALL_NEW",
            )
            if answer is None:
                raise NotFound("chat not found")
            first_seq = _int(answer["Attributes"], "lastSeq") - len(new) + 1
            newest = max(m.created_at_ms for _, m in new)
            if _int(answer["Attributes"], "lastActivity") < newest:
                await self._update_if(
                    Key=_key(pk, META),
                    UpdateExpression="SET lastActivity = :t",
                    ConditionExpression="lastActivity < :t",
                    ExpressionAttributeValues={":t": _n(newest)},
                )
            # 3. one put at a time, in seq order: a failure leaves a prefix stored, the rest gaps
            for seq, (sk, m) in enumerate(new, start=first_seq):
                stored[sk] = first = await self._put_message_once(m.stored_as(chat_id, seq))
                if first.seq == seq:  # else another import stored it first: its seq here stays a gap
                    created.add(sk)
        results = []
        for sk in keys:
            results.append(AppendResult(stored[sk], created=sk in created))
            created.discard(sk)  # a repeat later in `messages` is not created again
        return tuple(results)

    async def list_messages(
        self, chat_id: str, *, before_seq: int | None, after_seq: int | None, limit: int
    ) -> MessagePage:
        low = (after_seq + 1) if after_seq is not None else 1
        high = (before_seq - 1) if before_seq is not None else MAX_KEY_SEQ
        low = max(low, 0)
        if limit <= 0 or high < low or high < 0:
            return MessagePage(messages=(), has_more=False)
        forward = after_seq is not None
        items, has_more = await self._index_range(chat_id, LSI1, seq_key(low), seq_key(high), limit, forward=forward)
        messages = [message_from(i) for i in items]
        if not forward:
            messages.reverse()
            return MessagePage(messages=tuple(messages), has_more=has_more)
        assert after_seq is not None
        # the updates: messages at or below after_seq changed after it, cut where messages were
        upper = messages[-1].seq if has_more else high
        updates: list[Message] = []
        start: Item | None = None
        while len(updates) <= UPDATES_MAX:
            page, more = await self._index_range(
                chat_id, LSI2, change_key(low), change_key(upper), UPDATES_MAX + 1 - len(updates), start=start
            )
            # changed messages above after_seq are in `messages` already, in their current state
            updates += [m for m in map(message_from, page) if m.seq <= after_seq]
            if not more or not page:
                break
            start = {k: page[-1][k] for k in ("pk", "sk", LSI2_SK)}
        if len(updates) > UPDATES_MAX:
            del updates[UPDATES_MAX:]
            cut = updates[-1].change_seq
            messages = [m for m in messages if m.seq <= cut]
            has_more = True
        return MessagePage(messages=tuple(messages), has_more=has_more, updates=tuple(updates))

    async def _index_range(
        self,
        chat_id: str,
        index: str,
        low: str,
        high: str,
        limit: int,
        *,
        forward: bool = True,
        start: Item | None = None,
    ) -> tuple[list[Item], bool]:
        """Up to `limit` items of the chat whose `index` sort key is in [low, high], strongly
        consistent, and whether more follow."""
        sort_key = LSI1_SK if index == LSI1 else LSI2_SK
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": "pk = :pk AND #k BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#k": sort_key},
            "ExpressionAttributeValues": {":pk": _s(chat_pk(chat_id)), ":lo": _s(low), ":hi": _s(high)},
            "ConsistentRead": True,
            "ScanIndexForward": forward,
        }
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        items: list[Item] = []
        while len(items) <= limit:
            kwargs["Limit"] = limit + 1 - len(items)
            answer = await self._call("query", **kwargs)
            items.extend(answer.get("Items", []))
            if not answer.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return items[:limit], len(items) > limit

    # --- attachments -------------------------------------------------------------------------
    async def put_attachment(self, attachment: Attachment) -> None:
        await self._call("put_item", Item=attachment_item(attachment))

    async def get_attachments(self, chat_id: str, attachment_ids: Sequence[str]) -> dict[str, Attachment]:
        found = await self._batch_get([(chat_pk(chat_id), attachment_sk(a)) for a in attachment_ids])
        records = (attachment_from(item) for item in found.values())
        return {a.id: a for a in records}

    async def forget_stale_attachments(self, created_before_ms: int) -> int:
        return 0  # the records' TTL removes them

    async def mark_read(self, chat_id: str, user_id: str, up_to_seq: int) -> int:
        try:
            await self._call(
                "update_item",
                Key=_key(chat_pk(chat_id), member_sk(user_id)),
                UpdateExpression="SET readSeq = :seq",
                ConditionExpression="attribute_exists(pk) AND readSeq < :seq",
                ExpressionAttributeValues={":seq": _n(up_to_seq)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Mapping[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
            if not old:
                raise NotFound("chat not found") from None
            return _int(old, "readSeq")
        return up_to_seq

    async def unread_entries(self, user_id: str, chat_ids: Sequence[str] | None = None) -> dict[str, UnreadEntry]:
        ids = await self._user_chat_ids(user_id) if chat_ids is None else chat_ids
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        # read marks and last seqs, strongly consistent; a chat without both items is not one of
        # the user's (a chat_ids entry the user is no member of, or a chat still being created)
        found = await self._batch_get(
            [key for c in ids for key in ((chat_pk(c), META), (chat_pk(c), member_sk(user_id)))]
        )
        limit = asyncio.Semaphore(UNREAD_QUERIES)

        async def entry(chat_id: str) -> UnreadEntry | None:
            meta = found.get((chat_pk(chat_id), META))
            member = found.get((chat_pk(chat_id), member_sk(user_id)))
            if meta is None or member is None:
                return None
            read_seq, last_seq = _int(member, "readSeq"), _int(meta, "lastSeq")
            if last_seq <= read_seq:
                return UnreadEntry(read_seq=read_seq, count=0, counted_to=read_seq)
            async with limit:
                # every seq above the mark up to last_seq; only seq and sender come back, but
                # the units are those of the whole items (lsi1 projects ALL)
                items = await self._query_all(
                    IndexName=LSI1,
                    KeyConditionExpression="pk = :pk AND #seq BETWEEN :lo AND :hi",
                    ProjectionExpression="#n, senderId",
                    ExpressionAttributeNames={"#seq": LSI1_SK, "#n": "seq"},
                    ExpressionAttributeValues={
                        ":pk": _s(chat_pk(chat_id)),
                        ":lo": _s(seq_key(read_seq + 1)),
                        ":hi": _s(seq_key(last_seq)),
                    },
                    ConsistentRead=True,
                )
            count = 0
            missing: set[int] = set()
            # a seq without a message may be one still being written only near the top; below
            # that it is a gap or a change (edit, delete, reaction), which never becomes one
            expected = max(read_seq, last_seq - MISSING_WINDOW) + 1
            for item in items:  # in seq order
                seq = _int(item, "seq")
                missing.update(range(expected, seq))
                expected = max(expected, seq + 1)
                if item["senderId"]["S"] != user_id:
                    count += 1
            missing.update(range(expected, last_seq + 1))
            return UnreadEntry(read_seq=read_seq, count=count, counted_to=last_seq, missing=frozenset(missing))

        entries = await asyncio.gather(*(entry(c) for c in ids))
        return {c: e for c, e in zip(ids, entries, strict=True) if e is not None}

    async def contacts(self, user_id: str) -> set[str]:
        chat_ids = await self._user_chat_ids(user_id)
        metas = await self._batch_get([(chat_pk(c), META) for c in chat_ids])
        live = [c for c in chat_ids if (chat_pk(c), META) in metas]
        member_lists = await asyncio.gather(*(self._members(c) for c in live))
        found = {i["userId"]["S"] for items in member_lists for i in items}
        found.discard(user_id)
        return found

    # --- presence ----------------------------------------------------------------------------
    async def open_connection(self, ref: ConnectionRef, now_ms: int) -> bool:
        # the index record first: a counted connection always has one for the reaper to find
        await self._call(
            "put_item",
            Item={
                **_key(user_pk(ref.user_id), f"CONN#{ref.connection_id}"),
                "userId": _s(ref.user_id),
                "connectionId": _s(ref.connection_id),
                "nodeId": _s(ref.node_id),
                "openedAt": _n(now_ms),
                TTL_ATTRIBUTE: _n(now_ms // 1000 + CONNECTION_TTL_S),
                GSI1_PK: _s(f"NODE#{ref.node_id}"),
                GSI1_SK: _s(user_pk(ref.user_id)),
            },
        )
        key = _key(user_pk(ref.user_id), PRESENCE)
        names = {"#o": "online", "#c": ref.connection_id, "#gpk": GSI1_PK, "#gsk": GSI1_SK}
        values = {":t": {"BOOL": True}, ":now": _n(now_ms), ":node": _s(ref.node_id)}
        while True:
            answer = await self._update_if(
                Key=key,
                UpdateExpression="SET conns.#c = :node, #o = :t, lastSeen = :now REMOVE #gpk, #gsk",
                ConditionExpression="attribute_exists(conns)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
            if answer is None:  # the user's first connection ever: create the set
                answer = await self._update_if(
                    Key=key,
                    UpdateExpression="SET conns = :set, #o = :t, lastSeen = :now",
                    ConditionExpression="attribute_not_exists(conns)",
                    ExpressionAttributeNames={"#o": "online"},
                    ExpressionAttributeValues={
                        ":set": {"M": {ref.connection_id: _s(ref.node_id)}},
                        ":t": {"BOOL": True},
                        ":now": _n(now_ms),
                    },
                    ReturnValues="ALL_OLD",
                )
            if answer is not None:
                was_online = answer.get("Attributes", {}).get("online", {}).get("BOOL", False)
                return not was_online

    async def close_connection(self, ref: ConnectionRef, now_ms: int) -> int:
        key = _key(user_pk(ref.user_id), PRESENCE)
        names = {"#c": ref.connection_id}
        left: int | None = None
        while left is None:
            # the last connection going also enters the user in the IDLE index for settle_offline
            answer = await self._update_if(
                Key=key,
                UpdateExpression="REMOVE conns.#c SET lastSeen = :now, #gpk = :idle, #gsk = :user",
                ConditionExpression="attribute_exists(conns.#c) AND size(conns) = :one",
                ExpressionAttributeNames={**names, "#gpk": GSI1_PK, "#gsk": GSI1_SK},
                ExpressionAttributeValues={
                    ":now": _n(now_ms),
                    ":idle": _s(IDLE_PK),
                    ":user": _s(user_pk(ref.user_id)),
                    ":one": _n(1),
                },
            )
            if answer is not None:
                left = 0
                break
            answer = await self._update_if(
                Key=key,
                UpdateExpression="REMOVE conns.#c SET lastSeen = :now",
                ConditionExpression="attribute_exists(conns.#c) AND size(conns) > :one",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":now": _n(now_ms), ":one": _n(1)},
                ReturnValues="ALL_NEW",
            )
            if answer is not None:
                left = len(answer["Attributes"].get("conns", {}).get("M", {}))
                break
            item = await self._get(user_pk(ref.user_id), PRESENCE)
            conns = (item or {}).get("conns", {}).get("M", {})
            if ref.connection_id not in conns:
                left = len(conns)  # closed already: idempotent
        await self._call("delete_item", Key=_key(user_pk(ref.user_id), f"CONN#{ref.connection_id}"))
        return left

    async def settle_offline(self, user_id: str, now_ms: int) -> bool:
        answer = await self._update_if(
            Key=_key(user_pk(user_id), PRESENCE),
            UpdateExpression="SET #o = :f REMOVE #gpk, #gsk",
            ConditionExpression="#o = :t AND size(conns) = :zero",
            ExpressionAttributeNames={"#o": "online", "#gpk": GSI1_PK, "#gsk": GSI1_SK},
            ExpressionAttributeValues={":t": {"BOOL": True}, ":f": {"BOOL": False}, ":zero": _n(0)},
        )
        return answer is not None

    async def presence(self, user_ids: Iterable[str]) -> dict[str, Presence]:
        users = list(dict.fromkeys(user_ids))
        found = await self._batch_get([(user_pk(u), PRESENCE) for u in users])
        result: dict[str, Presence] = {}
        for user in users:
            item = found.get((user_pk(user), PRESENCE))
            if item is None:
                result[user] = Presence(user, online=False, last_seen_ms=None)
                continue
            online = bool(item.get("online", {}).get("BOOL", False))
            last_seen = _int(item, "lastSeen") if "lastSeen" in item else None
            result[user] = Presence(user, online=online, last_seen_ms=last_seen)
        return result

    async def touch_node(self, node_id: str, now_ms: int) -> bool:
        update = {
            "Key": _key(NODES_PK, f"NODE#{node_id}"),
            "UpdateExpression": "SET heartbeat = :now, nodeId = :node",
            "ExpressionAttributeValues": {":now": _n(now_ms), ":node": _s(node_id)},
        }
        # conditional, so that the answer holds even when an answer is lost and the SDK retries
        # (a retried write that asked for the old values would see its own first write)
        if await self._update_if(**update, ConditionExpression="attribute_exists(pk)") is not None:
            return True
        await self._call("update_item", **update)
        return False

    async def stale_nodes(self, heartbeat_before_ms: int) -> list[str]:
        # every node's heartbeat lives in one small partition: a Query, never a Scan
        items = await self._query_all(
            KeyConditionExpression="pk = :pk",
            FilterExpression="heartbeat < :bound",
            ExpressionAttributeValues={":pk": _s(NODES_PK), ":bound": _n(heartbeat_before_ms)},
            ConsistentRead=True,
        )
        return [i["nodeId"]["S"] for i in items]

    async def node_connections(self, node_id: str, limit: int) -> list[ConnectionRef]:
        if limit <= 0:
            return []
        refs: list[ConnectionRef] = []
        page: dict[str, Any] = {}
        while len(refs) < limit:  # pages of at most 1 MB each
            answer = await self._call(
                "query",
                IndexName=GSI1,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": GSI1_PK},
                ExpressionAttributeValues={":pk": _s(f"NODE#{node_id}")},
                Limit=limit - len(refs),
                **page,
            )
            refs += [
                ConnectionRef(
                    user_id=i["pk"]["S"].removeprefix("USER#"),
                    connection_id=i["sk"]["S"].removeprefix("CONN#"),
                    node_id=node_id,
                )
                for i in answer.get("Items", [])
            ]
            if "LastEvaluatedKey" not in answer:
                break
            page = {"ExclusiveStartKey": answer["LastEvaluatedKey"]}
        return refs

    async def forget_node(self, node_id: str) -> None:
        await self._call("delete_item", Key=_key(NODES_PK, f"NODE#{node_id}"))

    async def idle_online_users(self, limit: int) -> list[str]:
        if limit <= 0:
            return []
        kwargs: dict[str, Any] = {
            "IndexName": GSI1,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": GSI1_PK},
            "ExpressionAttributeValues": {":pk": _s(IDLE_PK)},
            "Limit": max(limit, 25),
        }
        users: list[str] = []
        while len(users) < limit:
            answer = await self._call("query", **kwargs)
            candidates = [i["pk"]["S"].removeprefix("USER#") for i in answer.get("Items", [])]
            # the index lags the table: confirm on the items themselves
            found = await self._batch_get([(user_pk(u), PRESENCE) for u in candidates])
            for user in candidates:
                item = found.get((user_pk(user), PRESENCE), {})
                online = item.get("online", {}).get("BOOL", False)
                if online and not item.get("conns", {}).get("M"):
                    users.append(user)
            if not answer.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return users[:limit]


if TYPE_CHECKING:
    _: type[Store] = DynamoStore
