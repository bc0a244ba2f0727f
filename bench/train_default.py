"""Train the `default` preset on the full Fashion-MNIST and measure it against its targets.

Targets (issue 13): test accuracy >= 94.0% on the full test set, <= 100k parameters, <= 15
minutes wall time on a 2-core machine. The wall time depends on what else the machine runs,
so the training throughput (images/s) and the CPU seconds per 1000 training images stand
beside it. The model goes to out/default/ (the later benchmarks convert and time it); the
figures to bench/results/train_default.json.

    .venv/bin/python -m bench.train_default
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

from bench.common import DEFAULT_DIR, load_average, write_result

TARGETS = {"test_accuracy_min": 0.940, "params_max": 100_000, "minutes_max": 15.0}


def main() -> int:
    started = time.perf_counter()
    load_before = load_average()
    from edgecnn.train.command import TrainOptions, run_train
    from edgecnn.train.presets import get_preset

    report = run_train(
        TrainOptions(preset="default", out=DEFAULT_DIR, progress=sys.stderr.isatty())
    )
    wall = time.perf_counter() - started
    result = {
        "test_accuracy": report["test_accuracy"],
        "params": report["params"],
        "seconds": round(wall, 1),
        "minutes": round(wall / 60, 2),
        "train_seconds": report["train_seconds"],
        "images_per_second": report["images_per_second"],
        "cpu_seconds_per_1000_images": report["cpu_seconds_per_1000_images"],
        # CPU time of the whole run, all threads: on a machine of its own, a 2-core run's wall
        # time is at least half of it.
        "process_cpu_minutes": round(time.process_time() / 60, 2),
        "epochs": report["epochs"],
        "best_epoch": report["best_epoch"],
        "config": dataclasses.asdict(get_preset("default")),
        "targets": TARGETS,
        "meets_targets": {
            "test_accuracy": report["test_accuracy"] >= TARGETS["test_accuracy_min"],
            "params": report["params"] <= TARGETS["params_max"],
            "minutes": wall / 60 <= TARGETS["minutes_max"],
        },
        "per_class_accuracy": report["per_class_accuracy"],
        "history": report["history"],
        "model": str(DEFAULT_DIR / "model.keras"),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "versions": report["versions"],
    }
    print(write_result("train_default", result))
    print(
        f"train_default: {100 * result['test_accuracy']:.2f}% with {result['params']:,} "
        f"parameters in {result['minutes']:.2f} min ({result['images_per_second']:.0f} "
        "training images/s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
