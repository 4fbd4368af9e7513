"""Runs the plan: for each scenario and round, each server in turn (the order rotates every round),
a fresh server pinned to one core and the Node load generator pinned to the other."""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .plan import Scenario, users_needed
from .servers import (
    BENCH,
    CEILING,
    CEILING_SERVERS,
    SECRET,
    Server,
    make_redis,
    make_server,
    node_executable,
    pinned,
    scratch_dir,
)

SERVER_CPU = 0
GENERATOR_CPU = 1
LOADGEN_SCENARIO = {"crossnode": "direct", "transport": "direct"}


def raise_fd_limit(wanted: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(max(soft, wanted), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpus() -> tuple[int | None, int | None]:
    """Server core and generator core; no pinning on a one-core machine."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def write_users(path: Path, count: int) -> None:
    from chat_core.auth import issue_token

    users = [
        {"id": f"u{i:05d}", "token": issue_token(SECRET, f"u{i:05d}", ttl_s=4 * 3600)} for i in range(count)
    ]
    path.write_text(json.dumps(users))


class Driver:
    def __init__(self, workdir: Path, *, log: Any = sys.stderr) -> None:
        self.workdir = workdir
        self.log = log
        self.server_cpu, self.generator_cpu = cpus()
        self.users_file = workdir / "users.json"
        self._users = 0
        self.hints: dict[tuple[str, str], float] = {}

    def say(self, text: str) -> None:
        print(text, file=self.log, flush=True)

    def ensure_users(self, count: int) -> None:
        if count > self._users:
            write_users(self.users_file, count)
            self._users = count

    def run_plan(self, plan: list[Scenario]) -> dict[str, list[dict[str, Any]]]:
        runs: dict[str, list[dict[str, Any]]] = {}
        for scenario in plan:
            runs[scenario.name] = self.run_scenario(scenario)
        return runs

    def run_scenario(self, scenario: Scenario) -> list[dict[str, Any]]:
        self.ensure_users(users_needed(scenario))
        results: list[dict[str, Any]] = []
        if scenario.needs_redis and make_redis(self.workdir, None) is None:
            self.say(f"{scenario.name}: skipped, redis-server is not installed")
            return [{"scenario": scenario.name, "skipped": "redis-server is not installed"}]
        if any(kind in CEILING_SERVERS for kind in scenario.servers) and not CEILING.is_dir():
            self.say(f"{scenario.name}: skipped, {CEILING} is not beside this checkout")
            return [{"scenario": scenario.name, "skipped": "shared/ceiling is not beside this checkout"}]
        for round_no in range(scenario.rounds):
            k = round_no % len(scenario.servers)
            order = scenario.servers[k:] + scenario.servers[:k]
            for kind in order:
                started = time.monotonic()
                result = self.run_one(scenario, kind, round_no)
                result.update(
                    {"server": kind, "round": round_no, "runS": round(time.monotonic() - started, 1)}
                )
                results.append(result)
                self.say(
                    f"  {scenario.name:<9} round {round_no} {kind:<24} {headline(scenario.name, result)}"
                )
        return results

    def run_one(self, scenario: Scenario, kind: str, round_no: int) -> dict[str, Any]:
        with scratch_dir() as tmp:
            workdir = Path(tmp)
            servers: list[Server] = []
            try:
                if scenario.needs_redis:
                    redis = make_redis(workdir, self.server_cpu)
                    assert redis is not None
                    servers.append(redis.start())
                    redis_env = {"CHAT_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"}
                    db = workdir / "shared.db"
                    nodes = [
                        make_server(
                            kind,
                            workdir,
                            cpu=self.server_cpu,
                            ping_interval_s=scenario.ping_interval_s,
                            extra_env={
                                **redis_env,
                                "CHAT_SQLITE_PATH": str(db),
                                "CHAT_NODE_ID": f"bench-{n}",
                            },
                        )
                        for n in range(2)
                    ]
                    for node in nodes:
                        servers.append(node.start())
                    under_test = nodes
                else:
                    server_kind = kind
                    node = make_server(
                        server_kind, workdir, cpu=self.server_cpu, ping_interval_s=scenario.ping_interval_s
                    )
                    servers.append(node.start())
                    under_test = [node]
                config = self.loadgen_config(scenario, kind, round_no, under_test, workdir)
                result = self.run_loadgen(config, workdir, scenario.time_limit_s)
                if result.get("fatal"):
                    result["serverLog"] = "\n".join(s.log_tail(1500) for s in under_test)
                for s in under_test:
                    if s.proc is not None and s.proc.poll() is not None:
                        result.setdefault("fatal", f"{s.kind} died with {s.proc.returncode}")
                        result["serverLog"] = s.log_tail(1500)
                if scenario.name == "group" and result.get("bestMessagesPerS"):
                    self.hints[(scenario.name, kind)] = float(result["bestMessagesPerS"])
                return result
            except Exception as exc:  # a broken run is a result (with fatal), not the end of the run
                return {"fatal": f"{type(exc).__name__}: {exc}", "errors": 1}
            finally:
                for s in reversed(servers):
                    s.stop()

    def loadgen_config(
        self, scenario: Scenario, kind: str, round_no: int, servers: list[Server], workdir: Path
    ) -> dict[str, Any]:
        config = copy.deepcopy(scenario.config)
        if scenario.name == "group" and round_no > 0 and (scenario.name, kind) in self.hints:
            ramp = config["ramp"]
            ramp["startRate"] = max(ramp["startRate"], 0.6 * self.hints[(scenario.name, kind)])
        config.update(
            {
                "scenario": LOADGEN_SCENARIO.get(scenario.name, scenario.name),
                "kind": "ours" if kind == "ours" else "ref",
                "urls": [s.ws_url for s in servers],
                "httpBase": servers[0].http_base,
                "serverPids": [s.pid for s in servers],
                "clkTck": os.sysconf("SC_CLK_TCK"),
                "usersFile": str(self.users_file),
                "timeLimitS": scenario.time_limit_s,
                "offerDeflate": True,
            }
        )
        return config

    def run_loadgen(self, config: dict[str, Any], workdir: Path, time_limit_s: float) -> dict[str, Any]:
        path = workdir / "loadgen.json"
        path.write_text(json.dumps(config))
        cmd = pinned([node_executable(), str(BENCH / "loadgen.js"), str(path)], self.generator_cpu)
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=time_limit_s + 15, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            return {"fatal": "load generator timed out", "errors": 1}
        for line in reversed(done.stdout.strip().splitlines()):
            if line.startswith("{"):
                result: dict[str, Any] = json.loads(line)
                if done.stderr.strip():
                    result["generatorLog"] = done.stderr[-2000:]
                return result
        return {"fatal": f"no result (exit {done.returncode}): {done.stderr[-2000:]}", "errors": 1}


def headline(name: str, r: dict[str, Any]) -> str:
    if r.get("skipped"):
        return "skipped: " + str(r["skipped"])
    if r.get("fatal"):
        return "FATAL " + str(r["fatal"])[:300]
    tail = (
        f"errors {r.get('errors')} lost {r.get('lost')}"
        f" cpu srv {r.get('serverCpuPct')}% gen {r.get('generatorCpuPct')}%"
    )
    if name in ("direct", "crossnode", "transport"):
        ack = r.get("ackLatencyMs") or {}
        return f"{r.get('messagesPerS')} msg/s ack p50 {ack.get('p50')} p99 {ack.get('p99')} ms | {tail}"
    if name == "group":
        best = r.get("best") or {}
        p99 = (best.get("deliveryLatencyMs") or {}).get("p99")
        srv = best.get("serverCpuPct")
        gen = best.get("generatorCpuPct")
        return (
            f"{r.get('bestDeliveriesPerS')} deliveries/s ({r.get('bestMessagesPerS')} msg/s) p99 {p99} ms"
            f" | errors {r.get('errors')} lost {r.get('lost')} cpu srv {srv}% gen {gen}%"
        )
    if name == "idle":
        return (
            f"{r.get('open')}/{r.get('connections')} open, {r.get('kibPerConnection')} KiB/conn,"
            f" {r.get('connectsPerS')} connects/s | {tail}"
        )
    if name == "history":
        h = r.get("historyLatencyMs") or {}
        return (
            f"{r.get('historyRequestsPerS')} history req/s p99 {h.get('p99')} ms with"
            f" {r.get('messagesPerS')} msg/s | {tail}"
        )
    return tail
