"""A real `chat serve` process for end-to-end suites (e2e, multi-node, browser, DynamoDB).

server = ServerProcess({"CHAT_PRESENCE_GRACE_S": "0.5"})
server.start()                 # free port, waits for GET /healthz == 200
...server.url, server.token("alice")...
code = server.stop()           # SIGTERM, waits, returns the exit code
server.start()                 # same port, same database: a restart
server.log_text()              # everything it wrote to stderr/stdout, across restarts
"""

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
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SECRET = "e2e-test-secret-0123456789abcdef0123456789"

#: settings that keep a test server quick to notice and settle things
FAST_ENV: dict[str, str] = {
    "CHAT_PING_INTERVAL_S": "1",
    "CHAT_PING_TIMEOUT_S": "2",
    "CHAT_PRESENCE_GRACE_S": "0.5",
    "CHAT_DRAIN_TIMEOUT_S": "3",
    "CHAT_RECONNECT_AFTER_MS": "200",
    "CHAT_LOG_LEVEL": "INFO",
}


#: per-user limits far above what a test sends, for tests that are not about a limit
GENEROUS_LIMITS: dict[str, str | None] = {
    **{f"CHAT_{kind}_{what}": "10000" for kind in ("SEND", "JOIN", "TYPING", "QUERY") for what in ("RATE", "BURST")},
    "CHAT_MAX_CONNECTIONS_PER_USER": "50",
}


def chat_executable() -> str:
    """`chat` of the interpreter running the tests (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("chat")
    if beside.exists():
        return str(beside)
    found = shutil.which("chat")
    if found is None:
        raise RuntimeError("the `chat` command is not installed (pip install -e .)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """Starts, stops and restarts one `chat serve` process.

    env_overrides are applied on top of FAST_ENV and the defaults below (a value of None removes
    the variable). The database file and the port stay the same across restarts unless changed.
    """

    def __init__(
        self,
        env_overrides: Mapping[str, str | None] | None = None,
        port: int | None = None,
        db_path: str | os.PathLike[str] | None = None,
        *,
        secret: str | None = DEFAULT_SECRET,
        host: str = "127.0.0.1",
        fast: bool = True,
        workdir: str | os.PathLike[str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="chat-e2e-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.host = host
        self.port = port or free_port(host)
        self.db_path = str(db_path) if db_path is not None else str(self.workdir / "chat.db")
        self.secret = secret
        self.command = command or [chat_executable(), "serve"]
        self.env_overrides: dict[str, str | None] = dict(FAST_ENV if fast else {})
        self.env_overrides.update(env_overrides or {})
        self.log_path = self.workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.starts = 0

    # --- addresses ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def token(self, user_id: str, **kwargs: object) -> str:
        from chat_core.auth import issue_token

        assert self.secret is not None, "this server has no shared secret"
        return issue_token(self.secret, user_id, **kwargs)  # type: ignore[arg-type]

    # --- lifecycle ------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in [k for k in env if k.startswith("CHAT_")]:
            del env[key]  # nothing from the developer's shell leaks in
        env.update(
            {
                "PORT": str(self.port),
                "HOST": self.host,
                "CHAT_SQLITE_PATH": self.db_path,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.secret is not None:
            env["CHAT_JWT_SECRET"] = self.secret
        for key, value in self.env_overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting for readiness (for tests of refusals)."""
        if self.running:
            raise RuntimeError("already running")
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        log.write(f"\n----- start #{self.starts} -----\n".encode())
        log.flush()
        try:
            self.proc = subprocess.Popen(
                self.command,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        finally:
            log.close()
        self.returncode = None
        return self.proc

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Start and wait until GET /healthz answers 200. Raises with the log on failure."""
        self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise RuntimeError(f"chat serve exited with {self.returncode} before it was ready:\n{self.log_text()}")
            if self.healthz() == 200:
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"chat serve was not ready within {timeout}s:\n{self.log_text()}")

    def healthz(self) -> int | None:
        """The status of GET /healthz, or None when nothing answers."""
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (OSError, ValueError):
            return None

    def send_signal(self, sig: int) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit; returns its exit code (raises TimeoutExpired)."""
        assert self.proc is not None
        self.returncode = self.proc.wait(timeout)
        return self.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig`, wait up to `timeout`, SIGKILL if it is still there. Returns the exit code
        (negative for death by signal, as subprocess reports it)."""
        if self.proc is None:
            return 0 if self.returncode is None else self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self) -> int:
        return self.stop(signal.SIGKILL, timeout=5)

    def restart(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        code = self.stop(sig, timeout)
        self.start()
        return code

    def close(self) -> None:
        """Stop if running and remove the temporary directory (if this object made it)."""
        with contextlib.suppress(Exception):
            self.kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
