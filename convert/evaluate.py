"""Accuracy of a .tflite model on labelled images, on the device's own `Runtime` over a
TFLite runtime (ai-edge-litert; TensorFlow's interpreter where it is missing)."""

from __future__ import annotations

import numpy as np

from edgecnn.backends import choose_backend
from edgecnn.bundle import ModelFile
from edgecnn.device.inference.runtime import Runtime
from edgecnn.quantization import quantize_tensor


def tflite_predictions(model: bytes, x: np.ndarray) -> np.ndarray:
    """Argmax class of each real-valued image in `x` [N, H, W, C] (the model's input range),
    quantised for the model's input tensor with TFLite's rule."""
    file = ModelFile.from_bytes(model)
    backend = choose_backend("auto", reference_fallback=False)
    runtime = Runtime(backend.open(file, threads=1), backend.name, file)
    q = quantize_tensor(x, runtime.input_spec)
    return np.array([int(np.argmax(runtime.classify(q[i : i + 1]))) for i in range(len(q))])


def tflite_accuracy(model: bytes, x: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(tflite_predictions(model, x) == labels))
