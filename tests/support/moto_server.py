"""A `moto_server` process used as a DynamoDB endpoint shared by several processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Self

import pytest

from .server import free_port

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def use_dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region for moto; nothing from the developer's AWS setup leaks in."""
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="moto-", suffix=".log")[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a process needs to use this endpoint for DynamoDB."""
        return {**DUMMY_AWS_ENV, "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint}

    #: the endpoint's program (`python -m <module> HOST PORT`), a path that answers once it
    #: serves, and its name in errors: subclasses run other endpoints the same way
    module = "tests.support.moto_serial"  # moto's app with DynamoDB's per-request atomicity
    ready_path = "/moto-api/"
    what = "moto_server"

    def start(self, timeout: float = 30.0) -> Self:
        repo = Path(__file__).resolve().parents[2]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "127.0.0.1", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **DUMMY_AWS_ENV, "PYTHONPATH": str(repo)},
                cwd=repo,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + self.ready_path, timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"{self.what} did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def create_table(self, name: str) -> None:
        import boto3

        from chat_core.stores.dynamodb_schema import create_table

        client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=DUMMY_AWS_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        create_table(client, name)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.unlink(missing_ok=True)
