"""The Lambda artifact as `sam build` makes it (template.yaml: `Metadata: BuildMethod: makefile`).

SAM's makefile builder runs `make build-<LogicalId>` with ARTIFACTS_DIR in its environment; here
the same target builds for this machine's Python and CPU (LAMBDA_PYTHON, LAMBDA_ARCH) so the
wheels import here. A fresh interpreter that sees only that folder and the standard library, as
the Lambda runtime does, then imports both handlers and answers every fixture in events/ against
DynamoDB on a moto server.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_core.auth import issue_token
from tests.dynamodb.test_schema_template import load_template
from tests.support.moto_server import MotoServer

from .conftest import EVENTS, SECRET, http_event, load_event

ROOT = Path(__file__).resolve().parents[2]
TABLE = "chat-lambda-artifact"
OVERRIDES = ("LAMBDA_", "PYTHON")  # the Makefile's variables: the defaults unless a test sets them
LAMBDA_LIMIT_BYTES = 250 * 1024 * 1024  # unzipped, function code and layers together

# Runs in the isolated interpreter; argv: artifact, requests (JSON), result file, schedule event.
# The handlers log to stdout, so the result goes to a file.
DRIVER = """
import json, sys, sysconfig
artifact, requests_path, result_path = sys.argv[1:4]
sys.path.insert(0, artifact)
result = {"path": list(sys.path), "missing": []}
for name in ("moto", "pytest", "tests"):
    try:
        __import__(name)
    except ImportError:
        result["missing"].append(name)
import handlers.cleanup
import handlers.http_api

class Context:
    function_name = "chat-http"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:chat-http"
    aws_request_id = "5f1c0c6e-2bd0-4f5e-9a53-0d7c3f4b2a11"
    def get_remaining_time_in_millis(self):
        return 60_000

answers, chat_id = [], None
for name, event in json.load(open(requests_path)):
    if chat_id is not None:
        event = json.loads(json.dumps(event).replace("CHAT_ID", chat_id))
    response = handlers.http_api.handler(event, Context())
    body = json.loads(response["body"]) if response.get("body") else None
    chat_id = chat_id or (body or {}).get("id")
    answers.append([name, response["statusCode"], body])
