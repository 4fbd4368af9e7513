"""A moto server process that enforces S3's presigned POST rules (tests/attachments/s3_server.py),
as the S3 endpoint of attachment tests and of `chat serve` processes in end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from .moto_server import DUMMY_AWS_ENV, MotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


class S3Endpoint(MotoServer):
    """A moto server process that enforces S3's presigned POST rules (s3_server.py)."""

    def start(self, timeout: float = 30.0) -> S3Endpoint:
        repo = Path(__file__).resolve().parents[2]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.attachments.s3_server", "127.0.0.1", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **DUMMY_AWS_ENV, "PYTHONPATH": str(repo)},
                cwd=repo,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"the S3 endpoint did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def client(self) -> S3Client:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=DUMMY_AWS_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def env(self) -> dict[str, str]:
        """What a process needs to use this endpoint for S3."""
        return {**DUMMY_AWS_ENV, "AWS_ENDPOINT_URL_S3": self.endpoint}
