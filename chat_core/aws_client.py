"""A boto3 client for the stores (DynamoDB, S3): its configuration from the environment, and the
thread pool every call of it runs on, so the event loop never blocks on boto3."""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from botocore.config import _RetryDict


def client_config(workers: int, *, max_attempts: int | None = None, **extra: Any) -> Config:
    """Retry mode `standard` (or `adaptive` when `AWS_RETRY_MODE=adaptive`), `AWS_MAX_ATTEMPTS`
    attempts (default 5) unless max_attempts is given, as many pooled connections as workers,
    3 s to connect and 10 s to read; `extra`: more Config settings."""
    attempts = max_attempts or int(os.environ.get("AWS_MAX_ATTEMPTS") or 5)
    retries: _RetryDict = {"mode": "standard", "total_max_attempts": attempts}
    if os.environ.get("AWS_RETRY_MODE") == "adaptive":
        retries["mode"] = "adaptive"
    return Config(retries=retries, max_pool_connections=workers, connect_timeout=3, read_timeout=10, **extra)


async def open_client(service: str, config: Config, workers: int) -> tuple[Any, ThreadPoolExecutor]:
    """The client (region, credentials and endpoint from the environment) and a pool of `workers`
    threads for its calls; the caller closes both."""
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=service)
    try:
        client = await asyncio.get_running_loop().run_in_executor(
            executor, functools.partial(boto3.session.Session().client, service, config=config)
        )
    except BaseException:
        executor.shutdown(wait=False)
        raise
    return client, executor
