"""One realtime node: uvicorn serving Socket.IO and the HTTP app, the periodic cleanup, and the
SIGTERM drain that PROTOCOL.md describes (python-socketio's shutdown() does not disconnect)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Generator

import uvicorn
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..assembly import build_service, open_store, open_uploads
from ..auth import TokenVerifier
from ..config import Settings
from ..engine import EngineOptions, Server
from ..engine.proxies import TrustedProxies
from ..engine.pubsub import RedisAdapter
from ..errors import Unavailable
from ..http.app import create_http_app
from ..http.origins import OriginPolicy
from ..metrics import NodeMetrics
from ..models import ConnectionRef
from ..ports import Store
from ..service import ChatService
from ..uploads import Uploads
from .emf import connections_record, write_record
from .fanout import EngineFanout
from .namespace import ChatNamespace
from .uvicorn_http import OneWriteHttpToolsProtocol

log = logging.getLogger("chat.node")

DRAIN_FLUSH_S = 2.0
START_STORE_TRIES = 10
"""Tries of the store at start (backing off to 15 s: about two minutes) before the node gives up."""
EMF_INTERVAL_S = 60.0
DRAIN_BACKGROUND_WAIT_S = 2.0
"""How long the drain waits for the service's background work (unread flushes, loads)."""
UVICORN_GRACEFUL_S = 5.0
"""uvicorn's own shutdown after the drain: requests still open get this long."""
CLOSE_ALLOWANCE_S = 1.0
"""Stopping the pub/sub link and closing the store."""


def drain_worst_case_s(settings: Settings) -> float:
    """The longest a SIGTERM'd node takes to exit: the drain budget (in-flight work, presence
    records, pending frames), the grace period in which users may come back elsewhere, the
    background wait, uvicorn's shutdown and closing. The task's StopTimeout must exceed it
    (tests/infra/test_drain_budget.py reads both)."""
    return (
        settings.drain_timeout_s
        + settings.presence_grace_s
        + DRAIN_BACKGROUND_WAIT_S
        + UVICORN_GRACEFUL_S
        + CLOSE_ALLOWANCE_S
    )


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: SIGTERM starts our drain instead, and we exit 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def engine_options(settings: Settings) -> EngineOptions:
    return EngineOptions(
        path="/socket.io/",
        ping_interval_ms=int(settings.ping_interval_s * 1000),
        ping_timeout_ms=int(settings.ping_timeout_s * 1000),
        max_payload=settings.max_frame_bytes,
        connect_timeout_ms=int(settings.connect_timeout_s * 1000),
        max_polling_packets=settings.max_decode_packets,
        max_buffered_frames=settings.max_socket_queue,
        allow_origin=OriginPolicy(settings.cors_origins).allows,
        cors_credentials=True,
        trusted_proxies=TrustedProxies(settings.trusted_proxies),
    )


