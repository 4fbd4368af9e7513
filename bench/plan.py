"""What each scenario runs, in the full and the smoke size. Every loop is bounded in count and time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Scenario:
    name: str
    servers: tuple[str, ...]
    rounds: int
    config: dict[str, Any]
    #: the generator's hard time limit; the driver kills it a little after that
    time_limit_s: float
    ping_interval_s: float = 25.0
    needs_redis: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


ALL = ("ours", "pyref", "node")
#: the transport comparison: ours beside the plain-Python ceiling on each route (bench/servers.py)
TRANSPORT_VARIANTS = ("ours", "ceiling-picows", "ceiling-onep", "ceiling-asgi")


def full_plan() -> list[Scenario]:
    return [
        Scenario(
            "direct",
            ALL,
            3,
            {"pairs": 500, "warmupS": 2, "measureS": 8, "drainS": 10, "connectConcurrency": 100},
            90,
        ),
        Scenario(
            "group",
            ALL,
            2,
            {
                "groups": 50,
                "groupSize": 20,
                "p99LimitMs": 200,
                "drainS": 15,
                "connectConcurrency": 100,
                "ramp": {
                    "startRate": 200,
                    "factor": 1.5,
                    "stepS": 3,
                    "warmupS": 2,
                    "drainS": 6,
                    "pauseMs": 300,
                    "maxSteps": 12,
                    "maxRate": 20000,
                    "refineSteps": 3,
                    "refineFactor": 1.15,
                },
            },
            200,
        ),
        Scenario(
            "idle",
            ALL,
            2,
            {
                "connections": 10_000,
                "warmConnections": 200,
                "connectConcurrency": 200,
                "connectBudgetS": 60,
                "holdS": 12,
            },
            150,
            ping_interval_s=5.0,
        ),
        Scenario(
            "history",
            ("ours",),
            2,
            {
                "pairs": 100,
                "prefill": 25,
                "httpWorkers": 16,
                "warmupS": 2,
                "measureS": 8,
                "drainS": 10,
            },
            90,
        ),
        Scenario(
            "crossnode",
            ("ours",),
            2,
            {"pairs": 200, "warmupS": 2, "measureS": 8, "drainS": 10, "connectConcurrency": 100},
            90,
            needs_redis=True,
        ),
        Scenario(
            "transport",
            TRANSPORT_VARIANTS,
            2,
            {"pairs": 500, "warmupS": 2, "measureS": 6, "drainS": 10, "connectConcurrency": 100},
            90,
        ),
    ]


def smoke_plan() -> list[Scenario]:
    return [
        Scenario("direct", ALL, 1, {"pairs": 50, "warmupS": 0.5, "measureS": 1.5, "drainS": 5}, 30),
        Scenario(
            "group",
            ALL,
            1,
            {
                "groups": 3,
                "groupSize": 20,
                "p99LimitMs": 200,
                "drainS": 5,
                "ramp": {
                    "startRate": 50,
                    "factor": 2,
                    "stepS": 1,
                    "warmupS": 0.5,
                    "drainS": 3,
                    "pauseMs": 100,
                    "maxSteps": 2,
                    "maxRate": 1000,
                    "refineSteps": 0,
                    "refineFactor": 1.15,
                },
            },
            30,
        ),
        Scenario(
            "idle",
            ALL,
            1,
            {"connections": 300, "warmConnections": 50, "connectConcurrency": 50, "holdS": 1},
            30,
            ping_interval_s=5.0,
        ),
        Scenario(
            "history",
            ("ours",),
            1,
            {"pairs": 10, "prefill": 25, "httpWorkers": 4, "warmupS": 0.5, "measureS": 1.5, "drainS": 5},
            30,
        ),
        Scenario(
            "crossnode",
            ("ours",),
            1,
            {"pairs": 20, "warmupS": 0.5, "measureS": 1.5, "drainS": 5},
            30,
            needs_redis=True,
        ),
    ]


def users_needed(scenario: Scenario) -> int:
    c = scenario.config
    if "connections" in c:
        return int(c["connections"])
    if "groups" in c:
        return int(c["groups"] * c["groupSize"])
    return int(c["pairs"] * 2)