schedule = json.load(open(sys.argv[4]))
result["answers"] = answers
result["cleanup"] = handlers.cleanup.handler(schedule, Context())
result["modules"] = {m: getattr(sys.modules[m], "__file__", None) for m in list(sys.modules)}
result["stdlib"] = [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]]
json.dump(result, open(result_path, "w"))
"""

IMPORT_TIMER = """
import sys, time
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
import handlers.http_api
print(time.perf_counter() - started)
"""


def lambda_arch(architecture: str) -> str:
    return {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]


def runtime_python() -> str:
    runtime = load_template()["Globals"]["Function"]["Runtime"]
    match = re.fullmatch(r"python(\d+\.\d+)", runtime)
    assert match, runtime
    return match.group(1)


def make(target: str, artifacts: Path, *overrides: str, dry_run: bool = False) -> subprocess.CompletedProcess[str]:
    """`make build-<LogicalId>` as SAM runs it: ARTIFACTS_DIR in the environment, the project's
    Makefile named explicitly, and the working directory elsewhere (SAM's scratch copy)."""
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            *(["-n"] if dry_run else []),
            "--makefile",
            str(ROOT / "Makefile"),
            target,
            *overrides,
        ],
        env={**{k: v for k, v in os.environ.items() if not k.startswith(OVERRIDES)}, "ARTIFACTS_DIR": str(artifacts)},
        cwd=artifacts.parent,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_lambda_runtime_container_image_and_build_agree_on_python_and_architecture(tmp_path: Path) -> None:
    python = runtime_python()
    images = re.findall(r"^FROM python:(\d+\.\d+)", (ROOT / "infra" / "Dockerfile").read_text(), re.MULTILINE)
    assert images and set(images) == {python}, (python, images)

    architectures = load_template()["Globals"]["Function"]["Architectures"]
    assert len(architectures) == 1
    recipes = {}
    for function in ("HttpApiFunction", "CleanupFunction"):
        assert load_template()["Resources"][function]["Metadata"] == {"BuildMethod": "makefile"}
        planned = make(f"build-{function}", tmp_path / "artifacts", dry_run=True)
        assert planned.returncode == 0, planned.stderr
        recipes[function] = planned.stdout
    assert recipes["HttpApiFunction"] == recipes["CleanupFunction"]  # one recipe, one artifact
    recipe = recipes["HttpApiFunction"]
    assert f"--platform manylinux2014_{lambda_arch(architectures[0])} " in recipe
    assert f"--python-version {python} --implementation cp --only-binary=:all:" in recipe
    assert re.search(r'--target "[^"]+/artifacts" .*\[lambda\]"', recipe)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sam-build") / "HttpApiFunction"
    folder.mkdir()
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    built = make(
        "build-HttpApiFunction",
        folder,
        f"LAMBDA_ARCH={platform.machine()}",
        f"LAMBDA_PYTHON={here}",
        f"PYTHON={sys.executable}",
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return folder


@pytest.fixture
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        server.create_table(TABLE)
        yield server
    finally:
        server.close()


def isolated(
    artifact: Path, code: str, *argv: str, env: dict[str, str], options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter like the Lambda runtime's: no site-packages (-S), no environment
    options or user site (-I); `code` puts the artifact first on sys.path."""
    return subprocess.run(
        [sys.executable, "-I", "-S", *options, "-c", code, str(artifact), *argv],
        env=env,
        cwd=artifact,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def handler_env(tmp_path: Path, moto: MotoServer | None = None) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),  # nothing from the developer's ~/.aws
        "CHAT_STORE": "dynamodb",
        "CHAT_DYNAMODB_TABLE": TABLE,
        "CHAT_JWT_SECRET": SECRET,
        "POWERTOOLS_TRACE_DISABLED": "1",  # Tracer() still imports aws_xray_sdk
        "POWERTOOLS_SERVICE_NAME": "chat-test",
        "POWERTOOLS_METRICS_NAMESPACE": "ChatTest",
        **(moto.env() if moto is not None else {"AWS_DEFAULT_REGION": "us-east-1"}),
    }


def with_token(event: dict[str, Any], token: str) -> dict[str, Any]:
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


def requests() -> list[tuple[str, dict[str, Any]]]:
    """Every HTTP fixture, tokens filled in as tests/aws_lambda does; the chat is created first and
    the driver puts its id where the fixtures say CHAT_ID."""
    alice, bob = (issue_token(SECRET, user) for user in ("alice", "bob"))
    send = with_token(load_event("http_api_send_message.json"), alice)
    return [
        ("health", http_event("GET", "/healthz", token=None)),
        ("create chat", http_event("POST", "/v1/chats", token=alice, body={"type": "direct", "recipientId": "bob"})),
        ("http_api_send_message.json", send),
        ("http_api_send_message.json again", send),
        ("history", http_event("GET", "/v1/chats/CHAT_ID/messages", token=bob, query="limit=10")),
        ("http_api_list_chats.json", with_token(load_event("http_api_list_chats.json"), bob)),
        ("no token", http_event("GET", "/v1/chats", token=None)),
    ]


@pytest.mark.slow
@pytest.mark.dynamodb
def test_the_built_artifact_answers_every_fixture_in_isolation(
    artifact: Path, moto: MotoServer, tmp_path: Path
) -> None:
    assert {p.name for p in EVENTS.glob("*.json")} == {
        "http_api_send_message.json",
        "http_api_list_chats.json",
        "cleanup_schedule.json",
    }, "a new fixture in events/: answer it here too"
    top = {p.name for p in artifact.iterdir()}
    assert {"chat_core", "handlers", "mangum", "aws_lambda_powertools", "aws_xray_sdk", "jwt", "starlette"} <= top
    assert not top & {"tests", "web", "bench", "docs", "events", "infra", "template.yaml", "Makefile", "bin"}
    assert not (artifact / "chat_core" / "web_dist").exists()  # the demo page is the container's

    requests_file, result_file = tmp_path / "requests.json", tmp_path / "result.json"
    requests_file.write_text(json.dumps(requests()))
    ran = isolated(
        artifact,
        DRIVER,
        str(requests_file),
        str(result_file),
        str(EVENTS / "cleanup_schedule.json"),
        env=handler_env(tmp_path, moto),
    )
    assert ran.returncode == 0, ran.stderr[-4000:]
    result = json.loads(result_file.read_text())

    assert sorted(result["missing"]) == ["moto", "pytest", "tests"]  # nothing of the venv or the tree
    assert not [p for p in result["path"] if "site-packages" in p]
    allowed = (str(artifact), *result["stdlib"])
    assert not {m: f for m, f in result["modules"].items() if f and not f.startswith(allowed)}
    assert "aws_xray_sdk" in result["modules"]
    assert "uvicorn" not in result["modules"]  # the node's server: shipped with the core, never imported

    statuses = {name: status for name, status, _ in result["answers"]}
    assert statuses == {  # as the container answers (tests/aws_lambda/test_http_handler.py)
        "health": 200,
        "create chat": 201,
        "http_api_send_message.json": 201,
        "http_api_send_message.json again": 200,
        "history": 200,
        "http_api_list_chats.json": 200,
        "no token": 401,
    }
    bodies = {name: body for name, _, body in result["answers"]}
    assert bodies["http_api_send_message.json"]["content"] == "hello from Lambda"
    assert bodies["history"]["messages"] == [bodies["http_api_send_message.json"]]
    assert [c["unreadCount"] for c in bodies["http_api_list_chats.json"]["chats"]] == [1]
    assert result["cleanup"]["complete"] is True and result["cleanup"]["errors"] == []


def cold_imports(artifact: Path, env: dict[str, str], options: tuple[str, ...] = ()) -> float:
    """Median of three fresh interpreters importing handlers.http_api from the artifact."""
    times = []
    for _ in range(3):
        ran = isolated(artifact, IMPORT_TIMER, env=env, options=("-B", *options))
        assert ran.returncode == 0, ran.stderr[-4000:]
        times.append(float(ran.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


@pytest.mark.slow
def test_artifact_size_and_cold_import_time(
    artifact: Path, tmp_path: Path, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    size = sum(f.stat().st_size for f in artifact.rglob("*") if f.is_file() and not f.is_symlink())
    assert size < LAMBDA_LIMIT_BYTES
    # bytecode precompiled by the build (the Lambda file system is read-only: none is written there)
    assert list((artifact / "handlers" / "__pycache__").glob("http_api.*.pyc"))
    env = handler_env(tmp_path)
    with_bytecode = cold_imports(artifact, env)
    empty = tmp_path / "no-bytecode"
    empty.mkdir()
    without_bytecode = cold_imports(artifact, env, ("-X", f"pycache_prefix={empty}"))
    assert with_bytecode < without_bytecode
    assert with_bytecode < 3.0
    for name, value in (
        ("artifact_mb", size / 2**20),
        ("import_s", with_bytecode),
        ("import_no_pyc_s", without_bytecode),
    ):
        record_property(name, round(value, 3))
    with capsys.disabled():
        print(
            f"\nLambda artifact: {size / 2**20:.1f} MB unzipped; cold import of handlers.http_api "
            f"{with_bytecode * 1000:.0f} ms (median of 3), {without_bytecode * 1000:.0f} ms without bytecode"
        )
