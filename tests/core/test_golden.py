"""Golden vectors (issue 20): convert stores a few test images and the reference outputs in
model.json, tied to the model's hash; the self-check passes them through a real runtime and
refuses, in one line, one that computes something else (planted with the documented hook
EDGECNN_PERTURB_RUNTIME), and checks a foreign model against the NumPy reference instead.
The device commands' refusals, end to end, are in tests/device/test_device_self_check.py."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgecnn.backends import choose_backend
from edgecnn.bundle import open_bundle
from edgecnn.fault_injection import ENV
from edgecnn.golden import (
    PASSED,
    REFUSED,
    SKIPPED,
    array_text,
    make_golden,
    payload_sha256,
    read_golden,
    self_check,
    text_array,
)
from edgecnn.reference.interpreter import ReferenceInterpreter
from edgecnn.sidecar import ModelSidecar, file_sha256, find_sidecar


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


def check(path, monkeypatch=None, lsb: int = 0, backend: str = "litert", verify_hash=True,
          kernels="optimized"):  # fmt: skip
    """The self-check of `backend` (real: LiteRT's kernels as run opens them, through
    edgecnn.backends) on the model at `path`, with the hook's fault when asked."""
    if monkeypatch is not None:
        monkeypatch.setenv(ENV, str(lsb))
    bundle = open_bundle(path, verify_hash)
    interpreter = choose_backend(backend).open(bundle.file, kernels)
    return self_check(interpreter, bundle, runtime=backend, kernels=kernels)


def deployed(tiny_tflite, folder, edit=None):
    """A copy of the converted model and its model.json, `edit`ed (a function of its dict)."""
    model = folder / "model.tflite"
    shutil.copy(tiny_tflite, model)
    data = json.loads(tiny_tflite.with_name("model.json").read_text())
    if edit is not None:
        edit(data)
    (folder / "model.json").write_text(json.dumps(data))
    return model


def one_line_refusal(result, *words: str) -> str:
    assert result.status == REFUSED and not result.passed
    assert "\n" not in result.reason and result.reason.startswith("self-check: ")
    assert result.reason.endswith("--no-self-check runs anyway)") or result.reason.endswith(
        "--no-self-check runs anyway"
    )
    for word in words:
        assert word in result.reason
    return result.reason


def test_the_real_runtime_passes_in_milliseconds(tiny_tflite):
    check(tiny_tflite)  # the first invoke warms the interpreter up, as run's first frame would
    costs = [check(tiny_tflite).ms for _ in range(5)]
    result = check(tiny_tflite)
    assert result.status == PASSED and result.passed
    assert result.checked == "the 8 golden vectors in model.json"
    print(f"\nself-check on litert, 8 golden vectors: {sorted(costs)[2]:.2f} ms (median of 5; "
          "opening the interpreter included in none)")  # fmt: skip


@pytest.mark.parametrize("lsb", [40, -128])
def test_a_runtime_that_breaks_its_golden_vectors_is_refused_in_one_line(
    tiny_tflite, monkeypatch, lsb
):
    reason = one_line_refusal(
        check(tiny_tflite, monkeypatch, lsb),
        "the litert runtime computes this model wrong on the 8 golden vectors in model.json",
        "--backend reference", "--kernels reference",
    )  # fmt: skip
    assert "LSB off" in reason or "predicts another class" in reason


def test_tflite_reference_kernels_are_not_perturbed_and_pass(tiny_tflite, monkeypatch):
    """The hook plants the fault in the optimized kernels only, so --kernels reference is
    a way out that the refusal may name."""
    assert check(tiny_tflite, monkeypatch, 40, kernels="reference").status == PASSED


