"""Medians per server, ratios from the same run, the issue's targets, and the markdown table."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

Run = dict[str, Any]
Metric = Callable[[Run], float | None]


def _get(*path: str) -> Metric:
    def read(run: Run) -> float | None:
        value: Any = run
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        if isinstance(value, list):  # several server processes: their sum
            numbers = [v for v in value if isinstance(v, int | float)]
            return float(sum(numbers)) if numbers else None
        return float(value) if isinstance(value, int | float) else None

    return read


def _per_cpu(rate: Metric, cpu: Metric) -> Metric:
    """Throughput per second of server CPU: steadier than raw rates on a core others share too."""

    def read(run: Run) -> float | None:
        r, c = rate(run), cpu(run)
        return r / (c / 100) if r is not None and c else None

    return read


DIRECT = {
    "messagesPerS": _get("messagesPerS"),
    "messagesPerCpuS": _per_cpu(_get("messagesPerS"), _get("serverCpuPct")),
    "ackP50Ms": _get("ackLatencyMs", "p50"),
    "ackP99Ms": _get("ackLatencyMs", "p99"),
    "deliveryP99Ms": _get("deliveryLatencyMs", "p99"),
    "serverCpuPct": _get("serverCpuPct"),
    "generatorCpuPct": _get("generatorCpuPct"),
}
METRICS: dict[str, dict[str, Metric]] = {
    "direct": DIRECT,
    "transport": DIRECT,
    "crossnode": DIRECT,
    "group": {
        "deliveriesPerS": _get("bestDeliveriesPerS"),
        "deliveriesPerCpuS": _per_cpu(_get("bestDeliveriesPerS"), _get("best", "serverCpuPct")),
        "messagesPerS": _get("bestMessagesPerS"),
        "deliveryP99Ms": _get("best", "deliveryLatencyMs", "p99"),
        "serverCpuPct": _get("best", "serverCpuPct"),
        "generatorCpuPct": _get("best", "generatorCpuPct"),
    },
    "idle": {
        "kibPerConnection": _get("kibPerConnection"),
        "connectsPerS": _get("connectsPerS"),
        "connectsPerCpuS": _per_cpu(_get("connectsPerS"), _get("serverCpuPct")),
        "open": _get("open"),
        "serverCpuPct": _get("serverCpuPct"),
        "generatorCpuPct": _get("generatorCpuPct"),
    },
    "history": {
        "historyRequestsPerS": _get("historyRequestsPerS"),
        "historyP50Ms": _get("historyLatencyMs", "p50"),
        "historyP99Ms": _get("historyLatencyMs", "p99"),
        "messagesPerS": _get("messagesPerS"),
        "ackP99Ms": _get("ackLatencyMs", "p99"),
        "serverCpuPct": _get("serverCpuPct"),
        "generatorCpuPct": _get("generatorCpuPct"),
    },
}
#: the metric each scenario's ratios compare
HEADLINE = {
    "direct": "messagesPerS",
    "transport": "messagesPerS",
    "group": "deliveriesPerS",
    "idle": "connectsPerS",
}


PER_CPU = {
    "direct": "messagesPerCpuS",
    "transport": "messagesPerCpuS",
    "group": "deliveriesPerCpuS",
    "idle": "connectsPerCpuS",
}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def summarize(runs: dict[str, list[Run]]) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for name, results in runs.items():
        metrics = METRICS.get(name, {})
        by_server: dict[str, list[Run]] = {}
        for run in results:
            if "server" in run:
                by_server.setdefault(run["server"], []).append(run)
        medians = {
            server: {
                key: _median([v for v in (metric(r) for r in rs if not r.get("fatal")) if v is not None])
                for key, metric in metrics.items()
            }
            | {"runs": len(rs)}
            for server, rs in by_server.items()
        }
        entry: dict[str, Any] = {"medians": medians, "ratios": _ratios(name, medians)}
        if name == "idle" and "ours" in medians and "node" in medians:
            entry["ratios"]["memory ours/node"] = _ratio(
                medians["ours"]["kibPerConnection"], medians["node"]["kibPerConnection"]
            )
        if any(r.get("skipped") for r in results):
            entry["skipped"] = next(r["skipped"] for r in results if r.get("skipped"))
        scenarios[name] = entry
    return scenarios


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _ratios(name: str, medians: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    key = HEADLINE.get(name)
    if key is None:
        return {}
    out: dict[str, float | None] = {}
    servers = list(medians)
    base = "ceiling-onep" if name == "transport" else None
    pairs = (
        [(s, base) for s in servers if s != base]
        if base
        else [
            (a, b)
            for a, b in (("ours", "pyref"), ("ours", "node"), ("pyref", "node"))
            if a in medians and b in medians
        ]
    )
    per_cpu = PER_CPU.get(name)
    for a, b in pairs:
        out[f"{a}/{b}"] = _ratio(medians[a].get(key), medians[b].get(key))
    if per_cpu:
        for a, b in pairs:
            out[f"{a}/{b} per CPU-s"] = _ratio(medians[a].get(per_cpu), medians[b].get(per_cpu))
    return out


def health(runs: dict[str, list[Run]]) -> dict[str, Any]:
    """Every run's errors, lost and duplicated messages, and the runs that did not finish."""
    errors = lost = duplicates = order = 0
    fatal: list[str] = []
    for name, results in runs.items():
        for r in results:
            if r.get("skipped"):
                continue
            if r.get("fatal"):
                fatal.append(f"{name}/{r.get('server')}/{r.get('round')}: {str(r['fatal'])[:300]}")
            errors += int(r.get("errors") or 0)
            lost += int(r.get("lost") or 0)
            duplicates += int(r.get("duplicates") or 0)
            order += int(r.get("orderViolations") or 0)
    return {
        "errors": errors,
        "lost": lost,
        "duplicates": duplicates,
        "orderViolations": order,
        "fatal": fatal,
        "ok": errors == 0 and lost == 0 and duplicates == 0 and not fatal,
    }


