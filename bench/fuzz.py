"""The fuzz suite with a bigger budget: how each command answers damaged inputs.

Damaged models, model.json files, capture manifests, resume states, URLs, regions of
interest and images (tests/fuzz: fuzz_inputs makes the damage, fuzz_cases picks a command,
fuzz_harness runs the real CLI and judges the end) on a tiny model trained and converted
here. Reported per kind of input and command: cases tried, accepted (exit 0), refused
cleanly (exit 2 and one error line; verify's exit 1 on a model computing something else)
and failed (a traceback, a signal, a hang, or something left half-written), with each
failure's seed folder, damage and stderr. The tests run seeds 0..N of each kind; this runs
others (FUZZ_SEED, default 1000), so each run adds coverage rather than repeating it.

    .venv/bin/python -m bench.fuzz                  # the default budget (about 1,600 cases)
    FUZZ_SCALE=0.1 FUZZ_SEED=5000 .venv/bin/python -m bench.fuzz

Exit 1 when any case failed (the JSON is written either way, and the failed cases' folders
are kept; FUZZ_KEEP=1 keeps every folder).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, load_average, result_path, write_result

BUDGET = {
    "model": 400,
    "model.json": 300,
    "manifest": 150,
    "resume": 30,
    "url": 250,
    "roi": 200,
    "image": 300,
}

sys.path[:0] = [str(ROOT / "tests" / "fuzz"), str(ROOT / "tests")]  # the suite's modules


def tiny_model(folder: Path) -> Path:
    """The tiny preset trained briefly and converted: what the cases damage and run."""
    from fuzz_cases import edgecnn

    edgecnn("train", "--preset", "tiny", "--epochs", "2", "--limit", "6000", "--seed", "1",
            "--out", str(folder / "tiny"))  # fmt: skip
    tflite = folder / "tiny" / "model.tflite"
    edgecnn("convert", str(folder / "tiny" / "model.keras"), "--out", str(tflite),
            "--eval-samples", "500")  # fmt: skip
    return tflite


def main() -> int:
    from fuzz_cases import CASE_KINDS, make_materials
    from fuzz_harness import run_cases, summary

    scale = float(os.environ.get("FUZZ_SCALE", "1"))
    first_seed = int(os.environ.get("FUZZ_SEED", "1000"))
    workers = max(1, min(4, os.cpu_count() or 1))
    work = Path(tempfile.mkdtemp(prefix="edgecnn-fuzz-"))
    keep = bool(os.environ.get("FUZZ_KEEP"))
    try:
        print("fuzz: training and converting the tiny model, capturing a data set, "
              "interrupting a run", flush=True)  # fmt: skip
        materials = make_materials(work / "materials", tiny_model(work))
        start = time.perf_counter()
        outcomes = []
        for kind, count in BUDGET.items():
            seeds = range(first_seed, first_seed + max(1, round(count * scale)))
            cases = [CASE_KINDS[kind](materials, work / "cases", seed) for seed in seeds]
            kind_outcomes = run_cases(cases, workers)
            outcomes += kind_outcomes
            failed = sum(o.verdict == "failed" for o in kind_outcomes)
            print(f"fuzz: {kind}: {len(cases)} cases, {failed} failed", flush=True)
            for outcome in kind_outcomes:  # keep the disk small: a failure's folder stays
                if outcome.verdict != "failed":
                    shutil.rmtree(outcome.case.workdir, ignore_errors=True)
        seconds = time.perf_counter() - start
        failures = [o for o in outcomes if o.verdict == "failed"]
        table = summary(outcomes)
        result = {
            "cases": len(outcomes),
            "accepted": sum(o.verdict == "accepted" for o in outcomes),
            "refused": sum(o.verdict == "refused" for o in outcomes),
            "failed": len(failures),
            "by_kind_and_command": table,
            "first_seed": first_seed,
            "scale": scale,
            "workers": workers,
            "seconds": round(seconds, 1),
            "load_average": load_average(),
            "failures": [o.report() for o in failures],
        }
        write_result("fuzz", result)
        print(format_table(table))
        print(
            f"fuzz: {len(outcomes)} cases in {seconds:.0f} s ({workers} at a time, load "
            f"{result['load_average'][0]}): {result['accepted']} accepted, "
            f"{result['refused']} refused cleanly, {len(failures)} failed -> "
            f"{result_path('fuzz')}"
        )
        for outcome in failures:
            print(outcome.report())
        if failures:
            keep = True
            print(f"fuzz: the failed cases' folders are in {work / 'cases'}")
        return 1 if failures else 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def format_table(table: dict) -> str:
    lines = [f"{'input':<12}{'command':<10}{'tried':>7}{'accepted':>10}{'refused':>9}{'failed':>8}"]
    for kind, commands in table.items():
        for command, row in sorted(commands.items()):
            lines.append(
                f"{kind:<12}{command:<10}{row['tried']:>7}{row['accepted']:>10}"
                f"{row['refused']:>9}{row['failed']:>8}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
