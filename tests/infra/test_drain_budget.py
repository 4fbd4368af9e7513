"""The realtime task stops within its StopTimeout, and the load balancer's deregistration delay
lets in-flight requests finish (both read from template.yaml and the code)."""

from __future__ import annotations

from typing import Any

from chat_core.config import load_settings
from chat_core.realtime.node import drain_worst_case_s
from tests.dynamodb.test_schema_template import load_template

MARGIN_S = 5.0
FARGATE_MAX_STOP_TIMEOUT_S = 120


def container() -> dict[str, Any]:
    task = load_template()["Resources"]["RealtimeTaskDefinition"]["Properties"]
    found: dict[str, Any] = task["ContainerDefinitions"][0]
    return found


def container_settings() -> dict[str, str]:
    """The task's plain environment values (references to other resources left out)."""
    return {e["Name"]: e["Value"] for e in container()["Environment"] if isinstance(e.get("Value"), str)}


def test_the_worst_case_drain_fits_in_the_stop_timeout_with_margin() -> None:
    settings = load_settings({**container_settings(), "CHAT_JWT_SECRET": "x" * 32})
    worst = drain_worst_case_s(settings)
    stop_timeout = int(container()["StopTimeout"])
    assert worst + MARGIN_S <= stop_timeout <= FARGATE_MAX_STOP_TIMEOUT_S, (worst, stop_timeout)


def test_every_drain_setting_the_worst_case_uses_is_set_in_the_task() -> None:
    """Defaults may change: the budget is checked against what the task really runs with."""
    assert {"CHAT_DRAIN_TIMEOUT_S", "CHAT_PRESENCE_GRACE_S"} <= set(container_settings())


def test_deregistration_lets_a_long_poll_finish() -> None:
    resources = load_template()["Resources"]
    attributes = {a["Key"]: a["Value"] for a in resources["RealtimeTargetGroup"]["Properties"]["TargetGroupAttributes"]}
    settings = load_settings({**container_settings(), "CHAT_JWT_SECRET": "x" * 32})
    assert int(attributes["deregistration_delay.timeout_seconds"]) > settings.ping_interval_s
