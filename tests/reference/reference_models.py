"""Small int8 models for the reference tests, converted by the real TFLite converter."""

from __future__ import annotations

import functools
import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@functools.cache
def convert(spec: tuple, io: str = "int8", per_channel: bool = True) -> bytes:
    """Convert the model that `build(spec)` makes to full int8 with `io` input/output."""
    import contextlib
    import io as _io

    import tensorflow as tf

    model, shape = build(spec)
    rng = np.random.default_rng(len(repr(spec)))
    calibration = [rng.uniform(-1, 1, (1, *shape)).astype(np.float32) for _ in range(24)]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([c] for c in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = {"int8": tf.int8, "uint8": tf.uint8}[io]
    converter.inference_output_type = {"int8": tf.int8, "uint8": tf.uint8}[io]
    converter._experimental_disable_per_channel = not per_channel
    with contextlib.redirect_stdout(_io.StringIO()):
        return converter.convert()


def build(spec: tuple):
    """spec = (op, shape, params...) -> (keras model with batch 1, input shape)."""
    import keras

    kind, shape, params = spec[0], spec[1], dict(spec[2])
    keras.utils.set_random_seed(params.pop("seed", 0))
    inputs = keras.Input(shape, batch_size=1)
    x = inputs
    if kind == "conv":
        x = keras.layers.Conv2D(params["filters"], params["kernel"], strides=params["stride"],
                                padding=params["padding"], dilation_rate=params["dilation"],
                                activation=params["activation"])(x)  # fmt: skip
    elif kind == "depthwise":
        x = keras.layers.DepthwiseConv2D(params["kernel"], strides=params["stride"], padding=params["padding"],
                                         depth_multiplier=params["multiplier"], dilation_rate=params["dilation"],
                                         activation=params["activation"])(x)  # fmt: skip
    elif kind == "dense":
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(params["units"], activation=params["activation"])(x)
    elif kind == "maxpool":
        x = keras.layers.MaxPooling2D(
            params["size"], strides=params["stride"], padding=params["padding"]
        )(x)
    elif kind == "avgpool":
        x = keras.layers.AveragePooling2D(
            params["size"], strides=params["stride"], padding=params["padding"]
        )(x)
    elif kind == "mean":
        x = keras.layers.GlobalAveragePooling2D(keepdims=params["keepdims"])(x)
    elif kind == "add":
        a = keras.layers.Conv2D(3, 1)(x)
        x = keras.layers.Add()([a, x])
    elif kind == "mul":
        a = keras.layers.Conv2D(shape[-1], 1)(x)
        x = keras.layers.Multiply()([a, x])
    elif kind == "pad":
        x = keras.layers.ZeroPadding2D(params["pad"])(x)
        x = keras.layers.Conv2D(2, 2)(x)
    elif kind == "transpose":
        x = keras.layers.Permute(params["perm"])(x)
        x = keras.layers.Conv2D(2, 1)(x)
    elif kind == "concat":
        a = keras.layers.Conv2D(2, 1)(x)
        b = keras.layers.Conv2D(3, 1)(x)
        x = keras.layers.Concatenate(axis=-1)([a, b, x])
    elif kind == "softmax":
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(params["units"])(x)
        x = keras.layers.Softmax()(x)
    elif kind == "logistic":
        x = keras.layers.Conv2D(2, 1, activation="sigmoid")(x)
    elif kind == "reshape":
        x = keras.layers.Conv2D(2, 1)(x)
        x = keras.layers.Reshape((-1, 2))(x)
    else:
        raise ValueError(kind)
    return keras.Model(inputs, x), shape


def reference_kernel_tensors(model: bytes, x: np.ndarray, indices) -> dict[int, np.ndarray]:
    """Run TFLite's BUILTIN_REF kernels image by image; return each tensor, batch-first."""
    interpreter = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    values: dict[int, list[np.ndarray]] = {i: [] for i in indices}
    for b in range(len(x)):
        interpreter.set_tensor(index, x[b : b + 1])
        interpreter.invoke()
        for i in indices:
            values[i].append(interpreter.get_tensor(i).copy())
    return {i: np.concatenate(v) for i, v in values.items()}


def optimized_kernel_outputs(model: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for b in range(len(x)):
        interpreter.set_tensor(inp["index"], x[b : b + 1])
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"]).copy())
    return np.concatenate(results)
