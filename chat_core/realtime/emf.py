"""A node's load as CloudWatch metrics, in the Embedded Metric Format: one JSON line on stdout that
the container's log driver (awslogs) sends to CloudWatch Logs, where the metrics are extracted.
No agent and no API call; the service scales on the connections per task (template.yaml)."""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

METRIC_CONNECTIONS = "Connections"


def connections_record(namespace: str, service: str, connections: int, now_ms: int | None = None) -> dict[str, Any]:
    """One EMF record: this node's open Socket.IO connections, dimensioned by service (CloudWatch's
    Average over the tasks' records is the connections per task)."""
    return {
        "_aws": {
            "Timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["Service"]],
                    "Metrics": [{"Name": METRIC_CONNECTIONS, "Unit": "Count"}],
                }
            ],
        },
        "Service": service,
        METRIC_CONNECTIONS: connections,
    }


def write_record(record: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(record, separators=(",", ":")) + "\n")
    out.flush()
