"""The models the device tests run on: the shared tiny model as `edgecnn convert` makes it
(uint8 and int8 inputs), its float .tflite, and a model whose input is not an image.

The device code never imports TensorFlow; these fixtures may, to make the float models.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from device_ip_camera import FakeIpCamera

from edgecnn.demo.objectvideo import instance_rng, render_instance_frames
from edgecnn.labels import FASHION_MNIST_LABELS
from edgecnn.sidecar import ModelSidecar, sha256_hex


def _float_tflite(keras_model: Path) -> bytes:
    """The float32 .tflite of the model, by the converter edgecnn convert uses for its report."""
    from edgecnn.convert.quantize import convert_float, load_float_model

    return convert_float(load_float_model(keras_model))


def _not_an_image_tflite() -> bytes:
    import keras
    import tensorflow as tf

    dense = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)])
    return tf.lite.TFLiteConverter.from_keras_model(dense).convert()


def _write(folder: Path, flatbuffer: bytes, labels: list[str]) -> Path:
    path = folder / "model.tflite"
    path.write_bytes(flatbuffer)
    ModelSidecar(labels=labels, tflite_sha256=sha256_hex(flatbuffer)).write(folder / "model.json")
    return path


@pytest.fixture(scope="session")
def device_models(tiny_tflite, tiny_int8_input_tflite, tiny_model_dir, tmp_path_factory):
    """{"uint8", "int8", "float", "not_image"} -> .tflite path, each with its model.json."""
    labels = list(FASHION_MNIST_LABELS)
    return {
        "uint8": tiny_tflite,
        "int8": tiny_int8_input_tflite,
        "float": _write(
            tmp_path_factory.mktemp("float"), _float_tflite(tiny_model_dir / "model.keras"), labels
        ),
        "not_image": _write(
            tmp_path_factory.mktemp("not_image"), _not_an_image_tflite(), ["a", "b", "c"]
        ),
    }


@pytest.fixture(scope="session")
def int8_model(device_models) -> Path:
    """The model the device normally runs: full int8, uint8 input (edgecnn convert's default)."""
    return device_models["uint8"]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout (what a Pi installs)."""
    out = tmp_path_factory.mktemp("wheel")
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(repo)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [built] = out.glob("edgecnn-*.whl")
    return built


@pytest.fixture()
def camera():
    """An IP camera looping 8 different gears: no two frames in a row are alike."""
    frames = [
        next(render_instance_frames("gear", instance_rng(7, "gear", i, 0), 1)) for i in range(8)
    ]
    camera = FakeIpCamera(frames, fps=25)
    yield camera
    camera.close()
