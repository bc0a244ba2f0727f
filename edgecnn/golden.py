"""Golden vectors: a few inputs and the reference outputs, stored in model.json by `convert`,
and the start-up self-check that passes them through the runtime a device chose.

A runtime that computes something else (a bad wheel, a mis-detected CPU feature, a kernel
bug, an emulator: issue 20 saw XNNPACK label every frame "Bag" under qemu's default CPU
model) is refused before it classifies anything, in one line that says what to do.

The vectors are the model's own test images (up to 8, one per class as far as they go),
quantised as the model takes them, and the NumPy reference's outputs for them (bit-exact
to TFLite's reference kernels). They live in model.json under "golden", with the SHA-256 of
the model file they belong to and of their own bytes, so a vector that was edited, or that
came with another model, is refused rather than trusted. A model without them (a foreign
.tflite) is checked against the NumPy reference on random inputs instead.

The contract is `edgecnn.contract`'s: each output within its tolerance, the predictions in
agreement. Edge TPU compilers requantise their own way, so on the Edge TPU only the
predictions are held to it.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass

import numpy as np

from edgecnn.contract import FLOAT_RTOL, argmax_agreement, output_tolerance
from edgecnn.errors import EdgeCnnError
from edgecnn.tflite_model import TfliteModel

GOLDEN_INPUTS = 8
RANDOM_INPUTS = 4
FIX = "run with --backend reference (the NumPy interpreter) or install another runtime"


@dataclass(frozen=True)
class GoldenVectors:
    """Inputs (one array per model input, [N, *input shape]) and the reference outputs (one
    array per model output, [N, *output shape]), both as raw tensor values."""

    inputs: list[np.ndarray]
    outputs: list[np.ndarray]


def pick_golden(images: np.ndarray, labels: np.ndarray, count: int = GOLDEN_INPUTS) -> np.ndarray:
    """Indices of up to `count` images, one per class in label order, then the next ones."""
    firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)][:count]
    rest = [i for i in range(len(labels)) if i not in set(firsts)]
    return np.array((firsts + rest)[:count], dtype=np.int64)


def make_golden(model: TfliteModel | bytes, inputs: list[np.ndarray]) -> GoldenVectors:
    """The NumPy reference's outputs for `inputs` (one invocation per row)."""
    from edgecnn.reference.interpreter import ReferenceInterpreter

    ri = ReferenceInterpreter(model)
    outputs = [ri.run_chunk(*(x[i : i + 1] for x in inputs)) for i in range(len(inputs[0]))]
    return GoldenVectors(
        [np.ascontiguousarray(x) for x in inputs],
        [np.concatenate(column) for column in zip(*outputs, strict=True)],
    )


def array_text(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def text_array(text: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(text.encode("ascii"))), allow_pickle=False)


def payload_sha256(inputs: list[str], outputs: list[str], model_sha256: str) -> str:
    digest = hashlib.sha256(model_sha256.encode())
    for text in (*inputs, "|", *outputs):
        digest.update(text.encode("ascii"))
    return digest.hexdigest()


def golden_record(golden: GoldenVectors, model_sha256: str) -> dict:
    """The JSON record model.json keeps under "golden"."""
    inputs = [array_text(x) for x in golden.inputs]
    outputs = [array_text(y) for y in golden.outputs]
    return {
        "inputs": inputs,
        "outputs": outputs,
        "engine": "NumPy reference (bit-exact to TFLite's reference kernels)",
        "model_sha256": model_sha256,
        "sha256": payload_sha256(inputs, outputs, model_sha256),
    }


def read_golden(record: dict | None, model_sha256: str | None, where: str) -> GoldenVectors | None:
    """The vectors of a model.json record, None when there are none; one-line refusals for a
    damaged record or one that belongs to another model file."""
    if not record:
        return None
    try:
        inputs, outputs = list(record["inputs"]), list(record["outputs"])
        belongs_to = str(record["model_sha256"])
        intact = record["sha256"] == payload_sha256(inputs, outputs, belongs_to)
        vectors = GoldenVectors([text_array(t) for t in inputs], [text_array(t) for t in outputs])
    except (KeyError, TypeError, ValueError, OSError):
        intact = False
    if not intact:
        raise EdgeCnnError(
            f"the golden vectors in {where} are damaged: re-run edgecnn convert "
            "(--no-self-check runs anyway)"
        )
    if model_sha256 is not None and belongs_to != model_sha256:
        raise EdgeCnnError(
            f"the golden vectors in {where} belong to another model file: copy the model.json "
            "that convert wrote with this model (--no-self-check runs anyway)"
        )
    return vectors


