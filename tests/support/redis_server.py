"""A private redis-server on a free port, which a test may stop and start again (same port), and
a client of the shared one that answers at 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from .server import free_port

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


async def shared_redis_client(needed_by: str) -> AsyncIterator[aioredis.Redis]:
    """For a fixture: a client of the Redis at 127.0.0.1:6379, closed afterwards. No Redis there is
    a failure that says what needs it, not a skip (CI starts one)."""
    client = aioredis.Redis.from_url(SHARED_REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), 5)
    except Exception as error:
        await client.aclose()
        pytest.fail(
            f"no Redis answers at 127.0.0.1:6379 ({error!r}); {needed_by} need one (start redis-server; CI does)",
            pytrace=False,
        )
    yield client
    await client.aclose()


class RedisServer:
    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it: apt-get install redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="chat-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir.name, "--logfile", str(Path(self.dir.name) / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self.dir.cleanup()