def test_the_reference_backend_is_checked_against_the_golden_vectors(tiny_tflite, tmp_path):
    """The NumPy reference computed the vectors on the workstation; on a device it may run
    under another NumPy, so it is held to them too (and never told to use itself)."""
    assert check(tiny_tflite, backend="reference").status == PASSED

    def wrong_outputs(data):
        golden = data["golden"]
        golden["outputs"][0] = array_text(text_array(golden["outputs"][0]) // 2)
        golden["sha256"] = payload_sha256(golden["inputs"], golden["outputs"],
                                          golden["model_sha256"])  # fmt: skip

    model = deployed(tiny_tflite, tmp_path, wrong_outputs)
    reason = one_line_refusal(check(model, backend="reference"), "report this as a bug")
    assert "--backend reference" not in reason


def test_damaged_golden_vectors_are_refused(tiny_tflite, tmp_path):
    """A section whose bytes are not those its hash covers is refused: model.json is not what
    convert wrote, so nothing in it is trusted to judge a runtime."""

    def damage(data):
        data["golden"]["outputs"][0] = data["golden"]["outputs"][0][:-8] + "AAAAAAAA"

    model = deployed(tiny_tflite, tmp_path, damage)
    one_line_refusal(check(model), "golden vectors in", "are damaged: re-copy it, or re-run "
                     "edgecnn convert")  # fmt: skip
    for broken in ("not a record", {"inputs": []}, {"inputs": 3, "outputs": None}):
        deployed(tiny_tflite, tmp_path, lambda data, b=broken: data.update(golden=b))
        one_line_refusal(check(model), "are damaged")


def test_golden_vectors_of_another_model_are_refused(tiny_tflite, tmp_path):
    def belongs_elsewhere(data):
        data["tflite_sha256"] = data["golden"]["model_sha256"] = "0" * 64

    model = deployed(tiny_tflite, tmp_path, belongs_elsewhere)
    # (the model's own hash check would refuse first: this is the vectors' own record)
    one_line_refusal(check(model, verify_hash=False), "are damaged")  # their hash covers it

    def record_for_another_file(data):
        data["tflite_sha256"] = "0" * 64

    deployed(tiny_tflite, tmp_path, record_for_another_file)
    one_line_refusal(check(model, verify_hash=False), "belong to another model file")


def test_vectors_edited_with_their_hash_recomputed_are_blamed_not_the_runtime(
    tiny_tflite, tmp_path
):
    """A hand-edited model.json can pass the record's hash rules. The runtime disagrees with
    such vectors, but so does the NumPy reference: the refusal names model.json."""

    def forge(data):
        golden = data["golden"]
        golden["outputs"][0] = array_text(np.roll(text_array(golden["outputs"][0]), 1, axis=-1))
        golden["sha256"] = payload_sha256(golden["inputs"], golden["outputs"],
                                          golden["model_sha256"])  # fmt: skip

    model = deployed(tiny_tflite, tmp_path, forge)
    reason = one_line_refusal(check(model), "do not fit the model", "re-copy", "model.json")
    assert "runtime computes" not in reason

    def rehash(golden):
        golden["sha256"] = payload_sha256(golden["inputs"], golden["outputs"],
                                          golden["model_sha256"])  # fmt: skip

    def as_int8(data):
        x = text_array(data["golden"]["inputs"][0])
        data["golden"]["inputs"][0] = array_text(x.astype(np.int8))
        rehash(data["golden"])

    def half_of_them(data):
        x = text_array(data["golden"]["inputs"][0])
        data["golden"]["inputs"][0] = array_text(x[:4])
        rehash(data["golden"])

    def none_at_all(data):
        data["golden"]["inputs"] = [array_text(np.zeros((0, 28, 28, 1), np.uint8))]
        data["golden"]["outputs"] = [array_text(np.zeros((0, 10), np.int8))]
        rehash(data["golden"])

    for edit, said in ((as_int8, "its vectors int8 [8, 28, 28, 1]"),
                       (half_of_them, "its vectors int8 [8, 10]"),
                       (none_at_all, "(no vectors in it)")):  # fmt: skip
        deployed(tiny_tflite, tmp_path, edit)
        one_line_refusal(check(model), "do not fit the model", said)


def test_a_model_file_that_is_not_the_one_the_vectors_belong_to_gets_random_inputs(
    tiny_tflite, tmp_path, monkeypatch
):
    """--no-verify-hash runs a file other than the one model.json describes: its golden
    vectors say nothing about it, so it is checked like a foreign model."""
    model = deployed(tiny_tflite, tmp_path)
    model.write_bytes(model.read_bytes() + bytes(16))  # the same graph, another hash
    result = check(model, verify_hash=False)
    assert result.status == PASSED
    assert result.checked.startswith("4 random inputs against the NumPy reference (the model "
                                      "is not the file")  # fmt: skip
    one_line_refusal(check(model, monkeypatch, 50, verify_hash=False), "random inputs")


def test_a_foreign_model_is_checked_against_the_numpy_reference(tiny_tflite, tmp_path, monkeypatch):
    model = tmp_path / "foreign.tflite"
    shutil.copy(tiny_tflite, model)  # no model.json beside it
    result = check(model)
    assert result.status == PASSED
    assert result.checked == ("4 random inputs against the NumPy reference (no golden vectors: "
                              "no model.json beside the model)")  # fmt: skip
    ModelSidecar(labels=[str(i) for i in range(10)]).write(tmp_path / "foreign.json")
    assert check(model).checked.endswith("(no golden vectors in model.json (an older convert, "
                                         "or no reference runs it))")  # fmt: skip
    one_line_refusal(check(model, monkeypatch, 50), "the litert runtime computes this model "
                     "wrong on 4 random inputs against the NumPy reference")  # fmt: skip
    skipped = check(model, backend="reference")
    assert (
        skipped.status == SKIPPED and skipped.passed and "NumPy reference itself" in skipped.reason
    )


def test_golden_outputs_of_tflite_reference_kernels_equal_the_numpy_references(tiny_tflite):
    """convert's fallback for a model with an op the NumPy reference lacks: the same vectors
    from TFLite's reference kernels (on this model, bit for bit the NumPy reference's)."""
    bundle = open_bundle(tiny_tflite)
    inputs = read_golden(bundle.sidecar.golden, bundle.sidecar.tflite_sha256, "model.json").inputs
    kernels = choose_backend("litert").open(bundle.file, kernels="reference")
    theirs = make_golden(bundle.graph, inputs, interpreter=kernels)
    ours = make_golden(bundle.graph, inputs)
    for a, b in zip(theirs.outputs, ours.outputs, strict=True):
        np.testing.assert_array_equal(a, b)