def random_golden(model: TfliteModel, count: int = RANDOM_INPUTS) -> GoldenVectors:
    """For a model without golden vectors: random inputs valid for each input's type, and the
    NumPy reference's outputs for them."""
    rng = np.random.default_rng(0)
    inputs = []
    for t in model.input_details():
        shape = (count, *t.shape[1:])
        if t.dtype is None:
            raise EdgeCnnError(f"input {t.name} is {t.type_name}: no self-check inputs for it")
        if np.issubdtype(t.dtype, np.floating):
            inputs.append(rng.uniform(-1, 1, shape).astype(t.dtype))
        else:
            info = np.iinfo(t.dtype)
            inputs.append(rng.integers(info.min, info.max, shape, endpoint=True).astype(t.dtype))
    return make_golden(model, inputs)


def check_runtime(
    interpreter, model: TfliteModel, golden: GoldenVectors, runtime: str, predictions_only=False
) -> None:
    """Pass the golden inputs through `interpreter` (a TFLite interpreter of `model`, tensors
    allocated) and refuse, in one line, outputs that break the contract."""
    details = interpreter.get_input_details()
    out_details = interpreter.get_output_details()
    got: list[list[np.ndarray]] = [[] for _ in out_details]
    for i in range(len(golden.inputs[0])):
        for detail, x in zip(details, golden.inputs, strict=True):
            interpreter.set_tensor(detail["index"], x[i : i + 1].reshape(detail["shape"]))
        interpreter.invoke()
        for k, detail in enumerate(out_details):
            got[k].append(interpreter.get_tensor(detail["index"]).copy())
    for k, expected in enumerate(golden.outputs):
        ours = np.concatenate(got[k]).reshape(expected.shape)
        index = model.outputs[k]
        tolerance, why = output_tolerance(model, index)
        diff = float(np.abs(ours.astype(np.float64) - expected.astype(np.float64)).max())
        if expected.dtype.kind == "f":
            tolerance = FLOAT_RTOL * max(1.0, float(np.abs(expected).max(initial=0)))
        if not predictions_only and diff > tolerance:
            raise EdgeCnnError(
                f"the {runtime} runtime computes this model wrong: output "
                f"{model.tensors[index].name} is {diff:g} off the golden vectors (contract: "
                f"{why}): {FIX}; --no-self-check runs anyway"
            )
        if k == 0:
            agreement, _ = argmax_agreement(expected, ours, tolerance)
            if agreement < 1.0:
                raise EdgeCnnError(
                    f"the {runtime} runtime computes this model wrong: it predicts other classes "
                    f"than the golden vectors on {100 * (1 - agreement):.0f}% of them: {FIX}; "
                    "--no-self-check runs anyway"
                )


def self_check(interpreter, model_path, model: TfliteModel, runtime: str, on_edgetpu=False) -> str:
    """The start-up self-check of `interpreter`, the runtime a device command chose for the
    model at `model_path`: its golden vectors from model.json, else random inputs against the
    NumPy reference. Returns what was checked; raises a one-line EdgeCnnError on a breach."""
    from edgecnn.sidecar import find_sidecar, sidecar_path_for

    sidecar = find_sidecar(model_path)
    golden = None
    if sidecar is not None and sidecar.golden:
        golden = read_golden(
            sidecar.golden, sidecar.tflite_sha256, str(sidecar_path_for(model_path))
        )
    checked = f"{len(golden.inputs[0])} golden vectors" if golden else "random inputs"
    if golden is None:
        golden = random_golden(model)
    check_runtime(interpreter, model, golden, runtime, predictions_only=on_edgetpu)
    return checked
