"""The fault schedule of a soak run, drawn from its seed: what happens when, to which part.

Faults run one after another (never two at once), so at most one node is down at a time and
every fault's effect can be told apart in the history. The kinds come in rounds, each kind once
per round in an order drawn from the seed, so even a short run meets every kind.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["kill", "drain", "redis", "throttle", "latency", "lost"]
KINDS: tuple[FaultKind, ...] = ("kill", "drain", "redis", "throttle", "latency", "lost")
FIRST_FAULT_S = 5.0
GAP_S = (2.0, 5.0)
QUIET_END_S = 4.0
#: half the kills keep the node down longer than the soak's node TTL (cluster.PRESENCE_TTL_S)
LONG_KILL_SHARE = 0.5
LONG_KILL_S = (12.0, 15.0)


@dataclass(frozen=True, slots=True)
class Fault:
    at: float
    kind: FaultKind
    node: int  # the node a node fault hits (ignored by the others)
    seconds: float  # how long the part stays broken

    def describe(self) -> str:
        target = f"node {self.node}" if self.kind in ("kill", "drain") else self.kind
        return f"{self.at:7.1f}s {self.kind:<8} {target} for {self.seconds:.1f}s"


def schedule(seed: int, run_seconds: float, nodes: int) -> list[Fault]:
    draw = random.Random(f"faults-{seed}")
    faults: list[Fault] = []
    at = FIRST_FAULT_S
    round_: list[FaultKind] = []
    while at < run_seconds - QUIET_END_S:
        if not round_:
            round_ = draw.sample(KINDS, len(KINDS))
        kind = round_.pop()
        if kind == "kill" and draw.random() < LONG_KILL_SHARE:
            seconds = draw.uniform(*LONG_KILL_S)  # down past the node TTL: the others reap it
        elif kind in ("kill", "drain", "redis"):
            seconds = draw.uniform(1.0, 3.0)  # back before the TTL: it closes its own records
        else:
            seconds = draw.uniform(3.0, 7.0)
        faults.append(Fault(round(at, 2), kind, draw.randrange(nodes), round(seconds, 2)))
        at += seconds + draw.uniform(*GAP_S)
    return faults
