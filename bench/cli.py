"""`python -m bench [--smoke] [--only direct,group] [--out FILE]` and `python -m bench profile`.

Exit status 0 when every scenario ran with zero errors and zero lost messages (targets are reported,
not enforced), 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from . import plan as plans
from .driver import Driver, cpus, raise_fd_limit
from .servers import BENCH, NODE_REF, REPO, node_executable, scratch_dir
from .summary import health, markdown, summarize, targets, targets_markdown


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _node_package(name: str) -> str | None:
    try:
        return str(json.loads((NODE_REF / "node_modules" / name / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def environment() -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    try:
        node = subprocess.run([node_executable(), "--version"], capture_output=True, text=True).stdout.strip()
    except (OSError, RuntimeError):
        node = None
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    server_cpu, generator_cpu = cpus()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit or None,
        "machine": {
            "cpu": cpu_model,
            "cores": os.cpu_count(),
            "memoryGiB": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(),
        },
        "pinning": {"serverCpu": server_cpu, "generatorCpu": generator_cpu},
        "versions": {
            "python": platform.python_version(),
            **{
                d: _version(d)
                for d in (
                    "python-socketio",
                    "python-engineio",
                    "uvicorn",
                    "uvloop",
                    "websockets",
                    "starlette",
                    "orjson",
                )
            },
            "node": node,
            "socket.io": _node_package("socket.io"),
            "ws": _node_package("ws"),
        },
    }


def run_bench(args: argparse.Namespace) -> int:
    fd_limit = raise_fd_limit()
    plan = plans.smoke_plan() if args.smoke else plans.full_plan()
    if args.only:
        wanted = set(args.only.split(","))
        plan = [s for s in plan if s.name in wanted]
    if args.rounds:
        plan = [dataclasses.replace(s, rounds=args.rounds) for s in plan]
    need = max((plans.users_needed(s) for s in plan), default=0)
    if fd_limit < need + 1024:
        print(f"warning: open files limit {fd_limit} is below {need + 1024}", file=sys.stderr)
    started = time.monotonic()
    with scratch_dir() as tmp:
        driver = Driver(Path(tmp))
        driver.say(f"bench: {'smoke' if args.smoke else 'full'} run, scenarios {[s.name for s in plan]}")
        runs = driver.run_plan(plan)
    scenarios = summarize(runs)
    checks = health(runs)
    result = {
        "mode": "smoke" if args.smoke else "full",
        **environment(),
        "elapsedS": round(time.monotonic() - started, 1),
        "plan": [dataclasses.asdict(s) for s in plan],
        "scenarios": scenarios,
        "targets": targets(scenarios, runs, full=not args.smoke),
        "health": checks,
        "runs": runs,
    }
    out = Path(args.out) if args.out else BENCH / "results" / ("smoke.json" if args.smoke else "latest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(scenarios))
    print(targets_markdown(result["targets"]))
    print(f"\nhealth: {checks}\nwritten to {out} in {result['elapsedS']} s")
    return 0 if checks["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round (< 60 s): CI smoke test")
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios: " + ",".join(s.name for s in plans.full_plan())
    )
    parser.add_argument("--rounds", type=int, default=0, help="override every scenario's rounds")
    parser.add_argument("--out", default="", help="result JSON (default bench/results/latest.json)")
    prof = sub.add_parser("profile", help="py-spy profile of our server under the direct-chat load")
    prof.add_argument("--scenario", default="direct", choices=["direct", "group", "idle"])
    prof.add_argument("--seconds", type=float, default=12)
    prof.add_argument("--rate", type=float, default=0, help="group: messages/s (default: a fixed 400)")
    prof.add_argument("--out-dir", default=str(BENCH / "results"))
    args = parser.parse_args(argv)
    if args.command == "profile":
        from .profile import run_profile

        return run_profile(args)
    return run_bench(args)
