"""Prometheus metrics of a node, served at /metrics in the text format."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .models import MemberNotice
from .ports import Fanout, Store

T = TypeVar("T")

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class NodeMetrics:
    """One registry per node (not the global one), so tests can build several nodes in a process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge("chat_connections", "Open Socket.IO connections", registry=self.registry)
        self.events_in = Counter(
            "chat_events_in_total", "Client events handled", ["event", "outcome"], registry=self.registry
        )
        self.messages_in = Counter("chat_messages_in_total", "Messages stored (sent)", registry=self.registry)
        self.messages_out = Counter(
            "chat_messages_out_total", "Events handed to fan-out", ["event"], registry=self.registry
        )
        self.fanout_latency = Histogram(
            "chat_fanout_seconds", "Time to hand an event to fan-out", buckets=_LATENCY_BUCKETS, registry=self.registry
        )
        self.store_latency = Histogram(
            "chat_store_seconds", "Store call latency", ["operation"], buckets=_LATENCY_BUCKETS, registry=self.registry
        )
        self.store_errors = Counter(
            "chat_store_errors_total", "Store calls that failed", ["operation"], registry=self.registry
        )
        self.pubsub_reconnects = Counter(
            "chat_pubsub_reconnects_total", "Times the pub/sub subscription came back", registry=self.registry
        )
        self.rate_limit_fail_open = Counter(
            "chat_rate_limit_fail_open_total",
            "Rate-limit checks let through because Redis did not answer in time",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Timed:
    """Wraps every coroutine method of an adapter with a latency observation."""

    def __init__(self, inner: Any, observe: Callable[[str, float, bool], None]) -> None:
        self._inner = inner
        self._observe = observe

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute

        target = cast(Callable[..., Awaitable[Any]], attribute)
        observe = self._observe

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            ok = False
            try:
                result = await target(*args, **kwargs)
                ok = True
                return result
            finally:
                observe(name, time.perf_counter() - started, ok)

        setattr(self, name, timed)  # found directly next time: __getattr__ runs once per name
        return timed


def timed_store(store: Store, metrics: NodeMetrics) -> Store:
    latency: dict[str, Any] = {}

    def observe(operation: str, seconds: float, ok: bool) -> None:
        histogram = latency.get(operation)
        if histogram is None:
            histogram = latency[operation] = metrics.store_latency.labels(operation)
        histogram.observe(seconds)
        if not ok:
            metrics.store_errors.labels(operation).inc()

    return cast(Store, _Timed(store, observe))


def counted_fanout(fanout: Fanout, metrics: NodeMetrics) -> Fanout:
    class Counting:
        def set_notice_handler(self, handler: Any) -> None:
            fanout.set_notice_handler(handler)

        async def notify_members(self, notice: MemberNotice) -> None:
            started = time.perf_counter()
            await fanout.notify_members(notice)
            metrics.fanout_latency.observe(time.perf_counter() - started)

        def to_local_users(self, event: str, data: object, user_ids: Any, *, skip_sid: str | None = None) -> None:
            fanout.to_local_users(event, data, user_ids, skip_sid=skip_sid)
            metrics.messages_out.labels(event).inc()

        async def to_users(self, event: str, data: object, user_ids: Any, *, skip_sid: str | None = None) -> None:
            started = time.perf_counter()
            await fanout.to_users(event, data, user_ids, skip_sid=skip_sid)
            metrics.fanout_latency.observe(time.perf_counter() - started)
            metrics.messages_out.labels(event).inc()

        async def to_chat_viewers(self, event: str, data: object, chat_id: str, *, skip_sids: Any = ()) -> None:
            started = time.perf_counter()
            await fanout.to_chat_viewers(event, data, chat_id, skip_sids=skip_sids)
            metrics.fanout_latency.observe(time.perf_counter() - started)
            metrics.messages_out.labels(event).inc()

        async def to_socket(self, event: str, data: object, sid: str) -> None:
            await fanout.to_socket(event, data, sid)
            metrics.messages_out.labels(event).inc()

        async def enter_chat_room(self, sid: str, chat_id: str) -> None:
            await fanout.enter_chat_room(sid, chat_id)

        async def leave_chat_room(self, sid: str, chat_id: str) -> None:
            await fanout.leave_chat_room(sid, chat_id)

    return Counting()