class ChatNode:
    def __init__(self, settings: Settings, store: Store, uploads: Uploads | None = None) -> None:
        self.settings = settings
        self.store = store
        self.metrics = NodeMetrics()
        self.engine = Server(engine_options(settings))
        verifier = TokenVerifier.from_settings(settings)
        self.service = build_service(
            settings, store, EngineFanout(self.engine), node_id=settings.node_id, metrics=self.metrics, uploads=uploads
        )
        self.namespace = ChatNamespace(self.service, verifier, self.metrics)
        self.engine.register(self.namespace)

        async def provide() -> ChatService:
            return self.service

        # /metrics on the public port only when no metrics port is set (a local development server)
        public_metrics = self.metrics.render if settings.metrics_port is None else None
        http_app, self.http_api = create_http_app(provide, verifier, settings, metrics=public_metrics)
        self.asgi = self.engine.asgi(http_app)
        self.pubsub: RedisAdapter | None = None
        self.server: _Uvicorn | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, settings: Settings) -> ChatNode:
        store = await open_store(settings)
        try:
            uploads = await open_uploads(settings, store)
        except BaseException:
            await store.close()
            raise
        return cls(settings, store, uploads)

    async def serve(self) -> None:
        settings = self.settings
        config = uvicorn.Config(
            self.asgi,
            host=settings.host,
            port=settings.port,
            lifespan="off",
            http=OneWriteHttpToolsProtocol,
            ws=self.engine.uvicorn_websocket_protocol(),
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(UVICORN_GRACEFUL_S),
            # scheme and client address from X-Forwarded-* only from these peers (a load balancer)
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies or "127.0.0.1",
        )
        self.server = _Uvicorn(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_drain)
        leftovers = await self._take_over_node_id()
        if settings.redis_url:
            self.pubsub = RedisAdapter(
                self.engine,
                settings.redis_url,
                node_id=settings.node_id,
                on_reconnect=self.metrics.pubsub_reconnects.inc,
                on_resync=lambda reason: self.service.forget_notices(),
            )
            await self.pubsub.start()
        if settings.metrics_port is not None:
            self._tasks.append(asyncio.create_task(self._serve_metrics(settings.metrics_port)))
        if leftovers:
            self._tasks.append(asyncio.create_task(self._close_leftovers(leftovers)))
        self._tasks.append(asyncio.create_task(self._heartbeat_loop()))
        self._tasks.append(asyncio.create_task(self._cleanup_loop()))
        if settings.emf_service:
            self._tasks.append(asyncio.create_task(self._emf_loop(settings.emf_namespace, settings.emf_service)))
        try:
            await self.server.serve()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self.pubsub is not None:
                await self.pubsub.stop()
            await self.service.aclose()
            await self.store.close()
            log.info("stopped", extra={"node_id": settings.node_id})

    def request_drain(self) -> None:
        if self._drain_task is None:
            self._drain_task = asyncio.create_task(self.drain())
        elif self.server is not None:
            self.server.force_exit = True  # a second signal: stop now

    async def drain(self) -> None:
        """Stop taking connections, warn the sockets, finish in-flight work, drop presence records,
        close the transports (so clients reconnect elsewhere), announce who went offline, exit."""
        settings = self.settings
        started = time.monotonic()
        deadline = started + settings.drain_timeout_s
        log.info("draining", extra={"sockets": len(self.namespace.sockets)})
        self.namespace.draining = True
        self.http_api.draining = True
        if self.server is not None:
            for listener in self.server.servers:
                listener.close()
        self.engine.emit_local("server_draining", {"reconnectAfterMs": settings.reconnect_after_ms})
        while self.namespace.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110 - bounded poll of a counter
            await asyncio.sleep(0.02)
        by_user: dict[str, list[str]] = {}
        for sid, identity in self.namespace.identities().items():
            by_user.setdefault(identity.user_id, []).append(sid)
        try:
            # bounded by the drain budget: records left behind are reaped by the other nodes once
            # this node's heartbeat is older than CHAT_PRESENCE_TTL_S
            await asyncio.wait_for(
                self.service.close_local_connections(by_user), timeout=max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            log.warning("drain budget spent before every presence record was removed")
        except Exception:
            log.exception("could not remove presence records while draining")
        await self._flush_outgoing(min(deadline, time.monotonic() + DRAIN_FLUSH_S))
        # transports closed without an Engine.IO CLOSE: every client reconnects (to another node)
        self.engine.close_all(notify=False)
        # the sockets' disconnect hooks run as the engine's tasks and schedule offline checks after
        # the grace period: wait for the hooks first (else there is no check to wait for yet),
        # then for the checks, so users who did not come back elsewhere are announced offline
        until = max(deadline, time.monotonic()) + settings.presence_grace_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.engine.wait_tasks(), timeout=max(0.0, until - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.service.wait_offline_checks(), timeout=max(0.0, until - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.service.wait_background(), timeout=DRAIN_BACKGROUND_WAIT_S)
        log.info("drained", extra={"seconds": round(time.monotonic() - started, 3)})
        if self.server is not None:
            self.server.should_exit = True

    async def _flush_outgoing(self, until: float) -> None:
        """Let every socket's pending frames go out (server_draining, acks of requests that were in
        flight) before its transport closes: a WebSocket writes at once, but a polling client only
        gets what is buffered with its next GET, and closing drops the buffer."""
        while time.monotonic() < until and self.engine.pending_frames():  # noqa: ASYNC110 - bounded poll
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # the GET that took the last frames is still writing them

    async def _serve_metrics(self, port: int) -> None:
        """/metrics alone on its own port, for a scraper inside the network: the load balancer
        forwards the public port only."""
        render = self.metrics.render

        async def metrics(request: Request) -> Response:
            return Response(render(), media_type=CONTENT_TYPE_LATEST)

        app = Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])
        config = uvicorn.Config(
            app, host=self.settings.host, port=port, lifespan="off", log_config=None, access_log=False
        )
        server = _Uvicorn(config)
        try:
            await server.serve()
        finally:
            server.should_exit = True

    async def _emf_loop(self, namespace: str, service: str) -> None:
        """The connection count for CloudWatch (EMF on stdout), every minute and once at start."""
        while True:
            write_record(connections_record(namespace, service, len(self.namespace.sockets)), sys.stdout)
            await asyncio.sleep(EMF_INTERVAL_S)

    async def _take_over_node_id(self) -> list[ConnectionRef]:
        """The start's one store round trip, tried again while the store is unavailable (a
        restart under a throttled or slow table must not crash the node)."""
        delay = 0.5
        for attempt in range(1, START_STORE_TRIES + 1):
            try:
                return await self.service.take_over_node_id()
            except Unavailable:
                if attempt == START_STORE_TRIES:
                    raise
                log.warning("store unavailable at start; trying again", extra={"retry_in_s": delay}, exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)
        raise AssertionError("unreachable")

    async def _close_leftovers(self, refs: list[ConnectionRef]) -> None:
        """What a killed process with this node id left, closed while this one already serves
        (tried again, backing off, until the store takes it: closing is idempotent)."""
        delay = 1.0
        while True:
            try:
                report = await self.service.close_leftovers(refs)
                break
            except Exception:
                log.warning("could not close what an earlier process with this node id left", exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        log.info(
            "closed the connections an earlier process with this node id left",
            extra={"connections": report.connections_reaped, "users_offline": report.users_offline},
        )

    async def _heartbeat_loop(self) -> None:
        period = max(0.5, min(self.settings.cleanup_interval_s, self.settings.presence_ttl_s / 3))
        while True:
            await asyncio.sleep(period)
            try:
                await self.service.heartbeat()
            except Exception:
                log.exception("heartbeat failed")

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(max(0.5, self.settings.cleanup_interval_s))
            try:
                report = await self.service.cleanup()
            except Exception:
                log.exception("cleanup failed")
                continue
            if report.connections_reaped or report.users_offline or report.nodes_reaped:
                log.info(
                    "cleanup",
                    extra={
                        "nodes_reaped": report.nodes_reaped,
                        "connections_reaped": report.connections_reaped,
                        "users_offline": report.users_offline,
                    },
                )
