"""The container and compose files cannot run here (no Docker engine): check what they declare."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_stages() -> list[list[str]]:
    text = (ROOT / "infra" / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)  # join continued lines
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def instructions(stage: list[str], name: str) -> list[str]:
    return [line[len(name) + 1 :].strip() for line in stage if line.upper().startswith(name + " ")]


def test_runtime_image_is_slim_unprivileged_and_serves_on_3001() -> None:
    runtime = dockerfile_stages()[-1]
    assert re.fullmatch(r"python:3\.1[1-9]-slim", instructions(runtime, "FROM")[0])
    users = instructions(runtime, "USER")
    assert users and users[-1] not in ("root", "0")
    assert instructions(runtime, "EXPOSE") == ["3001"]
    env = " ".join(instructions(runtime, "ENV"))
    assert "HOST=0.0.0.0" in env and "PORT=3001" in env
    assert instructions(runtime, "CMD") == ['["chat", "serve"]']
    assert "/healthz" in " ".join(instructions(runtime, "HEALTHCHECK"))
    assert instructions(runtime, "STOPSIGNAL") == ["SIGTERM"]


def test_the_image_installs_the_wheel_with_the_aws_extra() -> None:
    build, runtime = dockerfile_stages()
    assert any("pip wheel" in run for run in instructions(build, "RUN"))
    assert any("[aws]" in run for run in instructions(runtime, "RUN"))


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "infra" / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_runs_two_nodes_with_redis_and_a_local_dynamodb() -> None:
    services = compose()["services"]
    nodes = {name: s for name, s in services.items() if name.startswith("chat")}
    assert len(nodes) == 2
    for node in nodes.values():
        env = node["environment"]
        assert env["CHAT_STORE"] == "dynamodb" and env["CHAT_REDIS_URL"].startswith("redis://redis:")
        assert env["AWS_ENDPOINT_URL_DYNAMODB"] == "http://dynamodb:8000"
        assert node["build"]["dockerfile"] == "infra/Dockerfile"
        assert node["ports"][0].endswith(":3001")
    assert {n["environment"]["CHAT_NODE_ID"] for n in nodes.values()} == {"chat1", "chat2"}
    assert "redis" in services and "dynamodb" in services
    assert services["create-table"]["command"][-1].count("chat create-table") == 1
