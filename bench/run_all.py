"""`make bench`: every benchmark in pipeline order, each in its own process, one summary.

The order matters: the default preset is trained first (out/default/model.keras), converted
(out/default/model.tflite), then the int8 reference and the device loop are timed on it.
`BENCH=name1,name2 make bench` runs a subset. Results: bench/results/<name>.json and
bench/results/summary.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.common import RESULTS, result_path, write_result

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


def main() -> int:
    wanted = [n for n in os.environ.get("BENCH", "").split(",") if n] or ORDER
    unknown = sorted(set(wanted) - set(ORDER))
    if unknown:
        print(f"bench: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
        return 2
    summary: dict[str, object] = {}
    failed = []
    for name in (n for n in ORDER if n in wanted):
        print(f"bench: {name} ...", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False)
        result_file = result_path(name)
        entry = {
            "exit_code": proc.returncode,
            "wall_seconds": round(time.perf_counter() - start, 1),
        }
        if proc.returncode == 0 and result_file.is_file():
            entry["result"] = json.loads(result_file.read_text())
        else:
            failed.append(name)
        summary[name] = entry
    write_result("summary", summary)
    print(f"bench: results in {RESULTS}/; summary.json")
    if failed:
        print(f"bench: failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
