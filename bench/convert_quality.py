"""Conversion quality: int8 vs float accuracy, size, calibration sweep, Edge TPU and input costs.

Targets (issue 3), on the full 10,000-image test set: `default` preset int8 accuracy within
0.3 points of float, `tiny` within 0.5; int8 file <= 30% of the float .tflite. Also measured:
how the number of calibration images moves int8 accuracy (three stratified draws per size:
the basis of the default), what per-tensor FULLY_CONNECTED weights (Edge TPU compiler 16)
cost, and what a uint8 input costs against an int8 one.

    .venv/bin/python -m bench.convert_quality                 # out/default + out/tiny
    .venv/bin/python -m bench.convert_quality a/model.keras   # given models
    BENCH_KERAS=a/model.keras,b/model.keras .venv/bin/python -m bench.convert_quality

out/default/model.keras comes from `python -m bench.train_default`; out/tiny/model.keras is
trained here (about a minute) when missing. Each model is converted with `edgecnn convert`'s
Python API to model.tflite beside it (the later benchmarks time out/default/model.tflite).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import DEFAULT_DIR, ROOT, write_result

SWEEP = (25, 50, 100, 250, 500, 1000, 2000)
SEEDS = (0, 1, 2)
MAX_DROP = {"default": 0.3, "tiny": 0.5}
INVOKES = 2000


def log(message: str) -> None:
    print(f"convert_quality: {message}", file=sys.stderr, flush=True)


def preset_name(keras_path: Path) -> str:
    config = keras_path.with_name("config.toml")
    if config.is_file():
        import tomllib

        return str(tomllib.loads(config.read_text()).get("name", keras_path.parent.name))
    return keras_path.parent.name


def invoke_microseconds(model: bytes) -> float:
    """Median time of one invoke() at batch 1 (the uint8 vs int8 input cost)."""
    from edgecnn.backends import import_backend
    from edgecnn.bundle import ModelFile

    interpreter = import_backend("litert").open(ModelFile.from_bytes(model), threads=1)
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    times = []
    for _ in range(INVOKES):
        t0 = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - t0)
    return round(1e6 * float(np.median(times)), 1)


def measure(keras_path: Path) -> dict:
    from edgecnn.convert import quantize
    from edgecnn.convert.command import DEFAULT_CALIBRATION_SAMPLES, ConvertOptions, run_convert
    from edgecnn.convert.evaluate import tflite_accuracy
    from edgecnn.data import load_fashion_mnist
    from edgecnn.tflite_model import read_model

    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the report table; stdout is for the JSON
        report = run_convert(ConvertOptions(keras_path, out=keras_path.with_name("model.tflite")))
    loaded = quantize.load_float_model(keras_path)
    test = load_fashion_mnist("test")
    x_test = quantize.to_model_images(test.images, loaded.input_shape)

    def calibration(n: int, seed: int) -> np.ndarray:
        return quantize.calibration_images(loaded, n, seed=seed)

    sweep = []
    for n in SWEEP:
        accuracies, seconds = [], []
        for seed in SEEDS:
            t0 = time.perf_counter()
            model = quantize.convert_int8(loaded, calibration(n, seed))
            seconds.append(time.perf_counter() - t0)
            accuracies.append(tflite_accuracy(model, x_test, test.labels))
        sweep.append(
            {
                "calibration_samples": n,
                "int8_accuracy_per_seed": [round(a, 4) for a in accuracies],
                "int8_accuracy_mean": round(float(np.mean(accuracies)), 5),
                "drop_points_worst": round(100 * (report["float_accuracy"] - min(accuracies)), 2),
                "convert_seconds_mean": round(float(np.mean(seconds)), 2),
            }
        )
        log(f"{keras_path}: {n:>5} calibration images: int8 {accuracies}")

    default_n = DEFAULT_CALIBRATION_SAMPLES
    per_channel, per_tensor = [], []
    for seed in SEEDS:
        images = calibration(default_n, seed)
        per_channel.append(
            tflite_accuracy(quantize.convert_int8(loaded, images), x_test, test.labels)
        )
        tpu = quantize.convert_int8(loaded, images, per_tensor_dense=True)
        per_tensor.append(tflite_accuracy(tpu, x_test, test.labels))
    images = calibration(default_n, 0)
    uint8_in = quantize.convert_int8(loaded, images, input_type="uint8")
    int8_in = quantize.convert_int8(loaded, images, input_type="int8")
    name = preset_name(keras_path)
    max_drop = MAX_DROP.get(name, 0.3)
    return {
        "model": str(keras_path),
        "preset": name,
        "float_accuracy": report["float_accuracy"],
        "int8_accuracy": report["int8_accuracy"],
        "accuracy_drop_points": report["accuracy_drop_points"],
        "test_samples": report["test_samples"],
        "calibration_samples": report["calibration_samples"],
        "float_tflite_bytes": report["float_tflite_bytes"],
        "int8_tflite_bytes": report["int8_tflite_bytes"],
        "size_ratio": report["size_ratio"],
        "ops": report["ops"],
        "macs_per_inference": report["macs_per_inference"],
        "calibration_sweep": sweep,
        "edgetpu_per_tensor_fc": {
            "calibration_samples": default_n,
            "int8_accuracy_per_channel_fc": [round(a, 4) for a in per_channel],
            "int8_accuracy_per_tensor_fc": [round(a, 4) for a in per_tensor],
            "cost_points_mean": round(100 * float(np.mean(per_channel) - np.mean(per_tensor)), 3),
        },
        "input_type_cost": {
            "uint8_input_ops": [op.name for op in read_model(uint8_in).operators][:2],
            "int8_input_ops": [op.name for op in read_model(int8_in).operators][:1],
            "uint8_input_accuracy": round(tflite_accuracy(uint8_in, x_test, test.labels), 4),
            "int8_input_accuracy": round(tflite_accuracy(int8_in, x_test, test.labels), 4),
            "uint8_input_invoke_us": invoke_microseconds(uint8_in),
            "int8_input_invoke_us": invoke_microseconds(int8_in),
        },
        "targets": {
            f"drop_within_{max_drop}_points": report["accuracy_drop_points"] <= max_drop,
            "size_at_most_30_percent": report["size_ratio"] <= 0.30,
        },
        "seconds": round(time.perf_counter() - start, 1),
    }


def tiny_model() -> Path:
    """out/tiny/model.keras, trained with the tiny preset when it is not there yet."""
    path = ROOT / "out" / "tiny" / "model.keras"
    if not path.is_file():
        from edgecnn.train.command import TrainOptions, run_train

        log("training the tiny preset to out/tiny (about a minute)")
        run_train(TrainOptions(preset="tiny", out=path.parent, progress=False))
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    named = args or [p for p in os.environ.get("BENCH_KERAS", "").split(",") if p]
    if named:
        models = [Path(p) for p in named]
    else:
        models = [DEFAULT_DIR / "model.keras"]
        if not models[0].is_file():
            log(f"{models[0]} missing: run `python -m bench.train_default` first")
            return 2
        models.append(tiny_model())
    missing = [str(p) for p in models if not p.is_file()]
    if missing:
        log(f"no model at {', '.join(missing)}")
        return 2
    results = [measure(p) for p in models]
    print(write_result("convert_quality", {"models": results}))
    return 0  # a missed target is recorded in the result (and the report), as elsewhere


if __name__ == "__main__":
    sys.exit(main())