def targets(scenarios: dict[str, Any], runs: dict[str, list[Run]], full: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, op: str, goal: float) -> None:
        met = None if value is None else (value >= goal if op == ">=" else value <= goal)
        out.append({"target": name, "value": value, "goal": f"{op} {goal}", "met": met})

    ratios = lambda s: scenarios.get(s, {}).get("ratios", {})  # noqa: E731
    medians = lambda s: scenarios.get(s, {}).get("medians", {})  # noqa: E731
    # issue 11's targets: beside Node socket.io *in memory*, ours durable
    add("direct chats durable, ours/node (in memory) messages/s", ratios("direct").get("ours/node"), ">=", 0.5)
    add("groups of 20, ours/node deliveries/s at p99 < 200 ms", ratios("group").get("ours/node"), ">=", 1.0)
    idle = medians("idle")
    node_kib = idle.get("node", {}).get("kibPerConnection")
    ours_kib = idle.get("ours", {}).get("kibPerConnection")
    add(
        "idle KiB per connection, ours/node",
        None if not node_kib or ours_kib is None else ours_kib / node_kib,
        "<=",
        1.0,
    )
    add("connects/s, ours/node", ratios("idle").get("ours/node"), ">=", 1.0)
    if full:
        ours_idle = [r for r in runs.get("idle", []) if r.get("server") == "ours"]
        held = min((int(r.get("open") or 0) for r in ours_idle), default=0)
        clean = all(not r.get("errors") and not r.get("fatal") for r in ours_idle)
        out.append(
            {
                "target": "10,000 idle connections held, no errors (ours)",
                "value": held,
                "goal": ">= 10000",
                "met": held >= 10_000 and clean,
            }
        )
    h = health(runs)
    out.append(
        {
            "target": "zero lost messages and zero errors, every run",
            "value": h["errors"] + h["lost"],
            "goal": "== 0",
            "met": h["ok"],
        }
    )
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return str(v)


def markdown(scenarios: dict[str, Any]) -> str:
    lines = []
    for name in ("direct", "group", "idle", "history", "crossnode", "transport"):
        entry = scenarios.get(name)
        if entry is None:
            continue
        if entry.get("skipped"):
            lines += [f"**{name}**: skipped ({entry['skipped']})", ""]
            continue
        medians = entry["medians"]
        keys = list(METRICS[name])
        counts = ", ".join(f"{server}: {m['runs']}" for server, m in medians.items())
        lines.append(f"**{name}** (medians; runs per server {counts})")
        lines.append("")
        lines.append("| server | " + " | ".join(keys) + " |")
        lines.append("|---|" + "---|" * len(keys))
        for server, m in medians.items():
            lines.append(f"| {server} | " + " | ".join(_fmt(m.get(k)) for k in keys) + " |")
        if entry.get("ratios"):
            lines.append("")
            lines.append("ratios: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in entry["ratios"].items()))
        lines.append("")
    return "\n".join(lines)


def targets_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | goal | measured | met |", "|---|---|---|---|"]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        lines.append(f"| {row['target']} | {row['goal']} | {_fmt(row['value'])} | {met} |")
    return "\n".join(lines)
