"""The one place that builds the service and its adapters from `Settings`.

The realtime node, the Lambda handlers and the CLI all call these; nothing else constructs a
ChatService, a store or a fan-out adapter, so the three cannot drift apart.
"""

from __future__ import annotations

import logging

from .clock import now_ms
from .config import Settings
from .limits import Limiter, RateLimiter
from .metrics import NodeMetrics, counted_fanout, timed_store
from .ports import Fanout, Store
from .service import ChatService
from .uploads import Uploads

log = logging.getLogger("chat.assembly")


async def open_store(settings: Settings) -> Store:
    """The configured store: DynamoDB (`CHAT_STORE=dynamodb`) or the embedded SQLite file."""
    if settings.store == "dynamodb":
        from .stores.dynamodb import DynamoStore

        return await DynamoStore.open(settings.dynamodb_table)
    from .stores.sqlite import SqliteStore

    return await SqliteStore.open(settings.sqlite_path)


async def open_uploads(settings: Settings, store: Store) -> Uploads | None:
    """Attachments: files in S3 (`CHAT_ATTACHMENT_BUCKET`) or in a directory on this node's disk,
    URLs signed with `CHAT_URL_SECRET` (else the HS256 token secret). None (attachments off) when
    CHAT_ATTACHMENT_TYPES is empty, or when there is no secret to sign with (tokens verified with
    JWKS and no CHAT_URL_SECRET): a warning says so, and the rest of the chat works."""
    if not settings.attachments_enabled:
        return None
    if settings.url_secret is None:
        log.warning("attachments are off: set CHAT_URL_SECRET to sign their URLs")
        return None
    from .attachments.assembly import open_blob_store, url_signer

    signer = url_signer(settings)
    return Uploads(
        store,
        await open_blob_store(settings),
        signer,
        max_bytes=settings.attachment_max_bytes,
        content_types=frozenset(settings.attachment_types),
        url_ttl_s=settings.attachment_url_ttl_s,
        clock=now_ms,
    )


def publisher_fanout(settings: Settings) -> Fanout:
    """The fan-out of a process that holds no sockets (Lambda, the CLI): a write-only Redis
    publisher when `CHAT_REDIS_URL` is set (the nodes deliver), else nothing to reach."""
    if settings.redis_url:
        from .realtime.fanout import PublisherFanout

        return PublisherFanout.redis(settings.redis_url)
    from .realtime.fanout import NullFanout

    return NullFanout()


def build_limiter(settings: Settings, *, metrics: NodeMetrics | None = None) -> Limiter:
    """Token buckets in Redis/Valkey, shared by the cluster, when `CHAT_REDIS_URL` is set (they
    fail open while Redis does not answer, counted in `metrics`); else in this process."""
    if settings.redis_url:
        from .limits_redis import RedisRateLimiter

        return RedisRateLimiter(
            settings.rates(),
            settings.redis_url,
            on_fail_open=metrics.rate_limit_fail_open.inc if metrics is not None else None,
        )
    return RateLimiter(settings.rates())


def build_service(
    settings: Settings,
    store: Store,
    fanout: Fanout,
    *,
    node_id: str,
    metrics: NodeMetrics | None = None,
    uploads: Uploads | None = None,
    receives_notices: bool = True,
) -> ChatService:
    """The service over a store and a fan-out, with every setting it takes. With `metrics`,
    store calls are timed, emits counted and rate-limit checks that failed open counted.
    `receives_notices`: the process gets every member notice (a node), so it may keep chats
    between calls. `ChatService.aclose` closes the limiter's connections (not the store's)."""
    if metrics is not None:
        store = timed_store(store, metrics)
        fanout = counted_fanout(fanout, metrics)
    from .hooks import OfflineNotifier, PolicyCheck

    return ChatService(
        store,
        fanout,
        node_id=node_id,
        presence_grace_s=settings.presence_grace_s,
        presence_ttl_s=settings.presence_ttl_s,
        limiter=build_limiter(settings, metrics=metrics),
        max_connections_per_user=settings.max_connections_per_user,
        send_order_timeout_s=settings.send_order_timeout_s,
        edit_window_s=settings.edit_window_s,
        uploads=uploads,
        cache_chats=receives_notices,
        group_history=settings.group_history,
        offline_hook=OfflineNotifier.from_settings(settings, store.presence),
        policy=PolicyCheck.from_settings(settings),
    )


async def open_service(settings: Settings, *, node_id: str) -> ChatService:
    """The service of a process without sockets (a Lambda handler, a CLI command): the
    configured store and the publisher fan-out."""
    store = await open_store(settings)
    uploads = await open_uploads(settings, store)
    return build_service(
        settings, store, publisher_fanout(settings), node_id=node_id, uploads=uploads, receives_notices=False
    )
