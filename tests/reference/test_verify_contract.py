"""`edgecnn verify` holds every engine to the whole contract (issue 20): a runtime that
computes the wrong thing fails verify in one line naming the engine, the tensor and the
difference; TFLite Micro is an engine; the softmax allowance is the derived bound."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from cli_runner import run_edgecnn
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_models import convert

from edgecnn.contract import activation_allowance, argmax_agreement


def verify(*args, env: dict | None = None):
    proc = run_edgecnn("verify", *map(str, args), env={"TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def failure_lines(proc) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("edgecnn: verify failed:")]


def test_a_perturbed_optimized_runtime_fails_verify_in_one_line(tiny_tflite):
    """The documented hook EDGECNN_PERTURB_RUNTIME=3 makes every interpreter of the
    optimized kernels add 3 LSB to what it computes: verify exits 1 and says where."""
    proc = verify(tiny_tflite, "--inputs", "random", "--samples", "16", "--json",
                  env={"EDGECNN_PERTURB_RUNTIME": "3"})  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    (line,) = failure_lines(proc)
    assert "optimized (TFLite optimized kernels): tensor" in line
    assert (
        "differs from the TFLite reference kernels by 3 LSB" in line and "contract: 1 LSB" in line
    )
    result = json.loads(proc.stdout)
    assert result["passed"] is False and result["bit_exact"] is True
    assert {b["engine"].split()[0] for b in result["breaches"]} == {"optimized"}


def test_a_garbage_runtime_fails_on_its_outputs(tiny_tflite):
    """What qemu's default CPU model did to XNNPACK: outputs off by far more (here 100 LSB)."""
    proc = verify(tiny_tflite, "--inputs", "random", "--samples", "16", "--json",
                  env={"EDGECNN_PERTURB_RUNTIME": "100"})  # fmt: skip
    assert proc.returncode == 1
    breaches = json.loads(proc.stdout)["breaches"]
    outputs = [b for b in breaches if b["what"].startswith("output")]
    assert outputs and "run end to end" in outputs[0]["difference"]
    assert float(outputs[0]["difference"].split(" by ")[1].split()[0]) >= 90


