"""HTTP API on Lambda: Mangum over the very Starlette app the container serves.

    handler = Mangum(app, lifespan="off"), wrapped with Powertools logging (correlation id from
    the request context), tracing and EMF metrics: MessagesSent, HistoryReads, ClientErrors, Errors.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from chat_core.auth import TokenVerifier
from chat_core.config import load_settings
from chat_core.http.app import create_http_app

from .observability import logger, metrics, tracer
from .runtime import LambdaRuntime
from .secrets import lambda_environment

settings = load_settings(lambda_environment())
runtime = LambdaRuntime(settings, node_id="lambda-http")
# a frozen container runs nothing between requests: a message's webhook deliveries get up to one
# attempt's timeout before the answer (what is left waits for the next request, or its dead letter)
app, _api = create_http_app(
    runtime.service, TokenVerifier.from_settings(settings), settings, hooks_budget_s=settings.webhook_timeout_s
)
asgi_handler = Mangum(app, lifespan="off")


def _record(event: dict[str, Any], response: dict[str, Any]) -> None:
    status = int(response.get("statusCode", 500))
    context = event.get("requestContext", {}).get("http", {})
    method = context.get("method") or event.get("httpMethod", "")
    path = event.get("rawPath") or event.get("path", "")
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if path.endswith("/messages"):
        if method == "POST" and status == 201:
            metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
        elif method == "GET" and status == 200:
            metrics.add_metric(name="HistoryReads", unit=MetricUnit.Count, value=1)
    if status >= 500:
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
    elif status >= 400:
        metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = asgi_handler(event, context)  # type: ignore[arg-type]
    _record(event, response)
    logger.info("request", extra={"path": event.get("rawPath"), "status": response.get("statusCode")})
    return response
