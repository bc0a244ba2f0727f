"""A model whose tensors cannot be right is refused in one line before any interpreter sees
it: LiteRT segfaults in allocate_tensors on an input zero point outside uint8 (issue 22),
and on a zero, negative, NaN, infinite or subnormal scale. Every tensor's quantisation is
checked by the model reader (zero point within its type, scales finite and positive, one
scale and zero point per channel), and so are buffer sizes and tensor indices."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_edgecnn
from model_damage import (
    set_buffer_length,
    set_operator_input,
    set_scale,
    set_scale_count,
    set_zero_point,
    set_zero_point_count,
)

from edgecnn.demo.synthvideo import bench_frames
from edgecnn.errors import EdgeCnnError
from edgecnn.tflite_model import read_model

LITERT_ALLOCATES = """
import sys
from ai_edge_litert.interpreter import Interpreter
interpreter = Interpreter(model_path=sys.argv[1])
interpreter.allocate_tensors()
"""


class Tiny:
    """Indices of the tiny model's tensors the damage goes to."""

    def __init__(self, model: Path) -> None:
        parsed = read_model(model)
        self.bytes = model.read_bytes()
        self.input = parsed.inputs[0]  # uint8, per tensor
        quantize = next(op for op in parsed.operators if op.name == "QUANTIZE")
        self.quantized_input = quantize.outputs[0]  # int8, per tensor
        conv = next(op for op in parsed.operators if op.name == "CONV_2D")
        self.conv = conv.index
        self.weights, self.bias = conv.inputs[1], conv.inputs[2]  # int8 and int32, per channel
        self.channels = parsed.tensors[self.weights].shape[0]


@pytest.fixture(scope="module")
def tiny(tiny_tflite) -> Tiny:
    return Tiny(tiny_tflite)


def without_sidecar(folder: Path, flatbuffer: bytes) -> Path:
    """The model alone, as one from elsewhere is: no model.json, so no hash to check."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.tflite"
    path.write_bytes(flatbuffer)
    return path


def litert_allocates(model: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LITERT_ALLOCATES, str(model)], capture_output=True, timeout=120
    )


def assert_one_line_refusal(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("edgecnn: error: ") and proc.stderr.count("\n") == 1
    for word in words:
        assert word in proc.stderr


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    import cv2

    path = tmp_path_factory.mktemp("picture") / "item.png"
    cv2.imwrite(str(path), bench_frames(2)[0][0])
    return path


def test_litert_segfaults_on_the_issues_model_and_every_command_refuses_it(tiny, tmp_path, picture):
    model = without_sidecar(tmp_path / "m", set_zero_point(tiny.bytes, tiny.input, 30464))
    crashed = litert_allocates(model)
    assert crashed.returncode == -signal.SIGSEGV, (
        "LiteRT no longer crashes on an input zero point of 30464: the check still guards "
        f"the other runtimes (exit {crashed.returncode})"
    )
    out = tmp_path / "explain"
    for args in (
        ["run", "--model", str(model), "--source", str(picture), "--max-frames", "1"],
        ["bench", "--model", str(model), "--frames", "3"],
        ["verify", str(model), "--inputs", "random", "--samples", "2"],
        ["explain", "--model", str(model), "--image", str(picture), "--out", str(out)],
    ):
        proc = run_edgecnn(*args, timeout=300)
        assert_one_line_refusal(
            proc, f"{model} is damaged: tensor {tiny.input}", "zero point 30464, outside uint8"
        )
    assert not out.exists()


SEGFAULTING_DAMAGE = {
    "input zero point -200": ("input", "zero point", -200, "zero point -200, outside uint8's 0..255"),
    "input zero point 256": ("input", "zero point", 256, "zero point 256, outside uint8"),
    "input scale 0": ("input", "scale", 0.0, "scale 0: a scale must be finite and positive (at least 1.18e-38)"),
    "input scale -1": ("input", "scale", -1.0, "scale -1"),
    "input scale NaN": ("input", "scale", float("nan"), "scale nan"),
    "input scale inf": ("input", "scale", float("inf"), "scale inf"),
    "input scale subnormal": ("input", "scale", 1e-40, "scale 1e-40: a scale must be finite"),
    "int8 input zero point 128": ("quantized_input", "zero point", 128, "outside int8's -128..127"),
    "int8 input scale 0": ("quantized_input", "scale", 0.0, "scale 0"),
}  # fmt: skip


@pytest.mark.parametrize("damage", SEGFAULTING_DAMAGE)
def test_damage_that_crashes_litert_is_refused_by_run(tiny, tmp_path, picture, damage):
    where, field, value, message = SEGFAULTING_DAMAGE[damage]
    tensor = getattr(tiny, where)
    change = set_zero_point if field == "zero point" else set_scale
    model = without_sidecar(tmp_path, change(tiny.bytes, tensor, value))
    assert litert_allocates(model).returncode < 0  # a signal: what run would have died of
    proc = run_edgecnn(
        "run", "--model", str(model), "--source", str(picture), "--max-frames", "1", timeout=120
    )
    assert_one_line_refusal(proc, f"is damaged: tensor {tensor}", message)


def refusal(flatbuffer: bytes) -> str:
    with pytest.raises(EdgeCnnError) as error:
        read_model(flatbuffer)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_per_channel_quantisation_must_have_a_scale_and_zero_point_per_channel(tiny):
    n = tiny.channels
    assert f"has {n} scale(s) but {n - 1} zero point(s)" in refusal(
        set_zero_point_count(tiny.bytes, tiny.weights, n - 1)
    )
    assert f"has 2 scale(s) but {n} zero point(s)" in refusal(
        set_scale_count(tiny.bytes, tiny.weights, 2)
    )
    zero_points = set_zero_point_count(tiny.bytes, tiny.weights, n - 1)
    assert f"has {n - 1} scales for {n} channel(s)" in refusal(
        set_scale_count(zero_points, tiny.weights, n - 1)
    )


def test_a_bad_channel_anywhere_is_found(tiny):
    """Not only the first value: the last channel's scale and zero point are checked too."""
    last = tiny.channels - 1
    assert "scale -0.5" in refusal(set_scale(tiny.bytes, tiny.weights, -0.5, channel=last))
    assert "zero point 2147483648, outside int32" in refusal(
        set_zero_point(tiny.bytes, tiny.bias, 2**31, channel=last)
    )


def test_a_buffer_shorter_than_its_shape_is_refused(tiny):
    message = refusal(set_buffer_length(tiny.bytes, tiny.weights, 100))
    assert f"tensor {tiny.weights} " in message and "holds 100 bytes, but its shape" in message


def test_an_operator_naming_a_missing_tensor_is_refused(tiny):
    message = refusal(set_operator_input(tiny.bytes, tiny.conv, 0, 9999))
    assert f"operator {tiny.conv} (CONV_2D) names tensor 9999" in message


def test_the_undamaged_model_reads_and_zero_points_at_the_ends_of_the_range_pass(tiny):
    read_model(tiny.bytes)
    read_model(set_zero_point(tiny.bytes, tiny.input, 255))
    read_model(set_zero_point(tiny.bytes, tiny.quantized_input, -128))
    read_model(set_scale(tiny.bytes, tiny.input, 1e-30))  # tiny, but a normal float
