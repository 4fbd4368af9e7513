"""A moto server process that enforces S3's presigned POST rules (tests/attachments/s3_server.py),
as the S3 endpoint of attachment tests and of `chat serve` processes in end-to-end tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .moto_server import DUMMY_AWS_ENV, MotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


class S3Endpoint(MotoServer):
    """A moto server process that enforces S3's presigned POST rules (s3_server.py)."""

    module = "tests.attachments.s3_server"
    what = "the S3 endpoint"

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
