"""The short seeded soak CI runs: `python -m soak` as a real process (three nodes on DynamoDB
through moto behind the fault proxy, a redis-server, simulated users, every fault kind once),
which must report zero violations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis, pytest.mark.dynamodb]

REPO = Path(__file__).resolve().parents[2]
#: a seed whose schedule meets every fault kind within SECONDS (soak/faults.py deals them in rounds)
SEED = 20261130
SECONDS = 50
USERS = 50
ARTIFACTS = REPO / "test-artifacts" / "soak"


@pytest.mark.timeout(600)
def test_a_short_soak_under_every_fault_kind_has_no_violations() -> None:
    from soak.faults import KINDS, schedule

    planned = schedule(SEED, SECONDS, 3)
    assert {fault.kind for fault in planned} == set(KINDS), "the CI seed must meet every fault kind"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    history = ARTIFACTS / "history.jsonl"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "soak",
            "--seconds",
            str(SECONDS),
            "--seed",
            str(SEED),
            "--users",
            str(USERS),
            "--think",
            "4",
            "--history",
            str(history),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=580,
    )
    report = run.stdout + "\n" + run.stderr[-4000:]
    lines = run.stdout.strip().splitlines()
    assert lines and lines[-1] == "0 violations", report
    assert run.returncode == 0, report
    # the faults really happened: every kind was injected and healed
    injected = [line for line in run.stdout.splitlines() if line.startswith("faults injected")]
    assert injected and all(kind in injected[0] for kind in KINDS), report
