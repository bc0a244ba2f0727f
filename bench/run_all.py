"""`make bench`: every benchmark in pipeline order, each in its own process, one summary,
then docs/benchmarks.md (`bench.report`).

The order matters: the default preset is trained first (out/default/model.keras), converted
(out/default/model.tflite), then the int8 reference and the device loop are timed on it.
`BENCH=name1,name2 make bench` runs a subset: their entries replace those of the last run in
the summary, the others stay, each with its own date and load average. Results:
bench/results/<name>.json and bench/results/summary.json (the machine, and per benchmark its
exit code, wall time, start and load average before and after).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime

from bench.common import RESULTS, load_average, machine, result_path, write_result

ORDER = [
    "train_default",
    "convert_quality",
    "reference_speed",
    "reference_live",
    "reference_mobilenet",
    "device_latency",
    "self_check",
    "device_memory",
    "serve_load",
    "mqtt_outage",
    "model_reload",
    "own_objects",
    "fuzz",
]


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def last_entries() -> dict:
    """The benchmarks of the last summary (a subset run keeps the others)."""
    path = result_path("summary")
    try:
        return json.loads(path.read_text()).get("benchmarks", {})
    except (OSError, ValueError, AttributeError):
        return {}


def main() -> int:
    wanted = [n for n in os.environ.get("BENCH", "").split(",") if n] or ORDER
    unknown = sorted(set(wanted) - set(ORDER))
    if unknown:
        print(f"bench: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
        return 2
    summary = {"machine": machine(), "started": now()}
    entries = {name: entry for name, entry in last_entries().items() if name in ORDER}
    failed = []
    started = time.perf_counter()
    for name in (n for n in ORDER if n in wanted):
        print(f"bench: {name} ...", flush=True)
        entry = {"started": now(), "load_average_before": load_average()}
        start, start_wall = time.perf_counter(), time.time()
        proc = subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False)
        entry["wall_seconds"] = round(time.perf_counter() - start, 1)
        entry["load_average_after"] = load_average()
        entry["exit_code"] = proc.returncode
        result_file = result_path(name)
        # A benchmark that missed a target exits 1 with its figures written: they are shown
        # (as missed), not hidden; only a result from this run counts.
        if result_file.is_file() and result_file.stat().st_mtime >= start_wall:
            entry["result"] = json.loads(result_file.read_text())
        if proc.returncode != 0:
            failed.append(name)
        entries[name] = entry
    summary.update(
        finished=now(),
        wall_seconds=round(time.perf_counter() - started, 1),
        load_average_end=load_average(),
        benchmarks={name: entries[name] for name in ORDER if name in entries},
    )
    write_result("summary", summary)
    print(f"bench: results in {RESULTS}/; summary.json")
    from bench.report import write_report

    print(f"bench: {write_report(summary)}")
    if failed:
        print(f"bench: failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
