"""The servers under test, each a process pinned to one core: ours (`chat serve`, SQLite, durable),
the python-socketio reference and the Node socket.io reference (both in memory), plus redis-server
for the cross-node run. Every one listens on 127.0.0.1 on a free port and is killed after its run."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
NODE_REF = BENCH / "reference" / "node"
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
HOST = "127.0.0.1"

#: name -> how to start it; "ours" is the product, the rest are references and variants
KINDS = ("ours", "pyref", "node")
LIMITED = ("SEND", "JOIN", "TYPING", "QUERY")
PYREF_VARIANTS: dict[str, dict[str, str]] = {
    # python-socketio's server with uvicorn's fastest WebSocket settings measured here
    "pyref": {"REF_WS": "websockets-sansio", "REF_DEFLATE": "0"},
}
#: the plain-Python measuring sticks of ../shared/ceiling (not a design: minimal protocol work,
#: token taken as the user id), durable in SQLite with synchronous=NORMAL as they were measured
#: (their one-commit-per-loop-tick batching turns FULL into a fsync-latency test); they answer
#: "which transport underneath": picows alone, picows behind uvicorn on one port (the route
#: `chat serve` takes), and a plain ASGI app under uvicorn
CEILING = REPO.parent / "shared" / "ceiling"
CEILING_SERVERS: dict[str, str] = {
    "ceiling-picows": "server.py",
    "ceiling-onep": "onep_server.py",
    "ceiling-asgi": "asgi_server.py",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """Prefix with `taskset -c CPU` when we can pin (one core for servers, one for the generator)."""
    if cpu is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


def chat_executable() -> str:
    beside = Path(sys.executable).with_name("chat")
    if beside.exists():
        return str(beside)
    found = shutil.which("chat")
    if found is None:
        raise RuntimeError("the `chat` command is not installed (pip install -e .)")
    return found


@dataclass
class Server:
    kind: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    workdir: Path
    health_path: str = "/healthz"
    proc: subprocess.Popen[bytes] | None = None
    extra: list[Server] = field(default_factory=list)

    @property
    def http_base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/socket.io/?EIO=4&transport=websocket"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> Server:
        log = open(self.workdir / f"{self.kind}-{self.port}.log", "ab")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.health_path and _status(self.http_base + self.health_path) == 200:
                return self
            if not self.health_path and _port_open(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} was not ready within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGKILL: a benchmark server's shutdown is not what we measure (SQLite stays consistent)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log_tail(self, chars: int = 3000) -> str:
        path = self.workdir / f"{self.kind}-{self.port}.log"
        try:
            return path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):
        return None


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_", "REF_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def make_server(
    kind: str,
    workdir: Path,
    *,
    cpu: int | None,
    ping_interval_s: float,
    extra_env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Server:
    port = port or free_port()
    env = _base_env()
    env.update({"PORT": str(port), "HOST": HOST})
    if kind == "ours":
        env.update(
            {
                "CHAT_JWT_SECRET": SECRET,
                "CHAT_SQLITE_PATH": str(workdir / "chat.db"),
                "CHAT_PING_INTERVAL_S": str(ping_interval_s),
                "CHAT_PING_TIMEOUT_S": "20",
                "CHAT_LOG_LEVEL": "WARNING",
                # the generator's users send far faster than people: lift the per-user buckets
                # (they still run on every request, so their cost is measured)
                **{f"CHAT_{kind}_{what}": "1000000" for kind in LIMITED for what in ("RATE", "BURST")},
            }
        )
        cmd = [chat_executable(), "serve"]
        if os.environ.get("BENCH_OURS_SOURCE"):
            # measure another checkout of chat_core (before/after comparisons) with this venv
            env["PYTHONPATH"] = os.environ["BENCH_OURS_SOURCE"]
            cmd = [sys.executable, "-m", "chat_core.cli", "serve"]
    elif kind.startswith("pyref"):
        env.update(PYREF_VARIANTS[kind])
        env["REF_PING_INTERVAL_S"] = str(ping_interval_s)
        cmd = [sys.executable, str(BENCH / "reference" / "python_ref.py")]
    elif kind == "node":
        env["PING_INTERVAL_MS"] = str(int(ping_interval_s * 1000))
        cmd = [node_executable(), str(NODE_REF / "server.js")]
    elif kind in CEILING_SERVERS:
        if not (CEILING / CEILING_SERVERS[kind]).exists():
            raise RuntimeError(f"{kind}: {CEILING} is not beside this checkout")
        env.update({"DURABLE": "1", "SYNC": "NORMAL", "DB": str(workdir / f"{kind}.db"), "PYTHONPATH": str(CEILING)})
        cmd = [sys.executable, str(CEILING / CEILING_SERVERS[kind])]
        env.update(extra_env or {})
        return Server(kind, pinned(cmd, cpu), env, port, workdir, health_path="")
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    env.update(extra_env or {})
    return Server(kind, pinned(cmd, cpu), env, port, workdir)


def make_redis(workdir: Path, cpu: int | None) -> Server | None:
    exe = shutil.which("redis-server")
    if exe is None:
        return None
    port = free_port()
    cmd = [
        exe,
        "--port",
        str(port),
        "--bind",
        HOST,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    return Server("redis", pinned(cmd, cpu), _base_env(), port, workdir, health_path="")


def node_executable() -> str:
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("node is not installed: the Node reference and the load generator need Node 18+")
    return found


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="chat-bench-")
