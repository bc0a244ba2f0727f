"""Golden vectors (issue 20): convert stores a few test images and the reference outputs in
model.json, tied to the model's hash; the self-check passes them through a real runtime and
refuses, in one line, one that computes something else (planted with the documented hook
EDGECNN_PERTURB_RUNTIME), and checks a foreign model against the NumPy reference instead."""

from __future__ import annotations

import json
import shutil
import time
import warnings

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from edgecnn.errors import EdgeCnnError
from edgecnn.fault_injection import ENV, perturbed
from edgecnn.golden import read_golden, self_check
from edgecnn.reference.interpreter import ReferenceInterpreter
from edgecnn.sidecar import ModelSidecar, file_sha256, find_sidecar
from edgecnn.tflite_model import read_model


def runtime(path, monkeypatch=None, lsb: int = 0):
    """LiteRT's default kernels as run opens them, with the hook's fault when asked."""
    if monkeypatch is not None:
        monkeypatch.setenv(ENV, str(lsb))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    return perturbed(interpreter)


def test_convert_stores_golden_vectors_tied_to_the_model(tiny_tflite):
    sidecar = find_sidecar(tiny_tflite)
    assert sidecar.golden["model_sha256"] == sidecar.tflite_sha256 == file_sha256(tiny_tflite)
    golden = read_golden(sidecar.golden, sidecar.tflite_sha256, "model.json")
    (x,), (y,) = golden.inputs, golden.outputs
    assert x.shape == (8, 28, 28, 1) and x.dtype == np.uint8 and y.shape == (8, 10)
    assert len({bytes(image) for image in x}) == 8  # eight different test images
    expected = np.concatenate([ReferenceInterpreter(tiny_tflite).run(x[i : i + 1])[0]
                               for i in range(8)])  # fmt: skip
    np.testing.assert_array_equal(y.reshape(8, 10), expected)
    assert len(set(y.reshape(8, 10).argmax(axis=1))) >= 6  # one per class, mostly right


def test_the_real_runtime_passes_in_milliseconds(tiny_tflite):
    interpreter = runtime(tiny_tflite)
    model = read_model(tiny_tflite)
    start = time.perf_counter()
    assert self_check(interpreter, tiny_tflite, model, "litert") == "8 golden vectors"
    print(f"self-check: {1000 * (time.perf_counter() - start):.2f} ms")


@pytest.mark.parametrize("lsb", [40, -128])
def test_a_runtime_that_breaks_its_golden_vectors_is_refused_in_one_line(
    tiny_tflite, monkeypatch, lsb
):
    with pytest.raises(EdgeCnnError) as refused:
        self_check(runtime(tiny_tflite, monkeypatch, lsb), tiny_tflite, read_model(tiny_tflite),
                   "litert")  # fmt: skip
    message = str(refused.value)
    assert "\n" not in message and message.startswith(
        "the litert runtime computes this model wrong"
    )
    assert "--backend reference" in message and "--no-self-check runs anyway" in message


def test_damaged_or_foreign_golden_vectors_are_refused(tiny_tflite, tmp_path):
    model = tmp_path / "model.tflite"
    shutil.copy(tiny_tflite, model)
    data = json.loads(tiny_tflite.with_name("model.json").read_text())
    data["golden"]["outputs"][0] = data["golden"]["outputs"][0][:-8] + "AAAAAAAA"
    (tmp_path / "model.json").write_text(json.dumps(data))
    interpreter = runtime(model)
    with pytest.raises(
        EdgeCnnError, match="golden vectors in .* are damaged: re-run edgecnn convert"
    ):
        self_check(interpreter, model, read_model(model), "litert")
    data = json.loads(tiny_tflite.with_name("model.json").read_text())
    data["tflite_sha256"] = data["golden"]["model_sha256"] = "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(EdgeCnnError, match="damaged"):  # the record's own hash covers it
        self_check(interpreter, model, read_model(model), "litert")
    data = json.loads(tiny_tflite.with_name("model.json").read_text())
    data["tflite_sha256"] = "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(EdgeCnnError, match="belong to another model file"):
        self_check(interpreter, model, read_model(model), "litert")


def test_a_foreign_model_is_checked_against_the_numpy_reference(tiny_tflite, tmp_path, monkeypatch):
    model = tmp_path / "foreign.tflite"
    shutil.copy(tiny_tflite, model)  # no model.json beside it
    assert self_check(runtime(model), model, read_model(model), "litert") == "random inputs"
    ModelSidecar(labels=[str(i) for i in range(10)]).write(tmp_path / "foreign.json")
    assert self_check(runtime(model), model, read_model(model), "litert") == "random inputs"
    with pytest.raises(EdgeCnnError, match="computes this model wrong"):
        self_check(runtime(model, monkeypatch, 50), model, read_model(model), "litert")
