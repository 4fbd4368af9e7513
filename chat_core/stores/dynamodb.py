"""DynamoDB implementation of the Store port: one table, a sparse global index and a sparse local
index (see docs/dynamodb.md).

boto3 is synchronous; every call runs in a dedicated thread pool so the event loop never blocks.
Throttling is retried by botocore (standard/adaptive retry mode); transaction conflicts (chat
creation, membership changes, block marks) by this module, with jittered exponential backoff.
When retries run out the caller gets Unavailable and nothing is half-written: a message is one
item, stored by one conditional PutItem keyed by its idempotency key, after its seq was handed out
by one UpdateItem of the chat; a seq whose message was never stored stays a gap. The inbox index
(members' gsi1 entries ordered by activity within a step) is moved lazily by messages; what a
failure leaves there the chat's next message redoes (docs/dynamodb.md, "The inbox").
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from .. import ids
from ..aws_client import client_config, open_client
from ..errors import Conflict, Invalid, NotFound, Unavailable
from ..message_changes import apply_change
from ..models import (
    AppendResult,
    Attachment,
    Blocks,
    ChangeResult,
    Chat,
    ChatPage,
    ChatUpdate,
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
    ACTIVITY_PREFIX,
    BLOCKS_PREFIX,
    LEGACY_ENTRY_PREFIX,
    SEQ_DIGITS,
    Item,
    activity_bound,
    activity_key,
    activity_of,
    attachment_from,
    attachment_item,
    attachment_sk,
    block_sk,
    blocked_by_sk,
    change_key,
    change_update,
    chat_pk,
    message_from,
    message_item,
    message_sk,
    pair_pk,
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

log = logging.getLogger("chat.dynamodb")

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
INBOX_STEP_MS: Final = 5 * 60 * 1000
"""How far a chat's members' inbox entries may be from its true activity (docs/conversations.md,
"The inbox"): a message moves them when the chat's indexed time is this far off, at most once
per step per chat."""
REINDEX_WRITES: Final = 16
"""Concurrent member updates of one re-index."""
REINDEX_ATTEMPTS: Final = 4
"""Rounds of one re-index while the chat's members keep changing under it."""
TRANSACTION_ITEMS: Final = 100

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
        self.reasons = list(reasons)


