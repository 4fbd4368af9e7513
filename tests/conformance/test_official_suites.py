"""The official Engine.IO and Socket.IO protocol test suites (mocha, Node.js) against our reference server.

The suites live read-only in `<project root>/../shared/conformance/` (or `$CHAT_CONFORMANCE_DIR`; see the README
there). Each test copies one suite to a temporary folder and runs `npm ci` there once per session, then, per run:
points the suite's `const URL` at a free port on 127.0.0.1, starts `python -m tests.conformance.server` with
PORT set, runs `npx mocha test-suite.js --exit` with the JSON reporter written to a file, and fails listing every
failing mocha test. Node.js and npm are required (`make system-deps`); nothing is skipped.

`CHAT_CONFORMANCE_SERVER_CMD` (optional) replaces the server command, split with shlex and run from the project
root with PORT set, e.g. to check the harness against the Node.js reference servers described in the README.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
SUITES = ("engine.io-protocol", "socket.io-protocol")
ORIGINAL_URL = 'const URL = "http://localhost:3000";'
HOST = "127.0.0.1"
NPM_TIMEOUT_S = 120.0
MOCHA_TIMEOUT_S = 150.0
SERVER_READY_TIMEOUT_S = 20.0
LOG_TAIL_CHARS = 6000

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def conformance_dir() -> Path:
    override = os.environ.get("CHAT_CONFORMANCE_DIR")
    return Path(override) if override else ROOT.parent / "shared" / "conformance"


def server_command() -> list[str]:
    override = os.environ.get("CHAT_CONFORMANCE_SERVER_CMD")
    if override:
        return shlex.split(override)
    if not (ROOT / "tests" / "conformance" / "server.py").is_file():
        pytest.fail("tests/conformance/server.py (the reference server the suites run against) does not exist")
    return [sys.executable, "-m", "tests.conformance.server"]


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not on PATH: the protocol suites need Node.js and npm (run `make system-deps`)")
    return found


def tail(text: str, limit: int = LOG_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def run_bounded(command: list[str], cwd: Path, timeout: float, env: dict[str, str]) -> tuple[int | None, str, str]:
    """Run `command` in its own process group and return (exit code, stdout, stderr); on timeout, or if the test
    is interrupted (pytest-timeout, Ctrl-C), kill the whole group (npx starts node children). None: timed out."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException as error:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            if isinstance(error, subprocess.TimeoutExpired):
                return None, out, err
            raise
        return proc.returncode, out, err


def node_env() -> dict[str, str]:
    return {**os.environ, "npm_config_update_notifier": "false", "NO_COLOR": "1"}


@pytest.fixture(scope="session")
def installed_suite(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Copy a suite out of the read-only shared folder and `npm ci` it, once per suite per session."""
    source_root = conformance_dir()
    done: dict[str, Path] = {}

    def install(name: str) -> Path:
        if name in done:
            return done[name]
        source = source_root / name
        if not (source / "test-suite.js").is_file():
            pytest.fail(f"protocol suite not found: {source}/test-suite.js (set CHAT_CONFORMANCE_DIR to override)")
        require_tool("node")
        npm = require_tool("npm")
        target = tmp_path_factory.mktemp(name.replace(".", "-")) / "suite"
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("node_modules"))
        for path in [target, *target.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)  # the copies keep the shared folder's read-only modes
        code, out, err = run_bounded(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], target, NPM_TIMEOUT_S, node_env()
        )
        if code != 0:
            status = f"timed out after {NPM_TIMEOUT_S:.0f}s" if code is None else f"exited with {code}"
            pytest.fail(f"`npm ci` for {name} {status}:\n{tail(out)}\n{tail(err)}")
        done[name] = target
        return target

    return install


def point_suite_at(suite_name: str, suite: Path, port: int) -> None:
    """Write the copy's test-suite.js from the shared original with its URL constant pointing at `port`."""
    text = (conformance_dir() / suite_name / "test-suite.js").read_text()
    if text.count(ORIGINAL_URL) != 1:
        pytest.fail(f"{suite_name}/test-suite.js: expected exactly one `{ORIGINAL_URL}` to point at the server")
    (suite / "test-suite.js").write_text(text.replace(ORIGINAL_URL, f'const URL = "http://{HOST}:{port}";'))


class Server:
    """The reference server process, output in a log file (a pipe could fill up and block it)."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                server_command(),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"the conformance server exited with {self.proc.returncode} before listening:\n{self.log()}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(
            f"the conformance server did not listen on {HOST}:{self.port} within "
            f"{SERVER_READY_TIMEOUT_S:.0f}s:\n{self.log()}"
        )

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL if it is still there after 10 s."""
        if self.proc is None:
            return
        for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait_s)
        self.proc = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return tail(self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return ""

    def status(self) -> str:
        """Whether the server is still up: a server that died mid-run explains a wall of ECONNREFUSED."""
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        return "still running" if code is None else f"EXITED with {code} during the run"


def describe_failures(report: dict[str, Any]) -> str:
    lines = []
    for failure in report.get("failures", []):
        error = failure.get("err") or {}
        message = str(error.get("message") or error.get("stack") or "(no error message)").strip()
        lines.append(
            f"  - {failure.get('fullTitle', failure.get('title', '?'))}\n      " + message.replace("\n", "\n      ")
        )
    return "\n".join(lines)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("suite_name", SUITES)
def test_official_suite(suite_name: str, installed_suite: Callable[[str], Path], tmp_path: Path) -> None:
    suite = installed_suite(suite_name)
    npx = require_tool("npx")
    report_path = tmp_path / "mocha-report.json"
    with Server(free_port(HOST), tmp_path / "server.log") as server:
        point_suite_at(suite_name, suite, server.port)
        # --exit: the suites leave sockets open, so mocha would otherwise wait for them forever
        command = [npx, "--no-install", "mocha", "test-suite.js", "--exit", "--reporter", "json"]
        command += ["--reporter-option", f"output={report_path}"]
        code, out, err = run_bounded(command, suite, MOCHA_TIMEOUT_S, node_env())
        server_status = server.status()
    context = (
        f"mocha stdout:\n{tail(out)}\nmocha stderr:\n{tail(err)}\nserver ({server_status}) output:\n{server.log()}"
    )
    if code is None:
        pytest.fail(f"mocha ({suite_name}) did not finish within {MOCHA_TIMEOUT_S:.0f}s\n{context}")
    try:
        report: dict[str, Any] = json.loads(report_path.read_text())
        stats: dict[str, Any] = report["stats"]
    except (OSError, ValueError, KeyError) as error:
        pytest.fail(f"mocha ({suite_name}) exited with {code} and wrote no usable JSON report ({error})\n{context}")
    total, passes, failures = stats.get("tests", 0), stats.get("passes", 0), stats.get("failures", 0)
    summary = f"{suite_name}: {passes}/{total} passed, {failures} failed, {stats.get('pending', 0)} pending"
    ok = total > 0 and passes == total and failures == 0 and code == 0
    assert ok, f"{summary} (mocha exit code {code}); failing tests:\n{describe_failures(report)}\n\n{context}"
