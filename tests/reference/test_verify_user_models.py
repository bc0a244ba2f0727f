"""`edgecnn verify` on models a user brings: the issue's examples work, user inputs and
saved outputs, and every refusal is one line naming its cause (never a traceback)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from cli_runner import run_edgecnn
from user_models import model_bytes

from edgecnn.errors import EdgeCnnError
from edgecnn.reference.interpreter import ReferenceInterpreter, check_op
from edgecnn.tflite_model import read_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user_models")

    def path(name: str):
        p = folder / f"{name}.tflite"
        if not p.exists():
            p.write_bytes(model_bytes(name))
        return p

    return path


def verify(*args: str):
    proc = run_edgecnn("verify", *map(str, args), env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stdout[-500:] + proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("edgecnn: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_float_model_compares_within_the_stated_tolerance(models):
    proc = verify(models("float_fc"), "--inputs", "random", "--samples", "5", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["model_kind"] == "float" and result["bit_exact"] is None
    assert (
        result["within_float_tolerance"] is True
        and "0.0001 * max(1, max |value|)" in result["float_tolerance"]
    )
    assert all("float_tolerance" in t for t in result["tensors"]["reference_kernels"])
    text = verify(models("float_fc"), "--inputs", "random", "--samples", "2").stdout
    assert "(float model)" in text and "float tensors within tolerance: yes" in text


def test_random_inputs_fill_every_input(models):
    proc = verify(models("two_input_add"), "--inputs", "random", "--samples", "7", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["samples"] == 7 and result["bit_exact"] is True
    assert [t["op"] for t in result["tensors"]["reference_kernels"]] == ["ADD"]


@pytest.mark.parametrize("name", ["int16_input", "int32_input"])
def test_int16_and_int32_inputs_are_read_and_verified(models, name):
    proc = verify(models(name), "--inputs", "random", "--samples", "4", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["within_float_tolerance"] is True
    assert read_model(models(name)).input_details()[0].type_name == name.split("_")[0]


def test_16x8_conv_is_bit_exact(models):
    proc = verify(models("conv_16x8"), "--inputs", "random", "--samples", "20", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["model_kind"] == "16x8" and result["bit_exact"] is True
    assert result["max_abs_diff_reference_kernels"] == 0


def test_16x8_sub_whose_second_operand_broadcasts(models):
    """Issue 20: ValueError "operands could not be broadcast together with shapes
    (2,2,12,64) (2,)" in add_or_sub; now bit-exact to the reference kernels."""
    proc = verify(models("sub_mean_16x8"), "--inputs", "random", "--samples", "9", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["model_kind"] == "16x8" and result["bit_exact"] is True and result["passed"]
    assert [t["op"] for t in result["tensors"]["reference_kernels"]] == ["MEAN", "SUB"]


@pytest.mark.parametrize("name", ["batch4_int8", "batch4_16x8"])
def test_a_model_of_batch_4_is_fed_its_own_batch(models, name, tmp_path):
    """Issue 20: LiteRT's set_tensor said "Dimension mismatch. Got 1 but expected 4". Ten
    samples are three invocations of four (the last filled up with the first again); the
    saved outputs are one row per sample."""
    out = tmp_path / "out.npz"
    proc = verify(models(name), "--inputs", "random", "--samples", "10", "--save-outputs", out,
                  "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["samples"] == 10 and result["bit_exact"] is True and result["passed"]
    assert read_model(models(name)).input_details()[0].shape[0] == 4
    saved = np.load(out)["output_0"]
    assert saved.shape == (10, 5)
    x = np.random.default_rng(0)  # the rows verify made, through the reference directly
    ri = ReferenceInterpreter(models(name))
    rows = ri.input_details()[0]
    info = np.iinfo(rows.dtype)
    x = x.integers(info.min, info.max, (10, *rows.shape[1:]), endpoint=True).astype(rows.dtype)
    first = ri.run_chunk(x[:4])[0]
    np.testing.assert_array_equal(saved[:4], first)


def test_an_output_without_a_batch_axis_is_saved_one_row_per_input(models, tmp_path):
    out = tmp_path / "out.npz"
    proc = verify(models("flat_output"), "--inputs", "random", "--samples", "5",
                  "--save-outputs", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.load(out)["output_0"].shape == (5, 48)


def test_user_inputs_npz_npy_csv_and_saved_outputs(models, tmp_path):
    model = models("two_input_add")
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (3, 4, 4, 3)).astype(np.int8)
    b = rng.integers(-128, 128, (3 * 48,))  # flat, int64: reshaped and cast
    np.savez(tmp_path / "in.npz", first=a, second=b)
    out = tmp_path / "out.npz"
    proc = verify(model, "--inputs", tmp_path / "in.npz", "--save-outputs", out, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["samples"] == 3
    saved = np.load(out)
    assert saved.files == ["output_0"] and saved["output_0"].dtype == np.int8
    expected = ReferenceInterpreter(model).run(a, b.reshape(3, 4, 4, 3).astype(np.int8))[0]
    np.testing.assert_array_equal(saved["output_0"], expected)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no leftovers

    single = models("float_fc")
    x = rng.uniform(-1, 1, (4, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    for source in ("x.npy", "x.csv"):
        proc = verify(
            single, "--inputs", tmp_path / source, "--save-outputs", tmp_path / f"{source}.npz"
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert np.load(tmp_path / f"{source}.npz")["output_0"].shape == (4, 4)


def test_input_file_errors_are_one_line(models, tmp_path):
    model, single = models("two_input_add"), models("float_fc")
    np.save(tmp_path / "one.npy", np.zeros((2, 4, 4, 3), np.int8))
    assert "holds 1 array(s); the model takes 2 input(s)" in one_line_error(
        verify(model, "--inputs", tmp_path / "one.npy")
    )
    np.savez(tmp_path / "shape.npz", a=np.zeros((2, 5), np.int8), b=np.zeros((2, 48), np.int8))
    assert "takes [N, 4, 4, 3] (48 values per sample), the array is [2, 5]" in one_line_error(
        verify(model, "--inputs", tmp_path / "shape.npz")
    )
    np.savez(tmp_path / "frac.npz", a=np.full((1, 48), 0.5), b=np.zeros((1, 48)))
    assert "give raw integer values" in one_line_error(
        verify(model, "--inputs", tmp_path / "frac.npz")
    )
    np.savez(tmp_path / "range.npz", a=np.full((1, 48), 300), b=np.zeros((1, 48)))
    assert "int8 [-128, 127]" in one_line_error(verify(model, "--inputs", tmp_path / "range.npz"))
    assert "does not exist" in one_line_error(verify(single, "--inputs", tmp_path / "nope.csv"))
    assert "give 'dataset', 'random'" in one_line_error(
        verify(single, "--inputs", tmp_path / "x.txt")
    )
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    assert "not a readable .npy file" in one_line_error(
        verify(single, "--inputs", tmp_path / "bad.npy")
    )
    assert "must end in .npz" in one_line_error(
        verify(single, "--inputs", "random", "--save-outputs", tmp_path / "out.json")
    )
    assert "not Fashion-MNIST" in one_line_error(verify(model))


def test_unsupported_op_type_and_scheme_are_refused_by_name(models):
    assert "has no CUMSUM operator" in one_line_error(
        verify(models("cumsum_float"), "--inputs", "random")
    )
    line = one_line_error(verify(models("logistic_16x8"), "--inputs", "random"))
    assert "no int16 LOGISTIC" in line and "sigmoid table" in line
    line = one_line_error(verify(models("hybrid_fc"), "--inputs", "random"))
    assert "hybrid FULLY_CONNECTED" in line and "dynamic-range" in line
    line = one_line_error(verify(models("zero_logits"), "--inputs", "random"))
    assert "SOFTMAX" in line and "aborts" in line


def test_per_channel_on_the_wrong_dimension_and_unknown_types_are_refused(models):
    graph = read_model(models("conv_16x8"))
    conv = graph.operators[0]
    tensors = list(graph.tensors)
    weights = tensors[conv.inputs[1]]
    tensors[weights.index] = dataclasses.replace(weights, quantized_dimension=3)
    with pytest.raises(
        EdgeCnnError, match="per-channel on dimension 3: TFLite's CONV_2D kernel takes"
    ):
        check_op(conv, tuple(tensors))
    activation = tensors[conv.inputs[0]]
    tensors[weights.index] = weights
    tensors[activation.index] = dataclasses.replace(
        activation, scale=np.array([0.1, 0.2], np.float32), zero_point=np.zeros(2, np.int64),
        quantized_dimension=3,
    )  # fmt: skip
    with pytest.raises(
        EdgeCnnError, match="per-channel on dimension 3: TFLite's CONV_2D kernel takes one scale"
    ):
        check_op(conv, tuple(tensors))
    tensors[activation.index] = dataclasses.replace(activation, dtype=None, type_name="int4")
    with pytest.raises(EdgeCnnError, match="is int4: the NumPy reference handles"):
        check_op(conv, tuple(tensors))
