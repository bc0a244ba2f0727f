"""Conversion quality of the `default` model: int8 vs float accuracy, size, calibration sweep.

Targets (issue 3): int8 accuracy within 0.3 points of float on the full test set (default
preset; tiny: 0.5), int8 file <= 30% of the float .tflite. Also measures how the number of
calibration images moves int8 accuracy (the basis of the default), and what per-tensor
FULLY_CONNECTED weights (Edge TPU compiler 16) cost.

    .venv/bin/python -m bench.convert_quality          # out/default/model.keras
    BENCH_KERAS=out/demo/model.keras .venv/bin/python -m bench.convert_quality
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "convert_quality.json"
SWEEP = (50, 100, 250, 500, 1000, 2000)


def main() -> int:
    from edgecnn.atomic import atomic_write_text
    from edgecnn.convert import quantize
    from edgecnn.convert.command import run_convert
    from edgecnn.convert.evaluate import tflite_accuracy
    from edgecnn.data import load_fashion_mnist

    keras_path = Path(os.environ.get("BENCH_KERAS", ROOT / "out" / "default" / "model.keras"))
    if not keras_path.is_file():
        print(
            f"convert_quality: {keras_path} missing: run `python -m bench.train_default` first",
            file=sys.stderr,
        )
        return 2
    start = time.perf_counter()
    report = run_convert(keras_path, out=keras_path.with_name("model.tflite"))
    loaded = quantize.load_float_model(keras_path)
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    x_test = quantize.to_model_images(test.images, loaded.input_shape)
    sweep = []
    for n in SWEEP:
        calibration = quantize.to_model_images(
            train.images[quantize.stratified_sample(train.labels, n)], loaded.input_shape
        )
        t0 = time.perf_counter()
        model = quantize.convert_int8(loaded, calibration)
        seconds = time.perf_counter() - t0
        sweep.append({"calibration_samples": n, "int8_accuracy": tflite_accuracy(model, x_test, test.labels),
                      "convert_seconds": round(seconds, 1)})  # fmt: skip
        print(
            f"calibration {n:>5}: int8 accuracy {100 * sweep[-1]['int8_accuracy']:.2f}%",
            file=sys.stderr,
        )
    calibration = quantize.to_model_images(
        train.images[quantize.stratified_sample(train.labels, 500)], loaded.input_shape
    )
    per_tensor_fc = quantize.convert_int8(loaded, calibration, per_tensor_dense=True)
    result = {
        "model": str(keras_path),
        "float_accuracy": report["float_accuracy"],
        "int8_accuracy": report["int8_accuracy"],
        "accuracy_drop_points": report["accuracy_drop_points"],
        "float_tflite_bytes": report["float_tflite_bytes"],
        "int8_tflite_bytes": report["int8_tflite_bytes"],
        "size_ratio": report["size_ratio"],
        "ops": report["ops"],
        "macs_per_inference": report["macs_per_inference"],
        "calibration_sweep": sweep,
        "edgetpu_per_tensor_fc_int8_accuracy": tflite_accuracy(per_tensor_fc, x_test, test.labels),
        "meets_targets": {
            "drop_within_0.3_points": report["accuracy_drop_points"] <= 0.3,
            "size_at_most_30_percent": report["size_ratio"] <= 0.30,
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    text = json.dumps(result, indent=2)
    atomic_write_text(RESULT, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
