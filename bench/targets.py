"""What the benchmarks share about their targets."""

from __future__ import annotations

import sys


def say_missed_targets(name: str, result: dict) -> None:
    """One stderr line naming the targets `result["meets_targets"]` says were missed, if any."""
    missed = [target for target, ok in result["meets_targets"].items() if not ok]
    if missed:
        print(f"{name}: missed target(s): {', '.join(missed)}", file=sys.stderr)
