"""Models and videos the device tests run on, made once per test run.

The device code never imports TensorFlow; the tests may, to make real .tflite models: a
small CNN trained briefly on Fashion-MNIST, converted with full-int8 quantisation (uint8 and
int8 inputs) and as float, plus a model whose input is not an image.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgecnn.labels import FASHION_MNIST_LABELS
from edgecnn.sidecar import ModelSidecar

TRAIN_IMAGES = 60000
EPOCHS = 6


def _train_keras_model():
    import keras

    from edgecnn.data import load_fashion_mnist

    keras.utils.set_random_seed(0)
    data = load_fashion_mnist("train", limit=TRAIN_IMAGES)
    x = data.images[..., None].astype("float32") / 255.0
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, data.labels, epochs=EPOCHS, batch_size=128, verbose=0)
    return model, x[:300]


def _convert(model, calibration, input_type, output_type) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if input_type is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[None]] for x in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = input_type
        converter.inference_output_type = output_type
    return converter.convert()


def _write(folder: Path, name: str, flatbuffer: bytes) -> Path:
    path = folder / f"{name}.tflite"
    path.write_bytes(flatbuffer)
    ModelSidecar(labels=list(FASHION_MNIST_LABELS)).write(folder / f"{name}.json")
    return path


@pytest.fixture(scope="session")
def device_models(tmp_path_factory) -> dict[str, Path]:
    """{"uint8": ..., "int8": ..., "float": ..., "not_image": ...} .tflite paths, with sidecars."""
    import tensorflow as tf

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    model, calibration = _train_keras_model()
    models = {}
    for kind, (model_dir, input_type, output_type) in {
        "uint8": ("uint8", tf.uint8, tf.int8),
        "int8": ("int8", tf.int8, tf.int8),
        "float": ("float", None, None),
    }.items():
        folder = tmp_path_factory.mktemp(model_dir)
        models[kind] = _write(
            folder, "model", _convert(model, calibration, input_type, output_type)
        )

    import keras

    dense = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)])
    folder = tmp_path_factory.mktemp("not_image")
    models["not_image"] = _write(folder, "model", _convert(dense, None, None, None))
    return models


@pytest.fixture(scope="session")
def int8_model(device_models) -> Path:
    """The model the device normally runs: full int8, uint8 input (edgecnn convert's default)."""
    return device_models["uint8"]
