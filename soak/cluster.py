"""The parts a soak run breaks: N `chat serve` nodes on DynamoDB (a moto server behind the fault
proxy) and one redis-server, as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.moto_server import DUMMY_AWS_ENV, MotoServer
from tests.support.redis_server import RedisServer
from tests.support.server import GENEROUS_LIMITS, ServerProcess, free_port
from tests.support.stub_dynamo_server import StubDynamoServer

TABLE = "chat-soak"
REPO = Path(__file__).resolve().parents[1]

#: presence settles quickly, so the run can check it converged; the node TTL stays above what a
#: heartbeat can take when moto (one request at a time) has a backlog, or every node would keep
#: declaring the others dead
PRESENCE_GRACE_S = 1.0
PRESENCE_TTL_S = 10.0
CLEANUP_INTERVAL_S = 1.0
NODE_ENV: dict[str, str | None] = {
    **GENEROUS_LIMITS,
    "CHAT_STORE": "dynamodb",
    "CHAT_DYNAMODB_TABLE": TABLE,
    "CHAT_PRESENCE_GRACE_S": str(PRESENCE_GRACE_S),
    "CHAT_PRESENCE_TTL_S": str(PRESENCE_TTL_S),
    "CHAT_CLEANUP_INTERVAL_S": str(CLEANUP_INTERVAL_S),
    "CHAT_DRAIN_TIMEOUT_S": "3",
    "CHAT_MAX_CONNECTIONS_PER_USER": "50",
    "CHAT_LOG_LEVEL": "WARNING",
    # botocore's retries ride out a short throttle; a long one reaches clients as UNAVAILABLE
    "AWS_MAX_ATTEMPTS": "4",
}


START_TIMEOUT_S = 120.0
START_TRIES = 3


class DynamoProxy:
    """soak.dynamo_proxy as a process in front of the moto server."""

    def __init__(self, target: str, seed: int) -> None:
        self.port = free_port()
        self.target = target
        self.seed = seed
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "soak.dynamo_proxy", str(self.port), self.target, str(self.seed)],
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.counts()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the DynamoDB fault proxy did not start")

    def set_faults(self, **faults: object) -> None:
        request = urllib.request.Request(
            self.endpoint + "/__soak/faults", data=json.dumps(faults).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5):
            pass

    def counts(self) -> dict[str, object]:
        with urllib.request.urlopen(self.endpoint + "/__soak/faults", timeout=2) as answer:
            return dict(json.loads(answer.read()))

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Cluster:
    def __init__(self, nodes: int, seed: int, secret: str, dynamodb: str = "moto") -> None:
        """dynamodb: the endpoint behind the fault proxy, "moto" (moto_server, as the end-to-end
        suites use) or "stub" (tests/support/stub_dynamo_server.py: DynamoDB's semantics at a
        speed that does not fall as the table grows, for long runs)."""
        self.workdir = tempfile.TemporaryDirectory(prefix="chat-soak-")
        self.moto: MotoServer = StubDynamoServer() if dynamodb == "stub" else MotoServer()
        self.proxy: DynamoProxy | None = None
        self.redis = RedisServer()
        self.secret = secret
        self.seed = seed
        self.node_count = nodes
        self.nodes: list[ServerProcess] = []
        #: nodes a fault has taken down (clients do not pick them)
        self.down: set[int] = set()

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.moto.start()
        self.moto.create_table(TABLE)
        self.proxy = DynamoProxy(self.moto.endpoint, self.seed)
        self.proxy.start()
        self.redis.start()
        for index in range(self.node_count):
            workdir = Path(self.workdir.name) / f"node-{index}"
            workdir.mkdir()
            node = ServerProcess(
                {
                    **NODE_ENV,
                    **DUMMY_AWS_ENV,
                    "AWS_ENDPOINT_URL_DYNAMODB": self.proxy.endpoint,
                    "CHAT_REDIS_URL": self.redis.url,
                    "CHAT_NODE_ID": f"node-{index}",
                },
                workdir=workdir,
                secret=self.secret,
            )
            self.nodes.append(node)
        for node in self.nodes:
            node.start(timeout=60)

    def close(self) -> None:
        """Everything stops, even when one part will not (the moto server is closed last, so
        a run that failed never leaves it behind)."""
        try:
            for node in self.nodes:
                node.close()
            if self.proxy is not None:
                self.proxy.close()
        finally:
            self.moto.close()
            self.redis.close()
            self.workdir.cleanup()

    def store_env(self) -> dict[str, str]:
        """What this process needs to read the table directly (not through the fault proxy)."""
        return {**DUMMY_AWS_ENV, "AWS_ENDPOINT_URL_DYNAMODB": self.moto.endpoint}

    def url(self, index: int) -> str:
        return self.nodes[index].url

    def up_nodes(self) -> list[int]:
        return [i for i in range(self.node_count) if i not in self.down]

    # --- faults (blocking: the runner calls them in a thread) -----------------------------------
    def kill_node(self, index: int) -> None:
        self.down.add(index)
        self.nodes[index].kill()

    def drain_node(self, index: int) -> int:
        """SIGTERM and wait for the drain to finish; returns the exit code."""
        self.down.add(index)
        return self.nodes[index].stop(signal.SIGTERM, timeout=30)

    def start_node(self, index: int) -> None:
        """Start the node again; a start that is not ready in time (a store with a long backlog)
        is killed and tried again, so a fault never leaves a node down for good."""
        for attempt in range(1, START_TRIES + 1):
            try:
                self.nodes[index].start(timeout=START_TIMEOUT_S)
                break
            except RuntimeError:
                if attempt == START_TRIES:
                    raise
        self.down.discard(index)

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_redis(self) -> None:
        self.redis.start()

    def keep_logs(self, directory: Path) -> None:
        """Each node's log (all its starts) beside the history, for reading a violation."""
        directory.mkdir(parents=True, exist_ok=True)
        for index, node in enumerate(self.nodes):
            (directory / f"node-{index}.log").write_text(node.log_text())

    def node_logs(self) -> str:
        return "\n".join(f"===== node {i} =====\n{node.log_text()[-4000:]}" for i, node in enumerate(self.nodes))
