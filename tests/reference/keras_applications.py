"""keras.applications CNNs (weights=None, no download) converted by the real TFLite converter.

Each architecture is built at the smallest input it accepts (32x32), MobileNets with a width
multiplier to keep them small. Random weights leave the batch-norm statistics at 0/1, so the
activations of a deep net collapse (the logits' range then is ~1e-9 and TFLite's reference
SOFTMAX refuses it); one training-mode pass with momentum 0 sets every batch-norm layer's
moving mean and variance to the statistics of the calibration images, so every layer carries
a real range of values. Conversions are cached: one per model and mode per test run.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIDE = 32
CLASSES = 10
CALIBRATION_IMAGES = 4


def builders() -> dict:
    import keras

    a = keras.applications
    # Ten classes: a 1000-way int8 SOFTMAX over near-equal random logits sums >= 512
    # exponentials, where TFLite's reference kernel aborts.
    kw = {"input_shape": (SIDE, SIDE, 3), "weights": None, "classes": CLASSES}
    return {
        "MobileNet": lambda: a.MobileNet(alpha=0.25, **kw),
        "MobileNetV2": lambda: a.MobileNetV2(alpha=0.35, **kw),
        "MobileNetV3Small": lambda: a.MobileNetV3Small(alpha=0.75, **kw),
        "MobileNetV3Large": lambda: a.MobileNetV3Large(alpha=0.75, **kw),
        "EfficientNetB0": lambda: a.EfficientNetB0(**kw),
        "ResNet50": lambda: a.ResNet50(**kw),
        "DenseNet121": lambda: a.DenseNet121(**kw),
        "NASNetMobile": lambda: a.NASNetMobile(**kw),
        # NASNet's own builder (Keras exports only its presets) at one cell per stage: the
        # same cells and ops as NASNetMobile, which has four, in a quarter of the time.
        "NASNet-1-cell": lambda: importlib.import_module("keras.src.applications.nasnet").NASNet(
            penultimate_filters=192,
            num_blocks=1,
            stem_block_filters=16,
            skip_reduction=False,
            filter_multiplier=2,
            **kw,
        ),
    }


def pixel_range(name: str) -> float:
    """MobileNetV3 and EfficientNet rescale 0..255 pixels themselves."""
    return 255.0 if name.startswith(("MobileNetV3", "EfficientNet")) else 1.0


@functools.cache
def build(name: str):
    """The batch-1 Keras model with batch-norm statistics set from the calibration images."""
    import keras

    keras.utils.set_random_seed(0)
    model = builders()[name]()
    x = calibration(name)
    batch_norms = [
        layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in batch_norms:
        layer.momentum = 0.0
    model(np.concatenate(x), training=True)
    inputs = keras.Input((SIDE, SIDE, 3), batch_size=1)
    return keras.Model(inputs, model(inputs))


def calibration(name: str) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    high = pixel_range(name)
    return [
        rng.uniform(0, high, (1, SIDE, SIDE, 3)).astype(np.float32)
        for _ in range(CALIBRATION_IMAGES)
    ]


@functools.cache
def convert(name: str, mode: str = "int8") -> bytes:
    """Full-integer conversion: 'int8' (TFLITE_BUILTINS_INT8, int8 in and out) or '16x8'
    (int16 activations, int8 weights, int16 in and out)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(build(name))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    images = calibration(name)
    converter.representative_dataset = lambda: ([x] for x in images)
    if mode == "16x8":
        ops_set = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        io_type = tf.int16
    else:
        ops_set, io_type = tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.int8
    converter.target_spec.supported_ops = [ops_set]
    converter.inference_input_type = converter.inference_output_type = io_type
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()
