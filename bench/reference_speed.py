"""Speed of the NumPy int8 reference against TFLite's reference and optimized kernels.

Target (issue 4): over the 10,000 test images, the NumPy reference takes no longer than
TFLite's reference kernels (ratio <= 1.0). The three engines run interleaved, REPEATS
times, in one process; medians and the ratio of medians are reported.

    .venv/bin/python -m bench.reference_speed        # out/default/model.tflite
    BENCH_MODEL=out/demo/model.tflite .venv/bin/python -m bench.reference_speed
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "reference_speed.json"
REPEATS = 3


def pick_model() -> Path | None:
    if os.environ.get("BENCH_MODEL"):
        return Path(os.environ["BENCH_MODEL"])
    for candidate in (
        ROOT / "out" / "default" / "model.tflite",
        ROOT / "out" / "demo" / "model.tflite",
    ):
        if candidate.is_file():
            return candidate
    return None


def time_tflite(interpreter, x: np.ndarray) -> float:
    index = interpreter.get_input_details()[0]["index"]
    start = time.perf_counter()
    for b in range(len(x)):
        interpreter.set_tensor(index, x[b : b + 1])
        interpreter.invoke()
    return time.perf_counter() - start


def main() -> int:
    from edgecnn.atomic import atomic_write_text
    from edgecnn.backends import import_backend
    from edgecnn.bundle import open_bundle
    from edgecnn.convert.verify import dataset_inputs
    from edgecnn.reference.interpreter import ReferenceInterpreter

    model = pick_model()
    if model is None:
        print(
            "reference_speed: no model: run make demo or python -m bench.convert_quality first",
            file=sys.stderr,
        )
        return 2
    bundle = open_bundle(model)
    ri = ReferenceInterpreter(bundle.graph)
    (x,), labels = dataset_inputs(ri, bundle, None, None)
    litert = import_backend("litert")
    reference = litert.open(bundle.file, kernels="reference")
    optimized = litert.open(bundle.file, threads=1)
    times: dict[str, list[float]] = {
        "numpy_reference": [],
        "tflite_reference_kernels": [],
        "tflite_optimized_kernels": [],
    }
    for repeat in range(REPEATS):
        start = time.perf_counter()
        (out,) = ri.run(x)
        times["numpy_reference"].append(time.perf_counter() - start)
        times["tflite_reference_kernels"].append(time_tflite(reference, x))
        times["tflite_optimized_kernels"].append(time_tflite(optimized, x))
        print(
            f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
            file=sys.stderr,
        )
    medians = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "model": str(model),
        "images": len(x),
        "repeats": REPEATS,
        "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "median_seconds": {k: round(v, 3) for k, v in medians.items()},
        "ratio_numpy_over_reference_kernels": round(
            medians["numpy_reference"] / medians["tflite_reference_kernels"], 3
        ),
        "ratio_numpy_over_optimized_kernels": round(
            medians["numpy_reference"] / medians["tflite_optimized_kernels"], 3
        ),
        "numpy_accuracy": float(np.mean(out.reshape(len(out), -1).argmax(1) == labels)),
        "meets_target": medians["numpy_reference"] <= medians["tflite_reference_kernels"],
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    text = json.dumps(result, indent=2)
    atomic_write_text(RESULT, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
