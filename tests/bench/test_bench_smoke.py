"""The benchmark's smoke run: every scenario runs, with zero errors and zero lost messages, and its
JSON result parses. No throughput thresholds: CI machines are too noisy for them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = {"direct", "group", "idle", "history", "crossnode"}


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_smoke_run_completes_cleanly(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("the load generator and the Node reference need Node.js")
    out = tmp_path / "smoke.json"

    # GIVEN the smoke-sized plan  WHEN it runs
    done = subprocess.run(
        [str(REPO / "bench" / "run.sh"), "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=140,
    )

    # THEN the result parses, every scenario ran for every server, and nothing was lost or failed
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["runs"]) == SCENARIOS
    for name, runs in result["runs"].items():
        assert runs, name
        for run in runs:
            if run.get("skipped"):  # crossnode without redis-server
                assert name == "crossnode", run
                continue
            assert not run.get("fatal"), (name, run.get("server"), run.get("fatal"), run.get("serverLog"))
            assert run["errors"] == 0, (name, run["server"], run.get("errorDetail"), run.get("generatorLog"))
            assert run.get("lost", 0) == 0, (name, run["server"])
            assert run.get("duplicates", 0) == 0, (name, run["server"])
    assert {r["server"] for r in result["runs"]["direct"]} == {"ours", "pyref", "node"}
    assert result["health"]["ok"] is True
    assert done.returncode == 0, done.stderr[-3000:]
