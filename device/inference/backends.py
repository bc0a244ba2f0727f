"""The TFLite runtimes a device can use, in order of preference, and how to get each.

`ai_edge_litert` (maintained, NumPy 2), the legacy `tflite_runtime` (built against NumPy 1:
refused under NumPy 2, where it crashes), and `tensorflow.lite` (a workstation fallback,
imported only when chosen or fallen back to).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

import numpy as np

from edgecnn.console import warn
from edgecnn.errors import EdgeCnnError
from edgecnn.native_output import quiet_native_output


@dataclass(frozen=True)
class Backend:
    name: str
    module: str  # the module holding Interpreter and load_delegate (tensorflow: under .lite)
    package: str  # what find_spec looks for
    missing: str  # the message when it is not installed


BACKENDS = (
    Backend(
        "litert",
        "ai_edge_litert.interpreter",
        "ai_edge_litert",
        "ai-edge-litert is not installed: pip install ai-edge-litert (wheels for Linux "
        "x86-64/aarch64, macOS arm64; 64-bit Raspberry Pi OS)",
    ),
    Backend(
        "tflite-runtime",
        "tflite_runtime.interpreter",
        "tflite_runtime",
        "tflite-runtime is not installed: prefer --backend litert (pip install "
        "ai-edge-litert); tflite-runtime needs Python <= 3.11 and numpy<2",
    ),
    Backend(
        "tensorflow",
        "tensorflow",
        "tensorflow",
        "TensorFlow is not installed: use --backend litert (pip install ai-edge-litert) on "
        "a device",
    ),
)
BACKEND_NAMES = tuple(b.name for b in BACKENDS)


def import_backend(name: str):
    """(Interpreter class, load_delegate) of one backend, or EdgeCnnError saying how to get it."""
    backend = next((b for b in BACKENDS if b.name == name), None)
    if backend is None:
        raise EdgeCnnError(f"unknown backend {name!r}: choose auto, {', '.join(BACKEND_NAMES)}")
    if importlib.util.find_spec(backend.package) is None:
        raise EdgeCnnError(f"backend {name}: {backend.missing}")
    if name == "tflite-runtime" and int(np.__version__.split(".")[0]) >= 2:
        raise EdgeCnnError(
            f"backend tflite-runtime: it is built against NumPy 1 and crashes under NumPy "
            f"{np.__version__}: pip install 'numpy<2', or use --backend litert "
            "(pip install ai-edge-litert)"
        )
    with quiet_native_output():
        module = importlib.import_module(backend.module)
    if name == "tensorflow":
        return module.lite.Interpreter, module.lite.experimental.load_delegate
    return module.Interpreter, module.load_delegate


def choose_backend(name: str = "auto"):
    """(name, Interpreter, load_delegate): the forced backend, or the first one available."""
    if name != "auto":
        return (name, *import_backend(name))
    reasons = []
    for backend in BACKEND_NAMES:
        try:
            interpreter, load_delegate = import_backend(backend)
        except EdgeCnnError as exc:
            reasons.append(str(exc).split(": ", 1)[1])
            continue
        if backend == "tensorflow":
            warn("using TensorFlow's interpreter (a workstation fallback): on a device install "
                 "ai-edge-litert")  # fmt: skip
        return backend, interpreter, load_delegate
    raise EdgeCnnError(
        "no TFLite runtime is installed: pip install ai-edge-litert "
        f"(or edgecnn[device]) — {'; '.join(reasons)}"
    )
