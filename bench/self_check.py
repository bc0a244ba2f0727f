"""The start-up self-check's cost (issue 20: at most a few ms on x86 for a converted model).

Measured in this process on the model device_latency measures: the self-check of LiteRT's
optimized kernels on the model's golden vectors (the first check after opening the
interpreter, and the median of later ones), beside opening the interpreter itself; the
same on the NumPy reference backend; and a foreign copy of the model (no model.json),
checked on random inputs against the NumPy reference.

    .venv/bin/python -m bench.self_check
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import bench_model, load_average, one_blas_thread, write_result

one_blas_thread()  # before NumPy loads its BLAS: as the other NumPy backend benchmarks

REPEATS = 50
TARGET_MS = 5.0  # "a few milliseconds" on x86, golden vectors through LiteRT


def measure(model: Path, backend: str, repeats: int) -> dict:
    from edgecnn.bundle import open_bundle
    from edgecnn.device.inference.runtime import check_runtime, load_runtime

    bundle = open_bundle(model)
    start = time.perf_counter()
    runtime = load_runtime(bundle, backend, edgetpu="off")
    opened_ms = 1000 * (time.perf_counter() - start)
    first = check_runtime(runtime, bundle)
    later = [check_runtime(runtime, bundle).ms for _ in range(repeats)]
    return {
        "backend": backend,
        "checked": first.checked,
        "status": first.status,
        "open_interpreter_ms": round(opened_ms, 3),
        "first_ms": first.ms,
        "median_ms": round(statistics.median(later), 3),
        "repeats": repeats,
    }


def main() -> int:
    name, model = bench_model()
    results = {
        "model": str(model),
        "model_name": name,
        "golden_litert": measure(model, "litert", REPEATS),
        "golden_reference": measure(model, "reference", 5),
    }
    with tempfile.TemporaryDirectory() as folder:
        foreign = Path(folder) / "foreign.tflite"
        shutil.copy(model, foreign)
        results["random_litert"] = measure(foreign, "litert", 5)
    results["load_average"] = load_average()
    results["target_ms"] = TARGET_MS
    results["meets_targets"] = {"median_ms": results["golden_litert"]["median_ms"] <= TARGET_MS}
    for key in ("golden_litert", "golden_reference", "random_litert"):
        r = results[key]
        print(f"{key:<17} first {r['first_ms']:8.2f} ms  median {r['median_ms']:8.2f} ms  "
              f"(opening the interpreter {r['open_interpreter_ms']:.1f} ms): {r['checked']}",
              file=sys.stderr)  # fmt: skip
    write_result("self_check", results)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
