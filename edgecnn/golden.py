"""Golden vectors: a few inputs and the reference outputs, stored in model.json by `convert`,
and the start-up self-check that passes them through the runtime a device chose.

A runtime that computes something else (a bad wheel, a mis-detected CPU feature, a kernel
bug, an emulator: issue 20 saw XNNPACK label every frame "Bag" under qemu's default CPU
model) is refused before it classifies anything, in one line that says what to do.

The vectors are the model's own test images (up to 8, one per class as far as they go),
quantised as the model takes them, and the NumPy reference's outputs for them (bit-exact
to TFLite's reference kernels). They live in model.json under "golden", with the SHA-256 of
the model file they belong to and of their own bytes, so a vector that was edited, or that
came with another model, is refused rather than trusted (and one edited with its hash
recomputed is caught when the NumPy reference disagrees with it too). A model without them
(a foreign .tflite, an older convert, a file --no-verify-hash runs in place of the one
model.json describes) is checked against the NumPy reference on random inputs instead.

The contract is `edgecnn.contract`'s: each output within its tolerance, the predictions in
agreement. Edge TPU compilers requantise their own way, so on the Edge TPU only the
predictions are held to it. `self_check` returns a `SelfCheck` record (passed, refused or
skipped; on what; the one line for people; its cost): the device's pipeline refuses with it
(`edgecnn.device.pipeline.open_runtime`), doctor shows it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgecnn.contract import FLOAT_RTOL, argmax_agreement, output_tolerance
from edgecnn.errors import EdgeCnnError, first_line
from edgecnn.tflite_model import TensorInfo, TfliteModel

if TYPE_CHECKING:
    from edgecnn.bundle import ModelBundle, ModelFile

GOLDEN_INPUTS = 8
RANDOM_INPUTS = 4


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


NUMPY_ENGINE = "NumPy reference (bit-exact to TFLite's reference kernels)"
TFLITE_REFERENCE_ENGINE = "TFLite's reference kernels (the NumPy reference lacks an op)"


def make_golden(
    model: TfliteModel | bytes, inputs: list[np.ndarray], interpreter=None
) -> GoldenVectors:
    """The NumPy reference's outputs for `inputs` (one invocation per row), or those of
    `interpreter` (a TFLite interpreter of the model, tensors allocated)."""
    if interpreter is not None:
        outputs = interpreter_outputs(interpreter, inputs)
    else:
        from edgecnn.reference.interpreter import ReferenceInterpreter

        outputs = reference_outputs(ReferenceInterpreter(model), inputs)
    return GoldenVectors([np.ascontiguousarray(x) for x in inputs], outputs)


def reference_outputs(ri, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Each output of the NumPy reference `ri` for `inputs`, one invocation per row (as a
    device runs them), the rows concatenated."""
    rows = [ri.run_chunk(*(x[i : i + 1] for x in inputs)) for i in range(len(inputs[0]))]
    return [np.concatenate(column) for column in zip(*rows, strict=True)]


def reference_gap(model: TfliteModel, exc: EdgeCnnError) -> str:
    """Why the NumPy reference cannot run `model`, short: the ops it has no function for
    (named, not its whole list), else what it said."""
    from edgecnn.reference.registry import REGISTRY

    missing = sorted({op.name for op in model.operators} - set(REGISTRY))
    return f"the NumPy reference has no {', '.join(missing)}" if missing else str(exc)


