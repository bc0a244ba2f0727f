"""What the benchmark scripts share: one BLAS thread, the load average, the model they
measure, the test images as its input, and writing a result where `bench.run_all` reads it.

The model: $BENCH_MODEL if set, else out/default/model.tflite. `make bench` trains and
converts out/default first (bench.train_default, then bench.convert_quality); a benchmark run
alone makes it when it is missing: `edgecnn train --preset default` (about 15 minutes on 2
cores) and `edgecnn convert`, into out/default as the pipeline would.

Nothing here imports NumPy at module level: `one_blas_thread()` must run before it loads.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from edgecnn.bundle import ModelBundle

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DIR = ROOT / "out" / "default"
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """One thread for NumPy's BLAS and OpenMP, and TensorFlow's C++ logs quiet. Call before
    NumPy loads: its BLAS reads these once. (A multi-threaded BLAS on a busy machine spends
    its time waiting for its threads, and TFLite's kernels here run on one.)"""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in BLAS_THREADS:
        os.environ[name] = "1"


def blas_threads() -> dict[str, str]:
    """The thread settings a result records beside its figures."""
    return {name: os.environ.get(name, "") for name in BLAS_THREADS[:2]}


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# The distributions whose versions say what was measured (the runtimes, the arithmetic, the
# frame path, the page and MQTT).
KEY_PACKAGES = ("numpy", "tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert",
                "tflite-runtime", "tflite-micro", "opencv-python-headless", "opencv-python",
                "aiohttp", "paho-mqtt")  # fmt: skip


# The instruction sets the int8 and float kernels use when the CPU has them.
CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8")


def machine() -> dict:
    """What the figures were measured on: the CPU, its cores, the memory, the OS, Python, the
    key packages' versions, and the load average now (the machine may be shared)."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in KEY_PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            packages[name] = version(name)
    flags = (_proc_field("/proc/cpuinfo", "flags") or "").split()
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cpu_features": [f for f in CPU_FEATURES if f in flags],
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": _os_name(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "packages": packages,
        "load_average": load_average(),
    }


def _proc_field(path: str, key: str) -> str | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def _memory_gb() -> float | None:
    kib = _proc_field("/proc/meminfo", "MemTotal")
    return round(int(kib.split()[0]) / 2**20, 1) if kib else None


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release()["PRETTY_NAME"]
    except (OSError, KeyError):
        return f"{platform.system()} {platform.release()}"


def bench_model() -> tuple[str, Path]:
    """(name, path) of the model to measure: $BENCH_MODEL, else the `default` preset's int8
    model, trained and converted when missing."""
    if os.environ.get("BENCH_MODEL"):
        return "$BENCH_MODEL", Path(os.environ["BENCH_MODEL"])
    model = DEFAULT_DIR / "model.tflite"
    if model.is_file():
        return "default", model
    keras_model = DEFAULT_DIR / "model.keras"
    if not keras_model.is_file():
        print(f"bench: training the default preset into {DEFAULT_DIR} (~15 min)", file=sys.stderr)
        edgecnn("train", "--preset", "default", "--out", str(DEFAULT_DIR))
    print(f"bench: converting {keras_model}", file=sys.stderr)
    edgecnn("convert", str(keras_model), "--out", str(model))
    return "default", model


def edgecnn(*args: str) -> None:
    """One edgecnn command, its report on stderr (stdout is the benchmark's JSON)."""
    subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args], check=True, stdout=sys.stderr.fileno()
    )


def test_images(bundle: ModelBundle) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images as the bundle's model input (its input range, quantised), and
    their labels: what `edgecnn verify` feeds the three engines."""
    from edgecnn.convert.verify import dataset_inputs
    from edgecnn.reference.interpreter import ReferenceInterpreter

    (x,), labels = dataset_inputs(ReferenceInterpreter(bundle.graph), bundle, None, None)
    return x, labels


def write_result(name: str, result: dict | list) -> str:
    """`result` as bench/results/NAME.json (whole or not at all), and a stderr line naming
    the targets its "meets_targets" says were missed, if any; the JSON text returned."""
    from bench.targets import say_missed_targets
    from edgecnn.atomic import atomic_write_text

    text = json.dumps(result, indent=2)
    atomic_write_text(result_path(name), text + "\n")
    if isinstance(result, dict) and "meets_targets" in result:
        say_missed_targets(name, result)
    return text


def result_path(name: str) -> Path:
    return RESULTS / f"{name}.json"
