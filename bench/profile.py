"""`python -m bench profile`: py-spy (without --idle) on our server under load, summarized as text.

py-spy lives in its own venv (bench/.venv-tools, git-ignored) so the project's venv stays as the
lead pinned it:  python3 -m venv bench/.venv-tools && bench/.venv-tools/bin/pip install py-spy
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from . import plan as plans
from .driver import Driver, raise_fd_limit
from .servers import BENCH, make_server, pinned, scratch_dir

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
#: frames whose inclusive share answers "where does a message's time go"
KEY_FRAMES = (
    "_send_message",
    "send_message",
    "append_message",
    "_notify_unread",
    "unread_counts",
    "_require_member",
    "to_users",
    "emit",
    "encode",
    "encode_event",
    "broadcast",
    "write",
    "on_ws_frame",
    "receive_text_frame",
    "feed_text",
    "dispatch",
    "_dispatch",
    "take",
    "_websocket_handler",
    "writer",
    "send",
    "receive",
    "_run_batch",
    "_settle",
    "data_received",
)
PACKAGES = (
    ("chat_core/engine", "chat_core/engine (the Socket.IO engine)"),
    ("chat_core", "chat_core (our code)"),
    ("picows", "picows"),
    ("uvicorn", "uvicorn"),
    ("websockets", "websockets (sansio)"),
    ("starlette", "starlette"),
    ("asyncio", "asyncio (stdlib)"),
    ("sqlite3", "sqlite3"),
    ("json", "json"),
    ("logging", "logging"),
    ("jwt", "PyJWT"),
    ("threading", "threading"),
    ("queue", "queue"),
)


def py_spy() -> str | None:
    beside = BENCH / ".venv-tools" / "bin" / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


def _package(file: str) -> str:
    path = file.replace("\\", "/")
    parts = path.split("/")
    for key, label in PACKAGES:
        if "/" in key:
            if "/" + key + "/" in "/" + path:
                return label
            continue
        if key in parts or any(p.startswith(key + ".") or p == key + ".py" for p in parts):
            return label
    return "other: " + (parts[-1] if parts else file)


def parse_folded(text: str) -> dict[str, Any]:
    own: collections.Counter[str] = collections.Counter()
    own_pkg: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    thread_own: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    total = 0
    for line in text.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = stack.split(";")
        thread = "?"
        if frames and frames[0].startswith(("thread ", "process ")):
            while frames and frames[0].startswith(("thread ", "process ")):
                head = frames.pop(0)
                if head.startswith("thread "):
                    thread = head
        if not frames:
            continue
        total += count
        names = []
        for frame in frames:
            m = FRAME.match(frame)
            func, file = (m.group("func"), m.group("file")) if m else (frame, "")
            names.append((func, file))
        leaf_func, leaf_file = names[-1]
        label = f"{leaf_func} ({Path(leaf_file).name})" if leaf_file else leaf_func
        own[label] += count
        own_pkg[_package(leaf_file)] += count
        # every frame of the stack above the thread's root names the thread's role
        role = (
            "sqlite-writer"
            if any(f == "_run" and "sqlite_worker" in p for f, p in names)
            else (
                "event loop"
                if any(f in ("run", "run_until_complete", "serve", "_serve") for f, _ in names[:4])
                else thread
            )
        )
        threads[role] += count
        thread_own[role][label] += count
        for func in {f for f, _ in names}:
            if func.rsplit(".", 1)[-1] in KEY_FRAMES:
                inclusive[func] += count
    return {
        "samples": total,
        "threads": dict(threads.most_common()),
        "ownTop": own.most_common(30),
        "ownByPackage": own_pkg.most_common(),
        "inclusive": inclusive.most_common(),
        "ownTopByThread": {k: v.most_common(8) for k, v in thread_own.items()},
    }


def render(summary: dict[str, Any], title: str) -> str:
    total = summary["samples"] or 1
    pct = lambda n: f"{100 * n / total:5.1f}%"  # noqa: E731
    lines = [f"{title}: {summary['samples']} samples (py-spy, --idle off)", "", "by thread:"]
    lines += [f"  {pct(n)}  {name}" for name, n in summary["threads"].items()]
    lines += ["", "own time by package:"]
    lines += [f"  {pct(n)}  {name}" for name, n in summary["ownByPackage"][:14]]
    lines += ["", "top functions by own time:"]
    lines += [f"  {pct(n)}  {name}" for name, n in summary["ownTop"][:25]]
    lines += ["", "inclusive time of hot-path frames:"]
    lines += [f"  {pct(n)}  {name}" for name, n in summary["inclusive"]]
    return "\n".join(lines) + "\n"


def run_profile(args: argparse.Namespace) -> int:
    spy = py_spy()
    if spy is None:
        print(
            "py-spy not found: python3 -m venv bench/.venv-tools && bench/.venv-tools/bin/pip install py-spy"
        )
        return 2
    raise_fd_limit()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scenario = next(s for s in plans.full_plan() if s.name == args.scenario)
    config = dict(scenario.config)
    if args.scenario == "direct":
        config.update({"warmupS": 2, "measureS": args.seconds + 2})
    elif args.scenario == "idle":
        pass  # the connect storm: profiled from its first second
    else:
        rate = args.rate or 400
        config["ramp"] = dict(
            config["ramp"],
            startRate=rate,
            factor=1.0,
            maxSteps=1,
            stepS=args.seconds + 2,
            warmupS=1,
            refineSteps=0,
            maxRate=rate + 1,
        )
    scenario = type(scenario)(**{**scenario.__dict__, "config": config, "rounds": 1, "servers": ("ours",)})
    with scratch_dir() as tmp:
        workdir = Path(tmp)
        driver = Driver(workdir)
        driver.ensure_users(plans.users_needed(scenario))
        server = make_server("ours", workdir, cpu=driver.server_cpu, ping_interval_s=25).start()
        folded = out_dir / f"profile-{args.scenario}.folded.txt"
        result: dict[str, Any] = {}
        try:
            cfg = driver.loadgen_config(scenario, "ours", 0, [server], workdir)

            def load() -> None:
                result.update(driver.run_loadgen(cfg, workdir, scenario.time_limit_s))

            loader = threading.Thread(target=load)
            loader.start()
            time.sleep(1 if args.scenario == "idle" else 4)  # connect, set up chats, warm up
            cmd = pinned(
                [
                    spy,
                    "record",
                    "--pid",
                    str(server.pid),
                    "--duration",
                    str(int(args.seconds)),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--threads",
                    "--nonblocking",
                    "--output",
                    str(folded),
                ],
                driver.generator_cpu,
            )
            spy_run = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 60)
            loader.join(scenario.time_limit_s + 30)
        finally:
            server.stop()
        if spy_run.returncode != 0 or not folded.exists():
            print(spy_run.stdout[-2000:], spy_run.stderr[-2000:])
            return 1
    summary = parse_folded(folded.read_text())
    title = f"our server, {args.scenario} load"
    text = render(summary, title)
    load_line = {
        k: result.get(k)
        for k in ("messagesPerS", "bestDeliveriesPerS", "serverCpuPct", "generatorCpuPct", "errors", "lost")
    }
    text += f"\nload during the profile: {json.dumps(load_line)}\n"
    (out_dir / f"profile-{args.scenario}.txt").write_text(text)
    (out_dir / f"profile-{args.scenario}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(text)
    return 0