def test_the_untouched_runtime_passes_with_its_known_causes(tiny_tflite):
    proc = verify(tiny_tflite, "--inputs", "random", "--samples", "64", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["passed"] and result["failures"] == [] and result["bit_exact"]
    pair = next(p for p in result["matrix"]["pairs"] if p["engines"] == ["reference", "optimized"])
    assert pair["tensors_compared"] == 8 and pair["max_abs_diff_tensors"] <= 1


def test_a_model_whose_optimized_path_differs_fails_verify():
    """A real model file: CONV_2D -> RESIZE_BILINEAR -> CONV_2D. XNNPACK computes the resize
    its own way; each operator alone stays within 1 LSB, the output end to end does not."""
    import tempfile
    from pathlib import Path

    spec = ("resize", (6, 6, 3), (("size", (9, 9)), ("method", "bilinear"),
                                  ("align_corners", False)))  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "resize.tflite"
        model.write_bytes(convert(spec, "int8"))
        proc = verify(model, "--inputs", "random", "--samples", "50")
    assert proc.returncode == 1
    (line,) = failure_lines(proc)
    assert line.startswith("edgecnn: verify failed: optimized (TFLite optimized kernels): output")
    assert "run end to end" in line and "RESIZE_BILINEAR" in line


def test_micro_is_an_engine_and_the_matrix_names_the_fc_rounding(tiny_tflite):
    pytest.importorskip("tflite_micro")
    proc = verify(tiny_tflite, "--limit", "500", "--engines", "numpy,reference,optimized,micro",
                  "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["engines"] == ["numpy", "reference", "optimized", "micro"]
    pairs = {tuple(p["engines"]): p for p in result["matrix"]["pairs"]}
    assert len(pairs) == 6
    micro = pairs[("reference", "micro")]
    assert micro["tensors_compared"] == 8 and micro["max_abs_diff_tensors"] <= 1
    assert result["predictions_agreement"]["micro"]["agreement"] >= 0.999
    if micro["max_abs_diff_tensors"]:
        assert any("FULLY_CONNECTED requantisation" in c for c in micro["known_causes"])
    text = verify(tiny_tflite, "--inputs", "random", "--samples", "8", "--engines",
                  "numpy,micro").stdout  # fmt: skip
    assert "agreement matrix (ground truth: numpy)" in text and "numpy ~ micro" in text


def test_engine_choices_are_checked_in_one_line(tiny_tflite):
    proc = verify(tiny_tflite, "--inputs", "random", "--engines", "numpy,gpu")
    assert proc.returncode == 2 and "choose from numpy, reference, optimized, micro" in proc.stderr
    proc = verify(tiny_tflite, "--inputs", "random", "--engines", "reference,optimized")
    assert proc.returncode == 2 and "numpy is required" in proc.stderr


@settings(max_examples=300, deadline=None)
@given(
    logits=st.lists(st.integers(-128, 127), min_size=2, max_size=12),
    moves=st.lists(st.integers(-1, 1), min_size=12, max_size=12),
    scale=st.floats(0.001, 0.5),
    beta=st.floats(0.2, 3.0),
)
def test_softmax_allowance_bounds_the_move_of_logits_one_lsb_apart(logits, moves, scale, beta):
    """The derivation in edgecnn/contract.py, checked on exact softmaxes: logits moved by at
    most 1 LSB move no probability by more than the allowance (output scale 1/256)."""
    q = np.array(logits, np.float64)
    moved = q + np.array(moves[: len(q)])

    def softmax(x):
        e = np.exp(beta * scale * (x - x.max()))
        return e / e.sum()

    worst = np.abs(np.round(256 * softmax(q)) - np.round(256 * softmax(moved))).max()
    assert worst <= activation_allowance(beta / 2, scale, 1 / 256)
    assert activation_allowance(beta / 2, scale, 1 / 256) == math.floor(128 * beta * scale) + 1


def test_near_ties_count_as_agreement():
    truth = np.array([[10, 9, 0], [5, 0, 0], [0, 7, 8]])
    other = np.array([[9, 10, 0], [0, 5, 0], [0, 8, 7]])
    agreement, near = argmax_agreement(truth, other, tolerance=1)
    assert near == 2 and agreement == pytest.approx(2 / 3)


def test_an_exception_inside_an_op_is_one_line_naming_op_and_tensor(tiny_tflite, monkeypatch):
    """A kernel that raises (here MAX_POOL_2D, replaced through the registry) reaches the
    user as one EdgeCnnError naming the op and its tensor; EDGECNN_DEBUG=1 lets it through."""
    from edgecnn.convert.verify import VerifyOptions, run_verify
    from edgecnn.errors import EdgeCnnError
    from edgecnn.reference import registry

    def broken(ctx):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setitem(
        registry.REGISTRY,
        "MAX_POOL_2D",
        dataclasses.replace(registry.REGISTRY["MAX_POOL_2D"], function=broken),
    )
    monkeypatch.delenv("EDGECNN_DEBUG", raising=False)
    with pytest.raises(EdgeCnnError) as caught:
        run_verify(VerifyOptions(tiny_tflite, inputs="random", samples=4, as_json=True))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the NumPy reference fails at MAX_POOL_2D (operator 2, output tensor")
    assert "ValueError: operands could not be broadcast together" in message
    monkeypatch.setenv("EDGECNN_DEBUG", "1")
    with pytest.raises(ValueError, match="could not be broadcast"):
        run_verify(VerifyOptions(tiny_tflite, inputs="random", samples=4, as_json=True))


def test_without_a_schema_the_optimized_kernels_are_held_to_their_outputs(tiny_tflite, monkeypatch):
    """tflite-runtime (32-bit ARM) ships no flatbuffer schema to cut operators out with:
    verify still runs the optimized kernels end to end, and says so."""
    from edgecnn.bundle import open_bundle
    from edgecnn.convert import single_op
    from edgecnn.convert.verify import VerifyOptions, verify_model

    monkeypatch.setattr(single_op, "SCHEMA_MODULES", ("no_such_schema_module",))
    single_op.schema.cache_clear()
    try:
        options = VerifyOptions(tiny_tflite, inputs="random", samples=8)
        result, failures = verify_model(open_bundle(tiny_tflite), options)
    finally:
        single_op.schema.cache_clear()
    assert failures == [] and result["passed"]
    assert "outputs only" in result["engine_notes"]["optimized"][0]
    pair = next(p for p in result["matrix"]["pairs"] if p["engines"] == ["reference", "optimized"])
    assert pair["tensors_compared"] == 0 and pair["outputs"]
