"""`edgecnn verify` on a real converted model: bit-exact on every tensor of the whole test set."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest


def edgecnn(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli", *args], capture_output=True, text=True, env=env
    )


@pytest.fixture(scope="module")
def full_test_set(tiny_tflite):
    proc = edgecnn("verify", str(tiny_tflite), "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_bit_exact_on_every_tensor_of_all_10000_test_images(full_test_set):
    result = full_test_set
    assert result["samples"] == 10000
    assert result["bit_exact"] is True and result["max_abs_diff_reference_kernels"] == 0
    ops = {t["op"] for t in result["tensors"]["reference_kernels"]}
    assert {"QUANTIZE", "CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"} <= ops
    assert all(t["max_abs_diff"] == 0 for t in result["tensors"]["reference_kernels"])


@pytest.mark.slow
def test_within_one_lsb_of_the_optimized_kernels_and_same_predictions(full_test_set):
    result = full_test_set
    fc = [t for t in result["tensors"]["optimized_kernels"] if t["op"] == "FULLY_CONNECTED"]
    assert fc and fc[0]["max_abs_diff"] <= 1
    assert result["agreement"] >= 0.999
    assert result["reference_accuracy"] == pytest.approx(result["int8_accuracy"], abs=0.001)
    assert result["float_accuracy"] is None and len(result["per_class_accuracy"]) == 10


def test_report_with_float_model_and_layer_errors(tiny_tflite, tiny_model_dir, tmp_path):
    proc = edgecnn("verify", str(tiny_tflite), "--keras", str(tiny_model_dir / "model.keras"),
                   "--limit", "300", "--report", str(tmp_path / "r"), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert 0.5 < result["float_accuracy"] <= 1 and abs(result["accuracy_drop_points"]) < 5
    assert result["layer_errors"] and {"mean_error", "max_abs_error", "rmse_over_scale"} <= set(
        result["layer_errors"][0]
    )
    saved = json.loads((tmp_path / "r" / "verify_report.json").read_text())
    assert len(saved["confusion_matrix"]) == 10 and sum(map(sum, saved["confusion_matrix"])) == 300
    import matplotlib.pyplot as plt

    image = plt.imread(tmp_path / "r" / "confusion_matrix.png")
    assert image.shape[0] > 400 and image.shape[1] > 400 and image.std() > 0.05


def test_random_inputs_need_no_data_set(tiny_tflite):
    proc = edgecnn("verify", str(tiny_tflite), "--inputs", "random", "--samples", "40", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["samples"] == 40 and result["bit_exact"] and result["int8_accuracy"] is None


def test_not_bit_exact_exits_1(tiny_tflite, monkeypatch, capsys):
    """A fault injected into one NumPy op (max pooling off by one) must fail verification."""
    from edgecnn.convert.verify import VerifyOptions, run_verify
    from edgecnn.reference import registry

    right = registry.REGISTRY["MAX_POOL_2D"]

    def off_by_one(ctx):
        (out,) = right.function(ctx)
        return [np.clip(out.astype(np.int64) + 1, -128, 127).astype(out.dtype)]

    monkeypatch.setitem(
        registry.REGISTRY, "MAX_POOL_2D", dataclasses.replace(right, function=off_by_one)
    )
    with pytest.raises(SystemExit) as stop:
        run_verify(VerifyOptions(tiny_tflite, inputs="random", samples=20, as_json=True))
    assert stop.value.code == 1
    captured = capsys.readouterr()
    assert "verify failed" in captured.err
    result = json.loads(captured.out)
    pools = [t for t in result["tensors"]["reference_kernels"] if t["op"] == "MAX_POOL_2D"]
    assert not result["bit_exact"] and all(t["max_abs_diff"] >= 1 for t in pools)


def test_accuracy_drop_beyond_max_drop_exits_1(tiny_tflite, tiny_model_dir):
    proc = edgecnn("verify", str(tiny_tflite), "--keras", str(tiny_model_dir / "model.keras"),
                   "--limit", "200", "--max-drop", "-50")  # fmt: skip
    assert proc.returncode == 1 and "points below float" in proc.stderr


def test_bad_inputs(tmp_path):
    proc = edgecnn("verify", str(tmp_path / "missing.tflite"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    proc = edgecnn("verify", str(junk))
    assert proc.returncode == 2 and "not a TensorFlow Lite model" in proc.stderr
    assert "Traceback" not in proc.stderr
