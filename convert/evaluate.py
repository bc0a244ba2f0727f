"""Accuracy of a .tflite model on labelled images, with the LiteRT interpreter (no TensorFlow)."""

from __future__ import annotations

import numpy as np

from edgecnn.native_output import quiet_native_output
from edgecnn.quantization import quantize_tensor
from edgecnn.tflite_model import read_model


def tflite_predictions(model: bytes, x: np.ndarray) -> np.ndarray:
    """Argmax class of each real-valued image in `x` [N, H, W, C] (the model's input range),
    quantised for the model's input tensor with TFLite's rule."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet_native_output():
        interpreter = Interpreter(model_content=model, num_threads=1)
        interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    q = quantize_tensor(x, read_model(model).tensors[input_index])
    predictions = np.empty(len(q), dtype=np.int64)
    for i in range(len(q)):
        interpreter.set_tensor(input_index, q[i : i + 1])
        interpreter.invoke()
        predictions[i] = int(np.argmax(interpreter.get_tensor(output_index)[0]))
    return predictions


def tflite_accuracy(model: bytes, x: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(tflite_predictions(model, x) == labels))
