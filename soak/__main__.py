"""python -m soak [--seconds S] [--seed N] [--users U] [--think T] [--dynamodb moto|stub]
(or SOAK_SECONDS / SOAK_SEED / SOAK_USERS / SOAK_THINK_S / SOAK_DYNAMODB)

Exits 0 only with zero violations; the last line printed is `N violations`."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
from pathlib import Path

from .run import Options, SoakRun, summary

DEFAULT_HISTORY = Path("soak-results") / "last-history.jsonl"
SHOWN_VIOLATIONS = 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS") or 120))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED") or random.randrange(1 << 31)))
    parser.add_argument("--users", type=int, default=int(os.environ.get("SOAK_USERS") or 200))
    parser.add_argument(
        "--think",
        type=float,
        default=float(os.environ.get("SOAK_THINK_S") or 8.0),
        help="mean seconds between a user's actions",
    )
    parser.add_argument("--history", type=Path, default=DEFAULT_HISTORY, help="where to write the recorded history")
    parser.add_argument(
        "--dynamodb",
        choices=("moto", "stub"),
        default=os.environ.get("SOAK_DYNAMODB") or "moto",
        help="the DynamoDB endpoint: moto_server, or the in-memory stub for long runs",
    )
    args = parser.parse_args(argv)
    print(
        f"soak: seed {args.seed}, {args.seconds:.0f} s, {args.users} users, DynamoDB on {args.dynamodb} "
        f"(SOAK_SEED={args.seed} repeats it)"
    )
    options = Options(
        args.seconds, args.seed, users=args.users, think_s=args.think, history_path=args.history, dynamodb=args.dynamodb
    )
    outcome = asyncio.run(SoakRun(options).execute())
    print("\n".join(summary(outcome)))
    print("fault schedule:\n  " + "\n  ".join(outcome.faults))
    for violation in outcome.violations[:SHOWN_VIOLATIONS]:
        print(violation.report())
    if len(outcome.violations) > SHOWN_VIOLATIONS:
        print(f"... and {len(outcome.violations) - SHOWN_VIOLATIONS} more")
    if outcome.violations:
        print(f"seed {args.seed}; the whole history is in {args.history}")
    print(f"{len(outcome.violations)} violations")
    return 1 if outcome.violations else 0


if __name__ == "__main__":
    sys.exit(main())