def interpreter_outputs(interpreter, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Each output of `interpreter` (tensors allocated) for `inputs`, one invocation per row,
    the rows concatenated."""
    details = interpreter.get_input_details()
    out_details = interpreter.get_output_details()
    got: list[list[np.ndarray]] = [[] for _ in out_details]
    for i in range(len(inputs[0])):
        for detail, x in zip(details, inputs, strict=True):
            interpreter.set_tensor(detail["index"], x[i : i + 1].reshape(detail["shape"]))
        interpreter.invoke()
        for k, detail in enumerate(out_details):
            got[k].append(interpreter.get_tensor(detail["index"]).copy())
    return [np.concatenate(column) for column in got]


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


def golden_record(golden: GoldenVectors, model_sha256: str, engine: str = NUMPY_ENGINE) -> dict:
    """The JSON record model.json keeps under "golden"; `engine` made the outputs."""
    inputs = [array_text(x) for x in golden.inputs]
    outputs = [array_text(y) for y in golden.outputs]
    return {
        "inputs": inputs,
        "outputs": outputs,
        "engine": engine,
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
            f"the golden vectors in {where} are damaged: re-copy it, or re-run edgecnn "
            "convert (--no-self-check runs anyway)"
        )
    if model_sha256 is not None and belongs_to != model_sha256:
        raise EdgeCnnError(
            f"the golden vectors in {where} belong to another model file: copy the model.json "
            "that convert wrote with this model (--no-self-check runs anyway)"
        )
    return vectors


def random_inputs(
    details: list[TensorInfo], samples: int, seed: int = 0, why: str = "verify"
) -> list[np.ndarray]:
    """Every input filled with values valid for its type: the whole range of an integer type
    (raw quantised values), uniform [-1, 1) for floats, 0/1 for bool. `why` names the
    caller in the one-line refusal of a type no values can be made for."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in details:
        shape = (samples, *t.shape[1:])
        if t.dtype is None:
            raise EdgeCnnError(f"input {t.name} is {t.type_name}: {why} cannot make values for it")
        if np.issubdtype(t.dtype, np.floating):
            arrays.append(rng.uniform(-1, 1, shape).astype(t.dtype))
        elif t.dtype == np.bool_:
            arrays.append(rng.integers(0, 2, shape).astype(np.bool_))
        else:
            info = np.iinfo(t.dtype)
            arrays.append(rng.integers(info.min, info.max, shape, endpoint=True).astype(t.dtype))
    return arrays


def random_golden(model: TfliteModel, count: int = RANDOM_INPUTS) -> GoldenVectors:
    """For a model without golden vectors: random inputs valid for each input's type, and the
    NumPy reference's outputs for them."""
    return make_golden(model, random_inputs(model.input_details(), count, why="the self-check"))


def find_breach(
    interpreter, model: TfliteModel, golden: GoldenVectors, predictions_only: bool = False
) -> str | None:
    """Pass the golden inputs through `interpreter` (a TFLite interpreter of `model`, tensors
    allocated, one input per invocation); None when its outputs keep to the contract, else
    what breaks it, in a few words."""
    got = interpreter_outputs(interpreter, golden.inputs)
    for k, expected in enumerate(golden.outputs):
        ours = got[k].reshape(expected.shape)
        index = model.outputs[k]
        tolerance, _ = output_tolerance(model, index)
        diff = float(np.abs(ours.astype(np.float64) - expected.astype(np.float64)).max())
        unit = " LSB"
        if expected.dtype.kind == "f":
            tolerance = FLOAT_RTOL * max(1.0, float(np.abs(expected).max(initial=0)))
            unit = ""
        if not predictions_only and diff > tolerance:
            return (
                f"output {model.tensors[index].name} is {diff:g}{unit} off "
                f"({tolerance:g}{unit} allowed)"
            )
        if k == 0:
            agreement, _ = argmax_agreement(expected, ours, tolerance)
            if agreement < 1.0:
                rows = len(expected)
                return f"it predicts another class for {round((1 - agreement) * rows)} of {rows}"
    return None


PASSED, REFUSED, SKIPPED = "passed", "refused", "skipped"


@dataclass(frozen=True)
class SelfCheck:
    """What the start-up self-check found.

    `status`: "passed"; "refused" (the runtime breaks the contract, or the golden vectors
    cannot be trusted); "skipped" (nothing to check the runtime against). `checked` says
    on what, `reason` is the one line for people (a refusal's says what to do), `ms` what
    the check cost.
    """

    status: str
    checked: str
    reason: str
    ms: float

    @property
    def passed(self) -> bool:
        return self.status != REFUSED

    def raise_if_refused(self) -> None:
        """EdgeCnnError with the one-line reason when the runtime was refused."""
        if self.status == REFUSED:
            raise EdgeCnnError(self.reason)

    def as_json(self) -> dict:
        return {"status": self.status, "checked": self.checked, "reason": self.reason,
                "ms": self.ms}  # fmt: skip


def remedy(runtime: str, kernels: str, on_edgetpu: bool) -> str:
    """What to run instead of a runtime that computes the model wrong."""
    from edgecnn.backends import REFERENCE, TFLITE_PACKAGES

    if runtime == REFERENCE:
        return (
            f"the NumPy reference must be exact: report this as a bug (NumPy {np.__version__}); "
            "a TFLite runtime (--backend litert) may run the model"
        )
    if on_edgetpu:
        return "run on the CPU (--edgetpu off) or with --backend reference (the NumPy interpreter)"
    ways = ["--backend reference (the NumPy interpreter)"]
    if kernels == "optimized":  # a broken XNNPACK: the same runtime's plain kernels, faster
        ways.insert(0, "--kernels reference (TFLite's reference kernels)")
    others = " or ".join(p.name for p in TFLITE_PACKAGES if p.name != runtime)
    return f"run with {', '.join(ways)}, or another runtime (--backend {others})"


def golden_for(bundle: ModelBundle, model: ModelFile, on_edgetpu: bool):
    """(the golden vectors that hold for `model`, what they are) or (None, why there are
    none); EdgeCnnError for vectors that are damaged or belong to another model."""
    sidecar = bundle.sidecar
    if bundle.sidecar_path is None:
        return None, "no golden vectors: no model.json beside the model"
    if not sidecar.golden:
        return None, "no golden vectors in model.json (an older convert, or no reference runs it)"
    golden = read_golden(sidecar.golden, sidecar.tflite_sha256, str(bundle.sidecar_path))
    # The bundle checked the file against model.json's hash, which the vectors belong to;
    # --no-verify-hash may run another file (the Edge TPU one is compiled from this one).
    unverified = not on_edgetpu and not (bundle.verify_hash and sidecar.tflite_sha256)
    if unverified and model.sha256 != sidecar.golden["model_sha256"]:
        return None, "the model is not the file model.json's golden vectors belong to"
    misfit = misfit_tensor(golden, model.graph)
    if misfit:
        raise EdgeCnnError(
            f"the golden vectors in {bundle.sidecar_path} do not fit the model ({misfit}): "
            "re-copy it, or re-run edgecnn convert (--no-self-check runs anyway)"
        )
    count = len(golden.inputs[0])
    return golden, f"the {count} golden vectors in {bundle.sidecar_path.name}"


def misfit_tensor(golden: GoldenVectors, model: TfliteModel) -> str | None:
    """The first golden array whose type or size is not its tensor's (one invocation per
    row), said; None when they all fit."""
    inputs, outputs = model.input_details(), model.output_details()
    arrays = (*golden.inputs, *golden.outputs)
    if len(golden.inputs) != len(inputs) or len(golden.outputs) != len(outputs):
        return f"{len(golden.inputs)} inputs and {len(golden.outputs)} outputs"
    rows = len(golden.inputs[0]) if golden.inputs else 0
    if rows == 0:
        return "no vectors in it"
    for array, t in zip(arrays, (*inputs, *outputs), strict=True):
        if array.dtype != t.dtype or array.size != rows * int(np.prod(t.shape)):
            theirs = f"{array.dtype} {list(array.shape)}"
            return f"{t.name} is {t.type_name} {list(t.shape)}, its vectors {theirs}"
    return None


def vectors_hold(model: TfliteModel, golden: GoldenVectors) -> bool:
    """Whether the NumPy reference, here, keeps to the contract on the golden vectors: when
    it does not either, the vectors are what is wrong, not the runtime. True when the
    reference cannot run the model (the runtime keeps the blame)."""
    from edgecnn.backends import INTERPRETER_ERRORS
    from edgecnn.reference.tflite_api import ReferenceTfliteInterpreter

    try:
        return find_breach(ReferenceTfliteInterpreter(model), model, golden) is None
    except (EdgeCnnError, *INTERPRETER_ERRORS):
        return True


def self_check(
    interpreter,
    bundle: ModelBundle,
    model: ModelFile | None = None,
    runtime: str = "litert",
    kernels: str = "optimized",
    on_edgetpu: bool = False,
) -> SelfCheck:
    """The start-up self-check of `interpreter`, the runtime a device command opened for
    `model` (default: the bundle's file) on backend `runtime` with `kernels`: the bundle's
    golden vectors through it, else random inputs against the NumPy reference. On the Edge
    TPU only the predictions are held to the contract. Never raises for a breach: the
    record says (`SelfCheck.raise_if_refused`)."""
    from edgecnn.backends import INTERPRETER_ERRORS, REFERENCE

    start = time.perf_counter()
    model = model or bundle.file
    anyway = "; --no-self-check runs anyway"

    def found(status: str, checked: str, reason: str) -> SelfCheck:
        return SelfCheck(status, checked, reason, round(1000 * (time.perf_counter() - start), 3))

    try:
        golden, checked = golden_for(bundle, model, on_edgetpu)
    except EdgeCnnError as exc:
        return found(REFUSED, "the golden vectors in model.json", f"self-check: {exc}")
    from_model_json = golden is not None
    if golden is None:
        why_none = checked
        if runtime == REFERENCE:
            return found(SKIPPED, "nothing", f"{why_none}, and the reference backend is the "
                         "NumPy reference itself")  # fmt: skip
        if on_edgetpu:
            return found(SKIPPED, "nothing", f"{why_none}, and the NumPy reference cannot "
                         "run an Edge TPU model: copy the model.json convert wrote")  # fmt: skip
        try:
            golden = random_golden(model.graph)
        except EdgeCnnError as exc:
            return found(SKIPPED, "nothing", f"{why_none}, and {reference_gap(model.graph, exc)}")
        checked = f"{RANDOM_INPUTS} random inputs against the NumPy reference ({why_none})"
    try:
        breach = find_breach(interpreter, model.graph, golden, predictions_only=on_edgetpu)
    except INTERPRETER_ERRORS as exc:
        breach = f"it fails on them ({first_line(exc)})"
    if breach is None:
        return found(PASSED, checked, f"self-check: the {runtime} runtime agrees with {checked}")
    # A hand-edited model.json can pass the record's hash: then the reference fails too.
    blame_vectors = from_model_json and runtime != REFERENCE and not on_edgetpu
    if blame_vectors and not vectors_hold(model.graph, golden):
        return found(REFUSED, checked, f"self-check: {checked} do not fit the model (the NumPy "
                     f"reference disagrees with them too): re-copy {bundle.sidecar_path}, or "
                     f"re-run edgecnn convert{anyway}")  # fmt: skip
    return found(
        REFUSED,
        checked,
        f"self-check: the {runtime} runtime computes this model wrong on {checked}: {breach}: "
        f"{remedy(runtime, kernels, on_edgetpu)}{anyway}",
    )
