"""Backends, the Edge TPU delegate's failures, bad model files, and every input type."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecnn.backends import choose_backend
from edgecnn.bundle import open_bundle
from edgecnn.data import load_fashion_mnist
from edgecnn.device.inference.runtime import load_runtime
from edgecnn.errors import EdgeCnnError
from edgecnn.quantization import dequantize_tensor, pixels_to_model_input, quantize_tensor
from edgecnn.tflite_model import tensor_info


@pytest.fixture(scope="module")
def test_items():
    test = load_fashion_mnist("test", limit=300)
    return test.images, test.labels


def accuracy(runtime, images, labels) -> float:
    hits = [int(np.argmax(runtime.classify(pixels_to_model_input(im[None], tensor=runtime.input_spec))) == lab)
            for im, lab in zip(images, labels, strict=True)]  # fmt: skip
    return float(np.mean(hits))


@pytest.mark.parametrize("kind", ["uint8", "int8", "float"])
def test_every_input_type_is_fed_and_every_output_dequantised(device_models, test_items, kind):
    runtime = load_runtime(open_bundle(device_models[kind]), "litert", edgetpu="off")
    assert (
        runtime.input_spec.dtype == {"uint8": np.uint8, "int8": np.int8, "float": np.float32}[kind]
    )
    scores = runtime.classify(pixels_to_model_input(test_items[0][:1], tensor=runtime.input_spec))
    assert scores.dtype == np.float32 and scores.shape == (10,)
    assert abs(float(scores.sum()) - 1.0) < 0.05 and scores.min() >= 0  # probabilities
    assert accuracy(runtime, *test_items) > 0.8


def test_int8_and_uint8_models_agree(device_models, test_items) -> None:
    a = load_runtime(open_bundle(device_models["uint8"]), "litert", edgetpu="off")
    b = load_runtime(open_bundle(device_models["int8"]), "litert", edgetpu="off")
    images = test_items[0][:100]
    pa = [
        np.argmax(a.classify(pixels_to_model_input(x[None], tensor=a.input_spec))) for x in images
    ]
    pb = [
        np.argmax(b.classify(pixels_to_model_input(x[None], tensor=b.input_spec))) for x in images
    ]
    assert np.mean(np.equal(pa, pb)) >= 0.97


def test_quantize_and_dequantize_follow_scale_and_zero_point() -> None:
    spec = tensor_info((1, 2, 2, 1), np.int8, 1 / 255, -128)
    q = quantize_tensor(np.array([0.0, 1.0, 0.5, 2.0]), spec)
    # TFLite's rule: float32(0.5) / float32(1/255) = 127.49999 -> 127, then - 128
    assert q.dtype == np.int8 and q.tolist() == [-128, 127, -1, 127]
    out = tensor_info((1, 3), np.int8, 1 / 256, -128)
    values = dequantize_tensor(np.array([-128, 0, 127], np.int8), out)
    assert values.tolist() == pytest.approx([0.0, 0.5, 255 / 256])


def test_float_model_runs_with_a_warning(device_models, capsys) -> None:
    runtime = load_runtime(open_bundle(device_models["float"]), "litert", edgetpu="off")
    assert runtime.input_spec.dtype == np.float32
    assert "not int8" in capsys.readouterr().err


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(EdgeCnnError, match="does not exist: run edgecnn convert"):
        load_runtime(open_bundle(tmp_path / "model.tflite"), edgetpu="off")


def test_not_a_flatbuffer(tmp_path: Path) -> None:
    bad = tmp_path / "model.tflite"
    bad.write_text("this is not a model\n")
    with pytest.raises(EdgeCnnError, match="not a TensorFlow Lite model"):
        load_runtime(open_bundle(bad), edgetpu="off")


def test_truncated_model_is_a_clear_error(tmp_path: Path, device_models) -> None:
    bad = tmp_path / "model.tflite"
    bad.write_bytes(device_models["uint8"].read_bytes()[:300])
    with pytest.raises(EdgeCnnError, match="not a readable TensorFlow Lite model"):
        load_runtime(open_bundle(bad), edgetpu="off")


def test_model_whose_input_is_not_an_image(device_models) -> None:
    with pytest.raises(EdgeCnnError, match="not an image"):
        load_runtime(open_bundle(device_models["not_image"]), edgetpu="off")


def test_auto_prefers_litert() -> None:
    assert choose_backend("auto").name == "litert"


def test_tensorflow_backend_works_as_fallback(device_models, test_items) -> None:
    runtime = load_runtime(open_bundle(device_models["uint8"]), "tensorflow", edgetpu="off")
    assert runtime.backend == "tensorflow"
    assert accuracy(runtime, test_items[0][:100], test_items[1][:100]) > 0.8


def test_tflite_runtime_not_installed_says_what_to_do() -> None:
    with pytest.raises(
        EdgeCnnError, match="tflite-runtime is not installed: prefer --backend litert"
    ):
        choose_backend("tflite-runtime")


def test_tflite_runtime_is_refused_under_numpy_2_without_importing_it(tmp_path: Path) -> None:
    """Under NumPy 2 the legacy runtime crashes on import: we refuse before importing it."""
    fake = tmp_path / "tflite_runtime"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise SystemExit('tflite_runtime was imported')\n")
    code = (
        "from edgecnn.backends import choose_backend\n"
        "from edgecnn.errors import EdgeCnnError\n"
        "try:\n    choose_backend('tflite-runtime')\n"
        "except EdgeCnnError as e:\n    print(e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "crashes under NumPy 2" in proc.stdout and "numpy<2" in proc.stdout


def test_edgetpu_on_without_the_runtime_library_fails_in_one_line(device_models) -> None:
    with pytest.raises(EdgeCnnError) as error:
        load_runtime(open_bundle(device_models["uint8"]), "litert", edgetpu="on")
    message = str(error.value)
    assert "\n" not in message
    assert "libedgetpu.so.1 is not installed" in message and "libedgetpu1-std" in message


def test_edgetpu_auto_warns_and_runs_the_cpu_model(tmp_path: Path, device_models, capsys):
    model = tmp_path / "model.tflite"
    shutil.copy(device_models["uint8"], model)
    shutil.copy(device_models["uint8"].with_suffix(".json"), tmp_path / "model.json")
    shutil.copy(model, tmp_path / "model_edgetpu.tflite")  # as edgetpu_compiler names it
    runtime = load_runtime(open_bundle(model), "litert", edgetpu="auto")
    assert not runtime.on_edgetpu and runtime.model_path == model
    assert "Edge TPU" in capsys.readouterr().err
    # Given the Edge TPU model itself, auto falls back to the CPU model beside it.
    runtime = load_runtime(open_bundle(tmp_path / "model_edgetpu.tflite"), "litert", edgetpu="auto")
    assert runtime.model_path == model


def test_edgetpu_compiled_model_on_the_cpu_is_a_clear_error(tmp_path: Path, device_models):
    tpu_only = tmp_path / "model_edgetpu.tflite"
    tpu_only.write_bytes(device_models["uint8"].read_bytes() + b"edgetpu-custom-op")
    with pytest.raises(EdgeCnnError, match="compiled for the Edge TPU"):
        load_runtime(open_bundle(tpu_only), "litert", edgetpu="off")


def _edgetpu_error_with_stub(tmp_path: Path, model: Path, c_source: str) -> str:
    """The error of --edgetpu on with a stand-in libedgetpu.so.1 built from `c_source`."""
    source = tmp_path / "stub.c"
    source.write_text(c_source)
    library = tmp_path / "libedgetpu.so.1"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    code = (
        "from edgecnn.bundle import open_bundle\n"
        "from edgecnn.device.inference.runtime import load_runtime\n"
        "from edgecnn.errors import EdgeCnnError\n"
        f"try:\n    load_runtime(open_bundle({str(model)!r}), 'litert', edgetpu='on')\n"
        "except EdgeCnnError as e:\n    print(e)\n"
    )
    env = {**os.environ, "LD_LIBRARY_PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    return proc.stdout.strip()


NEEDS_CC = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


@NEEDS_CC
def test_edgetpu_library_that_is_not_a_delegate_plugin(tmp_path, device_models) -> None:
    message = _edgetpu_error_with_stub(
        tmp_path, device_models["uint8"], "int unrelated(void) { return 0; }\n"
    )
    assert "not a usable Edge TPU runtime" in message and "libedgetpu1-std" in message


@NEEDS_CC
def test_edgetpu_runtime_present_but_no_device_names_the_device(tmp_path, device_models):
    """A stand-in runtime that finds no device (its delegate comes back empty): the message
    moves on from the library to the device (plug it in; gasket-dkms for PCIe)."""
    stub = (
        "void *tflite_plugin_create_delegate(char **k, char **v, unsigned long n,\n"
        "                                    void (*report)(const char *)) { return 0; }\n"
        "void tflite_plugin_destroy_delegate(void *d) {}\n"
    )
    message = _edgetpu_error_with_stub(tmp_path, device_models["uint8"], stub)
    assert "not installed" not in message
    assert "no Edge TPU found" in message and "gasket-dkms" in message
