"""Small .tflite models "a user brings": the issue's examples (a float three-FC model, a
two-input ADD, int16 and int32 inputs, a 16x8 CONV_2D) and models for the error paths,
each made by the real converter and written to a folder once per test run."""

from __future__ import annotations

import contextlib
import functools
import io
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def converted(
    model, mode: str | None = None, shapes=(), io_type=None, dynamic_range=False, batch: int = 1
) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if dynamic_range:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode:
        rng = np.random.default_rng(0)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [rng.uniform(-1, 1, (batch, *s)).astype(np.float32) for s in shapes] for _ in range(8)
        )
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8
            if mode == "int8"
            else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        if io_type is not None:
            converter.inference_input_type = converter.inference_output_type = io_type
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


@functools.cache
def model_bytes(name: str) -> bytes:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    if name == "float_fc":
        x = keras.Input((8,), batch_size=1)
        y = keras.layers.Dense(16, activation="relu")(x)
        y = keras.layers.Dense(16, activation="relu")(y)
        return converted(keras.Model(x, keras.layers.Dense(4)(y)))
    if name == "two_input_add":
        a, b = keras.Input((4, 4, 3), batch_size=1), keras.Input((4, 4, 3), batch_size=1)
        return converted(keras.Model([a, b], keras.layers.Add()([a, b])), "int8",
                         [(4, 4, 3), (4, 4, 3)], tf.int8)  # fmt: skip
    if name == "conv_16x8":
        x = keras.Input((6, 6, 2), batch_size=1)
        return converted(
            keras.Model(x, keras.layers.Conv2D(3, 3)(x)), "16x8", [(6, 6, 2)], tf.int16
        )
    if name in ("int32_input", "int16_input"):
        x = keras.Input((6,), batch_size=1, dtype=name.split("_")[0])
        y = keras.layers.Lambda(lambda t: tf.cast(t, tf.float32) * 2.0 + 1.0)(x)
        return converted(keras.Model(x, y))
    if name == "logistic_16x8":  # an op whose 16-bit kernel the reference refuses
        x = keras.Input((4, 4, 2), batch_size=1)
        y = keras.layers.Conv2D(2, 1, activation="sigmoid")(x)
        return converted(keras.Model(x, y), "16x8", [(4, 4, 2)], tf.int16)
    if name == "hybrid_fc":  # dynamic-range quantisation: float activations, int8 weights
        x = keras.Input((64,), batch_size=1)
        return converted(keras.Model(x, keras.layers.Dense(64)(x)), dynamic_range=True)
    if name == "cumsum_float":  # an op the reference does not implement
        x = keras.Input((5,), batch_size=1)
        return converted(
            keras.Model(x, keras.layers.Lambda(lambda t: tf.math.cumsum(t, axis=1))(x))
        )
    if name == "zero_logits":  # logits calibrated to a ~zero range: TFLite's SOFTMAX aborts
        x = keras.Input((4,), batch_size=1)
        y = keras.layers.Dense(10, kernel_initializer="zeros", activation="softmax")(x)
        return converted(keras.Model(x, y), "int8", [(4,)], tf.int8)
    if name == "flat_output":  # the output loses the batch axis: [48]
        x = keras.Input((4, 4, 2), batch_size=1)
        y = keras.layers.Lambda(lambda t: tf.reshape(t, [-1]))(keras.layers.Conv2D(3, 1)(x))
        return converted(keras.Model(x, y), "int8", [(4, 4, 2)], tf.int8)
    if name == "sub_mean_16x8":  # issue 20: x - mean(x), the [1] operand broadcasts
        x = keras.Input((2, 12, 64), batch_size=1)
        y = keras.layers.Lambda(lambda t: t - tf.reduce_mean(t, axis=[1, 2, 3]))(x)
        return converted(keras.Model(x, y), "16x8", [(2, 12, 64)], tf.int16)
    if name in ("batch4_int8", "batch4_16x8"):  # issue 20: a model of batch 4
        x = keras.Input((8, 8, 3), batch_size=4)
        y = keras.layers.Conv2D(4, 3, activation="relu")(x)
        y = keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(y))
        mode, io_type = ("int8", tf.int8) if name.endswith("int8") else ("16x8", tf.int16)
        return converted(keras.Model(x, y), mode, [(8, 8, 3)], io_type, batch=4)
    raise ValueError(name)
