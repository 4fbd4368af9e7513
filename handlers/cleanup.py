"""Scheduled cleanup (EventBridge): reap connections of dead nodes, announce users offline.

Idempotent; stops before the Lambda deadline (report `complete: false`) and the next run
continues where this one stopped. The same `ChatService.cleanup` runs inside every node.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_core.config import load_settings

from .observability import logger, metrics, tracer
from .runtime import LambdaRuntime

SAFETY_MARGIN_MS = 5_000

settings = load_settings()
runtime = LambdaRuntime(settings, node_id="lambda-cleanup")
_loop = asyncio.new_event_loop()  # one loop per container: the store's clients live on it


async def _run(deadline_ms: int) -> dict[str, Any]:
    service = await runtime.service()
    report = await service.cleanup(deadline_ms, local=False)
    return asdict(report)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    deadline_ms = int(time.time() * 1000) + context.get_remaining_time_in_millis() - SAFETY_MARGIN_MS
    report = _loop.run_until_complete(_run(deadline_ms))
    for name, key in (
        ("NodesReaped", "nodes_reaped"),
        ("ConnectionsReaped", "connections_reaped"),
        ("UsersOffline", "users_offline"),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=report[key])
    logger.info("cleanup", extra={"report": report, "scheduled_at": event.time})
    return report
