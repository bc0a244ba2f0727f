"""Run a fuzz case as a user would (the `edgecnn` CLI in a subprocess) and judge its end.

A case passes when the command ends on its own, within its time, without a signal, and:

- exit 0 (it accepted the input), or exit 2 with one error line (it refused it cleanly:
  `edgecnn: error: ...`, or click's `Error: ...` for an option's value), or for verify,
  exit 1 with its "verify failed" lines (a damaged model computing something else);
- no Python traceback on stderr;
- nothing half-written in the case's folder: no temporary file left (`*.tmp*`, a probe),
  and each output the case names is whole (its own `check`).

Used by the tests (a small, fixed set of seeds) and by `bench/fuzz.py` (many more).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

LEFTOVER = re.compile(r"\.tmp|^\.edgecnn-probe\.")
ERROR_LINE = re.compile(r"^(edgecnn: error: |Error: )")
ENV = {
    **os.environ,
    "EDGECNN_OFFLINE": "1",  # never download
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "EDGECNN_DEBUG": "",
    "QT_QPA_PLATFORM": "offscreen",
}
ENV.pop("DISPLAY", None)


@dataclass(frozen=True)
class Case:
    """One command on one damaged input.

    `workdir` is the case's own folder (its inputs and outputs); `check(workdir, exit code)`
    returns what is wrong with the outputs (half-written, unplayable, ...), if anything.
    """

    kind: str
    args: tuple[str, ...]
    workdir: Path
    note: str
    timeout: float = 90.0
    check: Callable[[Path, int], list[str]] | None = field(default=None, compare=False)

    @property
    def command(self) -> str:
        return self.args[0]

    def describe(self) -> str:
        shown = " ".join(a if len(a) < 120 else a[:117] + "..." for a in self.args)
        return f"[{self.kind}] {self.note}: edgecnn {shown}"


@dataclass
class Outcome:
    case: Case
    returncode: int | None
    verdict: str  # "refused", "accepted" or "failed"
    problems: list[str]
    stderr: str
    seconds: float

    def report(self) -> str:
        tail = "\n    ".join(self.stderr.strip().splitlines()[-6:])
        return f"{self.case.describe()}\n  {'; '.join(self.problems)}\n    {tail}"


def run_case(case: Case) -> Outcome:
    planted = temporary_files(case.workdir)  # part of the damage (a kill's leftovers)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecnn.cli", *case.args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, errors="replace", env=ENV, cwd=case.workdir, start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        return Outcome(case, None, "failed", [f"hang: still running after {case.timeout:.0f} s"],
                       stderr, time.perf_counter() - start)  # fmt: skip
    problems = judge(case, proc.returncode, stderr)
    if not problems and case.check is not None:
        problems = case.check(case.workdir, proc.returncode)
    if not problems:
        left = sorted(temporary_files(case.workdir) - planted)
        problems = [f"left behind: {', '.join(left[:5])}"] if left else []
    verdict = "failed" if problems else "accepted" if proc.returncode == 0 else "refused"
    return Outcome(case, proc.returncode, verdict, problems, stderr, time.perf_counter() - start)


def judge(case: Case, code: int, stderr: str) -> list[str]:
    if code < 0:
        return [f"killed by {signal.Signals(-code).name}"]
    if "Traceback (most recent call last)" in stderr:
        last = stderr.strip().splitlines()[-1]
        return [f"traceback ({last[:200]})"]
    errors = [line for line in stderr.splitlines() if ERROR_LINE.match(line)]
    if code == 0:
        return [f"exit 0 with an error line: {errors[0][:200]}"] if errors else []
    if code == 1 and case.command == "verify" and "edgecnn: verify failed" in stderr:
        return []
    if code == 2:
        return [] if len(errors) == 1 else [f"exit 2 with {len(errors)} error lines"]
    return [f"exit {code}"]


def temporary_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if LEFTOVER.search(p.name)}


def run_cases(cases: Iterable[Case], workers: int = 2) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run_case, cases))


def summary(outcomes: list[Outcome]) -> dict:
    """Counts per input kind and command: tried, accepted, refused cleanly, failed."""
    table: dict[str, dict[str, dict[str, int]]] = {}
    for o in outcomes:
        row = table.setdefault(o.case.kind, {}).setdefault(
            o.case.command, {"tried": 0, "accepted": 0, "refused": 0, "failed": 0}
        )
        row["tried"] += 1
        row[o.verdict] += 1
    return table


def failures(outcomes: list[Outcome]) -> str:
    failed = [o for o in outcomes if o.verdict == "failed"]
    return "\n".join(o.report() for o in failed)
