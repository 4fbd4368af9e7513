"""A node configured for ECS writes its connection count as a CloudWatch EMF record on stdout,
which the awslogs driver ships and CloudWatch turns into the metric the service scales on."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e


def test_a_node_reports_its_connections_in_emf_when_asked() -> None:
    server = ServerProcess({"CHAT_EMF_SERVICE": "stack-chat"}).start()
    try:
        deadline = time.monotonic() + 10
        records: list[dict[str, object]] = []
        while not records and time.monotonic() < deadline:
            records = [json.loads(line) for line in server.log_text().splitlines() if line.startswith('{"_aws"')]
            time.sleep(0.05)
    finally:
        server.close()
    assert records, "no EMF record within 10 s of the start"
    record = records[0]
    assert record["Service"] == "stack-chat" and record["Connections"] == 0
    directive = record["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert directive["Namespace"] == "Chat" and directive["Metrics"] == [{"Name": "Connections", "Unit": "Count"}]


def test_no_emf_records_without_a_service_name() -> None:
    server = ServerProcess().start()
    try:
        text = server.log_text()
    finally:
        server.close()
    assert "_aws" not in text
