"""The model and inputs the reference benchmarks time: the `default` preset's int8 model and
the 10,000 Fashion-MNIST test images as its input.

`make bench` trains and converts out/default before these run (bench.train_default, then
bench.convert_quality). Run alone, a benchmark takes $BENCH_MODEL if set, else
out/default/model.tflite, and makes that when it is missing: `edgecnn train --preset
default` (about 15 minutes on 2 cores) and `edgecnn convert`, into out/default as the
pipeline would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "out" / "default"


def default_model() -> Path:
    """$BENCH_MODEL, else out/default/model.tflite (trained and converted when missing)."""
    if os.environ.get("BENCH_MODEL"):
        return Path(os.environ["BENCH_MODEL"])
    model = DEFAULT_DIR / "model.tflite"
    if model.is_file():
        return model
    keras_model = DEFAULT_DIR / "model.keras"
    if not keras_model.is_file():
        print("bench: training the default preset into out/default (~15 min)", file=sys.stderr)
        edgecnn("train", "--preset", "default", "--out", str(DEFAULT_DIR))
    edgecnn("convert", str(keras_model), "--out", str(model))
    return model


def edgecnn(*args: str) -> None:
    """One edgecnn command, its report on stderr (stdout is the benchmark's JSON)."""
    subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args], check=True, stdout=sys.stderr.fileno()
    )


def test_images(bundle) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images as the bundle's model input (its input range, quantised), and
    their labels: what `edgecnn verify` feeds the three engines."""
    from edgecnn.convert.verify import dataset_inputs
    from edgecnn.reference.interpreter import ReferenceInterpreter

    (x,), labels = dataset_inputs(ReferenceInterpreter(bundle.graph), bundle, None, None)
    return x, labels


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]