async def _nothing() -> None:
    return None


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
        inbox_step_ms: int = INBOX_STEP_MS,
    ) -> None:
        self._client = client
        self._step = inbox_step_ms
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
        inbox_step_ms: int = INBOX_STEP_MS,
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
            inbox_step_ms=inbox_step_ms,
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
            "nextIdx": _n(len(members)),
            "version": _n(0),
            # the members' inbox entries hold the chat's activity as of seq 0
            "indexedAt": _n(chat.last_activity_ms),
            "indexedSeq": _n(0),
        }
        if chat.topic is not None:
            meta["topic"] = _s(chat.topic)
        if chat.admins:
            meta["admins"] = {"L": [_s(a) for a in chat.admins]}
        if chat.blocked_by:
            meta["blockedBy"] = {"SS": sorted(chat.blocked_by)}
        pair_link: list[dict[str, Any]] = []
        if chat.type == "direct" and len(members) == 2:
            # the pair's direct chats, whatever their topics, for set_block: a base-table item in
            # the creating transaction, so set_block's strongly consistent read cannot miss it
            link = {**_key(pair_pk(members[0], members[1]), pk), "chatId": _s(chat.id)}
            pair_link = [{"Put": {"TableName": self._table, "Item": link}}]
        entry = activity_key(chat.last_activity_ms, chat.id)
        member_items = [self._member_item(chat.id, user, index, 0, 0, entry, 0) for index, user in enumerate(members)]
        put_meta = {
            "TableName": self._table,
            "Item": meta,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        try:
            if len(member_items) <= TRANSACTION_ITEMS - 2:
                puts = [{"Put": {"TableName": self._table, "Item": i}} for i in member_items]
                await self._transact([{"Put": put_meta}, *puts, *pair_link])
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
            topic=chat.topic,
            admins=tuple(chat.admins),
            version=0,
            joined_seqs=dict.fromkeys(members, 0),
            blocked_by=frozenset(chat.blocked_by),
        )
        return created, True

    def _member_item(
        self, chat_id: str, user_id: str, idx: int, read_seq: int, joined_seq: int, entry: str, entry_seq: int
    ) -> Item:
        """A MEMBER item: in gsi1 under the user, at its inbox entry (activity_key) written as of
        the chat's seq entry_seq (a re-index with a higher seq moves it, docs/dynamodb.md).
        joinedSeq and indexedSeq are left out when 0 (absent reads as 0): most members have both
        0, and every byte of a member item is read with the chat."""
        item: Item = {
            **_key(chat_pk(chat_id), member_sk(user_id)),
            "userId": _s(user_id),
            "idx": _n(idx),
            "readSeq": _n(read_seq),
            GSI1_PK: _s(user_pk(user_id)),
            GSI1_SK: _s(entry),
        }
        if joined_seq:
            item["joinedSeq"] = _n(joined_seq)
        if entry_seq:
            item["indexedSeq"] = _n(entry_seq)
        return item

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
            topic=_str(meta, "topic"),
            admins=tuple(a["S"] for a in meta.get("admins", {}).get("L", [])),
            version=_int(meta, "version"),
            joined_seqs={i["userId"]["S"]: _int(i, "joinedSeq") for i in ordered},
            blocked_by=frozenset(meta.get("blockedBy", {}).get("SS", [])),
        )

    async def _user_chat_ids(self, user_id: str) -> list[str]:
        """Every chat the user's membership entries name, in both entry forms (ACT#<time>#<chat>,
        and CHAT#<chat> from before the inbox was ordered by the index): gsi1pk USER#<user> holds
        nothing else."""
        items = await self._query_all(
            IndexName=GSI1,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": GSI1_PK},
            ExpressionAttributeValues={":pk": _s(user_pk(user_id))},
        )
        return list(dict.fromkeys(i["pk"]["S"].removeprefix("CHAT#") for i in items))

    async def _members(self, chat_id: str) -> list[Item]:
        return await self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
            ExpressionAttributeValues={":pk": _s(chat_pk(chat_id)), ":m": _s("MEMBER#")},
            ConsistentRead=True,
        )

    async def list_chats(self, user_id: str, limit: int, cursor: str | None) -> ChatPage:
        """The user's chats newest first, from their inbox entries in gsi1 (docs/conversations.md,
        "The inbox"). An entry's time is within the step of its chat's true activity (the META's
        lastActivity), so having read every entry down to time T, every chat read whose true
        activity is at least T + step is in its final place: no entry still unread can belong
        to a newer chat. Entries are read newest first, a chunk at a time, with their chats' META
        items, until limit + 1 chats are placed or the entries run out."""
        after = decode_inbox_cursor(cursor) if cursor is not None else None
        if limit <= 0:
            return ChatPage(chats=(), next_cursor=None)
        position = (-after[0], after[1]) if after is not None else None
        step = self._step
        # a page after the cursor lists chats whose true activity is at most the cursor's, so
        # their entries are less than a step above it
        top = after[0] + step - 1 if after is not None else MAX_KEY_SEQ
        known: dict[str, Item] = {}  # chat id -> META, of every chat read so far

        def order_key(meta: Item) -> tuple[int, str]:
            return -_int(meta, "lastActivity"), meta["chatId"]["S"]

        async def read_metas(chat_ids: Iterable[str]) -> None:
            wanted = [c for c in dict.fromkeys(chat_ids) if c not in known]
            found = await self._batch_get([(chat_pk(c), META) for c in wanted])
            for (pk, _), meta in found.items():
                known[pk.removeprefix("CHAT#")] = meta

        # entries from before the index was ordered (CHAT#<chat>): read every time, placed by
        # their META, and moved to the ordered form below
        legacy_query = self._query_all(
            IndexName=GSI1,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :chat)",
            ExpressionAttributeNames={"#pk": GSI1_PK, "#sk": GSI1_SK},
            ExpressionAttributeValues={":pk": _s(user_pk(user_id)), ":chat": _s(LEGACY_ENTRY_PREFIX)},
        )
        query: dict[str, Any] = {
            "IndexName": GSI1,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#pk": GSI1_PK, "#sk": GSI1_SK},
            "ExpressionAttributeValues": {
                ":pk": _s(user_pk(user_id)),
                ":lo": _s(ACTIVITY_PREFIX),
                ":hi": _s(activity_bound(top)),
            },
            "ScanIndexForward": False,
        }
        # when chats are far apart, limit + 1 placed take limit + 2 entries (and a page after a
        # cursor reads the cursor's own chat again)
        chunk = limit + 2 + (after is not None)
        oldest: int | None = None  # the time of the oldest entry read
        exhausted = top < 0  # a cursor below every time: no entry can follow it
        first_chunk: Any = self._call("query", **query, Limit=chunk) if not exhausted else None
        legacy_items, answer = await asyncio.gather(legacy_query, first_chunk or _nothing())
        legacy = [i["pk"]["S"].removeprefix("CHAT#") for i in legacy_items]
        await read_metas(legacy)
        placed: list[Item] = []
        while True:
            if answer is not None:
                items = answer.get("Items", [])
                await read_metas(i["pk"]["S"].removeprefix("CHAT#") for i in items)
                times = [t for t in (activity_of(i[GSI1_SK]["S"]) for i in items) if t is not None]
                if times:
                    oldest = times[-1]
                exhausted = not answer.get("LastEvaluatedKey")
            candidates = [m for m in known.values() if position is None or order_key(m) > position]
            if exhausted:
                placed = candidates
                break
            placed = [m for m in candidates if oldest is not None and _int(m, "lastActivity") >= oldest + step]
            if len(placed) > limit:
                break
            assert answer is not None
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
            chunk = min(max(limit + 2 - len(placed), 2), 100)
            answer = await self._call("query", **query, Limit=chunk)

        order = sorted(placed, key=order_key)
        page = order[:limit]
        ids = [m["chatId"]["S"] for m in page]
        migrate = [c for c in legacy if c in known]
        member_lists, lasts, _ = await asyncio.gather(
            asyncio.gather(*(self._members(c) for c in ids)),
            asyncio.gather(*(self._last_message(c) for c in ids)),
            asyncio.gather(*(self._migrate_entry(c, user_id, known[c]) for c in migrate)),
        )
        chats = tuple(self._chat_from(m, ms, last) for m, ms, last in zip(page, member_lists, lasts, strict=True))
        next_cursor = None
        if len(order) > len(page):
            next_cursor = encode_inbox_cursor(_int(page[-1], "lastActivity"), page[-1]["chatId"]["S"])
        return ChatPage(chats=chats, next_cursor=next_cursor)

    async def _migrate_entry(self, chat_id: str, user_id: str, meta: Item) -> None:
        """Give an old CHAT#<chat> entry its place in the ordered index: the time the chat's other
        entries hold (META's indexedAt), or its activity when it was never indexed. Only while it
        is still in the old form (a re-index may have moved it meanwhile)."""
        if "indexedAt" in meta:
            at, entry_seq = _int(meta, "indexedAt"), _int(meta, "indexedSeq")
        else:
            at, entry_seq = _int(meta, "lastActivity"), 0
        try:
            await self._update_if(
                Key=_key(chat_pk(chat_id), member_sk(user_id)),
                UpdateExpression="SET #sk = :entry, indexedSeq = :seq",
                ConditionExpression="begins_with(#sk, :old)",
                ExpressionAttributeNames={"#sk": GSI1_SK},
                ExpressionAttributeValues={
                    ":entry": _s(activity_key(at, chat_id)),
                    ":seq": _n(entry_seq),
                    ":old": _s(LEGACY_ENTRY_PREFIX),
                },
            )
        except (Unavailable, ClientError) as error:  # read again (and tried again) on the next page
            log.warning("inbox entry of %s in %s not migrated: %s", user_id, chat_id, error)

    # --- membership over time, blocks -------------------------------------------------------
    async def update_chat(self, chat_id: str, update: ChatUpdate) -> Chat:
        """One TransactWriteItems: META (version, member count, title, admins) under
        `version = expected`, a Put per member added, a Delete per member removed.

        New members' read and joined seqs are META's lastSeq as read (strongly consistent) just
        before; the transaction requires only the version, so a message that takes a seq between
        that read and the write is after their join point: they see it, and it counts as unread
        for them, as if they had joined just before it. Their inbox entries hold the time the
        other members' entries hold (META's indexedAt), and the transaction requires that this
        did not move meanwhile (a re-index finished): then it reads again and tries again."""
        pk = chat_pk(chat_id)
        add = tuple(dict.fromkeys(update.add))
        remove = tuple(dict.fromkeys(update.remove))
        if 1 + len(add) + len(remove) > TRANSACTION_ITEMS:
            raise Invalid("too many members changed at once")
        for attempt in range(self._txn_attempts):
            if attempt:
                await self._backoff(attempt)
            meta = await self._get(pk, META)
            if meta is None:
                raise NotFound("chat not found")
            version = _int(meta, "version")
            if version != update.expected_version:
                raise Conflict(f"chat {chat_id} is at version {version}")
            last_seq = _int(meta, "lastSeq")
            count = _int(meta, "memberCount")
            next_idx = _int(meta, "nextIdx", count)
            if "indexedAt" in meta:
                entry_at, entry_seq = _int(meta, "indexedAt"), _int(meta, "indexedSeq")
                indexed = "indexedSeq = :iseq"
            else:  # never indexed: the members' entries are old CHAT# ones, or were migrated to
                # the chat's activity (list_chats); the chat's next message indexes them all
                entry_at, entry_seq = _int(meta, "lastActivity"), 0
                indexed = "attribute_not_exists(indexedSeq)"
            values: Item = {":v": _n(version), ":next": _n(version + 1)}
            sets = ["version = :next"]
            if indexed.startswith("indexedSeq"):
                values[":iseq"] = _n(entry_seq)
            if add or remove:
                sets += ["memberCount = :count", "nextIdx = :idx"]
                values[":count"] = _n(count + len(add) - len(remove))
                values[":idx"] = _n(next_idx + len(add))
            if update.set_title:
                sets.append("title = :title")
                values[":title"] = _s(update.title) if update.title is not None else {"NULL": True}
            if update.admins is not None:
                sets.append("admins = :admins")
                values[":admins"] = {"L": [_s(a) for a in update.admins]}
            exists = "version = :v" if version else "(attribute_not_exists(version) OR version = :v)"
            entry = activity_key(entry_at, chat_id)
            joined = 0 if update.full_history else last_seq
            items: list[dict[str, Any]] = [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(pk, META),
                        "UpdateExpression": "SET " + ", ".join(sets),
                        "ConditionExpression": f"attribute_exists(pk) AND {exists} AND {indexed}",
                        "ExpressionAttributeValues": values,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                *(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": self._member_item(chat_id, user, next_idx + i, last_seq, joined, entry, entry_seq),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                    for i, user in enumerate(add)
                ),
                *(
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": _key(pk, member_sk(user)),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    }
                    for user in remove
                ),
            ]
            try:
                await self._transact(items)
            except _Cancelled as cancelled:
                reasons = cancelled.reasons
                first = reasons[0] if reasons else {}
                old: Item | None = first.get("Item")
                if first.get("Code") == "ConditionalCheckFailed":
                    if old is None:
                        raise NotFound("chat not found") from None
                    if _int(old, "version") != version:
                        raise Conflict(f"chat {chat_id} changed meanwhile") from None
                    continue  # only its index time moved: read again
                # a member added who is one already, or removed who is not: the caller's view is
                # not the chat's
                raise Conflict(f"chat {chat_id} members are not as expected") from None
            chat = await self.get_chat(chat_id)
            if chat is None:
                raise NotFound("chat not found")
            return chat
        raise Unavailable("chat update kept racing the inbox index; retry")

    async def _pair_chats(self, user_a: str, user_b: str) -> list[Chat]:
        """Every direct chat of the pair, whatever its topic, read strongly consistent: those
        the pair's links name, and the pair's chat without a topic (a chat stored before topics
        has no link)."""
        answer = await self._query_all(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(pair_pk(user_a, user_b))},
            ConsistentRead=True,
        )
        chat_ids = [ids.direct_chat_id(user_a, user_b), *(i["chatId"]["S"] for i in answer)]
        found = await asyncio.gather(*(self.get_chat(c) for c in dict.fromkeys(chat_ids)))
        pair = {user_a, user_b}
        # PAIR#<low>#<high> is ambiguous when user ids contain '#': check the members
        return [c for c in found if c is not None and c.type == "direct" and set(c.members) == pair]

    async def set_block(self, blocker_id: str, blocked_id: str, blocking: bool, now_ms: int) -> tuple[Chat, ...]:
        """The block items first (whom the blocker blocks, who blocks the blocked user: one
        transaction, written or deleted), then the pair's direct chats read and the ones not
        marked accordingly updated in one transaction (each under the version read). Every read
        here and in `blocks` is strongly consistent, so a direct chat created meanwhile is
        marked either here or by its creator, who reads the blocks after writing the chat.
        Idempotent: a call that failed half-way is completed by the next."""
        mine = _key(user_pk(blocker_id), block_sk(blocked_id))
        theirs = _key(user_pk(blocked_id), blocked_by_sk(blocker_id))
        if blocking:
            record = {"blockerId": _s(blocker_id), "blockedId": _s(blocked_id), "createdAt": _n(now_ms)}
            await self._transact(
                [{"Put": {"TableName": self._table, "Item": {**key, **record}}} for key in (mine, theirs)]
            )
        else:
            await self._transact([{"Delete": {"TableName": self._table, "Key": key}} for key in (mine, theirs)])
        who = {"SS": [blocker_id]}
        for attempt in range(self._txn_attempts):
            if attempt:
                await self._backoff(attempt)
            chats = await self._pair_chats(blocker_id, blocked_id)
            changing = [c for c in chats if (blocker_id in c.blocked_by) != blocking]
            updates = [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(chat_pk(c.id), META),
                        "UpdateExpression": ("ADD" if blocking else "DELETE") + " blockedBy :who SET version = :next",
                        "ConditionExpression": "attribute_exists(pk) AND "
                        + ("version = :v" if c.version else "(attribute_not_exists(version) OR version = :v)"),
                        "ExpressionAttributeValues": {":who": who, ":v": _n(c.version), ":next": _n(c.version + 1)},
                    }
                }
                for c in changing
            ]
            try:
                # more than a transaction holds (a pair with over 100 topics): a transaction each;
                # a failure between them leaves the rest for the next call
                for batch in _chunks(updates, TRANSACTION_ITEMS):
                    await self._transact(list(batch))
            except _Cancelled:
                continue  # a chat changed meanwhile: read again
            marked = {c.id for c in changing}
            return tuple(
                dataclasses.replace(
                    c,
                    version=c.version + 1,
                    blocked_by=c.blocked_by | {blocker_id} if blocking else c.blocked_by - {blocker_id},
                )
                if c.id in marked
                else c
                for c in chats
            )
        raise Unavailable("set_block kept racing changes of the pair's chats; retry")

    async def blocks(self, user_id: str) -> Blocks:
        """Whom the user blocks (BLOCK# items) and who blocks them (BLOCKEDBY# items): one
        strongly consistent Query of the user's partition."""
        items = await self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :blocks)",
            ExpressionAttributeValues={":pk": _s(user_pk(user_id)), ":blocks": _s(BLOCKS_PREFIX)},
            ConsistentRead=True,
        )
        keys = [i["sk"]["S"] for i in items]
        by_me, of_me = block_sk(""), blocked_by_sk("")
        return Blocks(
            blocked=frozenset(k.removeprefix(by_me) for k in keys if k.startswith(by_me)),
            blocked_by=frozenset(k.removeprefix(of_me) for k in keys if k.startswith(of_me)),
        )

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
        seq, meta = await self._next_seq(chat_id, now_ms)
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
        if not self._index_stale(meta, now_ms):
            first = await self._put_message_once(message)
        else:
            # the members' inbox entries are a step or more from the chat's activity now: move
            # them, beside the put (at most once per step per chat; a failure is left to the
            # chat's next message)
            put, reindexed = await asyncio.gather(
                self._put_message_once(message), self._reindex(chat_id, now_ms, seq, meta), return_exceptions=True
            )
            if isinstance(put, BaseException):
                raise put
            if isinstance(reindexed, BaseException):  # not a store error (_reindex logs those): a bug
                raise reindexed
            first = put
        # the same seq: this put (or an earlier attempt of it whose answer was lost) stored it
        return AppendResult(first, created=first.seq == seq)

    async def _next_seq(self, chat_id: str, now_ms: int | None) -> tuple[int, Item]:
        """1. hand out the chat's next seq: one UpdateItem of META (1 unit). A message also moves
        the chat's last activity (now_ms), and gets the whole META back (ALL_NEW: returned
        values cost no unit) for its index time; a change does not move the activity (None)."""
        activity = ", lastActivity = :now" if now_ms is not None else ""
        values = {":one": _n(1), **({":now": _n(now_ms)} if now_ms is not None else {})}
        answer = await self._update_if(
            Key=_key(chat_pk(chat_id), META),
            UpdateExpression="SET lastSeq = lastSeq + :one" + activity,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW" if now_ms is not None else "UPDATED_NEW",
        )
        if answer is None:
            raise NotFound("chat not found")
        attributes: Item = answer["Attributes"]
        return _int(attributes, "lastSeq"), attributes

    def _index_stale(self, meta: Item, activity_ms: int) -> bool:
        """Whether the chat's inbox entries (at META's indexedAt) are a step or more from its
        activity: a chat never indexed (stored before the inbox was) always is."""
        if "indexedAt" not in meta:
            return True
        return abs(activity_ms - _int(meta, "indexedAt")) >= self._step

    async def _reindex(self, chat_id: str, at_ms: int, seq: int, meta: Item) -> None:
        """Move every member's inbox entry to ACT#<at_ms>, then META's indexedAt (the entries
        first: a crash in between leaves the next message to do it again). Each write is tagged
        with `seq`, the seq handed out with the activity at_ms, and applies only over an older
        tag, so concurrent re-indexes end with the newest one's time everywhere. META's update
        also requires the version read with the seq (before the members were read): a member
        added meanwhile (update_chat, which changes the version) may have been missed, so the
        members are read again and the new ones moved. Never raises: what fails is redone by
        the chat's next message."""
        pk = chat_pk(chat_id)
        version = _int(meta, "version")
        entry = _s(activity_key(at_ms, chat_id))
        newer = "(attribute_not_exists(indexedSeq) OR indexedSeq < :seq)"
        moved: set[str] = set()
        limit = asyncio.Semaphore(REINDEX_WRITES)

        async def move(user: str) -> None:
            async with limit:
                await self._update_if(
                    Key=_key(pk, member_sk(user)),
                    UpdateExpression="SET #sk = :entry, indexedSeq = :seq",
                    ConditionExpression=f"attribute_exists(pk) AND {newer}",
                    ExpressionAttributeNames={"#sk": GSI1_SK},
                    ExpressionAttributeValues={":entry": entry, ":seq": _n(seq)},
                )

        try:
            for _ in range(REINDEX_ATTEMPTS):
                members = await self._query_all(
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
                    ProjectionExpression="userId",
                    ExpressionAttributeValues={":pk": _s(pk), ":m": _s("MEMBER#")},
                    ConsistentRead=True,
                )
                users = [i["userId"]["S"] for i in members if i["userId"]["S"] not in moved]
                await asyncio.gather(*(move(u) for u in users))
                moved.update(users)
                same = "version = :v" if version else "(attribute_not_exists(version) OR version = :v)"
                try:
                    await self._call(
                        "update_item",
                        Key=_key(pk, META),
                        UpdateExpression="SET indexedAt = :at, indexedSeq = :seq",
                        ConditionExpression=f"attribute_exists(pk) AND {same} AND {newer}",
                        ExpressionAttributeValues={":at": _n(at_ms), ":seq": _n(seq), ":v": _n(version)},
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
                    return
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                    old: Mapping[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
                    if not old or _int(old, "indexedSeq") >= seq:
                        return  # the chat is gone, or a newer re-index got there first
                    version = _int(old, "version")  # the members changed: read them again
            log.warning("inbox re-index of %s gave up: its members kept changing", chat_id)
        except (Unavailable, ClientError) as error:
            log.warning("inbox re-index of %s failed (the next message does it again): %s", chat_id, error)

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
            seq, _ = await self._next_seq(chat_id, None)
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
                if current.change_seq == seq:
                    # this attempt's own update: applied, its answer lost, and botocore's resend
                    # found it done (the seq is this call's alone). The state before it is gone:
                    # a delete replayed so cannot name the attachments it removed
                    return ChangeResult(current, changed=True)
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
            meta: Item = answer["Attributes"]
            if _int(meta, "lastActivity") < newest:
                await self._update_if(
                    Key=_key(pk, META),
                    UpdateExpression="SET lastActivity = :t",
                    ConditionExpression="lastActivity < :t",
                    ExpressionAttributeValues={":t": _n(newest)},
                )
            activity = max(_int(meta, "lastActivity"), newest)
            if self._index_stale(meta, activity):
                await self._reindex(chat_id, activity, _int(meta, "lastSeq"), meta)
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
