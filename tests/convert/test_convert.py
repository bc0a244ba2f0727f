"""`edgecnn convert`: real conversions to clean, fully-int8, batch-1 graphs."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecnn.convert.edgetpu import edgetpu_verdicts
from edgecnn.convert.graph_checks import batch_problems, float_ops, total_macs
from edgecnn.sidecar import find_sidecar
from edgecnn.tflite_model import read_model

EXPECTED_TINY_OPS = ["QUANTIZE", "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "RESHAPE",
                     "FULLY_CONNECTED", "SOFTMAX"]  # fmt: skip


def edgecnn(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args], capture_output=True, text=True, env=env
    )


def test_tiny_model_is_a_clean_int8_graph(tiny_tflite):
    graph = read_model(tiny_tflite)
    assert [op.name for op in graph.operators] == EXPECTED_TINY_OPS
    assert graph.input_details()[0].type_name == "uint8" and graph.input_details()[0].shape == (
        1,
        28,
        28,
        1,
    )
    assert tuple(graph.input_details()[0].scale) == pytest.approx((1 / 255,))
    assert tuple(graph.input_details()[0].zero_point) == (0,)
    assert graph.output_details()[0].type_name == "int8" and graph.output_details()[0].shape == (
        1,
        10,
    )
    assert float_ops(graph) == [] and batch_problems(graph) == []
    conv_weights = graph.tensors[graph.operators[1].inputs[1]]
    assert conv_weights.type_name == "int8" and len(conv_weights.scale) == conv_weights.shape[0]
    bias = graph.tensors[graph.operators[1].inputs[2]]
    assert bias.type_name == "int32"


def test_sidecar_and_report_beside_the_model(tiny_tflite):
    sidecar = find_sidecar(tiny_tflite)
    assert sidecar is not None and sidecar.labels[0] == "T-shirt/top" and len(sidecar.labels) == 10
    assert (sidecar.input_height, sidecar.input_width, sidecar.channels) == (28, 28, 1)
    assert sidecar.polarity == "light_on_dark" and tuple(sidecar.input_range) == (0.0, 1.0)
    report = json.loads((tiny_tflite.parent / "convert_report.json").read_text())
    assert report["int8_tflite_bytes"] == tiny_tflite.stat().st_size
    assert report["int8_tflite_bytes"] < 0.35 * report["float_tflite_bytes"]
    assert report["macs_per_inference"] == total_macs(read_model(tiny_tflite)) == 1_031_744
    assert report["ops"]["CONV_2D"] == 2 and report["input"]["dtype"] == "uint8"
    assert abs(report["accuracy_drop_points"]) <= 1.5  # 1,000 test images: the full set is benched
    assert report["calibration_samples"] == 500 and report["test_samples"] == 1000
    assert "camera pixels" in report["input_type_cost"]
    assert {o["op"] for o in report["edgetpu"]["ops"]} == set(EXPECTED_TINY_OPS)


def knob_grid():
    pools = ["max", "avg", "sum"]
    for pool, stride, padding, bn in itertools.product(
        pools, (1, 2), ("same", "valid"), (False, True)
    ):
        yield pytest.param(pool, stride, padding, bn, id=f"{pool}-s{stride}-{padding}-bn{int(bn)}")


@pytest.fixture(scope="module")
def calibration():
    return np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)


@pytest.mark.parametrize(("pool", "stride", "padding", "batch_norm"), list(knob_grid()))
def test_every_knob_converts_to_int8_builtins_at_batch_1(
    tmp_path, calibration, pool, stride, padding, batch_norm
):
    from edgecnn.convert import quantize
    from edgecnn.train.config import ConvBlock, ModelConfig
    from edgecnn.train.model import build_model

    config = ModelConfig(
        conv=[
            ConvBlock(4, 3, stride=stride, padding=padding, batch_norm=batch_norm, pool=pool),
            ConvBlock(
                4, 3, padding=padding, batch_norm=batch_norm, pool=pool, pool_size=2, pool_stride=1
            ),
        ],
        dense=[8],
    )
    build_model(config).save(tmp_path / "m.keras")
    loaded = quantize.load_float_model(tmp_path / "m.keras")
    graph = read_model(quantize.convert_int8(loaded, calibration))
    assert float_ops(graph) == [] and batch_problems(graph) == []
    names = {op.name for op in graph.operators}
    expected_pool = {"max": "MAX_POOL_2D", "avg": "AVERAGE_POOL_2D", "sum": "DEPTHWISE_CONV_2D"}[
        pool
    ]
    assert expected_pool in names
    assert names <= {"QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D",
                     "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}  # fmt: skip
    assert all(t.type_name in ("int8", "uint8", "int32") for t in graph.tensors)


def small_model(path: Path, activation: str | None = None) -> Path:
    import keras

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    if activation:
        x = keras.layers.Activation(activation)(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)).save(path)
    return path


def test_edgetpu_verdict_compatible_with_per_tensor_fc(tmp_path, calibration):
    from edgecnn.convert import quantize

    loaded = quantize.load_float_model(small_model(tmp_path / "ok.keras"))
    per_channel = read_model(quantize.convert_int8(loaded, calibration))
    per_tensor = read_model(quantize.convert_int8(loaded, calibration, per_tensor_dense=True))
    assert all(v.on_tpu for v in edgetpu_verdicts(per_tensor))
    verdicts = {v.op: v for v in edgetpu_verdicts(per_channel)}
    assert (
        not verdicts["FULLY_CONNECTED"].on_tpu
        and "per-channel" in verdicts["FULLY_CONNECTED"].reason
    )
    assert not verdicts["SOFTMAX"].on_tpu and "cuts the graph" in verdicts["SOFTMAX"].reason


def test_edgetpu_verdict_names_the_unsupported_op(tmp_path, calibration):
    from edgecnn.convert import quantize

    loaded = quantize.load_float_model(small_model(tmp_path / "exp.keras", "exponential"))
    verdicts = edgetpu_verdicts(
        read_model(quantize.convert_int8(loaded, calibration, per_tensor_dense=True))
    )
    exp = next(v for v in verdicts if v.op == "EXP")
    assert not exp.on_tpu and "not in the Edge TPU op list" in exp.reason
    assert [v.on_tpu for v in verdicts][: verdicts.index(exp)] == [True] * verdicts.index(exp)


def test_float_op_fails_with_its_name_unless_allowed(tmp_path):
    model = small_model(tmp_path / "elu.keras", "elu")
    out = tmp_path / "out" / "model.tflite"
    proc = edgecnn("convert", str(model), "--out", str(out), "--eval-samples", "50")
    assert proc.returncode == 2
    assert "float ops" in proc.stderr and "ELU" in proc.stderr and "--allow-float" in proc.stderr
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    proc = edgecnn(
        "convert", str(model), "--out", str(out), "--eval-samples", "50", "--allow-float"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out.parent / "convert_report.json").read_text())
    assert any(op.startswith("ELU") for op in report["float_ops_allowed"])
    # Neither the NumPy reference nor TFLite's reference kernels run ELU: convert says there
    # are no golden vectors, and the device's self-check says it checked nothing, once.
    assert "no golden vectors for the device's self-check" in proc.stderr
    assert json.loads(out.with_name("model.json").read_text())["golden"] is None
    proc = edgecnn("bench", "--model", str(out), "--frames", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["self_check"]["status"] == "skipped"
    assert proc.stderr.count("self-check skipped: ") == 1 and "ELU" in proc.stderr


def test_saved_model_directory_converts_the_same_way(tiny_model_dir, tmp_path):
    code = (
        "import keras, sys, edgecnn.train.layers\n"
        "m = keras.models.load_model(sys.argv[1], safe_mode=True)\n"
        "m.export(sys.argv[2], verbose=False)\n"
    )
    export = tmp_path / "exported"
    args = [sys.executable, "-c", code, str(tiny_model_dir / "model.keras"), str(export)]
    subprocess.run(args, check=True, capture_output=True)
    out = tmp_path / "sm.tflite"
    proc = edgecnn(
        "convert", str(export), "--out", str(out), "--eval-samples", "200", "--input-type", "int8"
    )
    assert proc.returncode == 0, proc.stderr
    graph = read_model(out)
    assert [op.name for op in graph.operators] == EXPECTED_TINY_OPS[1:]  # int8 input: no QUANTIZE
    assert graph.input_details()[0].type_name == "int8" and find_sidecar(out) is not None


def test_float_output_type_keeps_only_the_interface_float(tiny_model_dir, tmp_path):
    out = tmp_path / "f.tflite"
    model = str(tiny_model_dir / "model.keras")
    proc = edgecnn(
        "convert", model, "--out", str(out), "--eval-samples", "100", "--output-type", "float32"
    )
    assert proc.returncode == 0, proc.stderr
    graph = read_model(out)
    assert (
        graph.operators[-1].name == "DEQUANTIZE"
        and graph.output_details()[0].type_name == "float32"
    )
    assert float_ops(graph) == []


def test_edgetpu_without_compiler_says_where_it_runs(tiny_model_dir, tmp_path):
    if shutil.which("edgetpu_compiler"):
        pytest.fail("this test expects a machine without edgetpu_compiler")
    out = tmp_path / "tpu" / "model.tflite"
    model = str(tiny_model_dir / "model.keras")
    proc = edgecnn("convert", model, "--out", str(out), "--eval-samples", "100", "--edgetpu")
    assert proc.returncode == 2
    assert "x86-64 Debian/Ubuntu" in proc.stderr and "edgetpu-compiler" in proc.stderr
    assert proc.stderr.count("edgecnn: error:") == 1 and "Traceback" not in proc.stderr
    report = json.loads((out.parent / "convert_report.json").read_text())
    assert report["edgetpu"]["compatible"] is True
    assert (
        len(read_model(out).tensors[read_model(out).operators[-2].inputs[1]].scale) == 1
    )  # per-tensor FC
    cost = report["edgetpu_per_tensor_fc"]
    assert set(cost) == {"int8_accuracy_per_channel_fc", "int8_accuracy_per_tensor_fc"}


def test_bad_inputs_give_one_line_and_leave_nothing(tmp_path):
    import keras

    out = tmp_path / "out" / "model.tflite"
    not_keras = tmp_path / "fake.keras"
    not_keras.write_text("not a model")
    inputs = keras.Input((10,))
    keras.Model(inputs, keras.layers.Dense(3)(inputs)).save(tmp_path / "vector.keras")
    cases = {
        str(tmp_path / "missing.keras"): "does not exist",
        str(not_keras): "not a loadable Keras model",
        str(tmp_path / "vector.keras"): "not an image",
        str(tmp_path): "without saved_model.pb",
    }
    for model, message in cases.items():
        proc = edgecnn("convert", model, "--out", str(out))
        assert proc.returncode == 2, (model, proc.stderr)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("edgecnn: error:")]
        assert len(errors) == 1 and message in errors[0], proc.stderr
        assert "Traceback" not in proc.stderr
    proc = edgecnn("convert", str(tmp_path / "vector.keras"), "--out", str(tmp_path / "model.bin"))
    assert proc.returncode == 2 and ".tflite" in proc.stderr
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.fixture(scope="module")
def tiny_16x8(tiny_model_dir, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("tiny_16x8") / "model.tflite"
    proc = edgecnn("convert", str(tiny_model_dir / "model.keras"), "--out", str(out),
                   "--activations", "int16", "--eval-samples", "300",
                   "--calibration-samples", "100")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_activations_int16_makes_a_16x8_model_with_its_report(tiny_16x8, tiny_tflite):
    out, proc = tiny_16x8
    graph = read_model(out)
    assert graph.input_details()[0].type_name == "int16"
    assert graph.output_details()[0].type_name == "int16"
    compute = [op for op in graph.operators if op.name not in ("QUANTIZE", "DEQUANTIZE")]
    assert {graph.tensors[op.outputs[0]].type_name for op in compute} == {"int16"}
    weights = graph.tensors[graph.operators[0].inputs[1]]
    assert weights.type_name == "int8"
    report = json.loads(out.with_name("convert_report.json").read_text())
    assert report["activations"] == "int16"
    assert report["quantization"] == "16x8 (int16 activations, int8 weights)"
    assert abs(report["accuracy_drop_points"]) < 2 and report["test_samples"] == 300
    assert report["int8_tflite_bytes"] == out.stat().st_size
    assert "quantization  16x8 (int16 activations, int8 weights)" in proc.stdout
    assert "-> 16x8" in proc.stdout and "  16x8 " in proc.stdout
    assert find_sidecar(out) is not None


def test_16x8_model_verifies_bit_exact_and_runs_on_the_device_runtime(tiny_16x8):
    out, _ = tiny_16x8
    proc = edgecnn("verify", str(out), "--limit", "100", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["model_kind"] == "16x8" and result["bit_exact"] is True
    assert result["int8_accuracy"] > 0.6

    from edgecnn.bundle import open_bundle
    from edgecnn.data import load_fashion_mnist
    from edgecnn.device.inference.runtime import load_runtime
    from edgecnn.quantization import pixels_to_model_input

    runtime = load_runtime(open_bundle(out))
    test = load_fashion_mnist("test", None, limit=50)
    x = pixels_to_model_input(test.images, find_sidecar(out).input_range, runtime.input_spec)
    assert x.dtype == np.int16
    scores = np.stack([runtime.classify(x[i : i + 1]).copy() for i in range(len(x))])
    assert scores.dtype == np.float32 and np.allclose(scores.sum(axis=1), 1, atol=0.01)
    assert np.mean(scores.argmax(axis=1) == test.labels) > 0.6


def test_activations_int16_refusals(tiny_model_dir, tmp_path):
    keras_file = str(tiny_model_dir / "model.keras")
    for extra, message in (
        (["--input-type", "uint8"], "--input-type uint8 is for int8 models"),
        (["--edgetpu"], "cannot run on the Edge TPU"),
    ):
        proc = edgecnn("convert", keras_file, "--out", str(tmp_path / "m.tflite"),
                       "--activations", "int16", *extra)  # fmt: skip
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    proc = edgecnn(
        "convert", keras_file, "--out", str(tmp_path / "m.tflite"), "--input-type", "int16"
    )
    assert proc.returncode == 2 and "is for --activations int16" in proc.stderr
    assert not (tmp_path / "m.tflite").exists()
