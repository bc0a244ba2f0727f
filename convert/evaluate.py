"""Accuracy of a .tflite model on labelled images, with the LiteRT interpreter (no TensorFlow)."""

from __future__ import annotations

import numpy as np

from edgecnn.convert.native_log import without_native_notices


def quantize_images(x: np.ndarray, detail: dict) -> np.ndarray:
    """float inputs -> the input tensor's dtype: q = round(x / scale) + zero_point, clamped."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def tflite_predictions(model: bytes, x: np.ndarray) -> np.ndarray:
    """Argmax class of each float image in `x` [N, H, W, C] (inputs in the model's float range)."""
    from ai_edge_litert.interpreter import Interpreter

    with without_native_notices():
        interpreter = Interpreter(model_content=model, num_threads=1)
        interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    q = quantize_images(x, inp)
    predictions = np.empty(len(q), dtype=np.int64)
    for i in range(len(q)):
        interpreter.set_tensor(inp["index"], q[i : i + 1])
        interpreter.invoke()
        predictions[i] = int(np.argmax(interpreter.get_tensor(out["index"])[0]))
    return predictions


def tflite_accuracy(model: bytes, x: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(tflite_predictions(model, x) == labels))
